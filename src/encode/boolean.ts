/**
 * boolean as PostgreSQL's parse_bool_with_len reads it: any prefix of true, false,
 * yes, no (case-insensitive), on, off (at least two letters), 1 and 0. Spaces
 * around the value (which the server trims) are left to the server (false).
 */
import type { BinaryWriter } from './writer.js';

export function encodeBool(w: BinaryWriter, src: Uint8Array, start: number, end: number): boolean {
  const v = boolValue(src, start, end);
  if (v < 0) return false;
  w.int32(1);
  w.byte(v);
  return true;
}

/** 1, 0, or -1 when the text is not a boolean spelling. */
function boolValue(src: Uint8Array, start: number, end: number): number {
  const n = end - start;
  if (n === 0) return -1;
  const first = (src[start] as number) | 0x20;
  switch (first) {
    case 0x74: return isPrefix(src, start, n, 'true', 1) ? 1 : -1; // t
    case 0x66: return isPrefix(src, start, n, 'false', 1) ? 0 : -1; // f
    case 0x79: return isPrefix(src, start, n, 'yes', 1) ? 1 : -1; // y
    case 0x6e: return isPrefix(src, start, n, 'no', 1) ? 0 : -1; // n
    case 0x6f: // o: "on", "of", "off"
      if (isPrefix(src, start, n, 'on', 2)) return 1;
      return isPrefix(src, start, n, 'off', 2) ? 0 : -1;
    case 0x31: return n === 1 && src[start] === 0x31 ? 1 : -1; // 1
    case 0x30: return n === 1 && src[start] === 0x30 ? 0 : -1; // 0
    default: return -1;
  }
}

/** src[start, start+n) is a case-insensitive prefix of `word`, at least `min` long. */
function isPrefix(src: Uint8Array, start: number, n: number, word: string, min: number): boolean {
  if (n < min || n > word.length) return false;
  for (let i = 0; i < n; i++) {
    const c = src[start + i] as number;
    const lower = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
    if (lower !== word.charCodeAt(i)) return false;
  }
  return true;
}
