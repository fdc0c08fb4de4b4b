// Reads and writes: find/getMore/killCursors, count, aggregate, distinct, insert, delete.
import { Long, type Document } from 'bson';
import { Aggregator } from 'mingo';
import { compareValues, type Val } from './bson-order.js';
import {
  ArraySource,
  encode,
  mapSource,
  objectSource,
  ScanSource,
  skipLimit,
  type DocSource,
} from './cursors.js';
import { Matcher } from './matcher.js';
import { CloseConnection, CommandError, EncodedReply, MSG_PREFIX, type Handler, type ServerState } from './protocol.js';
import { compileSort, deserializeValue, sortDocuments, valuesAt } from './query.js';
import { cursorReply, T, type RawDoc } from './raw-bson.js';
import { decodeTyped, decodeView, normalised, type View } from './views.js';
import type { Snapshot } from './store.js';
import { cursorId, doc, isEmptyDoc, num, str, widenNumbers } from './values.js';

const DEFAULT_FIRST_BATCH = 101;
const ALL = new Matcher({});
const toView = (d: RawDoc): View => decodeView(d.buf, d.start);
const EMPTY: Snapshot = { buf: Buffer.alloc(0), offsets: [], end: 0 };

function snapshotOf(state: ServerState, db: string, name: string): Snapshot {
  return state.store.get(db, name)?.snapshot() ?? EMPTY;
}

/** Compiles a filter, turning the engine's complaints into mongod's BadValue. */
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

/** The stored document at `d` as a value, for the query engine. */
const asVal = (d: RawDoc): Val => ({ type: T.document, buf: d.buf, pos: d.start });

/** Documents ordered by a sort specification (query.ts: mongod's order, ties not in insertion order). */
function sorted(src: DocSource, spec: Document): RawDoc[] {
  let keys;
  try {
    keys = compileSort(spec);
  } catch (e) {
    throw badValue(e);
  }
  const docs = collect(src).map((doc, seq) => ({ doc, at: asVal(doc), seq }));
  return sortDocuments(docs, keys);
}

/**
 * Compiles a mingo pipeline for the stages that neither filter nor sort, reporting errors
 * as BadValue. With `state` and `db`, $lookup/$graphLookup/$unionWith can read the
 * database's other collections.
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
    src = new ArraySource(sorted(new ScanSource(snap, m), sort!));
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
  const fault = state.cursorFaults.findIndex((f) => f.ns === undefined || f.ns === cursor.ns);
  if (fault >= 0) {
    const [f] = state.cursorFaults.splice(fault, 1);
    state.cursors.kill(id);
    if ('close' in f!) throw new CloseConnection(`getMore on ${cursor.ns}: connection closed by an armed fault`);
    throw new CommandError(f!.error.code, f!.error.codeName, f!.error.errmsg);
  }
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

  return firstBatch(state, ns, runStages(new ScanSource(snap, m), stages, state, req.db), batchSize, false);
};

/** Stages the query engine runs itself; mingo gets only runs of the others. */
const OWN_STAGES = new Set(['$match', '$sort', '$skip', '$limit']);

/**
 * The pipeline after its leading $match: filters and sorts by the query engine, $skip and
 * $limit on the stream, and each run of other stages through mingo (output re-encoded).
 */
function runStages(src: DocSource, stages: Document[], state: ServerState, db: string): DocSource {
  let out = src;
  for (let i = 0; i < stages.length; ) {
    const stage = stages[i]!;
    switch (stageName(stage)) {
      case '$match':
        out = filtered(out, matcher(stage.$match));
        i++;
        continue;
      case '$sort':
        out = new ArraySource(sorted(out, doc(stage.$sort, '$sort') ?? {}));
        i++;
        continue;
      case '$skip':
        out = skipLimit(out, num(stage.$skip, 0), 0);
        i++;
        continue;
      case '$limit':
        out = skipLimit(out, 0, num(stage.$limit, 0));
        i++;
        continue;
    }
    let end = i;
    while (end < stages.length && !OWN_STAGES.has(stageName(stages[end]!))) end++;
    const run = stages.slice(i, end);
    refuseNestedFilters(run);
    const agg = aggregator(run, state, db);
    let it: Iterator<unknown>;
    try {
      it = agg.stream(viewSource(out)) as unknown as Iterator<unknown>;
    } catch (e) {
      throw badValue(e);
    }
    out = objectSource(it, (o) => encode(widenNumbers(o) as Document));
    i = end;
  }
  return out;
}

function filtered(src: DocSource, m: Matcher): DocSource {
  return {
    next() {
      for (let d = src.next(); d; d = src.next()) if (m.test(d.buf, d.start)) return d;
      return undefined;
    },
  };
}

/** A $match or $sort inside another stage ($lookup's or $facet's pipeline) would run in mingo: refused. */
function refuseNestedFilters(v: unknown): void {
  if (Array.isArray(v)) {
    v.forEach(refuseNestedFilters);
    return;
  }
  if (v === null || typeof v !== 'object' || '_bsontype' in v) return;
  for (const [k, x] of Object.entries(v)) {
    if (k === '$match' || k === '$sort' || k === 'pipeline') {
      throw new CommandError(2, 'BadValue', `${k} inside another stage is not supported by this test server (filters and sorts run in its one query engine)`);
    }
    refuseNestedFilters(x);
  }
}

const distinct: Handler = (req, state) => {
  const name = str(req.body.distinct, 'distinct');
  const key = str(req.body.key, 'key');
  const scan = new ScanSource(snapshotOf(state, req.db, name), matcher(req.body.query));
  // One value per equal group: 1 (int) and 1.0 (double) are one value, as in mongod.
  const seen: Val[] = [];
  for (let d = scan.next(); d; d = scan.next()) {
    for (const v of valuesAt(asVal(d), key)) if (!seen.some((s) => compareValues(s, v) === 0)) seen.push(v);
  }
  return { values: seen.map(deserializeValue), ok: 1 };
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
