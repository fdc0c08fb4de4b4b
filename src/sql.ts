/** SQL text helpers. Every identifier and literal from a user goes through here. */
import type { OrderTerm, TimeRange } from './source.js';
import { formatTimeValue, type TimeType } from './time-value.js';

/** Quotes one identifier: `my"table` becomes `"my""table"`. */
export function quoteIdent(name: string): string {
  if (name.length === 0) throw new Error('empty SQL identifier');
  if (name.includes('\0')) throw new Error('SQL identifier contains a NUL byte');
  return `"${name.replace(/"/g, '""')}"`;
}

/** `schema.table`, both parts quoted. */
export function qualifiedName(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/** A standard-conforming string literal (`E'...'` is never needed: we double quotes only). */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('SQL literal contains a NUL byte');
  return `'${value.replace(/'/g, "''")}'`;
}

/** A comma-separated, quoted column list, or '' when no columns are given. */
export function columnList(columns: readonly string[] | undefined): string {
  return columns && columns.length > 0 ? `(${columns.map(quoteIdent).join(', ')})` : '';
}

/**
 * `t >= 'a'::type AND t < 'b'::type`: a window is half-open, never BETWEEN. The
 * literals are time values hyperfill formatted, quoted all the same.
 */
export function timeRangeCondition(column: string, type: TimeType, range: TimeRange): string {
  const t = quoteIdent(column);
  const lit = (v: bigint) => `${quoteLiteral(formatTimeValue(v, type))}::${type}`;
  return `${t} >= ${lit(range.start)} AND ${t} < ${lit(range.end)}`;
}

/** `a, b DESC NULLS FIRST`: the terms of an ORDER BY. */
export function orderByList(terms: readonly OrderTerm[]): string {
  return terms.map((t) => `${quoteIdent(t.column)}${t.desc ? ' DESC' : ''} NULLS ${t.nullsFirst ? 'FIRST' : 'LAST'}`).join(', ');
}
