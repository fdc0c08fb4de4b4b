// Reading command arguments, which arrive with BSON number types kept.
import { Long, type Document } from 'bson';
import { CommandError } from './protocol.js';

/** A numeric argument as a JS number (Int32, Double, Long, Decimal128 or number). */
export function num(v: unknown, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  const t = v as { _bsontype?: string; value?: number; toNumber?: () => number };
  if (t._bsontype === 'Int32' || t._bsontype === 'Double') return t.value!;
  if (t._bsontype === 'Long') return t.toNumber!();
  if (t._bsontype === 'Decimal128') return Number(String(v));
  throw new CommandError(14, 'TypeMismatch', `expected a number, got ${typeof v}`);
}

/** A cursor id argument (Long, or a plain number from a lenient client). */
export function cursorId(v: unknown): bigint {
  if (v instanceof Long) return v.toBigInt();
  if (typeof v === 'bigint') return v;
  return BigInt(Math.trunc(num(v, 0)));
}

export function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v === '') {
    throw new CommandError(73, 'InvalidNamespace', `${what} must be a non-empty string`);
  }
  return v;
}

export function doc(v: unknown, what: string): Document | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw new CommandError(14, 'TypeMismatch', `${what} must be an object`);
  }
  return v as Document;
}

export const isEmptyDoc = (d: Document | undefined): boolean => !d || Object.keys(d).length === 0;

/**
 * Integral JS numbers beyond int32 go out as Long, as mongod's aggregation results
 * over int64 fields do; the rest serialise as bson picks (Int32 or Double).
 */
export function widenNumbers(v: unknown): unknown {
  if (typeof v === 'number') {
    return Number.isInteger(v) && (v > 2147483647 || v < -2147483648) ? Long.fromNumber(v) : v;
  }
  if (Array.isArray(v)) return v.map(widenNumbers);
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const o: Document = {};
    for (const [k, x] of Object.entries(v)) o[k] = widenNumbers(x);
    return o;
  }
  return v;
}
