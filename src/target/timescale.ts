/**
 * The TimescaleDB control plane, read side: is the extension there, which tables are
 * hypertables, their time dimension and their chunks. Works on plain PostgreSQL too
 * (everything answers "not a hypertable").
 */
import type pg from 'pg';
import type { TableName } from '../pg/table-name.js';
import { quoteIdent } from '../sql.js';
import type { TimeRange } from '../source.js';
import { type TimeType, formatTimeValue, isIntegerTime, timeValueFromDriver } from '../time-value.js';

export async function timescaleVersion(client: pg.Client): Promise<string | undefined> {
  const r = await client.query(`SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'`);
  return r.rows[0]?.extversion;
}

export interface TimescaleInstall {
  /** The schema the extension's functions live in (public unless created WITH SCHEMA). */
  schema: string;
  version: string;
}

export async function timescaleInstall(client: pg.Client): Promise<TimescaleInstall | undefined> {
  const r = await client.query(`SELECT n.nspname AS schema, e.extversion AS version FROM pg_extension e
    JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'timescaledb'`);
  return r.rows[0];
}

const schemas = new WeakMap<pg.Client, Promise<string | undefined>>();

/**
 * `"schema".name` for one of TimescaleDB's API functions (alter_job, compress_chunk,
 * refresh_continuous_aggregate, ...): the extension may live in a schema that is not on the
 * search path (CREATE EXTENSION ... WITH SCHEMA ts). Looked up once per connection.
 */
export async function timescaleFunction(client: pg.Client, name: string): Promise<string> {
  let schema = schemas.get(client);
  if (!schema) {
    schema = timescaleInstall(client).then((i) => i?.schema);
    schemas.set(client, schema);
  }
  const found = await schema;
  return found === undefined ? name : `${quoteIdent(found)}.${name}`;
}

/** 2.11.0-dev → [2, 11, 0]; for comparisons. */
export function versionParts(version: string): number[] {
  return version.split(/[.-]/).slice(0, 3).map((p) => Number.parseInt(p, 10) || 0);
}

export function versionAtLeast(version: string, minimum: string): boolean {
  const a = versionParts(version);
  const b = versionParts(minimum);
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

export interface HypertableDimension {
  column: string;
  columnType: string;
}

export async function hypertableTimeDimension(client: pg.Client, t: TableName): Promise<HypertableDimension | undefined> {
  if (!(await timescaleVersion(client))) return undefined;
  const r = await client.query(
    `SELECT column_name, column_type::text AS column_type FROM timescaledb_information.dimensions
     WHERE hypertable_schema = $1 AND hypertable_name = $2 ORDER BY dimension_number LIMIT 1`, [t.schema, t.table]);
  const row = r.rows[0];
  return row ? { column: row.column_name, columnType: row.column_type } : undefined;
}

export interface ChunkInfo {
  schema: string;
  name: string;
  start: bigint;
  end: bigint;
  compressed: boolean;
}

/** Chunks of a hypertable that overlap `range`, in time order. */
export async function chunksOverlapping(client: pg.Client, t: TableName, timeType: TimeType, range: TimeRange): Promise<ChunkInfo[]> {
  const integer = isIntegerTime(timeType);
  const r = await client.query(
    `SELECT chunk_schema, chunk_name, is_compressed,
            ${integer ? 'range_start_integer AS lo, range_end_integer AS hi' : 'range_start AS lo, range_end AS hi'}
     FROM timescaledb_information.chunks WHERE hypertable_schema = $1 AND hypertable_name = $2 ORDER BY 4`, [t.schema, t.table]);
  const chunks: ChunkInfo[] = r.rows.map((row) => ({
    schema: row.chunk_schema, name: row.chunk_name, compressed: row.is_compressed === true,
    start: timeValueFromDriver(row.lo, integer ? timeType : 'timestamptz'),
    end: timeValueFromDriver(row.hi, integer ? timeType : 'timestamptz'),
  }));
  return chunks.filter((c) => c.end > range.start && c.start < range.end).sort((a, b) => (a.start < b.start ? -1 : 1));
}

/** A bound parameter's text for a time value, cast in SQL to the column type. */
export const timeParam = formatTimeValue;
