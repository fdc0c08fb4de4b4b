/**
 * CSV files as a backfill source: csv: and tsv: URLs holding a glob (gzip allowed),
 * file: URLs and bare paths ending in .csv or .tsv (optionally .gz). See config.ts.
 */
import type { SourceFactory } from '../../src/source.js';
import { acceptsCsvUrl, parseCsvFilesUrl } from './config.js';
import { CsvFilesSource } from './source.js';

export const csvFilesSource: SourceFactory = {
  kind: 'csv',
  accepts: acceptsCsvUrl,
  open: async (url) => new CsvFilesSource(parseCsvFilesUrl(url)),
};

export { CsvFilesSource, type CsvFilesTableInfo } from './source.js';
export { parseCsvFilesUrl, type CsvFilesConfig } from './config.js';
