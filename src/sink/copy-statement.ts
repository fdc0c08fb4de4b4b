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
