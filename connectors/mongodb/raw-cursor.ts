/**
 * Two ways to read a window's documents as bytes:
 *
 * - `commandBatches`: `find` and `getMore` run as commands with `raw: true`, so each reply's
 *   `firstBatch`/`nextBatch` arrives as one BSON array and goes to the encoders as it is
 *   (one copy, nothing per document on this thread). About ten times less CPU than the
 *   driver's cursor, which builds an object per document even in raw mode. The commands
 *   go through server selection each time, so this is only used where every command
 *   reaches the same server: read preference primary, and not several mongos routers
 *   (see `sameServerEachTime`).
 * - `cursorBatches`: the driver's own cursor (`raw: true`), pinned to its server.
 */
import type { ClientSession, Db, Document, FindCursor, MongoClient } from 'mongodb';
import { Long } from 'mongodb';
import { concatDocuments, type BatchSource } from './encoder-pool.js';

/** True when commands for the primary always reach one server, so a cursor can be continued by plain commands. */
export async function sameServerEachTime(client: MongoClient, url: string): Promise<boolean> {
  if (client.readPreference.mode !== 'primary') return false;
  if (/[?&]loadBalanced=true/i.test(url)) return false;
  const admin = client.db('admin');
  const hello = await admin.command({ hello: 1 }).catch(() => admin.command({ isMaster: 1 })); // isMaster: servers before 4.4.2
  if (hello.msg !== 'isdbgrid') return true; // a replica set has one primary; a standalone is one server
  const hosts = /^mongodb:\/\/(?:[^@/]*@)?([^/?]*)/i.exec(url)?.[1] ?? '';
  return !/^mongodb\+srv:/i.test(url) && !hosts.includes(',');
}

/** The `id` and the documents array of a raw `cursor` subdocument. */
function cursorParts(cursor: Uint8Array): { id: bigint; batch: Uint8Array | undefined } {
  const view = new DataView(cursor.buffer, cursor.byteOffset, cursor.byteLength);
  const end = cursor.byteLength - 1;
  let id = 0n;
  let batch: Uint8Array | undefined;
  let p = 4;
  while (p < end) {
    const type = cursor[p]!;
    let k = p + 1;
    while (cursor[k] !== 0) k++;
    const v = k + 1;
    let size: number;
    switch (type) {
      case 0x01: case 0x09: case 0x11: size = 8; break;
      case 0x12: size = 8; id = view.getBigInt64(v, true); break;
      case 0x10: size = 4; break;
      case 0x02: size = 4 + view.getInt32(v, true); break;
      case 0x03: size = view.getInt32(v, true); break;
      case 0x04: {
        size = view.getInt32(v, true);
        const key = String.fromCharCode(...cursor.subarray(p + 1, k));
        if (key === 'firstBatch' || key === 'nextBatch') batch = cursor.subarray(v, v + size);
        break;
      }
      case 0x08: size = 1; break;
      case 0x0a: size = 0; break;
      default: throw new Error(`unexpected BSON type 0x${type.toString(16)} in a cursor reply`);
    }
    p = v + size;
  }
  return { id, batch };
}

export function commandBatches(db: Db, collection: string, find: Document, batchSize: number, session: ClientSession): BatchSource {
  let id: bigint | undefined; // undefined before the find, 0n when exhausted
  const run = async (command: Document) => {
    const reply = await db.command(command, { raw: true, session });
    return cursorParts(reply.cursor as Uint8Array);
  };
  return {
    async next() {
      for (;;) {
        if (id === 0n) return undefined;
        const parts = id === undefined
          ? await run({ find: collection, ...find, batchSize })
          : await run({ getMore: Long.fromBigInt(id), collection, batchSize });
        id = parts.id;
        if (parts.batch && parts.batch.byteLength > 5) return { docs: concatDocuments([parts.batch]), layout: 'array' };
      }
    },
    async close() {
      const open = id !== undefined && id !== 0n ? id : undefined;
      id = 0n;
      if (open !== undefined) await db.command({ killCursors: collection, cursors: [Long.fromBigInt(open)] }, { session }).catch(() => undefined);
      await session.endSession().catch(() => undefined);
    },
  };
}

/** Batches of up to `size` raw documents from a driver cursor: one await per server batch, not per document. */
export function cursorBatches(cursor: FindCursor<unknown>, size: number): BatchSource {
  return {
    async next() {
      const docs: Uint8Array[] = [];
      let bytes = 0;
      while (docs.length < size) {
        if (cursor.bufferedCount() === 0) {
          if (docs.length > 0 || !(await cursor.hasNext())) break;
        }
        for (const d of cursor.readBufferedDocuments(size - docs.length) as Uint8Array[]) {
          docs.push(d);
          bytes += d.byteLength;
        }
      }
      return docs.length ? { docs: concatDocuments(docs, bytes), count: docs.length } : undefined;
    },
    close: () => cursor.close(),
  };
}
