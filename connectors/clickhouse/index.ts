/**
 * ClickHouse sources: clickhouse://, clickhouse+http:// and clickhouse+https:// URLs
 * (ClickHouse's HTTP interface; see config.ts).
 */
import type { SourceFactory } from '../../src/source.js';
import { isClickHouseUrl, parseClickHouseUrl } from './config.js';
import { ClickHouseSource } from './source.js';

export const clickhouseSource: SourceFactory = {
  kind: 'clickhouse',
  accepts: (url) => isClickHouseUrl(url),
  open: (url, options) => ClickHouseSource.open(parseClickHouseUrl(url), options),
};

export { ClickHouseSource, type ClickHouseTableInfo } from './source.js';
export { parseClickHouseUrl } from './config.js';
