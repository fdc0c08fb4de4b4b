// Shapes shared by the wire layer and the command handlers.
import type { Document } from 'bson';
import type { CursorRegistry } from './cursors.js';
import type { RawDoc } from './raw-bson.js';
import type { Store } from './store.js';

/** OP_MSG reply bytes before the body: header (16), flagBits (4), section kind (1). */
export const MSG_PREFIX = 21;

export const LIMITS = {
  maxBsonObjectSize: 16 * 1024 * 1024,
  maxMessageSizeBytes: 48_000_000,
  maxWriteBatchSize: 100_000,
} as const;

/** One command as the handlers see it, whichever opcode carried it. */
export interface CommandRequest {
  name: string;
  db: string;
  /** The body, decoded keeping BSON number types (Int32, Double, Long). */
  body: Document;
  /** The documents of an array field, from the body or an OP_MSG document sequence. */
  docs(field: string): Document[];
  /** The same, as the bytes the client sent (for inserts, stored as they are). */
  rawDocs(field: string): RawDoc[];
  connectionId: number;
}

/** A reply body already encoded, after MSG_PREFIX bytes of room for the header. */
export class EncodedReply {
  constructor(readonly buf: Buffer) {}
}

export type Reply = Document | EncodedReply;

/** A command failure, answered as `{ok: 0, errmsg, code, codeName}`. */
export class CommandError extends Error {
  constructor(
    readonly code: number,
    readonly codeName: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A failure armed for the next getMore (on `ns`, or any): the server closes the connection
 * without a reply, or replies with this error. Either way the cursor is gone, as in mongod
 * when a getMore is interrupted or its plan killed.
 */
export type CursorFault = { ns?: string } & ({ close: true } | { error: { code: number; codeName: string; errmsg: string } });

/** Thrown by a handler to drop the connection instead of replying. */
export class CloseConnection extends Error {}

/** What every handler may touch. */
export interface ServerState {
  store: Store;
  cursors: CursorRegistry;
  /** Armed getMore failures, each used once, first armed first. */
  cursorFaults: CursorFault[];
}

export type Handler = (req: CommandRequest, state: ServerState) => Reply;
