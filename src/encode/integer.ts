/**
 * smallint, integer, bigint from their text form, as PostgreSQL 15's pg_strtoint*
 * reads it: an optional sign and decimal digits. Spaces around the value (which the
 * server allows), underscores and 0x prefixes (which PostgreSQL 16 allows), and values
 * out of range are left to the server: the encoder answers false for them.
 */
import { signAt } from './decimal-text.js';
import type { BinaryWriter } from './writer.js';

const ZERO = 0x30;

/** Digits beyond this are summed as a BigInt (past 2^53). */
const EXACT_DIGITS = 15;

export function encodeInt2(w: BinaryWriter, src: Uint8Array, start: number, end: number): boolean {
  const v = smallInteger(src, start, end);
  if (v === undefined || v < -32768 || v > 32767) return false;
  w.int32(2);
  w.int16(v);
  return true;
}

export function encodeInt4(w: BinaryWriter, src: Uint8Array, start: number, end: number): boolean {
  const v = smallInteger(src, start, end);
  if (v === undefined || v < -2147483648 || v > 2147483647) return false;
  w.int32(4);
  w.int32(v);
  return true;
}

const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

export function encodeInt8(w: BinaryWriter, src: Uint8Array, start: number, end: number): boolean {
  const v = smallInteger(src, start, end);
  if (v !== undefined) {
    w.int32(8);
    w.int64(v);
    return true;
  }
  // Up to 19 digits: as a BigInt, range-checked.
  const digits = digitRun(src, start, end);
  if (digits < 0 || digits > 19) return false;
  const big = BigInt(Buffer.from(src.buffer, src.byteOffset + start, end - start).toString('latin1'));
  if (big < INT8_MIN || big > INT8_MAX) return false;
  w.int32(8);
  w.view.setBigInt64(w.pos, big);
  w.pos += 8;
  return true;
}

/** The value when it has at most 15 digits (exact as a number); undefined otherwise or when malformed. */
function smallInteger(src: Uint8Array, start: number, end: number): number | undefined {
  let i = start;
  const sign = signAt(src, i);
  if (sign !== 0) i++;
  const negative = sign < 0;
  if (i >= end || end - i > EXACT_DIGITS) return undefined;
  let v = 0;
  for (; i < end; i++) {
    const d = (src[i] as number) - ZERO;
    if (d < 0 || d > 9) return undefined;
    v = v * 10 + d;
  }
  return negative ? -v : v;
}

/** How many digits follow an optional sign, when nothing else does; -1 when malformed. */
function digitRun(src: Uint8Array, start: number, end: number): number {
  const i = signAt(src, start) === 0 ? start : start + 1;
  if (i >= end) return -1;
  for (let j = i; j < end; j++) {
    const d = (src[j] as number) - ZERO;
    if (d < 0 || d > 9) return -1;
  }
  return end - i;
}
