// Filters. mingo evaluates any filter, but it compares bson Long and Decimal128 by
// their strings and skips Int32/Double wrappers, so it sees "views": documents decoded
// with every number as a JS number. Simple filters (field op scalar) skip decoding
// altogether and read the field from the stored bytes; documents where that is not
// decisive (arrays, Decimal128, NaN) fall back to mingo.
import { deserialize, type Document } from 'bson';
import { Query } from 'mingo';
import {
  findField,
  int64IsSafe,
  readInt64AsNumber,
  T,
  type Hit,
  type RawDoc,
} from './raw-bson.js';

/** Views carry their stored bytes under this key, so results can be served raw. */
export const RAW = Symbol('raw');
export type View = Document & { [RAW]?: RawDoc };

type BsonTagged = { _bsontype?: string; value?: number; toNumber?: () => number };

/** Int32, Double, Long and Decimal128 become JS numbers, recursively (in place). */
export function normalise(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  switch ((v as BsonTagged)._bsontype) {
    case 'Int32':
    case 'Double':
      return (v as { value: number }).value;
    case 'Long':
      return (v as { toNumber(): number }).toNumber();
    case 'Decimal128':
      return Number(String(v));
    case undefined:
      break;
    default:
      return v; // ObjectId, Binary, Timestamp...: compared as they are
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = normalise(v[i]);
    return v;
  }
  if (v instanceof Date || v instanceof RegExp) return v;
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) o[k] = normalise(o[k]);
  return o;
}

const VIEW_OPTS = { allowObjectSmallerThanBufferSize: true, index: 0 };
const TYPED_OPTS = {
  allowObjectSmallerThanBufferSize: true,
  index: 0,
  promoteValues: false,
  promoteLongs: false,
};

/** The document as mingo should see it, linked back to its bytes. */
export function decodeView(buf: Buffer, start: number, len: number): View {
  VIEW_OPTS.index = start;
  const view = normalise(deserialize(buf, VIEW_OPTS)) as View;
  view[RAW] = { buf, start, len };
  return view;
}

/** The document with its exact BSON types (Int32, Double, Long...), for re-encoding. */
export function decodeTyped(buf: Buffer, start: number): Document {
  TYPED_OPTS.index = start;
  return deserialize(buf, TYPED_OPTS);
}

// ---- fast path ----

type Op = '$eq' | '$ne' | '$gt' | '$gte' | '$lt' | '$lte';
const OPS = new Set<string>(['$eq', '$ne', '$gt', '$gte', '$lt', '$lte']);

type Operand =
  | { cls: 'num'; num: number; big: bigint | null }
  | { cls: 'str'; bytes: Buffer }
  | { cls: 'date'; ms: number }
  | { cls: 'oid'; bytes: Buffer }
  | { cls: 'bool'; num: number };

interface Cond {
  path: Buffer[];
  op: Op;
  operand: Operand;
}

/** An operand the fast path handles, or undefined. */
function toOperand(v: unknown): Operand | undefined {
  if (typeof v === 'number') return Number.isNaN(v) ? undefined : { cls: 'num', num: v, big: null };
  if (typeof v === 'string') return { cls: 'str', bytes: Buffer.from(v, 'utf8') };
  if (typeof v === 'boolean') return { cls: 'bool', num: v ? 1 : 0 };
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : { cls: 'date', ms: v.getTime() };
  if (v === null || typeof v !== 'object') return undefined;
  const t = v as BsonTagged & { toBigInt?: () => bigint; id?: Uint8Array };
  switch (t._bsontype) {
    case 'Int32':
    case 'Double':
      return Number.isNaN(t.value) ? undefined : { cls: 'num', num: t.value!, big: null };
    case 'Long':
      return { cls: 'num', num: t.toNumber!(), big: t.toBigInt!() };
    case 'ObjectId':
      return { cls: 'oid', bytes: Buffer.from(t.id!) };
    default:
      return undefined;
  }
}

const isPlain = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;

/** The conditions of a filter made only of `field: scalar` / `field: {$op: scalar}`, or null. */
function compileFast(filter: Record<string, unknown>, out: Cond[]): boolean {
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' && Array.isArray(value) && value.length > 0) {
      for (const sub of value) if (!isPlain(sub) || !compileFast(sub, out)) return false;
      continue;
    }
    if (key.startsWith('$') || key === '') return false;
    const path = key.split('.').map((p) => Buffer.from(p, 'utf8'));
    if (path.some((p) => p.length === 0 || /^\d+$/.test(p.toString()))) return false;
    const literal = toOperand(value);
    if (literal) {
      out.push({ path, op: '$eq', operand: literal });
      continue;
    }
    if (!isPlain(value)) return false;
    const entries = Object.entries(value);
    if (entries.length === 0) return false;
    for (const [op, arg] of entries) {
      const operand = toOperand(arg);
      if (!OPS.has(op) || !operand) return false;
      out.push({ path, op: op as Op, operand });
    }
  }
  return true;
}

