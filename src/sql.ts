/**
 * SQL text helpers. Every identifier, literal and comment that carries a name from a
 * user goes through here: names are untrusted (a newline, a quote or a backslash in a
 * table name must stay inside it).
 */
import { HyperfillError } from './errors.js';
import type { OrderTerm, TimeRange } from './source.js';
import { formatTimeValue, type TimeType } from './time-value.js';

/** Quotes one identifier: `my"table` becomes `"my""table"`. */
export function quoteIdent(name: string): string {
  if (name.length === 0) throw new HyperfillError('E_IDENTIFIER', 'an empty name cannot be a table, schema or column name', {}, 'check the names given');
  if (name.includes('\0')) {
    throw new HyperfillError('E_IDENTIFIER', `the name ${JSON.stringify(name)} holds a NUL byte, which PostgreSQL names cannot`, {}, 'rename it on the way (--map)');
  }
  return `"${name.replace(/"/g, '""')}"`;
}

/** `schema.table`, both parts quoted. */
export function qualifiedName(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/**
 * A string literal that reads back the same whatever `standard_conforming_strings` is:
 * with a backslash inside, the `E'...'` form with backslashes doubled (as PostgreSQL's
 * own quote_literal does), since a plain '...' would read `\'` as an escape where it is off.
 */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new HyperfillError('E_IDENTIFIER', `the value ${JSON.stringify(value)} holds a NUL byte, which PostgreSQL text cannot`);
  const quoted = value.replace(/'/g, "''");
  return value.includes('\\') ? `E'${quoted.replace(/\\/g, '\\\\')}'` : `'${quoted}'`;
}

/**
 * Text as SQL comment lines: every line starts with `-- `. A comment ends at a line
 * break (\n or \r, for the server and psql alike), so a name holding one must not end
 * the comment and leave the rest of the name to run as SQL.
 */
export function sqlComment(text: string): string {
  return text.split(/\r\n|\r|\n/).map((line) => `-- ${line}`).join('\n');
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
