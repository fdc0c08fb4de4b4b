/**
 * CSV fields as PostgreSQL's CSV COPY reads them (CopyReadAttributesCSV): unquoted
 * text up to the delimiter, with quoted stretches in which the escape character
 * escapes the quote or itself and line ends are data; NULL is an unquoted field equal
 * to the NULL string. A record starting with `\.` (the end-of-data marker) is left to
 * the server.
 */
import { BatchEncoder, fail, matches } from './batch-encoder.js';

const LF = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;
const DOT = 0x2e;

export class CsvBatchEncoder extends BatchEncoder {
  protected refuseRecordStart(src: Uint8Array, pos: number): string | undefined {
    return src[pos] === BACKSLASH && src[pos + 1] === DOT ? 'a record starts with \\. (end-of-data marker)' : undefined;
  }

  protected readField(src: Uint8Array, pos: number, rows: number): number {
    const { delimiter, quote, nullString } = this.plan;
    const len = src.length;
    const start = pos;
    // The common case: an unquoted field, read in place.
    let ch = 0;
    while (pos < len) {
      ch = src[pos] as number;
      if (ch === delimiter || ch === LF || ch === CR || ch === quote) break;
      pos++;
    }
    if (pos < len && ch === quote) {
      const end = this.dequote(src, start);
      if (end < 0) return fail(rows, 'an unterminated quoted field');
      this.valueNull = false;
      return end;
    }
    this.valueSrc = src;
    this.valueStart = start;
    this.valueEnd = pos;
    this.valueNull = pos - start === nullString.length && matches(src, start, nullString);
    return pos;
  }

  /** Quoted text somewhere in the field: unescaped into scratch, PostgreSQL's way; where the field ends, or -1. */
  private dequote(src: Uint8Array, pos: number): number {
    const { delimiter, quote } = this.plan;
    const escape = this.plan.escape === quote ? -1 : this.plan.escape;
    const len = src.length;
    const out = this.scratchFor(len - pos);
    let n = 0;
    for (;;) {
      // Not in quotes: up to a delimiter or a line end.
      for (;;) {
        if (pos >= len) return this.dequoted(n, pos);
        const c = src[pos] as number;
        if (c === delimiter || c === LF || c === CR) return this.dequoted(n, pos);
        pos++;
        if (c === quote) break;
        out[n++] = c;
      }
      // In quotes: line ends and delimiters are data. Runs of plain bytes are copied whole.
      let run = pos;
      for (;;) {
        if (pos >= len) return -1;
        const c = src[pos] as number;
        if (c !== quote && c !== escape) {
          pos++;
          continue;
        }
        n = copyRun(src, run, pos, out, n);
        pos++;
        if (pos < len) {
          const next = src[pos] as number;
          // The escape (the quote itself, by default) takes a following quote or escape literally.
          if ((c === escape || (escape < 0 && c === quote)) && (next === quote || (escape >= 0 && next === escape))) {
            out[n++] = next;
            run = ++pos;
            continue;
          }
        }
        if (c === quote) break;
        out[n++] = c;
        run = pos;
      }
    }
  }

  private dequoted(n: number, end: number): number {
    this.valueSrc = this.scratch;
    this.valueStart = 0;
    this.valueEnd = n;
    return end;
  }
}

/** Copies src[start, end) to out at n; returns the new n. Long runs in one call, short ones by hand. */
function copyRun(src: Uint8Array, start: number, end: number, out: Uint8Array, n: number): number {
  if (end - start >= 32) {
    out.set(src.subarray(start, end), n);
    return n + end - start;
  }
  for (let i = start; i < end; i++) out[n++] = src[i] as number;
  return n;
}
