/** JSON file source: json:, ndjson:, jsonl: URLs, file: URLs and paths ending in .json, .ndjson or .jsonl. */
import type { SourceFactory } from '../../src/source.js';
import type { JsonSourceOptions } from './config.js';
import { acceptsJsonUrl } from './url.js';

export const jsonSource: SourceFactory = {
  kind: 'json',
  accepts: acceptsJsonUrl,
  open: async (url, options) => (await import('./source.js')).JsonSource.open(url, options as JsonSourceOptions),
};

export type { JsonSourceOptions };
export type { JsonSource, JsonTableInfo } from './source.js';
