// Reads and writes: find/getMore/killCursors, count, aggregate, distinct, insert, delete.
import { EJSON, Long, type Document } from 'bson';
import { Aggregator } from 'mingo';
import {
  ArraySource,
  encode,
  mapSource,
  objectSource,
  ScanSource,
  skipLimit,
  type DocSource,
} from './cursors.js';
import { decodeTyped, decodeView, Matcher, normalised, RAW, type View } from './matcher.js';
import { CommandError, EncodedReply, MSG_PREFIX, type Handler, type ServerState } from './protocol.js';
import { cursorReply, type RawDoc } from './raw-bson.js';
import type { Snapshot } from './store.js';
import { cursorId, doc, isEmptyDoc, num, str, widenNumbers } from './values.js';

const DEFAULT_FIRST_BATCH = 101;
const ALL = new Matcher({});
const toView = (d: RawDoc): View => decodeView(d.buf, d.start, d.len);
const EMPTY: Snapshot = { buf: Buffer.alloc(0), offsets: [], end: 0 };

function snapshotOf(state: ServerState, db: string, name: string): Snapshot {
  return state.store.get(db, name)?.snapshot() ?? EMPTY;
}

/** Compiles a filter, turning mingo's complaints into mongod's BadValue. */
function matcher(filter: unknown): Matcher {
  try {
    return new Matcher(doc(filter, 'filter'));
  } catch (e) {
    throw badValue(e);
  }
}

function badValue(e: unknown): CommandError {
  if (e instanceof CommandError) return e;
  return new CommandError(2, 'BadValue', e instanceof Error ? e.message : String(e));
}

/**
 * Compiles a mingo pipeline, reporting errors as BadValue. With `state` and `db`,
 * $lookup/$graphLookup/$unionWith can read the database's other collections.
 */
function aggregator(stages: Document[], state?: ServerState, db?: string): Aggregator {
  const collectionResolver =
    state && db ? (name: string) => collect(new ScanSource(snapshotOf(state, db, name), ALL)).map(toView) : undefined;
  try {
    return new Aggregator(normalised(stages), collectionResolver ? { collectionResolver } : {});
  } catch (e) {
    throw badValue(e);
  }
}

/** Iterates the views of matching documents, as mingo's lazy source. */
function viewSource(src: DocSource) {
  return {
    next(): { value?: View; done: boolean } {
      const d = src.next();
      return d === undefined ? { done: true } : { value: toView(d), done: false };
    },
  };
}

function firstBatch(state: ServerState, ns: string, src: DocSource, batchSize: number, single: boolean) {
  if (batchSize < 0) throw new CommandError(51024, 'Location51024', 'BSON field \'batchSize\' value must be >= 0');
  const { docs, id } = state.cursors.first(ns, src, batchSize, single);
  return new EncodedReply(cursorReply(MSG_PREFIX, 'firstBatch', docs, id, ns));
}

/** A projection applied to exact-typed documents, re-encoded. */
function projector(projection: Document): (d: RawDoc) => RawDoc {
  const agg = aggregator([{ $project: projection }]);
  // Checked once up front so a bad projection fails the find, not a later getMore.
  try {
    agg.run([{}]);
  } catch (e) {
    throw badValue(e);
  }
  return (d) => encode(agg.run([decodeTyped(d.buf, d.start)])[0] ?? {});
}

const find: Handler = (req, state) => {
  const { body } = req;
  const name = str(body.find, 'find');
  const ns = `${req.db}.${name}`;
  const m = matcher(body.filter);
  const snap = snapshotOf(state, req.db, name);
  const sort = doc(body.sort, 'sort');
  let src: DocSource;
  if (isEmptyDoc(sort) || (Object.keys(sort!).length === 1 && num(sort!.$natural, 0) > 0)) {
    src = new ScanSource(snap, m);
  } else if (Object.keys(sort!).length === 1 && num(sort!.$natural, 0) < 0) {
    const docs = collect(new ScanSource(snap, m)).reverse();
    src = new ArraySource(docs);
  } else {
    // Sorting needs every match anyway: decode them once, let mingo order them.
    const views: View[] = [];
    const scan = new ScanSource(snap, m);
    for (let d = scan.next(); d; d = scan.next()) views.push(toView(d));
    let sorted: View[];
    try {
      sorted = aggregator([{ $sort: sort! }]).run(views) as View[];
    } catch (e) {
      throw badValue(e);
    }
    src = new ArraySource(sorted.map((v) => v[RAW]!));
  }
  src = skipLimit(src, num(body.skip, 0), Math.abs(num(body.limit, 0)));
  const projection = doc(body.projection, 'projection');
  if (!isEmptyDoc(projection)) src = mapSource(src, projector(projection!));
  const single = body.singleBatch === true || num(body.limit, 0) < 0;
  return firstBatch(state, ns, src, num(body.batchSize, DEFAULT_FIRST_BATCH), single);
};

