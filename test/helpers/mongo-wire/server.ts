// TCP server speaking the MongoDB wire protocol: OP_MSG for commands, and legacy
// OP_QUERY/OP_REPLY because the driver's first handshake (`isMaster` on
// `admin.$cmd`) still goes out as OP_QUERY until it knows the server's wire version.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { deserialize, serialize, type Document } from 'bson';
import { adminCommands } from './commands-admin.js';
import { dataCommands } from './commands-data.js';
import { CursorRegistry } from './cursors.js';
import {
  CloseConnection,
  CommandError,
  EncodedReply,
  LIMITS,
  MSG_PREFIX,
  type CommandRequest,
  type Handler,
  type Reply,
  type ServerState,
} from './protocol.js';
import { arrayDocs, asBuffer, findField, T, type Hit, type RawDoc } from './raw-bson.js';
import { Store } from './store.js';

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const CHECKSUM_PRESENT = 1 << 0;
const MORE_TO_COME = 1 << 1;
const QUERY_FAILURE = 1 << 1; // OP_REPLY responseFlags

const COMMANDS: Record<string, Handler> = { ...adminCommands, ...dataCommands };

/** A protocol violation: the connection is closed, as mongod does. */
class WireError extends Error {}

const BODY_OPTS = { allowObjectSmallerThanBufferSize: true, index: 0, promoteValues: false, promoteLongs: false };
// Inserted documents are stored from their bytes; decoding them into the body is waste.
const INSERT_BODY_OPTS = { ...BODY_OPTS, fieldsAsRaw: { documents: true } };
const TYPED_OPTS = { allowObjectSmallerThanBufferSize: true, index: 0, promoteValues: false, promoteLongs: false };

/** The first key of the BSON document at `start`: the command name. */
function firstKey(buf: Buffer, start: number): string {
  const nameStart = start + 5;
  return buf.toString('utf8', nameStart, buf.indexOf(0, nameStart));
}

function checkDoc(buf: Buffer, start: number, end: number): number {
  if (start + 5 > end) throw new WireError('truncated document');
  const len = buf.readInt32LE(start);
  if (len < 5 || start + len > end || buf[start + len - 1] !== 0) throw new WireError('invalid document length');
  return len;
}

function decodeBody(buf: Buffer, start: number, name: string): Document {
  const opts = name === 'insert' ? INSERT_BODY_OPTS : BODY_OPTS;
  opts.index = start;
  return deserialize(buf, opts);
}

function errorDoc(e: unknown): Document {
  if (e instanceof CommandError) return { ok: 0, errmsg: e.message, code: e.code, codeName: e.codeName };
  const message = e instanceof Error ? e.message : String(e);
  return { ok: 0, errmsg: message, code: 1, codeName: 'InternalError' };
}

class Connection {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly hit: Hit = { type: 0, pos: 0 };

