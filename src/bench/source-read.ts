/**
 * `hyperfill bench --source`: how fast a PostgreSQL (or TimescaleDB) source can be read,
 * with no target involved. Each reader has its own connection and streams one time
 * window with `COPY (SELECT * FROM t WHERE time >= a AND time < b) TO STDOUT`; the bytes
 * are counted (rows are the newlines: text format escapes newlines inside values) and
 * discarded. Only reads: nothing is created or written in the source.
 *
 * Each cell reads a time range chosen to hold about `--rows` rows (from the planner's
 * estimate), split into N equal windows for N readers, the way a backfill reads.
 * Consecutive cells read consecutive ranges from the table's earliest time on, so no
 * cell reads what an earlier one brought into the cache (as long as the table holds
 * cells × --rows rows; after that the ranges start over). This is the PostgreSQL read path written directly;
 * once connectors/postgres provides a Source, this can read through `Source.read`.
 */
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { type ConnectionConfig, connect } from '../connection.js';
import { HyperfillError } from '../errors.js';
import { serverMessage } from '../pg-errors.js';
import { estimateMethod, estimateRows } from '../pg/row-estimate.js';
import { parseTableName } from '../pg/table-name.js';
import { qualifiedName, quoteIdent, quoteLiteral } from '../sql.js';
import { formatTimeValue, isIntegerTime, parseTimeValue, type TimeType, timeTypeOf } from '../time-value.js';
import { interrupted } from './sweep.js';

export interface SourceTable {
  schema: string;
  table: string;
  /** Printable: schema.table */
  name: string;
  timeColumn: string | undefined;
  timeType: TimeType | undefined;
  /** Planner estimate (or exact count when there are no statistics). */
  estimatedRows: number;
  /** [earliest, latest + 1) of the time column; undefined: read without a time filter. */
  extent: { start: bigint; end: bigint } | undefined;
  /** Length of the time range one cell reads. */
  slice: bigint | undefined;
}

/** The [start, end) range cell `index` (0-based) reads. */
export function cellRange(source: SourceTable, index: number): { start: bigint; end: bigint } | undefined {
  const { extent, slice } = source;
  if (!extent || slice === undefined) return undefined;
  const span = extent.end - extent.start;
  if (slice >= span) return extent;
  const slots = span / slice;
  const k = BigInt(index) % slots;
  return { start: extent.start + k * slice, end: extent.start + (k + 1n) * slice };
}

export interface SourceCellResult {
  readers: number;
  /** The time range read, as the column's literals; null when read without a time filter. */
  range: { start: string; end: string } | null;
  rows: number;
  bytes: number;
  seconds: number;
  rowsPerSecond: number;
  mbPerSecond: number;
  clientCpuSeconds: number;
  clientCpuPercent: number;
  /** With --repeat: rows/s of every run (this result is the median one). */
  runs?: number[] | undefined;
}

/** Finds the table and its time column, and picks the range a cell reads. */
export async function describeSourceTable(client: pg.Client, tableName: string, timeColumn: string | undefined,
  rowsPerCell: number, needWindows: boolean): Promise<SourceTable> {
  const { schema, table } = parseTableName(tableName);
  const found = await client.query<{ oid: number }>(
    `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`, [schema, table]);
  const oid = found.rows[0]?.oid;
  if (oid === undefined) {
    throw new HyperfillError('E_SOURCE_TABLE', `the source has no table ${schema}.${table}`, { table: `${schema}.${table}` },
      'give --table [schema.]name of a table the source user can read');
  }
  const cols = await client.query<{ name: string; type: string }>(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
      WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, [oid]);
  let column = timeColumn;
  if (column === undefined) {
    const timeColumns = cols.rows.filter((c) => ['timestamptz', 'timestamp', 'date'].includes(timeTypeOf(c.type) ?? ''));
    if (timeColumns.length === 1) column = timeColumns[0]?.name;
    else if (needWindows) {
      throw new HyperfillError('E_USAGE', `cannot tell the time column of ${schema}.${table}: ${timeColumns.length === 0 ? 'it has no timestamp or date column' : `it has ${timeColumns.length} (${timeColumns.map((c) => c.name).join(', ')})`}`,
        { table: `${schema}.${table}` }, 'give --time-column NAME (parallel readers split the table into time windows)');
    }
  }
  const timeType = column === undefined ? undefined : timeTypeOf(cols.rows.find((c) => c.name === column)?.type ?? '');
  if (column !== undefined && timeType === undefined) {
    const exists = cols.rows.some((c) => c.name === column);
    throw new HyperfillError('E_USAGE', exists ? `column "${column}" of ${schema}.${table} is not a time column (timestamp, date or integer)` : `${schema}.${table} has no column "${column}"`,
      { table: `${schema}.${table}` }, 'give --time-column NAME of a timestamptz, timestamp, date or integer column');
  }
  const ref = { schema, table };
  const estimatedRows = await estimateRows(client, ref, 'true', await estimateMethod(client, ref));
  const source: SourceTable = { schema, table, name: `${schema}.${table}`, timeColumn: column, timeType, estimatedRows, extent: undefined, slice: undefined };
  if (column !== undefined && timeType !== undefined) {
    const c = quoteIdent(column);
    const extent = await client.query<{ lo: string | null; hi: string | null }>(`SELECT min(${c})::text AS lo, max(${c})::text AS hi FROM ${qualifiedName(schema, table)}`);
    const lo = extent.rows[0]?.lo;
    const hi = extent.rows[0]?.hi;
    if (lo && hi) {
      const start = readTime(lo, timeType);
      const end = readTime(hi, timeType) + 1n;
      const fraction = estimatedRows > rowsPerCell ? rowsPerCell / estimatedRows : 1;
      const span = end - start;
      source.extent = { start, end };
      source.slice = fraction >= 1 ? span : BigInt(Math.min(Number(span), Math.max(1, Math.ceil(Number(span) * fraction))));
    } else {
      throw new HyperfillError('E_SOURCE_EMPTY', `${schema}.${table} has no rows to read`, { table: `${schema}.${table}` },
        'benchmark a table that holds data (the one you will backfill)');
    }
  }
  return source;
}

