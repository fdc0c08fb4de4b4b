// Documents as mingo sees them, for the aggregation stages the test server leaves to mingo
// ($group, $project, $lookup...; never filters or sorts: see query.ts). mingo compares
// bson Long and Decimal128 by their strings and skips Int32/Double wrappers, so it gets
// "views": documents decoded with every number as a JS number.
import { deserialize, type Document } from 'bson';

export type View = Document;

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
      return v; // ObjectId, Binary, Timestamp...: kept as they are
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

/** The document as mingo should see it. */
export function decodeView(buf: Buffer, start: number): View {
  VIEW_OPTS.index = start;
  return normalise(deserialize(buf, VIEW_OPTS)) as View;
}

/** The document with its exact BSON types (Int32, Double, Long...), for re-encoding. */
export function decodeTyped(buf: Buffer, start: number): Document {
  TYPED_OPTS.index = start;
  return deserialize(buf, TYPED_OPTS);
}

const isPlain = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;

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
