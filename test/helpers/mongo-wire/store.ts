// In-memory databases. Each collection keeps its documents as BSON bytes in one
// growing buffer, in insertion order: no per-document objects, so a million small
// documents cost about their size in memory.
import { ObjectId, serializeWithBufferAndIndex, type Document } from 'bson';
import { T, valueSize, type RawDoc } from './raw-bson.js';

/** What a cursor reads: the documents present when it was opened. */
export interface Snapshot {
  readonly buf: Buffer;
  readonly offsets: readonly number[];
  readonly end: number;
}

const MAX_DOC = 16 * 1024 * 1024;
/** Type byte, `_id` and its NUL, 12 ObjectId bytes. */
const ID_ELEMENT = 1 + 4 + 12;

export class Collection {
  // Appends write past `used`; a cursor's snapshot never looks past its `end`, and
  // removals build new arrays, so open snapshots stay valid without copying.
  private buf = Buffer.allocUnsafe(64 * 1024);
  private used = 0;
  private offsets: number[] = [];

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

  /** Appends one BSON document as it is (framing checked by the wire layer, contents trusted). */
  appendRaw(src: Buffer, start: number, len: number): void {
    this.reserve(len);
    src.copy(this.buf, this.used, start, start + len);
    this.offsets.push(this.used);
    this.used += len;
  }

  /**
   * Appends a document that has an `_id`, moved to the front as mongod stores it
   * (the driver appends a generated `_id` last). False when there is no `_id`.
   */
  appendWithId(src: Buffer, start: number, len: number): boolean {
    const end = start + len - 1;
    let p = start + 4;
    while (p < end) {
      const elemStart = p;
      const type = src[p++]!;
      const nameEnd = src.indexOf(0, p);
      const isId = nameEnd - p === 3 && src[p] === 0x5f && src[p + 1] === 0x69 && src[p + 2] === 0x64;
      p = nameEnd + 1 + valueSize(src, type, nameEnd + 1);
      if (!isId) continue;
      if (elemStart === start + 4) {
        this.appendRaw(src, start, len);
        return true;
      }
      this.reserve(len);
      const out = this.buf;
      let q = this.used;
      q = out.writeInt32LE(len, q);
      q += src.copy(out, q, elemStart, p); // _id first
      q += src.copy(out, q, start + 4, elemStart); // then what preceded it
      q += src.copy(out, q, p, end + 1); // then the rest and the closing NUL
      this.offsets.push(this.used);
      this.used = q;
      return true;
    }
    return false;
  }

  /** Appends a JS document, giving it an ObjectId `_id` when it has none. */
  appendObject(doc: Document): void {
    const scratch = scratchBuffer();
    const len = serializeWithBufferAndIndex(doc, scratch, { index: 0 }) + 1;
    if (this.appendWithId(scratch, 0, len)) return;
    // No `_id`: write one in front of the serialised fields, as mongod would.
    const total = len + ID_ELEMENT;
    this.reserve(total);
    const out = this.buf;
    let q = this.used;
    q = out.writeInt32LE(total, q);
    out[q++] = T.objectId;
    q += out.write('_id\0', q, 'latin1');
    out.set(new ObjectId().id, q);
    q += 12;
    q += scratch.copy(out, q, 4, len);
    this.offsets.push(this.used);
    this.used = q;
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
