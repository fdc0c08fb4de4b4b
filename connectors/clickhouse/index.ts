/**
 * ClickHouse sources: clickhouse://, clickhouse+http:// and clickhouse+https:// URLs
 * (ClickHouse's HTTP interface; see config.ts). The client loads only when one is opened.
 */
import type { SourceFactory } from '../../src/source.js';
import { isClickHouseUrl, parseClickHouseUrl } from './config.js';

export const clickhouseSource: SourceFactory = {
  kind: 'clickhouse',
  accepts: (url) => isClickHouseUrl(url),
  open: async (url, options) => (await import('./source.js')).ClickHouseSource.open(parseClickHouseUrl(url), options),
};

export type { ClickHouseSource, ClickHouseTableInfo } from './source.js';
export { parseClickHouseUrl } from './config.js';
