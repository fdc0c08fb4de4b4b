/** PostgreSQL and TimescaleDB sources: postgres:// and postgresql:// URLs; the reader loads when one is opened. */
import { parseConnection } from '../../src/connection.js';
import type { SourceFactory } from '../../src/source.js';

export const postgresSource: SourceFactory = {
  kind: 'postgres',
  accepts: (url) => /^postgres(ql)?:\/\//i.test(url) || (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && url.includes('=')),
  open: async (url, options) => (await import('./source.js')).PostgresSource.open(parseConnection(url, 'source'), { log: options.log }),
};

export type { PostgresSource } from './source.js';
