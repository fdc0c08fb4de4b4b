/**
 * Which backfill windows are loaded with direct compress (`--direct-compress`). `on`:
 * every window of a table that allows it. `auto`: a window whose chunks the compression
 * policy would already have compressed, or a window that held no dual-written rows and
 * whose chunks end by --until (dual-write, which writes from before --until on, never
 * writes there, so a compressed chunk costs it nothing). Rows are sorted by the source
 * into the compression's order where that can be proved, and then TimescaleDB does not sort.
 */
import type pg from 'pg';
import { HyperfillError } from '../errors.js';
import type { OrderTerm } from '../source.js';
import { qualifiedName } from '../sql.js';
import { type DirectCompressMode, directCompressTarget } from '../target/direct-compress.js';
import { chunksOverlapping } from '../target/timescale.js';
import { isIntegerTime } from '../time-value.js';
import { floorTo } from './plan-windows.js';
import type { PlannedWindow } from './progress-table.js';
import type { BackfillTable } from './window-copier.js';

export interface DirectCompressTable {
  mode: 'auto' | 'on';
  /** The compression's segmentby and orderby, when the source's rows can be sorted into it. */
  sortOrder?: OrderTerm[] | undefined;
  /** Chunks ending at or before this the compression policy compresses (now - compress_after); undefined without a policy. */
  policyHorizon?: bigint | undefined;
  /** The time dimension's chunk interval, in time-value units. */
  chunkInterval: bigint;
  /** The completion point: dual-write writes at and after it, and before it only where it began early. */
  until: bigint;
}

/** Direct compress settings for one table, or a note saying why it loads normally (once, at the start). */
export async function prepareDirectCompress(control: pg.Client, table: BackfillTable, mode: DirectCompressMode, until: bigint):
Promise<{ setting?: DirectCompressTable; note?: string }> {
  if (mode === 'off' || !table.hypertable) return {};
  const target = await directCompressTarget(control, table.target, table.timeColumn);
  if (target.unavailable) {
    // auto says nothing about a table without compression: there is nothing to compress.
    if (mode === 'auto' && !target.compressed) return {};
    return { note: `${table.key}: loading without direct compress: ${target.unavailable}` };
  }
  // The transform stage hands batches on as they finish: its output is never provably sorted.
  const sortOrder = !table.transform && target.sortOrder && sortable(table, target.sortOrder) ? target.sortOrder : undefined;
  return {
    setting: { mode, sortOrder, policyHorizon: await policyHorizon(control, table), chunkInterval: await chunkInterval(control, table), until },
  };
}

/** Inside the window's transaction, after its DELETE (which removed `dualWritten` rows). */
export async function useDirectCompress(client: pg.Client, table: BackfillTable, setting: DirectCompressTable, window: PlannedWindow,
  dualWritten: number): Promise<boolean> {
  if (setting.mode === 'on') return true;
  // The end of the last chunk the window touches: the chunk's own, or where TimescaleDB will put it
  // (chunks are aligned to multiples of the interval from the Unix epoch, like time values here).
  const chunks = await chunksOverlapping(client, table.target, table.timeType, window);
  const last = chunks[chunks.length - 1];
  const end = last && last.end >= window.end ? last.end : floorTo(window.end - 1n, setting.chunkInterval) + setting.chunkInterval;
  if (setting.policyHorizon !== undefined && end <= setting.policyHorizon) return true;
  return dualWritten === 0 && end <= setting.until;
}

/** The source sorts in SQL with the same column types as the target's, and has every column of the order. */
function sortable(table: BackfillTable, order: OrderTerm[]): boolean {
  return order.every((term) => {
    const i = table.columns.indexOf(term.column);
    const source = table.source.columns.find((c) => c.name === term.column);
    return i >= 0 && source !== undefined && source.pgType === table.targetTypes[i];
  });
}

async function policyHorizon(client: pg.Client, table: BackfillTable): Promise<bigint | undefined> {
  const r = await client.query(
    `SELECT j.config->>'compress_after' AS after, d.integer_now_func AS fn, d.integer_now_func_schema AS fn_schema
     FROM timescaledb_information.jobs j
     JOIN _timescaledb_catalog.hypertable h ON h.schema_name = j.hypertable_schema AND h.table_name = j.hypertable_name
     JOIN _timescaledb_catalog.dimension d ON d.hypertable_id = h.id AND d.interval_length IS NOT NULL
     WHERE j.proc_name = 'policy_compression' AND j.hypertable_schema = $1 AND j.hypertable_name = $2 ORDER BY d.id LIMIT 1`,
    [table.target.schema, table.target.table]);
  const row = r.rows[0];
  if (!row?.after) return undefined;
  if (!isIntegerTime(table.timeType)) {
    const h = await client.query(`SELECT (extract(epoch FROM now() - $1::interval) * 1000000)::bigint::text AS h`, [row.after]);
    return BigInt(h.rows[0].h);
  }
  if (!row.fn || !/^-?\d+$/.test(row.after)) return undefined;
  const h = await client.query(`SELECT (${qualifiedName(row.fn_schema, row.fn)}()::bigint - $1::bigint)::text AS h`, [row.after]);
  return BigInt(h.rows[0].h);
}

async function chunkInterval(client: pg.Client, table: BackfillTable): Promise<bigint> {
  const r = await client.query(
    `SELECT d.interval_length::text AS n FROM _timescaledb_catalog.dimension d JOIN _timescaledb_catalog.hypertable h ON h.id = d.hypertable_id
     WHERE h.schema_name = $1 AND h.table_name = $2 AND d.interval_length IS NOT NULL ORDER BY d.id LIMIT 1`, [table.target.schema, table.target.table]);
  const n = r.rows[0]?.n;
  if (n === undefined) throw new HyperfillError('E_TARGET_CATALOG', `${table.key} has no time dimension in TimescaleDB's catalog`, { table: table.key });
  return BigInt(n);
}
