/**
 * Text-format fields as PostgreSQL's text COPY reads them (CopyReadAttributesText):
 * up to the delimiter, a backslash taking the next byte literally or as an escape
 * (\b \f \n \r \t \v, octal \ooo, hex \xhh); NULL is a field whose raw text equals
 * the NULL string (\N). Left to the server: `\.` (the end-of-data marker, refused
 * anywhere but alone on a line), escapes that make a NUL or a non-ASCII byte (the
 * server checks those against the encoding), and a backslash ending the batch.
 */
import { BatchEncoder, fail, matches } from './batch-encoder.js';
import { hexValue } from './uuid.js';

const LF = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;
const DOT = 0x2e;

const SIMPLE_ESCAPES = new Map([[0x62, 0x08], [0x66, 0x0c], [0x6e, 0x0a], [0x72, 0x0d], [0x74, 0x09], [0x76, 0x0b]]);

export class TextBatchEncoder extends BatchEncoder {
  protected refuseRecordStart(): string | undefined {
    return undefined;
  }

  protected readField(src: Uint8Array, pos: number, rows: number): number {
    const { delimiter, nullString } = this.plan;
    const len = src.length;
    const start = pos;
    let escaped = false;
    while (pos < len) {
      const ch = src[pos] as number;
      if (ch === delimiter || ch === LF || ch === CR) break;
      if (ch === BACKSLASH) {
        if (pos + 1 >= len) return fail(rows, 'a backslash ends the batch');
        if (src[pos + 1] === DOT) return fail(rows, '\\. (end-of-data marker) in a field');
        escaped = true;
        pos += 2;
      } else pos++;
    }
    this.valueNull = pos - start === nullString.length && matches(src, start, nullString);
    if (this.valueNull || !escaped) {
      this.valueSrc = src;
      this.valueStart = start;
      this.valueEnd = pos;
      return pos;
    }
    const n = this.unescape(src, start, pos);
    if (n < 0) return fail(rows, 'an escape that makes a NUL or non-ASCII byte');
    this.valueSrc = this.scratch;
    this.valueStart = 0;
    this.valueEnd = n;
    return pos;
  }

  /** The field's bytes without escapes, into scratch: their count, or -1. */
  private unescape(src: Uint8Array, start: number, end: number): number {
    const out = this.scratchFor(end - start);
    let n = 0;
    for (let i = start; i < end; i++) {
      let c = src[i] as number;
      if (c === BACKSLASH) {
        c = src[++i] as number;
        if (c >= 0x30 && c <= 0x37) {
          let v = c - 0x30;
          for (let k = 0; k < 2 && i + 1 < end && (src[i + 1] as number) >= 0x30 && (src[i + 1] as number) <= 0x37; k++) v = (v << 3) + ((src[++i] as number) - 0x30);
          c = v & 0xff;
          if (c === 0 || c >= 0x80) return -1;
        } else if (c === 0x78 && i + 1 < end && hexValue(src[i + 1] as number) >= 0) {
          let v = hexValue(src[++i] as number);
          if (i + 1 < end && hexValue(src[i + 1] as number) >= 0) v = (v << 4) + hexValue(src[++i] as number);
          c = v;
          if (c === 0 || c >= 0x80) return -1;
        } else c = SIMPLE_ESCAPES.get(c) ?? c;
      }
      out[n++] = c;
    }
    return n;
  }
}
