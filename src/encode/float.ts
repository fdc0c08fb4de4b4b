/**
 * real and double precision from decimal text, rounded as glibc's strtof/strtod round
 * (correctly, to nearest even). Short decimals take Clinger's fast path (an exact
 * integer times or over an exact power of ten: one correctly rounded operation);
 * others go through Number(), which is correctly rounded too. NaN and the infinity
 * spellings are PostgreSQL's. Left to the server (false): spaces, hexadecimal floats,
 * values that overflow or underflow (the server refuses them), subnormals, and a real
 * whose double lands exactly halfway between two floats (rounding twice could then
 * differ from strtof's single rounding).
 */
import { exponentAt, signAt } from './decimal-text.js';
import type { BinaryWriter } from './writer.js';

const ZERO = 0x30;
const DOT = 0x2e;
const MINUS = 0x2d;

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
const MAX_FAST_DIGITS = 15;
const MIN_NORMAL_64 = 2.2250738585072014e-308;
const MIN_NORMAL_32 = 1.1754943508222875e-38;

/**
 * What parseFloatText found: the value (in a typed array, so no number is boxed per
 * field), whether a digit was not zero, and whether the double is the decimal exactly.
 */
export const parsedFloat = new Float64Array(2);
let sawNonZeroDigit = false;
let exact = false;

export function encodeFloat8(w: BinaryWriter, src: Uint8Array, start: number, end: number): boolean {
  if (!parseFloatText(src, start, end)) {
    if (!isNaNText(src, start, end)) return false;
    parsedFloat[0] = NaN;
  } else if (!acceptable(MIN_NORMAL_64, src, start, end)) return false;
  w.int32(8);
  w.view.setFloat64(w.pos, parsedFloat[0] as number);
  w.pos += 8;
  return true;
}

export function encodeFloat4(w: BinaryWriter, src: Uint8Array, start: number, end: number): boolean {
  if (!parseFloatText(src, start, end)) {
    if (!isNaNText(src, start, end)) return false;
    parsedFloat[0] = NaN;
  } else {
    const d = parsedFloat[0] as number;
    parsedFloat[0] = Math.fround(d);
    parsedFloat[1] = d;
    // A double that is not the decimal itself may sit on a midpoint the decimal was not on.
    if (!acceptable(MIN_NORMAL_32, src, start, end) || (parsedFloat[0] !== d && !exact && isFloat32Midpoint())) return false;
  }
  w.int32(4);
  w.view.setFloat32(w.pos, parsedFloat[0] as number);
  w.pos += 4;
  return true;
}

/** Infinities only when written as such; zero only from zero digits; no subnormals. */
function acceptable(minNormal: number, src: Uint8Array, start: number, end: number): boolean {
  const v = parsedFloat[0] as number;
  if (v === Infinity || v === -Infinity) return isInfinityText(src, start, end);
  if (v === 0) return !sawNonZeroDigit;
  return v >= minNormal || v <= -minNormal;
}

/**
 * Reads a plain decimal ([sign] digits [. digits] [e [sign] digits]) or an infinity
 * word into parsedFloat[0], rounded to the nearest double; false for anything else (NaN
 * words included, which the caller checks). Sets sawNonZeroDigit and exact.
 */
export function parseFloatText(src: Uint8Array, start: number, end: number): boolean {
  sawNonZeroDigit = false;
  exact = false;
  let i = start;
  const sign = signAt(src, i);
  if (sign !== 0) i++;
  const negative = sign < 0;
  let mantissa = 0;
  let significant = 0;
  let exp10 = 0;
  let digits = 0;
  let seenDot = false;
  for (; i < end; i++) {
    const c = src[i] as number;
    const d = c - ZERO;
    if (d >= 0 && d <= 9) {
      digits++;
      if (significant === 0 && d === 0) {
        if (seenDot) exp10--;
      } else {
        // Only the fast path uses mantissa and exp10: past its digits they stop counting.
        if (significant < MAX_FAST_DIGITS) {
          mantissa = mantissa * 10 + d;
          if (seenDot) exp10--;
        }
        significant++;
      }
    } else if (c === DOT && !seenDot) seenDot = true;
    else break;
  }
  sawNonZeroDigit = significant > 0;
  if (digits === 0) return specialValue(src, start, end);
  if (i < end) {
    const e = exponentAt(src, i, end);
    if (e !== e) return false;
    exp10 += e;
  }
  if (significant === 0) {
    exact = true;
    parsedFloat[0] = negative ? -0 : 0;
    return true;
  }
  let v: number;
  if (significant <= MAX_FAST_DIGITS && exp10 >= -22 && exp10 <= 22) {
    v = exp10 >= 0 ? mantissa * (POW10[exp10] as number) : mantissa / (POW10[-exp10] as number);
    exact = exp10 >= 0 && v <= Number.MAX_SAFE_INTEGER;
  } else {
    // Beyond the fast path: V8's string-to-double conversion is correctly rounded.
    v = Math.abs(Number(Buffer.from(src.buffer, src.byteOffset + start, end - start).toString('latin1')));
  }
  parsedFloat[0] = negative ? -v : v;
  return true;
}

/** Infinity words give ±Infinity; anything else (NaN words included) is not taken here. */
function specialValue(src: Uint8Array, start: number, end: number): boolean {
  if (!isInfinityText(src, start, end)) return false;
  parsedFloat[0] = src[start] === MINUS ? -Infinity : Infinity;
  return true;
}

const INFINITY_WORDS = ['infinity', '+infinity', '-infinity', 'inf', '+inf', '-inf'];

function isInfinityText(src: Uint8Array, start: number, end: number): boolean {
  for (const word of INFINITY_WORDS) if (equalsIgnoringCase(src, start, end, word)) return true;
  return false;
}

/** Only NaN itself: strtod would read "-nan" as a NaN with its sign bit set. */
function isNaNText(src: Uint8Array, start: number, end: number): boolean {
  return equalsIgnoringCase(src, start, end, 'nan');
}

/** ASCII case-insensitive comparison with a lower-case word. */
export function equalsIgnoringCase(src: Uint8Array, start: number, end: number, word: string): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) {
    if (((src[start + i] as number) | 0x20) !== word.charCodeAt(i) && src[start + i] !== word.charCodeAt(i)) return false;
  }
  return true;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** True when the double (parsedFloat[1]) lies exactly halfway between its float (parsedFloat[0]) and that float's neighbour on its side. */
function isFloat32Midpoint(): boolean {
  const a = Math.abs(parsedFloat[1] as number);
  const b = Math.abs(parsedFloat[0] as number);
  f32[0] = b;
  u32[0] = (u32[0] as number) + (a > b ? 1 : -1);
  return a === (b + (f32[0] as number)) / 2;
}
