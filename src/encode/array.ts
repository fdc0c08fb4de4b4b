/**
 * One-dimensional arrays from their text form (`{1,2,NULL}`, `{"a b","c\"d"}`), read
 * as PostgreSQL's array_in reads them: whitespace around elements dropped, double
 * quotes and backslashes removed, an unquoted NULL (any case) is NULL unless the
 * session's array_nulls is off. Each element goes through its type's encoder. Nested
 * braces (more dimensions), `[1:3]=` bounds, quotes in the middle of an element and
 * empty elements are left to the server (false).
 */
import type { BinaryWriter } from './writer.js';

export type ElementEncoder = (w: BinaryWriter, src: Uint8Array, start: number, end: number) => boolean;

const BACKSLASH = 0x5c;
const QUOTE = 0x22;
const COMMA = 0x2c;
const OPEN = 0x7b;
const CLOSE = 0x7d;

/** Element text, unescaped, one element at a time. */
let scratch = new Uint8Array(256);

/** array_isspace: space, tab, newline, carriage return, vertical tab, form feed. */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

export function encodeArray(w: BinaryWriter, src: Uint8Array, start: number, end: number,
  elementOid: number, element: ElementEncoder, arrayNulls: boolean): boolean {
  let i = start;
  while (i < end && isSpace(src[i] as number)) i++;
  if (src[i] !== OPEN || i >= end) return false;
  i++;
  while (i < end && isSpace(src[i] as number)) i++;
  if (i < end && src[i] === CLOSE) {
    if (!onlySpaces(src, i + 1, end)) return false;
    // An empty array has no dimensions at all.
    w.int32(12);
    w.int32(0);
    w.int32(0);
    w.int32(elementOid);
    return true;
  }
  if (scratch.length < end - start) scratch = new Uint8Array(2 * (end - start));
  const lengthAt = w.pos;
  w.pos += 24;
  let count = 0;
  let hasNull = false;
  for (;;) {
    // One element: leading spaces, then a quoted string or an unquoted run.
    while (i < end && isSpace(src[i] as number)) i++;
    let n = 0;
    let quoted = false;
    let escaped = false;
    if (i < end && src[i] === QUOTE) {
      quoted = true;
      i++;
      for (;;) {
        if (i >= end) return false;
        const c = src[i] as number;
        if (c === QUOTE) break;
        if (c === BACKSLASH) {
          if (++i >= end) return false;
        }
        scratch[n++] = src[i++] as number;
      }
      i++;
      while (i < end && isSpace(src[i] as number)) i++;
    } else {
      let significant = 0;
      for (;;) {
        if (i >= end) return false;
        const c = src[i] as number;
        if (c === COMMA || c === CLOSE) break;
        if (c === QUOTE || c === OPEN) return false;
        if (c === BACKSLASH) {
          if (++i >= end) return false;
          escaped = true;
          scratch[n++] = src[i++] as number;
          significant = n;
          continue;
        }
        scratch[n++] = c;
        i++;
        if (!isSpace(c)) significant = n;
      }
      // Trailing unquoted spaces are not part of the element.
      n = significant;
      if (n === 0 && !escaped) return false;
    }
    const c = src[i];
    if (c !== COMMA && c !== CLOSE) return false;
    i++;
    if (!quoted && !escaped && arrayNulls && n === 4 && isNullWord(scratch)) {
      w.int32(-1);
      hasNull = true;
    } else {
      w.ensure(n * 8 + 64);
      if (!element(w, scratch, 0, n)) return false;
    }
    count++;
    if (c === CLOSE) break;
  }
  if (!onlySpaces(src, i, end)) return false;
  const view = w.view;
  view.setInt32(lengthAt, w.pos - lengthAt - 4);
  view.setInt32(lengthAt + 4, 1);
  view.setInt32(lengthAt + 8, hasNull ? 1 : 0);
  view.setInt32(lengthAt + 12, elementOid);
  view.setInt32(lengthAt + 16, count);
  view.setInt32(lengthAt + 20, 1);
  return true;
}

function onlySpaces(src: Uint8Array, i: number, end: number): boolean {
  for (; i < end; i++) if (!isSpace(src[i] as number)) return false;
  return true;
}

function isNullWord(s: Uint8Array): boolean {
  return ((s[0] as number) | 0x20) === 0x6e && ((s[1] as number) | 0x20) === 0x75 && ((s[2] as number) | 0x20) === 0x6c && ((s[3] as number) | 0x20) === 0x6c;
}
