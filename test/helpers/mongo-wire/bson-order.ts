// MongoDB's comparison and sort order for BSON values, read from the stored bytes.
// https://www.mongodb.com/docs/manual/reference/bson-type-comparison-order/:
//   MinKey < Null < Numbers (int, long, double, decimal) < Symbol, String < Object < Array
//   < BinData < ObjectId < Boolean < Date < Timestamp < Regular Expression < MaxKey
// (undefined, deprecated, sorts below null; DBPointer and code sit between regex and MaxKey).
// Numbers of different types compare by value, exactly: a Long above 2^53 or a Decimal128
// with 34 digits is never rounded to a double. NaN equals NaN and is below every other
// number. Strings compare byte by byte (UTF-8, no collation). Objects compare field by
// field: the field's type, then its name, then its value; the shorter one first. BinData:
// length, then subtype, then bytes. Dates are signed milliseconds, Timestamps unsigned.
import { T, valueSize } from './raw-bson.js';

/** A BSON value where it is stored: its type byte and the offset of its bytes. */
export interface Val {
  type: number;
  buf: Buffer;
  pos: number;
}

/** The rank of a type in the comparison order; types of one rank compare by value. */
export function canonicalRank(type: number): number {
  switch (type) {
    case T.minKey: return -1;
    case T.undefined: return 0;
    case T.null: return 5;
    case T.double: case T.int32: case T.int64: case T.decimal128: return 10;
    case T.string: case T.symbol: return 15;
    case T.document: return 20;
    case T.array: return 25;
    case T.binary: return 30;
    case T.objectId: return 35;
    case T.bool: return 40;
    case T.date: return 45;
    case T.timestamp: return 47;
    case T.regex: return 50;
    case T.dbPointer: return 55;
    case T.code: return 60;
    case T.codeWithScope: return 65;
    case T.maxKey: return 127;
    default: throw new Error(`unknown BSON type 0x${type.toString(16)}`);
  }
}

export const isNumberType = (type: number): boolean => canonicalRank(type) === 10;

const sign = (d: number): number => (d < 0 ? -1 : d > 0 ? 1 : 0);
const bigSign = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

/** The sign of a - b in MongoDB's order. */
export function compareValues(a: Val, b: Val): number {
  const ra = canonicalRank(a.type);
  const rb = canonicalRank(b.type);
  if (ra !== rb) return sign(ra - rb);
  switch (ra) {
    case -1: case 0: case 5: case 127:
      return 0;
    case 10:
      return compareNumbers(a, b);
    case 15: case 60:
      return compareStrings(a.buf, a.pos, b.buf, b.pos);
    case 20: case 25:
      return compareDocuments(a.buf, a.pos, b.buf, b.pos);
    case 30:
      return compareBinary(a, b);
    case 35:
      return sign(a.buf.compare(b.buf, b.pos, b.pos + 12, a.pos, a.pos + 12));
    case 40:
      return sign(a.buf[a.pos]! - b.buf[b.pos]!);
    case 45:
      return bigSign(a.buf.readBigInt64LE(a.pos), b.buf.readBigInt64LE(b.pos));
    case 47:
      return bigSign(a.buf.readBigUInt64LE(a.pos), b.buf.readBigUInt64LE(b.pos));
    case 50:
      return compareRegex(a, b);
    case 55: {
      const byName = compareStrings(a.buf, a.pos, b.buf, b.pos);
      if (byName !== 0) return byName;
      const ia = a.pos + 4 + a.buf.readInt32LE(a.pos);
      const ib = b.pos + 4 + b.buf.readInt32LE(b.pos);
      return sign(a.buf.compare(b.buf, ib, ib + 12, ia, ia + 12));
    }
    case 65: {
      const byCode = compareStrings(a.buf, a.pos + 4, b.buf, b.pos + 4);
      if (byCode !== 0) return byCode;
      const sa = a.pos + 8 + a.buf.readInt32LE(a.pos + 4);
      const sb = b.pos + 8 + b.buf.readInt32LE(b.pos + 4);
      return compareDocuments(a.buf, sa, b.buf, sb);
    }
    default:
      throw new Error(`cannot compare BSON rank ${ra}`);
  }
}

