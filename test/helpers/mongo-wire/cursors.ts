// Server cursors: lazy document sources cut into batches by count and bytes.
import { serialize, type Document } from 'bson';
import type { Matcher } from './matcher.js';
import { arrayEntrySize, asBuffer, type RawDoc } from './raw-bson.js';
import type { Snapshot } from './store.js';

/** Yields documents one at a time; undefined at the end. */
export interface DocSource {
  next(): RawDoc | undefined;
}

/** The documents of a snapshot that match, in insertion order, read on demand. */
export class ScanSource implements DocSource {
  private pos = 0;
  constructor(
    private readonly snap: Snapshot,
    private readonly matcher: Matcher,
  ) {}

  next(): RawDoc | undefined {
    const { buf, offsets, end } = this.snap;
    const matcher = this.matcher;
    while (this.pos < end) {
      const start = offsets[this.pos++]!;
      if (matcher.test(buf, start)) return { buf, start, len: buf.readInt32LE(start) };
    }
    return undefined;
  }
}

export class ArraySource implements DocSource {
  private i = 0;
  constructor(private readonly docs: readonly RawDoc[]) {}
  next(): RawDoc | undefined {
    return this.docs[this.i++];
  }
}

/** Skips `skip` documents, then stops after `limit` (0 = no limit). */
export function skipLimit(src: DocSource, skip: number, limit: number): DocSource {
  if (skip <= 0 && limit <= 0) return src;
  let toSkip = skip;
  let left = limit > 0 ? limit : Infinity;
  return {
    next() {
      while (toSkip > 0) {
        toSkip--;
        if (src.next() === undefined) return undefined;
      }
      if (left <= 0) return undefined;
      left--;
      return src.next();
    },
  };
}

export function mapSource(src: DocSource, fn: (d: RawDoc) => RawDoc): DocSource {
  return {
    next() {
      const d = src.next();
      return d === undefined ? undefined : fn(d);
    },
  };
}

/** Encodes a JS document as a RawDoc. */
export function encode(doc: Document): RawDoc {
  const buf = asBuffer(serialize(doc));
  return { buf, start: 0, len: buf.length };
}

/** Documents from an iterator of JS objects (mingo output), encoded on demand. */
export function objectSource(it: Iterator<unknown>, toRaw: (o: Document) => RawDoc): DocSource {
  return {
    next() {
      const r = it.next();
      return r.done ? undefined : toRaw(r.value as Document);
    },
  };
}

// A batch holds at most this many document bytes, so the reply stays under
// maxBsonObjectSize (16 MiB) with room for the envelope.
const BATCH_BYTES = 16 * 1024 * 1024 - 16 * 1024;
const IDLE_MS = 10 * 60 * 1000;

export class ServerCursor {
  private pending: RawDoc | undefined;
  /** True once the source has nothing left (after the pending document). */
  done = false;
  lastUsed = Date.now();

  constructor(
    readonly id: bigint,
    readonly ns: string,
    private readonly source: DocSource,
  ) {}

  /**
   * Up to `max` documents within the byte budget. Looks one document ahead so the
   * batch that empties the source says so (cursor id 0) instead of needing one more
   * round trip, as mongod does for most queries.
   */
  take(max: number): RawDoc[] {
    this.lastUsed = Date.now();
    const out: RawDoc[] = [];
    let bytes = 0;
    while (out.length < max) {
      const d = this.pending ?? this.source.next();
      this.pending = undefined;
      if (d === undefined) {
        this.done = true;
        return out;
      }
      const size = arrayEntrySize(out.length, d.len);
      if (out.length > 0 && bytes + size > BATCH_BYTES) {
        this.pending = d;
        return out;
      }
      out.push(d);
      bytes += size;
    }
    this.pending = this.source.next();
    if (this.pending === undefined) this.done = true;
    return out;
  }
}

export class CursorRegistry {
  private readonly open = new Map<bigint, ServerCursor>();
  private emptyWaiters: Array<() => void> = [];
  // Ids look like mongod's: large, positive, not sequential from 1.
  private nextId = BigInt(Math.floor(Math.random() * 2 ** 40)) * 1000n + 1n;

  /** Runs the first batch; keeps the cursor only if more remains. */
  first(ns: string, source: DocSource, batchSize: number, singleBatch: boolean) {
    this.sweep();
    const cursor = new ServerCursor(this.nextId++, ns, source);
    const docs = cursor.take(batchSize);
    const keep = !cursor.done && !singleBatch;
    if (keep) this.open.set(cursor.id, cursor);
    return { docs, id: keep ? cursor.id : 0n };
  }

  get(id: bigint): ServerCursor | undefined {
    return this.open.get(id);
  }

  /** The next batch; forgets the cursor when it is exhausted. */
  more(cursor: ServerCursor, batchSize: number) {
    const docs = cursor.take(batchSize);
    if (cursor.done) this.kill(cursor.id);
    return { docs, id: cursor.done ? 0n : cursor.id };
  }

  /** Resolves once no cursor is open. */
  whenEmpty(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  private closed(): void {
    if (this.open.size > 0) return;
    const waiters = this.emptyWaiters;
    this.emptyWaiters = [];
    for (const w of waiters) w();
  }

  // Abandoned cursors go after mongod's 10 minutes idle; checked when cursors open,
  // so no timer keeps the process alive.
  private sweep(): void {
    const cutoff = Date.now() - IDLE_MS;
    for (const [id, c] of this.open) if (c.lastUsed < cutoff) this.kill(id);
  }

  kill(id: bigint): boolean {
    const had = this.open.delete(id);
    this.closed();
    return had;
  }

  clear(): void {
    this.open.clear();
    this.closed();
  }

  get size(): number {
    return this.open.size;
  }
}
