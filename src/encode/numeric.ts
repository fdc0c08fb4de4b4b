/**
 * numeric from decimal text, built the way PostgreSQL's set_var_from_str builds it:
 * base-10000 digits, the weight of the first one, and the display scale (digits after
 * the point, less the exponent). The server's numeric_recv then applies the column's
 * precision and scale exactly as numeric_in does, so rounding and overflow errors are
 * the server's own. NaN, infinities, spaces and very long or far-out values are left
 * to the server (false).
 */
import { exponentAt, signAt } from './decimal-text.js';
import type { BinaryWriter } from './writer.js';

const ZERO = 0x30;
const DOT = 0x2e;
const DEC_DIGITS = 4;
const NUMERIC_NEG = 0x4000;
/** Longer or further out than this: the server parses it (storage limits are its business). */
const MAX_DIGITS = 1000;
const MAX_EXPONENT = 1000;

let decimal = new Uint8Array(64);

export function encodeNumeric(w: BinaryWriter, src: Uint8Array, start: number, end: number): boolean {
  let i = start;
  const sign = signAt(src, i);
  if (sign !== 0) i++;
  const negative = sign < 0;
  if (end - i > MAX_DIGITS + 2) return false;
  if (decimal.length < end - i + 2 * DEC_DIGITS) decimal = new Uint8Array(2 * (end - i + 2 * DEC_DIGITS));
  // decimal[] holds DEC_DIGITS zeros of padding, the digits, then padding again.
  decimal.fill(0, 0, DEC_DIGITS);
  let n = DEC_DIGITS;
  let dweight = -1;
  let dscale = 0;
  let seenDot = false;
  for (; i < end; i++) {
    const c = src[i] as number;
    const d = c - ZERO;
    if (d >= 0 && d <= 9) {
      decimal[n++] = d;
      if (seenDot) dscale++;
      else dweight++;
    } else if (c === DOT && !seenDot) seenDot = true;
    else break;
  }
  const ddigits = n - DEC_DIGITS;
  if (ddigits === 0) return false;
  decimal.fill(0, n, n + DEC_DIGITS);
  if (i < end) {
    const e = exponentAt(src, i, end);
    if (!(Math.abs(e) <= MAX_EXPONENT)) return false;
    dweight += e;
    dscale = Math.max(0, dscale - e);
  }
  const weight = dweight >= 0 ? Math.floor((dweight + DEC_DIGITS) / DEC_DIGITS) - 1 : -(Math.floor((-dweight - 1) / DEC_DIGITS) + 1);
  const offset = (weight + 1) * DEC_DIGITS - (dweight + 1);
  let ndigits = Math.floor((ddigits + offset + DEC_DIGITS - 1) / DEC_DIGITS);
  // Base-10000 digits, leading and trailing zero digits stripped as strip_var does.
  let at = DEC_DIGITS - offset;
  let w0 = weight;
  while (ndigits > 0 && nbaseDigit(at) === 0) {
    at += DEC_DIGITS;
    w0--;
    ndigits--;
  }
  while (ndigits > 0 && nbaseDigit(at + (ndigits - 1) * DEC_DIGITS) === 0) ndigits--;
  const signWord = ndigits === 0 || !negative ? 0 : NUMERIC_NEG;
  if (ndigits === 0) w0 = 0;
  w.ensure(12 + 2 * ndigits);
  w.int32(8 + 2 * ndigits);
  w.int16(ndigits);
  w.int16(w0);
  w.int16(signWord);
  w.int16(dscale);
  for (let k = 0; k < ndigits; k++) w.int16(nbaseDigit(at + k * DEC_DIGITS));
  return true;
}

function nbaseDigit(at: number): number {
  return (((decimal[at] as number) * 10 + (decimal[at + 1] as number)) * 10 + (decimal[at + 2] as number)) * 10 + (decimal[at + 3] as number);
}