/** Two length-prefixed UTF-8 strings, byte by byte. */
function compareStrings(a: Buffer, pa: number, b: Buffer, pb: number): number {
  const la = a.readInt32LE(pa) - 1;
  const lb = b.readInt32LE(pb) - 1;
  return sign(a.compare(b, pb + 4, pb + 4 + lb, pa + 4, pa + 4 + la));
}

/** Documents and arrays: element by element (type rank, name, value); fewer elements first. */
export function compareDocuments(a: Buffer, pa: number, b: Buffer, pb: number): number {
  const endA = pa + a.readInt32LE(pa) - 1;
  const endB = pb + b.readInt32LE(pb) - 1;
  let p = pa + 4;
  let q = pb + 4;
  for (;;) {
    if (p >= endA || q >= endB) return sign((p >= endA ? 0 : 1) - (q >= endB ? 0 : 1));
    const ta = a[p++]!;
    const tb = b[q++]!;
    const byType = sign(canonicalRank(ta) - canonicalRank(tb));
    if (byType !== 0) return byType;
    const nameEndA = a.indexOf(0, p);
    const nameEndB = b.indexOf(0, q);
    const byName = sign(a.compare(b, q, nameEndB, p, nameEndA));
    if (byName !== 0) return byName;
    const byValue = compareValues({ type: ta, buf: a, pos: nameEndA + 1 }, { type: tb, buf: b, pos: nameEndB + 1 });
    if (byValue !== 0) return byValue;
    p = nameEndA + 1 + valueSize(a, ta, nameEndA + 1);
    q = nameEndB + 1 + valueSize(b, tb, nameEndB + 1);
  }
}

function compareBinary(a: Val, b: Val): number {
  const la = a.buf.readInt32LE(a.pos);
  const lb = b.buf.readInt32LE(b.pos);
  if (la !== lb) return sign(la - lb);
  const bySubtype = sign(a.buf[a.pos + 4]! - b.buf[b.pos + 4]!);
  if (bySubtype !== 0) return bySubtype;
  return sign(a.buf.compare(b.buf, b.pos + 5, b.pos + 5 + lb, a.pos + 5, a.pos + 5 + la));
}

function compareRegex(a: Val, b: Val): number {
  const cstring = (v: Val, from: number) => v.buf.subarray(from, v.buf.indexOf(0, from));
  const pa = cstring(a, a.pos);
  const pb = cstring(b, b.pos);
  const byPattern = sign(pa.compare(pb));
  if (byPattern !== 0) return byPattern;
  return sign(cstring(a, a.pos + pa.length + 1).compare(cstring(b, b.pos + pb.length + 1)));
}

// ---- numbers ----

/**
 * A number as MongoDB compares it: NaN, ±infinity, or exactly `coefficient × 2^pow2 × 10^pow10`
 * (doubles are binary fractions, Decimal128 values decimal ones; ints have both powers 0).
 */
type Exact = { kind: 'nan' } | { kind: 'inf'; negative: boolean } | { kind: 'finite'; coefficient: bigint; pow2: number; pow10: number };

const MAX_SAFE = 2 ** 53;

/** The value as a JS number when that is exact, else undefined. */
function safeNumber(v: Val): number | undefined {
  switch (v.type) {
    case T.int32: return v.buf.readInt32LE(v.pos);
    case T.double: return v.buf.readDoubleLE(v.pos);
    case T.int64: {
      const n = v.buf.readBigInt64LE(v.pos);
      return n > -MAX_SAFE && n < MAX_SAFE ? Number(n) : undefined;
    }
    default: return undefined;
  }
}

