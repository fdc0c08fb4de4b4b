/** Continuous aggregates over a hypertable, and refreshing them for a backfilled range. */
import type pg from 'pg';
import type { TableName } from '../pg/table-name.js';
import { qualifiedName } from '../sql.js';
import { timescaleFunction } from './timescale.js';

export async function continuousAggregatesOn(client: pg.Client, t: TableName): Promise<TableName[]> {
  const r = await client.query(
    `SELECT view_schema, view_name FROM timescaledb_information.continuous_aggregates
     WHERE hypertable_schema = $1 AND hypertable_name = $2 ORDER BY view_name`, [t.schema, t.table]);
  return r.rows.map((row) => ({ schema: row.view_schema, table: row.view_name }));
}

/**
 * Must run outside a transaction block, as the only statement of its query. `force`
 * refreshes the whole range even where TimescaleDB logged no invalidation (rows that
 * arrived as compressed chunks; `force` exists from TimescaleDB 2.17 on).
 */
export async function refreshContinuousAggregate(client: pg.Client, view: TableName, start: string, end: string, castTo: string, force = false): Promise<void> {
  await client.query(`CALL ${await timescaleFunction(client, 'refresh_continuous_aggregate')}(${quoteRegclass(view)}, $1::${castTo}, $2::${castTo}${force ? ', force => true' : ''})`, [start, end]);
}

const quoteRegclass = (view: TableName) => `'${qualifiedName(view.schema, view.table).replace(/'/g, "''")}'::regclass`;
