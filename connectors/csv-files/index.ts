/**
 * CSV files as a backfill source: csv: and tsv: URLs holding a glob (gzip allowed),
 * file: URLs and bare paths ending in .csv or .tsv (optionally .gz). See config.ts.
 * The reader (and its CSV parser) loads only when one is opened.
 */
import type { SourceFactory } from '../../src/source.js';
import { acceptsCsvUrl, parseCsvFilesUrl } from './config.js';

export const csvFilesSource: SourceFactory = {
  kind: 'csv',
  accepts: acceptsCsvUrl,
  open: async (url) => new (await import('./source.js')).CsvFilesSource(parseCsvFilesUrl(url)),
};

export type { CsvFilesSource, CsvFilesTableInfo } from './source.js';
export { parseCsvFilesUrl, type CsvFilesConfig } from './config.js';
