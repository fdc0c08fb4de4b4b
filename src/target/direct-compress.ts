/**
 * TimescaleDB's direct compress for COPY (2.21 on): rows are compressed as they arrive,
 * so a hypertable with compression gets compressed chunks with no compress_chunk
 * afterwards. What a target hypertable allows, and the settings for one transaction.
 * The client-sorted variant skips TimescaleDB's own sort and leaves the chunks ordered;
 * it is only for a stream sorted as the compression's segmentby and orderby say.
 */
import type pg from 'pg';
import type { TableName } from '../pg/table-name.js';
import type { OrderTerm } from '../source.js';
import { qualifiedName } from '../sql.js';
import { timescaleVersion, versionAtLeast } from './timescale.js';

export type DirectCompressMode = 'auto' | 'on' | 'off';

export const DIRECT_COMPRESS_MODES: readonly DirectCompressMode[] = ['auto', 'on', 'off'];

export interface DirectCompressTarget {
  /** Why the table cannot take direct compress (loading goes on normally); undefined when it can. */
  unavailable?: string | undefined;
  /** The hypertable has compression enabled (else direct compress has nothing to do). */
  compressed: boolean;
  /**
   * segmentby, then orderby: the order a stream must have for the client-sorted variant.
   * Undefined when no stream order could make it safe: the orderby must lead with the time
   * column (so windows, disjoint in time, never make overlapping batches) and its columns
   * must be of types without a collation (so source and target sort them alike).
   */
  sortOrder?: OrderTerm[] | undefined;
}

const SETTING = 'timescaledb.enable_direct_compress_copy';
const SORTED_SETTING = 'timescaledb.enable_direct_compress_copy_client_sorted';

/** What `table` allows; `timeColumn` (its time dimension's column) is needed for a sort order. */
export async function directCompressTarget(client: pg.Client, table: TableName, timeColumn?: string): Promise<DirectCompressTarget> {
  const version = await timescaleVersion(client);
  if (!version) return { compressed: false, unavailable: 'the target has no TimescaleDB' };
  const settings = await client.query(
    `SELECT segmentby, orderby, orderby_desc, orderby_nullsfirst FROM _timescaledb_catalog.compression_settings
     WHERE relid = to_regclass($1)`, [qualifiedName(table.schema, table.table)]);
  const row = settings.rows[0];
  if (!row) return { compressed: false, unavailable: 'the hypertable has no compression enabled' };
  if (!versionAtLeast(version, '2.21.0')) return { compressed: true, unavailable: `TimescaleDB ${version} has no direct compress for COPY (2.21 and later have it)` };
  const setting = await client.query('SELECT current_setting($1, true) AS v', [SETTING]);
  if (setting.rows[0]?.v == null) return { compressed: true, unavailable: `TimescaleDB ${version} has no setting ${SETTING}` };
  const blockers = await client.query(
    `SELECT EXISTS (SELECT 1 FROM pg_index WHERE indrelid = to_regclass($1) AND indisunique) AS unique_index,
            EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND NOT tgisinternal AND tgname <> 'ts_insert_blocker') AS triggers`,
    [qualifiedName(table.schema, table.table)]);
  // TimescaleDB itself turns direct compress off (with a warning) for these.
  if (blockers.rows[0].unique_index) return { compressed: true, unavailable: 'the hypertable has a unique index or primary key' };
  if (blockers.rows[0].triggers) return { compressed: true, unavailable: 'the hypertable has triggers' };
  return { compressed: true, sortOrder: timeColumn === undefined ? undefined : await provableOrder(client, table, timeColumn, row) };
}

async function provableOrder(client: pg.Client, table: TableName, timeColumn: string,
  row: { segmentby: string[] | null; orderby: string[] | null; orderby_desc: boolean[] | null; orderby_nullsfirst: boolean[] | null }): Promise<OrderTerm[] | undefined> {
  const orderby = row.orderby ?? [];
  if (orderby[0] !== timeColumn) return undefined;
  const collatable = await client.query(
    `SELECT count(*)::int AS n FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
     WHERE a.attrelid = to_regclass($1) AND a.attname = ANY($2) AND t.typcollation <> 0`, [qualifiedName(table.schema, table.table), orderby]);
  if (collatable.rows[0].n > 0) return undefined;
  return [
    ...(row.segmentby ?? []).map((column) => ({ column, desc: false, nullsFirst: false })),
    ...orderby.map((column, i) => ({ column, desc: row.orderby_desc?.[i] === true, nullsFirst: row.orderby_nullsfirst?.[i] === true })),
  ];
}

/** The statements that turn direct compress on for the rest of the current transaction. */
export function directCompressStatements(sorted: boolean): string {
  return [`SET LOCAL ${SETTING} = on`, ...(sorted ? [`SET LOCAL ${SORTED_SETTING} = on`] : [])].join('; ');
}


/** `copy`'s per-batch setup for a table (undefined: load normally), and a note when it was asked for but cannot be. */
export async function copyDirectCompress(client: pg.Client, table: TableName, mode: DirectCompressMode): Promise<{ setup?: string; note?: string }> {
  if (mode === 'off') return {};
  const target = await directCompressTarget(client, table);
  if (!target.unavailable) return { setup: directCompressStatements(false) };
  // auto says nothing about a table without compression: there is nothing to compress.
  return mode === 'auto' && !target.compressed ? {} : { note: `loading without direct compress: ${target.unavailable}` };
}
