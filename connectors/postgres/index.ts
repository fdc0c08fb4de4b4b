/** PostgreSQL and TimescaleDB sources: postgres:// and postgresql:// URLs. */
import { parseConnection } from '../../src/connection.js';
import type { SourceFactory } from '../../src/source.js';
import { PostgresSource } from './source.js';

export const postgresSource: SourceFactory = {
  kind: 'postgres',
  accepts: (url) => /^postgres(ql)?:\/\//i.test(url) || (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && url.includes('=')),
  open: (url, options) => PostgresSource.open(parseConnection(url, 'source'), { log: options.log }),
};

export { PostgresSource };