function collect(src: DocSource): RawDoc[] {
  const out: RawDoc[] = [];
  for (let d = src.next(); d; d = src.next()) out.push(d);
  return out;
}

const getMore: Handler = (req, state) => {
  const id = cursorId(req.body.getMore);
  const cursor = state.cursors.get(id);
  if (!cursor) throw new CommandError(43, 'CursorNotFound', `cursor id ${id} not found`);
  const batchSize = num(req.body.batchSize, 0);
  let more;
  try {
    more = state.cursors.more(cursor, batchSize > 0 ? batchSize : Infinity);
  } catch (e) {
    state.cursors.kill(id); // mongod drops a cursor whose getMore failed
    throw badValue(e);
  }
  const { docs, id: next } = more;
  return new EncodedReply(cursorReply(MSG_PREFIX, 'nextBatch', docs, next, cursor.ns));
};

const killCursors: Handler = (req, state) => {
  const ids = Array.isArray(req.body.cursors) ? req.body.cursors : [];
  const killed: Long[] = [];
  const notFound: Long[] = [];
  for (const raw of ids) {
    const id = cursorId(raw);
    (state.cursors.kill(id) ? killed : notFound).push(Long.fromBigInt(id));
  }
  return { cursorsKilled: killed, cursorsNotFound: notFound, cursorsAlive: [], cursorsUnknown: [], ok: 1 };
};

/** Matching documents of a snapshot, counted without decoding. */
function countMatches(snap: Snapshot, m: Matcher): number {
  if (m.matchesAll) return snap.end;
  let n = 0;
  for (let i = 0; i < snap.end; i++) if (m.test(snap.buf, snap.offsets[i]!)) n++;
  return n;
}

const count: Handler = (req, state) => {
  const name = str(req.body.count, 'count');
  let n = countMatches(snapshotOf(state, req.db, name), matcher(req.body.query));
  n = Math.max(0, n - num(req.body.skip, 0));
  const limit = Math.abs(num(req.body.limit, 0));
  if (limit > 0) n = Math.min(n, limit);
  return { n, ok: 1 };
};

const stageName = (s: Document): string => Object.keys(s)[0] ?? '';
// Stages that pass the input documents through untouched: their output can be
// served as the stored bytes, keeping exact types.
const PASS_THROUGH = new Set(['$match', '$sort', '$skip', '$limit']);

/**
 * `[$skip?, $limit?, {$group: {_id: <constant>, n: {$sum: 1}}}]`, what countDocuments
 * sends after its $match: counted directly.
 */
function countShape(stages: Document[]): { skip: number; limit: number; id: unknown; field: string } | undefined {
  let skip = 0;
  let limit = 0;
  let i = 0;
  if (stages[i] && stageName(stages[i]!) === '$skip') skip = num(stages[i++]!.$skip, 0);
  if (stages[i] && stageName(stages[i]!) === '$limit') limit = num(stages[i++]!.$limit, 0);
  const group = stages[i];
  if (!group || i !== stages.length - 1 || stageName(group) !== '$group') return undefined;
  const spec = group.$group as Document;
  const keys = Object.keys(spec);
  const field = keys[1];
  if (keys.length !== 2 || keys[0] !== '_id' || field === undefined) return undefined;
  const id = spec._id;
  if (typeof id === 'object' && id !== null && !('_bsontype' in id)) return undefined;
  if (typeof id === 'string' && id.startsWith('$')) return undefined;
  const acc = spec[field] as Document | undefined;
  if (!acc || Object.keys(acc).length !== 1 || !isOne(acc.$sum)) return undefined;
  return { skip, limit, id, field };
}

function isOne(v: unknown): boolean {
  try {
    return num(v, NaN) === 1;
  } catch {
    return false; // an expression such as "$field"
  }
}

