/**
 * The target DDL for one source table, as text: CREATE TABLE with the mapped types,
 * create_hypertable on the time column, and compression settings. Pure: everything
 * it needs is in the SchemaPlan, so it is tested without a database. Identifiers are
 * always quoted, and comments that carry one go through sqlComment (a newline in a
 * name must not end the comment); types are printed as the source mapped them.
 */
import type { SourceColumn } from '../source.js';
import { qualifiedName, quoteIdent, quoteLiteral, sqlComment } from '../sql.js';
import { type TimeType, isIntegerTime } from '../time-value.js';

export interface ChunkInterval {
  /** Microseconds for timestamp and date columns, the column's own unit for integer ones. */
  value: bigint;
  /** Why this interval, for a comment (e.g. "~10M rows a chunk ..."). */
  reason: string;
}

export interface CompressionPlan {
  /** Columns to segment by (may be empty), and why, for a comment. */
  segmentBy: string[];
  segmentReason: string;
  /** true: emitted as statements; false: emitted as a commented suggestion. */
  enabled: boolean;
}

export interface SchemaPlan {
  target: { schema: string; table: string };
  /** The source table, printable, and the source kind ("postgres", "csv", ...). */
  source: { name: string; kind: string };
  columns: Array<SourceColumn & { note?: string }>;
  timeColumn: string;
  timeType: TimeType;
  /** Undefined: a plain table (no TimescaleDB). */
  hypertable?: {
    interval: ChunkInterval;
    /** by_range() (TimescaleDB 2.13 and later) or the older create_hypertable signature. */
    byRange: boolean;
    compression: CompressionPlan;
  };
  /** Lines printed as comments under the header. */
  comments: string[];
}

export interface Ddl {
  /** The statements to run, in order (without comments). */
  statements: string[];
  /** Everything, with comments, as printed. */
  text: string;
}

const MICROS_PER_DAY = 86_400_000_000n;
const UNITS: Array<[bigint, string]> = [
  [MICROS_PER_DAY, 'day'], [3_600_000_000n, 'hour'], [60_000_000n, 'minute'], [1_000_000n, 'second'], [1000n, 'millisecond'], [1n, 'microsecond'],
];

/** Microseconds as PostgreSQL interval text in the largest unit that divides them: "1 day", "6 hours". */
export function intervalText(micros: bigint): string {
  for (const [size, unit] of UNITS) {
    if (micros % size === 0n) {
      const n = micros / size;
      return `${n} ${unit}${n === 1n ? '' : 's'}`;
    }
  }
  return `${micros} microseconds`;
}

/** The interval as SQL for a column of `type`: INTERVAL '1 day', or an integer cast to the column's type. */
export function intervalSql(value: bigint, type: TimeType): string {
  return isIntegerTime(type) ? `${value}::${type}` : `INTERVAL ${quoteLiteral(intervalText(value))}`;
}

/** Interval text for a person: "1 day" or "86400000" (integer columns). */
export function intervalLabel(value: bigint, type: TimeType): string {
  return isIntegerTime(type) ? value.toString() : intervalText(value);
}

export function renderDdl(plan: SchemaPlan): Ddl {
  const statements: string[] = [];
  const lines: string[] = [];
  const table = qualifiedName(plan.target.schema, plan.target.table);
  const regclass = quoteLiteral(table);
  const emit = (sql: string) => {
    statements.push(sql);
    lines.push(sql);
  };
  lines.push(sqlComment(`${plan.target.schema}.${plan.target.table}: from ${plan.source.kind} table ${plan.source.name}`));
  for (const c of plan.comments) lines.push(sqlComment(c));
  if (plan.target.schema !== 'public') emit(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(plan.target.schema)};`);

  const width = Math.max(...plan.columns.map((c) => quoteIdent(c.name).length));
  const column = (c: SourceColumn, i: number) => {
    const notNull = c.name === plan.timeColumn || !c.nullable ? ' NOT NULL' : '';
    const comma = i < plan.columns.length - 1 ? ',' : '';
    return `  ${quoteIdent(c.name).padEnd(width)} ${c.pgType}${notNull}${comma}`;
  };
  statements.push(`CREATE TABLE ${table} (\n${plan.columns.map(column).join('\n')}\n);`);
  lines.push(`CREATE TABLE ${table} (\n${plan.columns.map((c, i) => column(c, i) + (c.note ? ` ${sqlComment(c.note)}` : '')).join('\n')}\n);`);

  const h = plan.hypertable;
  if (!h) return { statements, text: `${lines.join('\n')}\n` };
  lines.push(sqlComment(`chunk interval ${intervalLabel(h.interval.value, plan.timeType)}: ${h.interval.reason}`));
  emit(`${createHypertableSql(plan.target, plan.timeColumn, plan.timeType, h.interval.value, h.byRange)};`);

  const c = h.compression;
  const settings = [
    'timescaledb.compress',
    ...(c.segmentBy.length > 0 ? [`timescaledb.compress_segmentby = ${quoteLiteral(c.segmentBy.map(quoteIdent).join(', '))}`] : []),
    `timescaledb.compress_orderby = ${quoteLiteral(`${quoteIdent(plan.timeColumn)} DESC`)}`,
  ];
  const alter = `ALTER TABLE ${table} SET (${settings.join(', ')});`;
  const after = compressAfter(h.interval.value, plan.timeType);
  const policy = after === undefined ? undefined : `SELECT add_compression_policy(${regclass}, compress_after => ${intervalSql(after, plan.timeType)});`;
  lines.push(sqlComment(`compression: ${c.segmentReason}`));
  if (c.enabled) {
    emit(alter);
    if (policy) emit(policy);
    else lines.push('-- an integer time column needs set_integer_now_func() before add_compression_policy(): add the policy by hand');
  } else {
    lines.push('-- (not applied: add --compression to include these)');
    // Commented out line by line: uncommenting gives back the statement, names intact.
    lines.push(sqlComment(alter));
    if (policy) lines.push(sqlComment(policy));
  }
  return { statements, text: `${lines.join('\n')}\n` };
}

/**
 * `SELECT create_hypertable(...)` in the form the target's version takes: by_range()
 * from TimescaleDB 2.13. `functionSchema` qualifies the calls when the extension is not
 * on the search path.
 */
export function createHypertableSql(table: { schema: string; table: string }, timeColumn: string, timeType: TimeType, interval: bigint, byRange: boolean, functionSchema?: string): string {
  const fn = (name: string) => (functionSchema ? `${quoteIdent(functionSchema)}.${name}` : name);
  const regclass = quoteLiteral(qualifiedName(table.schema, table.table));
  const size = intervalSql(interval, timeType);
  return byRange
    ? `SELECT ${fn('create_hypertable')}(${regclass}, ${fn('by_range')}(${quoteLiteral(timeColumn)}, ${size}))`
    : `SELECT ${fn('create_hypertable')}(${regclass}, ${quoteLiteral(timeColumn)}, chunk_time_interval => ${size})`;
}

/** Compress chunks once they are older than two chunk intervals, and at least a week (timestamps); none for integers. */
export function compressAfter(interval: bigint, type: TimeType): bigint | undefined {
  if (isIntegerTime(type)) return undefined;
  const twice = interval * 2n;
  return twice > 7n * MICROS_PER_DAY ? twice : 7n * MICROS_PER_DAY;
}
