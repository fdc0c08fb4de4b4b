/** Every source connector, by URL scheme. Adding one is one line here. */
import type { Source, SourceFactory, SourceOpenOptions } from '../src/source.js';
import { HyperfillError } from '../src/errors.js';
import { postgresSource } from './postgres/index.js';
import { clickhouseSource } from './clickhouse/index.js';
import { mongodbSource } from './mongodb/index.js';
import { jsonSource } from './json/index.js';
import { csvFilesSource } from './csv-files/index.js';

export const SOURCES: SourceFactory[] = [
  jsonSource, // before postgres, whose libpq form takes any scheme-less string with an `=` (json:a.ndjson?columns=x)
  postgresSource,
  clickhouseSource,
  mongodbSource,
  csvFilesSource,
];

export async function openSource(url: string, options: SourceOpenOptions): Promise<Source> {
  const factory = SOURCES.find((f) => f.accepts(url));
  if (!factory) {
    const scheme = /^([a-z0-9+.-]+):/i.exec(url)?.[1] ?? '(none)';
    throw new HyperfillError('E_SOURCE_KIND', `no source connector handles "${scheme}:" URLs`, {},
      `supported: ${SOURCES.map((f) => f.kind).join(', ')}`);
  }
  return factory.open(url, options);
}
