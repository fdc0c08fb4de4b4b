/** How a transformed run decodes its input: the dialect flags, of which only NULL still counts among --copy-options. */
import { HyperfillError } from '../errors.js';
import { type DialectFlags, nullStringOf } from '../sink/copy-statement.js';
import type { InputDialect } from './decode.js';

/**
 * How the input is decoded. The rows are re-encoded for COPY, so of `--copy-options`
 * only NULL still means something (it says which input fields are NULL).
 */
export function inputDialect(flags: DialectFlags): InputDialect {
  const { nullString, otherOption } = nullStringOf(flags);
  if (otherOption !== undefined) {
    throw new HyperfillError('E_USAGE', `with a transform, --copy-options may only set NULL '...', not "${otherOption}"`, {},
      'the rows are decoded and re-encoded, so other COPY options do not reach the input; do that work in the transform');
  }
  return {
    format: flags.format, delimiter: flags.delimiter ?? (flags.format === 'csv' ? ',' : '\t'),
    quote: flags.quote, escape: flags.escape, nullString,
  };
}

export type { DialectFlags };