/** One cell: N readers on N windows of the range, each on its own connection. */
export async function readCell(config: ConnectionConfig, source: SourceTable, readers: number, options: {
  cell: number; rowsPerCell: number; durationMs: number; signal?: AbortSignal | undefined; onProgress?: (rows: number, bytes: number) => void;
}): Promise<SourceCellResult> {
  const range = cellRange(source, options.cell);
  const statements = readStatements(source, range, readers, options.rowsPerCell);
  const clients: pg.Client[] = [];
  try {
    for (let i = 0; i < statements.length; i++) {
      const client = await connect(config, 'source');
      clients.push(client);
      await client.query("SET TIME ZONE 'UTC'");
    }
    let rows = 0;
    let bytes = 0;
    let stopped = false;
    let stoppedAt = 0;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      stoppedAt = performance.now();
      for (const client of clients) client.end().catch(() => undefined);
    };
    const timer = options.durationMs > 0 ? setTimeout(stop, options.durationMs) : undefined;
    options.signal?.addEventListener('abort', stop, { once: true });
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    try {
      await Promise.all(statements.map((sql, i) => new Promise<void>((resolve, reject) => {
        const stream = (clients[i] as pg.Client).query(copyTo(sql));
        stream.on('data', (chunk: Buffer) => {
          if (stopped) return;
          bytes += chunk.length;
          for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) rows++;
          options.onProgress?.(rows, bytes);
        });
        stream.on('end', () => resolve());
        stream.on('error', (err) => (stopped ? resolve() : reject(err)));
      })));
    } catch (err) {
      throw new HyperfillError('E_SOURCE_READ', `reading ${source.name} failed: ${serverMessage(err)}`, { table: source.name, readers }, undefined, err);
    } finally {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', stop);
    }
    if (options.signal?.aborted) throw interrupted();
    const seconds = Math.max(((stopped ? stoppedAt : performance.now()) - started) / 1000, 1e-6);
    const cpu = process.cpuUsage(cpuBefore);
    const clientCpuSeconds = (cpu.user + cpu.system) / 1e6;
    const type = source.timeType;
    return {
      readers, range: range && type ? { start: formatTimeValue(range.start, type), end: formatTimeValue(range.end, type) } : null, rows, bytes, seconds, rowsPerSecond: rows / seconds, mbPerSecond: bytes / 1e6 / seconds,
      clientCpuSeconds, clientCpuPercent: (clientCpuSeconds / seconds) * 100,
    };
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
}

/** The COPY statements of a cell: one per window, or one LIMITed read without a time column. */
export function readStatements(source: SourceTable, range: { start: bigint; end: bigint } | undefined, readers: number, rowsPerCell: number): string[] {
  const from = qualifiedName(source.schema, source.table);
  if (!range || source.timeColumn === undefined || source.timeType === undefined) {
    const limit = Number.isFinite(rowsPerCell) ? ` LIMIT ${Math.floor(rowsPerCell)}` : '';
    return [`COPY (SELECT * FROM ${from}${limit}) TO STDOUT`];
  }
  const { start, end } = range;
  const n = BigInt(Math.max(1, Math.min(readers, Number(end - start))));
  const c = quoteIdent(source.timeColumn);
  const type = source.timeType;
  const literal = (v: bigint) => `${quoteLiteral(formatTimeValue(v, type))}::${type}`;
  const statements: string[] = [];
  for (let i = 0n; i < n; i++) {
    const a = start + ((end - start) * i) / n;
    const b = start + ((end - start) * (i + 1n)) / n;
    statements.push(`COPY (SELECT * FROM ${from} WHERE ${c} >= ${literal(a)} AND ${c} < ${literal(b)}) TO STDOUT`);
  }
  return statements;
}

/** min/max as text (the session is UTC) to a time value. */
function readTime(text: string, type: TimeType): bigint {
  if (isIntegerTime(type)) return BigInt(text);
  const iso = text.replace(' ', 'T').replace(/\+00$/, 'Z');
  return parseTimeValue(iso, type, 'the source time');
}
