/** Pieces of decimal text the numeric encoders share: a sign, and an exponent part. */
const ZERO = 0x30;
const MINUS = 0x2d;
const PLUS = 0x2b;
/** Exponent digits past this value stop adding up: the value is out of every range by then. */
const EXPONENT_CAP = 100_000;

/** The sign at src[i]: -1 for a minus, 1 for a plus, 0 for none. */
export function signAt(src: Uint8Array, i: number): number {
  const c = src[i];
  return c === MINUS ? -1 : c === PLUS ? 1 : 0;
}

/**
 * The exponent written from src[i] to end: `e` or `E`, an optional sign, then digits
 * and nothing else; NaN when that is not what is there. Huge exponents come back as
 * about ±100000.
 */
export function exponentAt(src: Uint8Array, i: number, end: number): number {
  const c = src[i];
  if (c !== 0x65 && c !== 0x45) return NaN;
  i++;
  const sign = signAt(src, i);
  if (sign !== 0) i++;
  if (i >= end) return NaN;
  let e = 0;
  for (; i < end; i++) {
    const d = (src[i] as number) - ZERO;
    if (d < 0 || d > 9) return NaN;
    if (e < EXPONENT_CAP) e = e * 10 + d;
  }
  return sign < 0 ? -e : e;
}