  constructor(
    private readonly socket: Socket,
    private readonly id: number,
    private readonly state: ServerState,
    private readonly nextRequestId: () => number,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
  }

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    try {
      while (this.buffered >= 4) {
        if (this.chunks[0]!.length < 4) this.merge();
        const len = this.chunks[0]!.readInt32LE(0);
        if (len < 16 || len > LIMITS.maxMessageSizeBytes) throw new WireError(`bad message length ${len}`);
        if (this.buffered < len) return;
        this.handle(this.take(len));
      }
    } catch (e) {
      // Malformed input: drop the connection rather than guess.
      this.socket.destroy(e instanceof Error ? e : undefined);
    }
  }

  private merge(): void {
    this.chunks = [Buffer.concat(this.chunks)];
  }

  private take(len: number): Buffer {
    let first = this.chunks[0]!;
    if (first.length < len) {
      this.merge();
      first = this.chunks[0]!;
    }
    const msg = first.subarray(0, len);
    if (first.length === len) this.chunks.shift();
    else this.chunks[0] = first.subarray(len);
    this.buffered -= len;
    return msg;
  }

  private handle(msg: Buffer): void {
    const requestId = msg.readInt32LE(4);
    const opCode = msg.readInt32LE(12);
    if (opCode === OP_MSG) this.handleMsg(msg, requestId);
    else if (opCode === OP_QUERY) this.handleQuery(msg, requestId);
    else throw new WireError(`unsupported opCode ${opCode}`); // incl. OP_COMPRESSED: never negotiated
  }

  private handleMsg(msg: Buffer, requestId: number): void {
    const flags = msg.readUInt32LE(16);
    const end = flags & CHECKSUM_PRESENT ? msg.length - 4 : msg.length; // CRC-32C not verified
    let p = 20;
    let bodyStart = -1;
    const sequences = new Map<string, RawDoc[]>();
    while (p < end) {
      const kind = msg[p++];
      if (kind === 0) {
        if (bodyStart >= 0) throw new WireError('two body sections');
        bodyStart = p;
        p += checkDoc(msg, p, end);
      } else if (kind === 1) {
        const sectionEnd = p + msg.readInt32LE(p);
        if (sectionEnd > end) throw new WireError('truncated document sequence');
        const idEnd = msg.indexOf(0, p + 4);
        const field = msg.toString('utf8', p + 4, idEnd);
        const docs: RawDoc[] = [];
        for (let q = idEnd + 1; q < sectionEnd; ) {
          const len = checkDoc(msg, q, sectionEnd);
          docs.push({ buf: msg, start: q, len });
          q += len;
        }
        sequences.set(field, docs);
        p = sectionEnd;
      } else {
        throw new WireError(`unknown OP_MSG section kind ${kind}`);
      }
    }
    if (bodyStart < 0) throw new WireError('OP_MSG without a body');
    const name = firstKey(msg, bodyStart);
    let reply: Reply;
    try {
      const body = decodeBody(msg, bodyStart, name);
      const db = body.$db;
      if (typeof db !== 'string' || db === '') {
        throw new CommandError(40571, 'Location40571', 'OP_MSG requests require a $db argument');
      }
      reply = this.run(this.request(name, db, body, msg, bodyStart, sequences));
    } catch (e) {
      if (e instanceof CloseConnection) {
        this.socket.destroy();
        return;
      }
      reply = errorDoc(e);
    }
    if (flags & MORE_TO_COME) return; // unacknowledged: the client expects no reply
    let out: Buffer;
    try {
      out = this.encodeMsg(reply, requestId);
    } catch (e) {
      out = this.encodeMsg(errorDoc(e), requestId); // e.g. a reply over bson's size limit
    }
    this.socket.write(out);
  }

  private handleQuery(msg: Buffer, requestId: number): void {
    const nsEnd = msg.indexOf(0, 20);
    const ns = msg.toString('utf8', 20, nsEnd);
    const queryStart = nsEnd + 1 + 8; // numberToSkip, numberToReturn
    checkDoc(msg, queryStart, msg.length);
    let reply: Reply;
    let failed = false;
    if (!ns.endsWith('.$cmd')) {
      // mongod 6+ answers only commands over OP_QUERY.
      reply = { $err: 'OP_QUERY is no longer supported for queries', code: 5739101, ok: 0 };
      failed = true;
    } else {
      try {
        let body = decodeBody(msg, queryStart, firstKey(msg, queryStart));
        if (body.$query && typeof body.$query === 'object') body = body.$query as Document;
        const name = Object.keys(body)[0] ?? '';
        reply = this.run(this.request(name, ns.slice(0, -5), body, msg, queryStart, new Map()));
      } catch (e) {
        reply = errorDoc(e);
      }
    }
    this.socket.write(this.encodeReply(reply, requestId, failed));
  }

  private request(
    name: string,
    db: string,
    body: Document,
    msg: Buffer,
    bodyStart: number,
    sequences: Map<string, RawDoc[]>,
  ): CommandRequest {
    const hit = this.hit;
    const rawDocs = (field: string): RawDoc[] => {
      const seq = sequences.get(field);
      if (seq) return seq;
      if (!findField(msg, bodyStart, Buffer.from(field), hit)) return [];
      if (hit.type !== T.array) throw new CommandError(14, 'TypeMismatch', `${field} must be an array`);
      return arrayDocs(msg, hit.pos);
    };
    return {
      name,
      db,
      body,
      connectionId: this.id,
      rawDocs,
      docs: (field) => {
        if (!sequences.has(field) && Array.isArray(body[field]) && name !== 'insert') return body[field] as Document[];
        return rawDocs(field).map((d) => {
          TYPED_OPTS.index = d.start;
          return deserialize(d.buf, TYPED_OPTS);
        });
      },
    };
  }

  private run(req: CommandRequest): Reply {
    const handler = Object.hasOwn(COMMANDS, req.name) ? COMMANDS[req.name] : undefined;
    if (!handler) throw new CommandError(59, 'CommandNotFound', `no such command: '${req.name}'`);
    return handler(req, this.state);
  }

  private encodeMsg(reply: Reply, responseTo: number): Buffer {
    let out: Buffer;
    if (reply instanceof EncodedReply) {
      out = reply.buf;
    } else {
      const body = asBuffer(serialize(reply));
      out = Buffer.allocUnsafe(MSG_PREFIX + body.length);
      body.copy(out, MSG_PREFIX);
    }
    out.writeInt32LE(out.length, 0);
    out.writeInt32LE(this.nextRequestId(), 4);
    out.writeInt32LE(responseTo, 8);
    out.writeInt32LE(OP_MSG, 12);
    out.writeUInt32LE(0, 16); // flagBits
    out[20] = 0; // section kind 0: body
    return out;
  }

  private encodeReply(reply: Reply, responseTo: number, failed: boolean): Buffer {
    const body = reply instanceof EncodedReply ? reply.buf.subarray(MSG_PREFIX) : asBuffer(serialize(reply));
    const out = Buffer.allocUnsafe(36 + body.length);
    out.writeInt32LE(out.length, 0);
    out.writeInt32LE(this.nextRequestId(), 4);
    out.writeInt32LE(responseTo, 8);
    out.writeInt32LE(OP_REPLY, 12);
    out.writeInt32LE(failed ? QUERY_FAILURE : 0, 16); // responseFlags
    out.writeBigInt64LE(0n, 20); // cursorID
    out.writeInt32LE(0, 28); // startingFrom
    out.writeInt32LE(1, 32); // numberReturned
    body.copy(out, 36);
    return out;
  }
}

/** A running server and its in-memory data. */
export class WireServer {
  readonly state: ServerState = { store: new Store(), cursors: new CursorRegistry(), cursorFaults: [] };
  private readonly sockets = new Set<Socket>();
  private connections = 0;
  private requestIds = 0;
  private server: Server | undefined;

  async listen(port: number): Promise<number> {
    const server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      new Connection(socket, ++this.connections, this.state, () => ++this.requestIds);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
    this.state.cursors.clear();
  }
}
