/**
 * The SELECT that reads one window. Each column gets an expression that makes
 * ClickHouse print it the way PostgreSQL's text COPY reads it, so most tables flow
 * as bytes with no per-row work in Node:
 *
 * - DateTime: `formatDateTime(x, '%Y-%m-%d %H:%M:%S+00', 'UTC')`: UTC whatever the
 *   server's or the column's zone, with an explicit offset so the session TimeZone of
 *   the target does not matter; epoch 0 prints as 1970-01-01 (plain output says 0000-00-00).
 * - Date: `formatDateTime(x, '%Y-%m-%d')` (plain output prints day 0 as 0000-00-00).
 * - FixedString: `toStringCutToZero(x)`: the NUL padding cannot go into PostgreSQL text.
 * - Array of scalars: built into a PostgreSQL array literal (`{1,NULL,"a\"b"}`) in SQL.
 * - Tuple, Map, arrays of arrays or tuples: printed as ClickHouse literals, with
 *   dates and fixed strings inside normalized as above; literal.ts turns them into JSON.
 * - Everything else (integers, floats, Decimal, String, UUID, Enum) prints as PostgreSQL
 *   reads it: TabSeparated uses the same escapes and `\N` as text COPY, PostgreSQL reads
 *   `\'` as `'`, and real/double precision/numeric accept `nan`, `inf` and `-inf`.
 */
import { type ChType, isScalar, unwrap } from './types.js';
import type { TimeRange } from '../../src/source.js';
import type { TimeType } from '../../src/time-value.js';

/** A backquoted identifier (ClickHouse reads backslash escapes inside). */
export function quoteChIdent(name: string): string {
  if (name.includes('\0')) throw new Error('identifier contains a NUL byte');
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}

