/**
 * uuid as PostgreSQL's string_to_uuid reads it: 32 hex digits in either case, a
 * hyphen allowed after any group of four, the whole optionally in braces.
 */
import type { BinaryWriter } from './writer.js';

export function encodeUuid(w: BinaryWriter, src: Uint8Array, start: number, end: number): boolean {
  let i = start;
  let braces = false;
  if (src[i] === 0x7b) {
    braces = true;
    i++;
  }
  const at = w.pos + 4;
  for (let k = 0; k < 16; k++) {
    if (i + 1 >= end) return false;
    const hi = hexValue(src[i] as number);
    const lo = hexValue(src[i + 1] as number);
    if (hi < 0 || lo < 0) return false;
    w.bytes[at + k] = (hi << 4) | lo;
    i += 2;
    if (src[i] === 0x2d && (k & 1) === 1 && k < 15 && i < end) i++;
  }
  if (braces) {
    if (i >= end || src[i] !== 0x7d) return false;
    i++;
  }
  if (i !== end) return false;
  w.int32(16);
  w.pos += 16;
  return true;
}

/** 0-15 for a hex digit, -1 otherwise. */
export function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}
