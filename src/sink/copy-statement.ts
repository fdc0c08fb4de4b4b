/** Builds the `COPY ... FROM STDIN` statement from the user's dialect flags. */
import { HyperfillError } from '../errors.js';
import { columnList, qualifiedName, quoteLiteral } from '../sql.js';

export interface CopyTarget {
  schema: string;
  table: string;
  columns?: readonly string[] | undefined;
}

export interface CopyDialect {
  format: 'csv' | 'text' | 'binary';
  delimiter?: string | undefined;
  quote?: string | undefined;
  escape?: string | undefined;
  /** Extra options for the WITH list, e.g. `NULL 'NA', FORCE_NULL (cpu)`. */
  extraOptions?: string | undefined;
}

/** The dialect flags of `copy`, as given. */
export interface DialectFlags {
  format: 'csv' | 'text';
  delimiter: string | undefined;
  quote: string;
  escape: string;
  copyOptions: string | undefined;
}

/**
 * COPY's NULL string for these flags: `--copy-options "NULL '...'"`, else the format's
 * default ('' for csv, \N for text); and the first other option (CSV aside), which
 * whoever reads the input instead of the server may not know.
 */
export function nullStringOf(flags: Pick<DialectFlags, 'format' | 'copyOptions'>): { nullString: string; otherOption: string | undefined } {
  let nullString = flags.format === 'csv' ? '' : '\\N';
  let otherOption: string | undefined;
  for (const option of splitCopyOptions(flags.copyOptions ?? '')) {
    const match = /^NULL\s+'((?:[^']|'')*)'$/i.exec(option);
    if (match) nullString = (match[1] ?? '').replace(/''/g, "'");
    else if (!/^CSV$/i.test(option)) otherOption ??= option;
  }
  return { nullString, otherOption };
}

export function copyFromStatement(target: CopyTarget, dialect: CopyDialect): string {
  const options = [`FORMAT ${dialect.format}`];
  if (dialect.delimiter !== undefined) options.push(`DELIMITER ${quoteLiteral(dialect.delimiter)}`);
  if (dialect.format === 'csv') {
    if (dialect.quote !== undefined) options.push(`QUOTE ${quoteLiteral(dialect.quote)}`);
    if (dialect.escape !== undefined) options.push(`ESCAPE ${quoteLiteral(dialect.escape)}`);
  }
  const extra = normaliseCopyOptions(dialect.extraOptions);
  if (extra) options.push(extra);
  return `COPY ${qualifiedName(target.schema, target.table)} ${columnList(target.columns)} FROM STDIN WITH (${options.join(', ')})`;
}

/**
 * `--copy-options` goes into the WITH list. A leading `CSV` (timescaledb-parallel-copy's
 * default) is dropped since --format sets it; HEADER is refused because batches are cut
 * from the middle of the input; anything that could end the statement is refused.
 */
export function normaliseCopyOptions(raw: string | undefined): string {
  if (raw === undefined) return '';
  let text = raw.trim().replace(/^CSV\b\s*,?\s*/i, '');
  const outsideQuotes = text.replace(/'(?:[^']|'')*'/g, "''");
  if (/\bHEADER\b/i.test(outsideQuotes)) {
    throw new HyperfillError('E_USAGE', '--copy-options must not contain HEADER: every batch is a separate COPY',
      {}, 'use --skip-header (or --skip-lines N) to drop header lines');
  }
  if (/\bFORMAT\b/i.test(outsideQuotes)) {
    throw new HyperfillError('E_USAGE', '--copy-options must not set FORMAT', {}, 'use --format csv|text');
  }
  if (/[;]|--|\/\*/.test(outsideQuotes) || (outsideQuotes.match(/\(/g)?.length ?? 0) !== (outsideQuotes.match(/\)/g)?.length ?? 0) || /'[^']*$/.test(text.replace(/'(?:[^']|'')*'/g, ''))) {
    throw new HyperfillError('E_USAGE', `--copy-options is not a COPY option list: ${raw}`, {},
      "give options as in COPY's WITH (...) list, e.g. --copy-options \"NULL 'NA', FORCE_NULL (cpu)\"");
  }
  text = text.replace(/,\s*$/, '');
  return text;
}

/** "NULL 'a,b', FORCE_NULL (x, y)" → ["NULL 'a,b'", "FORCE_NULL (x, y)"]. */
export function splitCopyOptions(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let current = '';
  for (const c of text) {
    if (c === "'") quoted = !quoted;
    else if (!quoted && c === '(') depth++;
    else if (!quoted && c === ')') depth--;
    if (c === ',' && !quoted && depth === 0) {
      out.push(current.trim());
      current = '';
    } else current += c;
  }
  out.push(current.trim());
  return out.filter((s) => s.length > 0);
}
