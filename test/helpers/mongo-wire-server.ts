// A MongoDB stand-in for tests: no mongod can be installed here, so this speaks
// enough of the wire protocol for the official `mongodb` driver and keeps documents in
// memory as BSON bytes. One query engine (mongo-wire/query.ts) evaluates every filter and
// sort in MongoDB's documented BSON comparison order, exactly for Long and Decimal128;
// ties in a sort come back in no particular order (not insertion order). Aggregation
// stages that neither filter nor sort ($group, $project, $lookup...) run in mingo.
// Commands: see mongo-wire/commands-admin.ts and mongo-wire/commands-data.ts.
import type { Document } from 'bson';
import type { CursorFault } from './mongo-wire/protocol.js';
import { WireServer } from './mongo-wire/server.js';

export type { CursorFault };

export interface MongoWireServer {
  /** `mongodb://127.0.0.1:PORT/?directConnection=true` */
  url: string;
  port: number;
  /** Stores documents directly (no wire round trip), for fast test setup. Adds `_id` when missing. */
  insert(db: string, coll: string, docs: object[]): void;
  /** Server cursors still open (not exhausted, not killed). */
  openCursors(): number;
  /**
   * Arms a failure in the middle of a cursor, for the next getMore (on `fault.ns`, or any):
   * the connection is closed without a reply, or the reply is the given error. Used once.
   */
  failGetMore(fault: CursorFault): void;
  /** Resolves once no server cursor is open (after a killCursors, an exhausted or a failed one). */
  cursorsClosed(): Promise<void>;
  /** Closes the listener and every connection; data and cursors are discarded. */
  stop(): Promise<void>;
}

export interface StartMongoWireServerOptions {
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
}

export async function startMongoWireServer(opts: StartMongoWireServerOptions = {}): Promise<MongoWireServer> {
  const server = new WireServer();
  const port = await server.listen(opts.port ?? 0);
  return {
    url: `mongodb://127.0.0.1:${port}/?directConnection=true`,
    port,
    insert(db, coll, docs) {
      const c = server.state.store.ensure(db, coll);
      for (const d of docs) c.appendObject(d as Document);
    },
    openCursors: () => server.state.cursors.size,
    failGetMore: (fault) => {
      server.state.cursorFaults.push(fault);
    },
    cursorsClosed: () => server.state.cursors.whenEmpty(),
    stop: () => server.close(),
  };
}
