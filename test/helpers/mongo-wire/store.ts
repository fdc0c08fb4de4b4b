// In-memory databases. Each collection keeps its documents as BSON bytes in one
// growing buffer, in insertion order: no per-document objects, so a million small
// documents cost about their size in memory.
import { ObjectId, serializeWithBufferAndIndex, type Document } from 'bson';
import { findField, type Hit, type RawDoc } from './raw-bson.js';

/** What a cursor reads: the documents present when it was opened. */
export interface Snapshot {
  readonly buf: Buffer;
  readonly offsets: readonly number[];
  readonly end: number;
}

const ID = Buffer.from('_id');
const MAX_DOC = 16 * 1024 * 1024;

export class Collection {
  // Appends write past `used`; a cursor's snapshot never looks past its `end`, and
  // removals build new arrays, so open snapshots stay valid without copying.
  private buf = Buffer.allocUnsafe(64 * 1024);
  private used = 0;
  private offsets: number[] = [];
  readonly createdAt = new Date();

  constructor(
    readonly db: string,
    readonly name: string,
  ) {}

  get count(): number {
    return this.offsets.length;
  }

  get byteSize(): number {
    return this.used;
  }

  snapshot(): Snapshot {
    return { buf: this.buf, offsets: this.offsets, end: this.offsets.length };
  }

  /** Appends one BSON document (already validated by whoever decoded it). */
  appendRaw(src: Buffer, start: number, len: number): void {
    this.reserve(len);
    src.copy(this.buf, this.used, start, start + len);
    this.offsets.push(this.used);
    this.used += len;
  }

  /** Appends a JS document, giving it an ObjectId `_id` first when it has none. */
  appendObject(doc: Document): void {
    const full = doc._id === undefined ? { _id: new ObjectId(), ...doc } : doc;
    const scratch = scratchBuffer();
    const last = serializeWithBufferAndIndex(full, scratch, { index: 0 });
    this.appendRaw(scratch, 0, last + 1);
  }

  /** Removes up to `limit` documents for which `remove` is true; returns how many went. */
  removeWhere(remove: (buf: Buffer, start: number) => boolean, limit = Infinity): number {
    const snap = this.snapshot();
    const survivors: RawDoc[] = [];
    let removed = 0;
    for (let i = 0; i < snap.end; i++) {
      const start = snap.offsets[i]!;
      const len = snap.buf.readInt32LE(start);
      if (removed < limit && remove(snap.buf, start)) removed++;
      else survivors.push({ buf: snap.buf, start, len });
    }
    if (removed === 0) return 0;
    this.buf = Buffer.allocUnsafe(Math.max(64 * 1024, this.used));
    this.used = 0;
    this.offsets = [];
    for (const d of survivors) this.appendRaw(d.buf, d.start, d.len);
    return removed;
  }

  private reserve(len: number): void {
    if (this.used + len <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.used + len) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.used);
    this.buf = next;
  }
}

let scratch: Buffer | undefined;
function scratchBuffer(): Buffer {
  scratch ??= Buffer.allocUnsafe(MAX_DOC + 1024);
  return scratch;
}

/** True when the raw document has a top-level `_id`. */
export function hasId(buf: Buffer, start: number): boolean {
  const hit: Hit = { type: 0, pos: 0 };
  return findField(buf, start, ID, hit);
}

export class Store {
  readonly dbs = new Map<string, Map<string, Collection>>();

  get(db: string, name: string): Collection | undefined {
    return this.dbs.get(db)?.get(name);
  }

  /** The collection, created on first write as mongod does. */
  ensure(db: string, name: string): Collection {
    let colls = this.dbs.get(db);
    if (!colls) this.dbs.set(db, (colls = new Map()));
    let coll = colls.get(name);
    if (!coll) colls.set(name, (coll = new Collection(db, name)));
    return coll;
  }

  drop(db: string, name: string): boolean {
    const colls = this.dbs.get(db);
    const had = colls?.delete(name) ?? false;
    if (colls && colls.size === 0) this.dbs.delete(db);
    return had;
  }

  dropDatabase(db: string): void {
    this.dbs.delete(db);
  }
}
