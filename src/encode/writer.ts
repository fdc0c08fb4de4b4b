/**
 * The output of one binary COPY batch: bytes written at a cursor into an ArrayBuffer
 * of its own (so it can be transferred between threads), replaced by a bigger one when
 * it fills up. Integers
 * are big-endian as the protocol wants; an int64 is written from two exact halves so
 * no BigInt is made per value.
 */
const TWO_32 = 4294967296;

export class BinaryWriter {
  bytes: Uint8Array;
  view: DataView;
  pos = 0;

  constructor(buffer: ArrayBuffer) {
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
  }

  /** Starts over in `buffer`. */
  reset(buffer: ArrayBuffer): void {
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.pos = 0;
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.bytes.length) return;
    // A quarter more than needed: a batch that outgrows its estimate usually does so by a little.
    const bigger = new ArrayBuffer(Math.max(Math.ceil(this.bytes.length * 1.25), this.pos + n));
    const bytes = new Uint8Array(bigger);
    bytes.set(this.bytes.subarray(0, this.pos));
    this.bytes = bytes;
    this.view = new DataView(bigger);
  }

  int16(v: number): void {
    this.view.setInt16(this.pos, v);
    this.pos += 2;
  }

  int32(v: number): void {
    this.view.setInt32(this.pos, v);
    this.pos += 4;
  }

  /** An int64 given as an exact integer number (|v| < 2^53). */
  int64(v: number): void {
    const hi = Math.floor(v / TWO_32);
    this.view.setInt32(this.pos, hi);
    this.view.setUint32(this.pos + 4, v - hi * TWO_32);
    this.pos += 8;
  }

  /** `a * m + b` as an int64, for products past 2^53 (microseconds of far dates): a * (m mod 2^32) + b below 2^53. */
  int64Product(a: number, m: number, b: number): void {
    // a * m = a * mHi * 2^32 + a * mLo; each part stays below 2^53 for the ranges callers use.
    const mHi = Math.floor(m / TWO_32);
    const mLo = m - mHi * TWO_32;
    const low = a * mLo + b;
    const carry = Math.floor(low / TWO_32);
    this.view.setInt32(this.pos, a * mHi + carry);
    this.view.setUint32(this.pos + 4, low - carry * TWO_32);
    this.pos += 8;
  }

  float32(v: number): void {
    this.view.setFloat32(this.pos, v);
    this.pos += 4;
  }

  float64(v: number): void {
    this.view.setFloat64(this.pos, v);
    this.pos += 8;
  }

  byte(v: number): void {
    this.bytes[this.pos++] = v;
  }

  /** Copies src[start, end). Short runs by hand: a call into set() costs more than a few bytes. */
  copy(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (n < 32) {
      const bytes = this.bytes;
      let p = this.pos;
      for (let i = start; i < end; i++) bytes[p++] = src[i] as number;
    } else {
      this.bytes.set(src.subarray(start, end), this.pos);
    }
    this.pos += n;
  }
}