/** A single-quoted string literal. */
export function quoteChString(value: string): string {
  if (value.includes('\0')) throw new Error('literal contains a NUL byte');
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

const DATETIME_FORMAT = "'%Y-%m-%d %H:%M:%S+00'";

/** Does printing this type need an expression (a date, a FixedString, anywhere inside)? */
function needsNormalizing(type: ChType): boolean {
  switch (type.kind) {
    case 'date': case 'datetime': case 'datetime64': case 'fixedstring': return true;
    case 'nullable': case 'lowcardinality': case 'array': return needsNormalizing(type.inner);
    case 'tuple': return type.elements.some((e) => needsNormalizing(e.type));
    case 'map': return needsNormalizing(type.key) || needsNormalizing(type.value);
    default: return false;
  }
}

/** Lambda parameter names unlikely to shadow a column. */
const lambdaVar = (depth: number) => `_hf_x${depth}`;

/**
 * `expr` with dates in UTC text and FixedStrings cut at the first NUL, keeping the
 * structure (arrays stay arrays, tuples tuples) so ClickHouse still prints it as a literal.
 */
function normalize(expr: string, type: ChType, depth: number): string {
  if (!needsNormalizing(type)) return expr;
  switch (type.kind) {
    case 'nullable': case 'lowcardinality': return normalize(expr, type.inner, depth);
    case 'date': return `formatDateTime(${expr}, '%Y-%m-%d')`;
    case 'datetime': return `formatDateTime(${expr}, ${DATETIME_FORMAT}, 'UTC')`;
    // DateTime64 does not exist in ClickHouse 18.16: this expression is tested only as text.
    case 'datetime64': return `concat(toString(${expr}, 'UTC'), '+00')`;
    case 'fixedstring': return `toStringCutToZero(${expr})`;
    case 'array': {
      const v = lambdaVar(depth);
      return `arrayMap(${v} -> ${normalize(v, type.inner, depth + 1)}, ${expr})`;
    }
    case 'tuple':
      return `tuple(${type.elements.map((e, i) => normalize(`tupleElement(${expr}, ${i + 1})`, e.type, depth)).join(', ')})`;
    case 'map': {
      // Map does not exist in ClickHouse 18.16 (mapApply came in 22.x): tested only as text.
      const k = lambdaVar(depth);
      const v = lambdaVar(depth + 1);
      return `mapApply((${k}, ${v}) -> (${normalize(k, type.key, depth + 2)}, ${normalize(v, type.value, depth + 2)}), ${expr})`;
    }
    default: return expr;
  }
}

/** A non-null String expression: one element of a PostgreSQL array literal. */
function arrayElement(expr: string, type: ChType, depth: number): string {
  if (type.kind === 'nullable') return `if(isNull(${expr}), 'NULL', ${arrayElement(`assumeNotNull(${expr})`, type.inner, depth)})`;
  if (type.kind === 'lowcardinality') return arrayElement(expr, type.inner, depth);
  switch (type.kind) {
    case 'int': case 'float': case 'decimal': case 'bool':
      return `toString(${expr})`;
    default: {
      // Quoted: backslash and double quote escaped, as array_in reads them.
      const text = type.kind === 'string' ? expr : needsNormalizing(type) ? normalize(expr, type, depth) : `toString(${expr})`;
      return `concat('"', replaceAll(replaceAll(${text}, '\\\\', '\\\\\\\\'), '"', '\\\\"'), '"')`;
    }
  }
}

/** The SELECT expression for one column. */
export function columnExpression(name: string, type: ChType): string {
  const col = quoteChIdent(name);
  const base = unwrap(type);
  if (base.kind === 'array' && isScalar(base.inner)) {
    const v = lambdaVar(0);
    return `concat('{', arrayStringConcat(arrayMap(${v} -> ${arrayElement(v, base.inner, 1)}, ${col}), ','), '}')`;
  }
  return normalize(col, type, 0);
}

const MICROS_PER_SECOND = 1_000_000n;
const MICROS_PER_DAY = 86_400_000_000n;
/** ClickHouse 18.16 Date and DateTime cover 1970 up to early 2106; bounds outside are clipped. */
const MAX_DATETIME_SECONDS = 4_294_967_295n;
const MAX_DATE_DAYS = 49_710n; // 2106-02-07, the last day a DateTime can also reach

const ceilDiv = (a: bigint, b: bigint) => (a >= 0n ? (a + b - 1n) / b : -((-a) / b));

function intDomain(type: ChType): [bigint, bigint] {
  const t = unwrap(type);
  if (t.kind !== 'int') return [-(2n ** 63n), 2n ** 63n - 1n];
  const bits = BigInt(t.bits);
  return t.signed ? [-(2n ** (bits - 1n)), 2n ** (bits - 1n) - 1n] : [0n, 2n ** bits - 1n];
}

function dayText(days: bigint): string {
  return new Date(Number(days) * 86_400_000).toISOString().slice(0, 10);
}

function micrText(us: bigint): string {
  const seconds = us / MICROS_PER_SECOND - (us % MICROS_PER_SECOND < 0n ? 1n : 0n);
  const frac = us - seconds * MICROS_PER_SECOND;
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19).replace('T', ' ')}.${frac.toString().padStart(6, '0')}`;
}

/**
 * `t >= a AND t < b` for a window, half-open, with literals in the column's own
 * units. A DateTime holds whole seconds, so `t >= a` is `t >= ceil(a)` in seconds, and
 * `t < b` is `t < ceil(b)`; dates likewise in days. A bound outside the type's range
 * is dropped (or makes the condition false), never wrapped around.
 */
export function timeCondition(column: string, type: ChType, timeType: TimeType, range: TimeRange): string {
  const col = quoteChIdent(column);
  const base = unwrap(type);
  let lo: bigint;
  let hi: bigint;
  let min: bigint;
  let max: bigint;
  let literal: (v: bigint) => string;
  if (base.kind === 'datetime64') {
    // Microseconds compare exactly; the literal is in UTC with six digits.
    const p = `toDateTime64(${'$'}, 6, 'UTC')`;
    lo = range.start;
    hi = range.end;
    min = -(2n ** 62n);
    max = 2n ** 62n;
    literal = (v) => p.replace('$', quoteChString(micrText(v)));
  } else if (base.kind === 'datetime') {
    lo = ceilDiv(range.start, MICROS_PER_SECOND);
    hi = ceilDiv(range.end, MICROS_PER_SECOND);
    min = 0n;
    max = MAX_DATETIME_SECONDS;
    literal = (v) => `toDateTime(${v})`;
  } else if (base.kind === 'date') {
    lo = ceilDiv(range.start, MICROS_PER_DAY);
    hi = ceilDiv(range.end, MICROS_PER_DAY);
    min = 0n;
    max = MAX_DATE_DAYS;
    literal = (v) => `toDate(${quoteChString(dayText(v))})`;
  } else {
    if (timeType !== 'bigint' && timeType !== 'integer' && timeType !== 'smallint') throw new Error(`no window condition for ${base.kind}`);
    lo = range.start;
    hi = range.end;
    [min, max] = intDomain(type);
    literal = (v) => v.toString();
  }
  if (lo >= hi || lo > max || hi <= min) return '0';
  const parts: string[] = [];
  if (lo > min) parts.push(`${col} >= ${literal(lo)}`);
  if (hi <= max) parts.push(`${col} < ${literal(hi)}`);
  return parts.length > 0 ? parts.join(' AND ') : '1';
}

/** An expression giving the time column as a String of the TimeValue's integer (µs, or the raw integer). */
export function timeValueExpression(expr: string, type: ChType): string {
  const base = unwrap(type);
  switch (base.kind) {
    case 'datetime': return `toString(toUInt64(toUnixTimestamp(${expr})) * 1000000)`;
    case 'date': return `toString(toUInt64(toUInt16(${expr})) * 86400000000)`;
    case 'datetime64': return `toString(toUnixTimestamp64Micro(${expr}))`;
    default: return `toString(${expr})`;
  }
}

export interface SelectSpec {
  from: string;
  columns: Array<{ name: string; type: ChType }>;
  where: string;
}

/** The whole statement, ending in FORMAT TabSeparated. */
export function buildSelect(spec: SelectSpec): string {
  const list = spec.columns.map((c) => columnExpression(c.name, c.type)).join(', ');
  return `SELECT ${list} FROM ${spec.from} WHERE ${spec.where} FORMAT TabSeparated`;
}