const TRUE = 1;
const FALSE = 0;
const UNKNOWN = -1;

/** Applies `op` to the sign of (field - operand). */
function applyOp(op: Op, cmp: number): number {
  switch (op) {
    case '$eq':
      return cmp === 0 ? TRUE : FALSE;
    case '$ne':
      return cmp !== 0 ? TRUE : FALSE;
    case '$gt':
      return cmp > 0 ? TRUE : FALSE;
    case '$gte':
      return cmp >= 0 ? TRUE : FALSE;
    case '$lt':
      return cmp < 0 ? TRUE : FALSE;
    case '$lte':
      return cmp <= 0 ? TRUE : FALSE;
  }
}

const sign = (d: number): number => (d < 0 ? -1 : d > 0 ? 1 : 0);

function compareNumber(buf: Buffer, type: number, pos: number, o: Operand & { cls: 'num' }): number {
  if (type === T.double) {
    const d = buf.readDoubleLE(pos);
    return Number.isNaN(d) ? NaN : sign(d - o.num);
  }
  if (type === T.int32) return sign(buf.readInt32LE(pos) - o.num);
  // int64: exact through BigInt only when a double could not hold it
  if (int64IsSafe(buf, pos) && (o.big === null || Number.isSafeInteger(o.num))) {
    return sign(readInt64AsNumber(buf, pos) - o.num);
  }
  const field = buf.readBigInt64LE(pos);
  const other = o.big ?? (Number.isInteger(o.num) ? BigInt(o.num) : null);
  if (other === null) return sign(Number(field) - o.num);
  return field < other ? -1 : field > other ? 1 : 0;
}

/** One condition against one stored document. */
function evalCond(buf: Buffer, start: number, c: Cond, hit: Hit): number {
  let docStart = start;
  const last = c.path.length - 1;
  let found = false;
  for (let i = 0; i <= last; i++) {
    found = findField(buf, docStart, c.path[i]!, hit);
    if (!found) break;
    if (hit.type === T.array) return UNKNOWN; // any-element semantics: leave to mingo
    if (i < last) {
      if (hit.type !== T.document) {
        found = false;
        break;
      }
      docStart = hit.pos;
    }
  }
  const o = c.operand;
  let cmp: number;
  const type = found ? hit.type : T.null;
  const pos = hit.pos;
  if (o.cls === 'num' && (type === T.double || type === T.int32 || type === T.int64)) {
    cmp = compareNumber(buf, type, pos, o);
    if (Number.isNaN(cmp)) return UNKNOWN;
  } else if (o.cls === 'date' && type === T.date) {
    cmp = sign(readInt64AsNumber(buf, pos) - o.ms);
  } else if (o.cls === 'str' && type === T.string) {
    const len = buf.readInt32LE(pos) - 1;
    cmp = buf.compare(o.bytes, 0, o.bytes.length, pos + 4, pos + 4 + len);
  } else if (o.cls === 'oid' && type === T.objectId) {
    cmp = buf.compare(o.bytes, 0, 12, pos, pos + 12);
  } else if (o.cls === 'bool' && type === T.bool) {
    cmp = buf[pos]! - o.num;
  } else if (type === T.decimal128) {
    return UNKNOWN;
  } else {
    // different type brackets never compare; only $ne holds
    return c.op === '$ne' ? TRUE : FALSE;
  }
  return applyOp(c.op, cmp);
}

/** A compiled filter. */
export class Matcher {
  readonly matchesAll: boolean;
  private readonly conds: Cond[] | null;
  private readonly query: Query;
  private readonly hit: Hit = { type: 0, pos: 0 };

  /** Throws (from mingo) when the filter is invalid. */
  constructor(filter: Document | undefined | null) {
    const f = filter ?? {};
    if (!isPlain(f)) throw new TypeError('filter must be an object');
    this.matchesAll = Object.keys(f).length === 0;
    const conds: Cond[] = [];
    this.conds = compileFast(f, conds) ? conds : null;
    this.query = new Query(normalised(f));
  }

  /** Whether the stored document at `start` matches. */
  test(buf: Buffer, start: number): boolean {
    if (this.matchesAll) return true;
    const conds = this.conds;
    if (conds !== null) {
      let unknown = false;
      for (let i = 0; i < conds.length; i++) {
        const r = evalCond(buf, start, conds[i]!, this.hit);
        if (r === FALSE) return false;
        if (r === UNKNOWN) unknown = true;
      }
      if (!unknown) return true;
    }
    return this.query.test(decodeView(buf, start, buf.readInt32LE(start)));
  }
}

/** A normalised copy: command bodies stay as decoded. */
export function normalised<V>(v: V): V {
  return normalise(copyContainers(v)) as V;
}

/** Copies plain objects and arrays (the parts normalise() rewrites in place). */
function copyContainers(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copyContainers);
  if (isPlain(v)) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = copyContainers(x);
    return o;
  }
  return v;
}
