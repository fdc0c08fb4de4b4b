/**
 * Batches of raw BSON documents → a Readable of text COPY bytes. Encoding runs on a
 * small piscina pool (encode-worker.ts); batches go over as transferred ArrayBuffers and
 * come back the same way. A window keeps at most `maxInFlight` batches being encoded, and
 * asks its source for the next batch only when one is delivered downstream, so a slow
 * COPY slows the cursor. Output keeps the source's order.
 */
import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import { Piscina } from 'piscina';
import { type Conflict, type DocumentLayout, type EncodePlan, type EncodeResult, encodeDocuments } from './document-encoding.js';

export class DocumentEncoder {
  private pool: Piscina | undefined;
  readonly threads: number;

  /** `threads`: worker threads; 0 encodes on the calling thread. Default: the cores, at most 4. */
  constructor(threads?: number) {
    this.threads = threads ?? Math.min(4, availableParallelism());
  }

  /** Encodes the documents in `docs`, whose whole ArrayBuffer is handed over (detached). */
  encode(docs: Uint8Array, plan: EncodePlan, layout: DocumentLayout = 'sequence'): Promise<EncodeResult> {
    if (this.threads === 0) {
      try {
        return Promise.resolve(encodeDocuments(docs, plan, layout));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const pool = this.start();
    let buf = docs.buffer as ArrayBuffer;
    if (docs.byteOffset !== 0 || docs.byteLength !== buf.byteLength) buf = docs.slice().buffer as ArrayBuffer;
    return pool.run({ buf, plan, layout }, { transferList: [buf] }) as Promise<EncodeResult>;
  }

  /** Starts the worker threads (they take a moment to load), e.g. while a backfill plans. */
  start(): Piscina {
    this.pool ??= new Piscina({
      filename: new URL('./encode-worker.js', import.meta.url).href,
      minThreads: this.threads,
      maxThreads: this.threads,
      idleTimeout: 30_000,
      recordTiming: false,
    });
    return this.pool;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }
}

/** Copies documents into one fresh ArrayBuffer (never Node's shared pool: it is transferred). */
export function concatDocuments(docs: readonly Uint8Array[], bytes?: number): Uint8Array {
  const total = bytes ?? docs.reduce((n, d) => n + d.byteLength, 0);
  const out = new Uint8Array(new ArrayBuffer(total));
  let p = 0;
  for (const d of docs) {
    out.set(d, p);
    p += d.byteLength;
  }
  return out;
}

export interface RawBatch<Meta = unknown> {
  /** BSON documents, in a buffer of their own. */
  docs: Uint8Array;
  /** Default 'sequence'. */
  layout?: DocumentLayout;
  /** Documents in the batch, when known before encoding. */
  count?: number;
  /** The source's notes about the batch (e.g. where its documents are in a file), for errors. */
  meta?: Meta;
}

export interface BatchSource<Meta = unknown> {
  /** The next batch, undefined at the end. */
  next(): Promise<RawBatch<Meta> | undefined>;
  /** Called once when the stream ends, fails or is destroyed. */
  close(): Promise<void>;
}

export interface EncodedStreamOptions<Meta> {
  encoder: DocumentEncoder;
  plan: EncodePlan;
  /** Batches being encoded at once for this stream. */
  maxInFlight: number;
  /** The error the stream fails with when a document cannot be encoded. */
  onConflict(conflict: Conflict, batch: { meta?: Meta }): Error;
}

export function encodedStream<Meta>(source: BatchSource<Meta>, opts: EncodedStreamOptions<Meta>): { stream: Readable; rowsSent: () => Promise<number | undefined> } {
  let rows = 0;
  let ended = false;
  async function* run(): AsyncGenerator<Buffer> {
    const inFlight: Array<{ meta?: Meta; result: Promise<EncodeResult> }> = [];
    let exhausted = false;
    try {
      for (;;) {
        while (!exhausted && inFlight.length < opts.maxInFlight) {
          const batch = await source.next();
          if (!batch) {
            exhausted = true;
            break;
          }
          const result = opts.encoder.encode(batch.docs, opts.plan, batch.layout);
          result.catch(() => undefined); // awaited below; not unhandled if the stream stops first
          inFlight.push({ meta: batch.meta, result });
        }
        const head = inFlight.shift();
        if (!head) break;
        const r = await head.result;
        if (r.conflict) throw opts.onConflict(r.conflict, head);
        rows += r.rows;
        if (r.bytes.byteLength > 0) yield Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength);
      }
      ended = true;
    } finally {
      await source.close();
    }
  }
  const stream = Readable.from(run(), { objectMode: false });
  return { stream, rowsSent: async () => (ended ? rows : undefined) };
}