function compareNumbers(a: Val, b: Val): number {
  const x = safeNumber(a);
  const y = safeNumber(b);
  if (x !== undefined && y !== undefined) {
    // JS comparison is exact between doubles; NaN sorts first and equals NaN.
    if (Number.isNaN(x) || Number.isNaN(y)) return sign((Number.isNaN(x) ? 0 : 1) - (Number.isNaN(y) ? 0 : 1));
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.type === T.int64 && b.type === T.int64) return bigSign(a.buf.readBigInt64LE(a.pos), b.buf.readBigInt64LE(b.pos));
  return compareExact(exactOf(a), exactOf(b));
}

function compareExact(a: Exact, b: Exact): number {
  if (a.kind === 'nan' || b.kind === 'nan') return sign((a.kind === 'nan' ? 0 : 1) - (b.kind === 'nan' ? 0 : 1));
  const rank = (e: Exact) => (e.kind === 'inf' ? (e.negative ? -1 : 1) : 0);
  if (a.kind === 'inf' || b.kind === 'inf') return sign(rank(a) - rank(b));
  if (a.kind !== 'finite' || b.kind !== 'finite') return 0;
  const sa = bigSign(a.coefficient, 0n);
  const sb = bigSign(b.coefficient, 0n);
  if (sa !== sb || sa === 0) return sign(sa - sb);
  // Scale both to integers over the smaller powers, then compare.
  const p2 = Math.min(a.pow2, b.pow2);
  const p10 = Math.min(a.pow10, b.pow10);
  const scaled = (e: { coefficient: bigint; pow2: number; pow10: number }) => (e.coefficient << BigInt(e.pow2 - p2)) * 10n ** BigInt(e.pow10 - p10);
  return bigSign(scaled(a), scaled(b));
}

function exactOf(v: Val): Exact {
  switch (v.type) {
    case T.int32: return { kind: 'finite', coefficient: BigInt(v.buf.readInt32LE(v.pos)), pow2: 0, pow10: 0 };
    case T.int64: return { kind: 'finite', coefficient: v.buf.readBigInt64LE(v.pos), pow2: 0, pow10: 0 };
    case T.double: return exactDouble(v.buf, v.pos);
    case T.decimal128: return exactDecimal(v.buf, v.pos);
    default: throw new Error(`not a number: BSON type 0x${v.type.toString(16)}`);
  }
}

function exactDouble(buf: Buffer, pos: number): Exact {
  const bits = buf.readBigUInt64LE(pos);
  const negative = bits >> 63n === 1n;
  const exponent = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & 0xfffffffffffffn;
  if (exponent === 0x7ff) return fraction === 0n ? { kind: 'inf', negative } : { kind: 'nan' };
  const mantissa = exponent === 0 ? fraction : fraction | (1n << 52n);
  const pow2 = (exponent === 0 ? 1 : exponent) - 1075;
  return { kind: 'finite', coefficient: negative ? -mantissa : mantissa, pow2, pow10: 0 };
}

const DECIMAL_MAX_COEFFICIENT = 10n ** 34n - 1n;

/** IEEE 754-2008 decimal128, binary integer decimal encoding, as BSON stores it. */
export function exactDecimal(buf: Buffer, pos: number): Exact {
  const low = buf.readBigUInt64LE(pos);
  const high = buf.readBigUInt64LE(pos + 8);
  const negative = high >> 63n === 1n;
  const combination = Number((high >> 58n) & 0x1fn);
  if (combination === 0x1f) return { kind: 'nan' };
  if (combination === 0x1e) return { kind: 'inf', negative };
  let exponent: bigint;
  let coefficient: bigint;
  if (((high >> 61n) & 3n) === 3n) {
    // The coefficient would start 100 and exceed 10^34 - 1: not canonical, read as zero.
    exponent = (high >> 47n) & 0x3fffn;
    coefficient = 0n;
  } else {
    exponent = (high >> 49n) & 0x3fffn;
    coefficient = ((high & 0x1ffffffffffffn) << 64n) | low;
    if (coefficient > DECIMAL_MAX_COEFFICIENT) coefficient = 0n;
  }
  return { kind: 'finite', coefficient: negative ? -coefficient : coefficient, pow2: 0, pow10: Number(exponent) - 6176 };
}
