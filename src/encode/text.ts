/**
 * Types whose binary form is their text: text, varchar(n), char(n), json (the bytes
 * as they are; the server checks the encoding, applies varchar/char length rules with
 * the column's typmod and parses json exactly as it does from text), jsonb (a version
 * byte, then the text), name (refused past 63 bytes: namein would cut it, namerecv
 * refuses it), and bytea (decoded from its hex or escape text form).
 */
import { hexValue } from './uuid.js';
import type { BinaryWriter } from './writer.js';

/** NAMEDATALEN - 1: the longest name the server stores whole. */
const MAX_NAME_BYTES = 63;
const BACKSLASH = 0x5c;

export function encodeText(w: BinaryWriter, src: Uint8Array, start: number, end: number): boolean {
  w.int32(end - start);
  w.copy(src, start, end);
  return true;
}

export function encodeName(w: BinaryWriter, src: Uint8Array, start: number, end: number): boolean {
  return end - start <= MAX_NAME_BYTES && encodeText(w, src, start, end);
}

export function encodeJsonb(w: BinaryWriter, src: Uint8Array, start: number, end: number): boolean {
  w.int32(end - start + 1);
  w.byte(1);
  w.copy(src, start, end);
  return true;
}

/** `\x` then pairs of hex digits (no spaces), or the escape form: `\\`, `\ooo`, other bytes as they are. */
export function encodeBytea(w: BinaryWriter, src: Uint8Array, start: number, end: number): boolean {
  const lengthAt = w.pos;
  w.pos += 4;
  const dataAt = w.pos;
  if (end - start >= 2 && src[start] === BACKSLASH && src[start + 1] === 0x78) {
    if ((end - start) % 2 !== 0) return false;
    for (let i = start + 2; i < end; i += 2) {
      const hi = hexValue(src[i] as number);
      const lo = hexValue(src[i + 1] as number);
      if (hi < 0 || lo < 0) return false;
      w.bytes[w.pos++] = (hi << 4) | lo;
    }
  } else {
    for (let i = start; i < end; i++) {
      const c = src[i] as number;
      if (c !== BACKSLASH) {
        w.bytes[w.pos++] = c;
        continue;
      }
      const c1 = src[i + 1] as number;
      if (i + 1 < end && c1 === BACKSLASH) {
        w.bytes[w.pos++] = BACKSLASH;
        i++;
        continue;
      }
      if (i + 3 >= end) return false;
      const c2 = src[i + 2] as number;
      const c3 = src[i + 3] as number;
      if (c1 < 0x30 || c1 > 0x33 || c2 < 0x30 || c2 > 0x37 || c3 < 0x30 || c3 > 0x37) return false;
      w.bytes[w.pos++] = ((c1 - 0x30) << 6) | ((c2 - 0x30) << 3) | (c3 - 0x30);
      i += 3;
    }
  }
  w.view.setInt32(lengthAt, w.pos - dataAt);
  return true;
}
