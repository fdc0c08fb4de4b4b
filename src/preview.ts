/**
 * A row of input as an error message shows it ("the row reads: ..."): one line, cut to a
 * readable length, and safe for a terminal. Bytes that are not text are written as escapes:
 * NUL as \x00, each byte of invalid UTF-8 as \xff, other control characters as \xNN, and a
 * newline or carriage return inside a (quoted) field as \n, \r. Tabs stay as they are.
 */

const DEFAULT_CHARS = 120;

export function previewOf(input: Uint8Array | string, max = DEFAULT_CHARS): string {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) end--;
  if (end > 0 && bytes[end - 1] === 0x0d) end--;
  let out = '';
  let chars = 0;
  for (let i = 0; i < end;) {
    if (chars >= max) return `${out}...`;
    const b = bytes[i]!;
    const size = sequenceLength(bytes, i, end);
    if (size === 0) {
      out += hex(b);
      i++;
    } else if (size === 1) {
      out += b === 0x0a ? '\\n' : b === 0x0d ? '\\r' : (b < 0x20 && b !== 0x09) || b === 0x7f ? hex(b) : String.fromCharCode(b);
      i++;
    } else {
      out += Buffer.from(bytes.subarray(i, i + size)).toString('utf8');
      i += size;
    }
    chars++;
  }
  return out;
}

const hex = (b: number) => `\\x${b.toString(16).padStart(2, '0')}`;

/** Bytes of the well-formed UTF-8 sequence at `i` (1 to 4), or 0 when the byte there does not start one. */
function sequenceLength(bytes: Uint8Array, i: number, end: number): number {
  const b = bytes[i]!;
  if (b < 0x80) return 1;
  let size: number;
  let min: number;
  let max = 0xbf;
  if (b >= 0xc2 && b <= 0xdf) {
    size = 2;
    min = 0x80;
  } else if (b >= 0xe0 && b <= 0xef) {
    size = 3;
    min = b === 0xe0 ? 0xa0 : 0x80; // no overlong forms
    if (b === 0xed) max = 0x9f; // no surrogates
  } else if (b >= 0xf0 && b <= 0xf4) {
    size = 4;
    min = b === 0xf0 ? 0x90 : 0x80;
    if (b === 0xf4) max = 0x8f; // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (i + size > end) return 0;
  const second = bytes[i + 1]!;
  if (second < min || second > max) return 0;
  for (let k = 2; k < size; k++) {
    const c = bytes[i + k]!;
    if (c < 0x80 || c > 0xbf) return 0;
  }
  return size;
}