const aggregate: Handler = (req, state) => {
  const { body } = req;
  if (typeof body.aggregate !== 'string') {
    throw new CommandError(73, 'InvalidNamespace', 'only collection-level aggregate is supported by this test server');
  }
  if (body.explain === true) throw new CommandError(2, 'BadValue', 'explain is not supported by this test server');
  const name = body.aggregate;
  const ns = `${req.db}.${name}`;
  const cursorOpts = doc(body.cursor, 'cursor');
  if (!cursorOpts) throw new CommandError(9, 'FailedToParse', "The 'cursor' option is required, except for aggregate with the explain argument");
  if (!Array.isArray(body.pipeline)) throw new CommandError(14, 'TypeMismatch', "'pipeline' option must be specified as an array");
  let stages = body.pipeline as Document[];
  const writer = stages.find((s) => stageName(s) === '$out' || stageName(s) === '$merge');
  if (writer) throw new CommandError(2, 'BadValue', `${stageName(writer)} is not supported by this test server`);
  // A leading $match runs on the stored bytes (fast path for simple filters).
  let m = matcher(undefined);
  if (stages[0] && stageName(stages[0]) === '$match') {
    m = matcher(stages[0].$match);
    stages = stages.slice(1);
  }
  const snap = snapshotOf(state, req.db, name);
  const batchSize = num(cursorOpts.batchSize, DEFAULT_FIRST_BATCH);

  const shape = countShape(stages);
  if (shape) {
    let n = Math.max(0, countMatches(snap, m) - shape.skip);
    if (shape.limit > 0) n = Math.min(n, shape.limit);
    const out = n === 0 ? [] : [encode({ _id: shape.id, [shape.field]: n })];
    return firstBatch(state, ns, new ArraySource(out), batchSize, false);
  }

  const scan = new ScanSource(snap, m);
  if (stages.length === 0) return firstBatch(state, ns, scan, batchSize, false);
  const agg = aggregator(stages, state, req.db);
  let it: Iterator<unknown>;
  try {
    it = agg.stream(viewSource(scan)) as unknown as Iterator<unknown>;
  } catch (e) {
    throw badValue(e);
  }
  const passThrough = stages.every((s) => PASS_THROUGH.has(stageName(s)));
  const toRaw = (o: Document): RawDoc =>
    (passThrough ? (o as View)[RAW] : undefined) ?? encode(widenNumbers(o) as Document);
  return firstBatch(state, ns, objectSource(it, toRaw), batchSize, false);
};

/** Values at a dotted path, arrays flattened as distinct does. */
function valuesAt(v: unknown, parts: string[], i: number, out: unknown[]): void {
  if (i === parts.length) {
    if (Array.isArray(v)) out.push(...v);
    else if (v !== undefined) out.push(v);
    return;
  }
  if (Array.isArray(v)) {
    for (const x of v) valuesAt(x, parts, i, out);
    return;
  }
  if (v !== null && typeof v === 'object' && !('_bsontype' in v) && !(v instanceof Date)) {
    valuesAt((v as Document)[parts[i]!], parts, i + 1, out);
  }
}

const distinct: Handler = (req, state) => {
  const name = str(req.body.distinct, 'distinct');
  const key = str(req.body.key, 'key');
  const parts = key.split('.');
  const scan = new ScanSource(snapshotOf(state, req.db, name), matcher(req.body.query));
  const seen = new Map<string, unknown>();
  const found: unknown[] = [];
  for (let d = scan.next(); d; d = scan.next()) {
    found.length = 0;
    valuesAt(decodeTyped(d.buf, d.start), parts, 0, found);
    for (const v of found) {
      // Same value, same key: 1 (int) and 1.0 (double) are one value, as in mongod.
      const k = EJSON.stringify(normalised(v), { relaxed: false });
      if (!seen.has(k)) seen.set(k, v);
    }
  }
  return { values: [...seen.values()], ok: 1 };
};

const insert: Handler = (req, state) => {
  const name = str(req.body.insert, 'insert');
  const docs = req.rawDocs('documents');
  const coll = state.store.ensure(req.db, name);
  for (const d of docs) {
    if (!coll.appendWithId(d.buf, d.start, d.len)) coll.appendObject(decodeTyped(d.buf, d.start));
  }
  return { n: docs.length, ok: 1 };
};

const del: Handler = (req, state) => {
  const name = str(req.body.delete, 'delete');
  const coll = state.store.get(req.db, name);
  let n = 0;
  for (const stmt of req.docs('deletes')) {
    const m = matcher(stmt.q);
    if (!coll) continue;
    const limit = num(stmt.limit, 0) === 1 ? 1 : Infinity;
    n += coll.removeWhere((buf, start) => m.test(buf, start), limit);
  }
  return { n, ok: 1 };
};

export const dataCommands: Record<string, Handler> = {
  find,
  getMore,
  killCursors,
  count,
  aggregate,
  distinct,
  insert,
  delete: del,
};
