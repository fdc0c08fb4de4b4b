/** What a PostgreSQL or socket error means for the pipeline: retry, or stop and report. */
import { HyperfillError } from './errors.js';

interface PgLikeError {
  /** A SQLSTATE or a Node socket error name; other drivers' codes may be numbers. */
  code?: string | number;
  message?: string;
  where?: string;
  detail?: string;
  column?: string;
}

// Class 08 (connection exception), 57P01-57P03 (admin/crash shutdown, cannot connect now),
// 53300 (too many connections), plus Node socket errors.
const RETRYABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '40001', '40P01']);
const RETRYABLE_SOCKET = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
const LOST_CONNECTION_MESSAGES = [
  'Connection terminated', 'connection terminated', 'Client has encountered a connection error',
  'server closed the connection', 'Client was closed', 'the database system is starting up',
  'the database system is shutting down',
];

// Transient conflicts worth running the step again: TimescaleDB's scheduler updating a job's
// catalog row while alter_job does (XX000, seen on a real 2.28 when a policy starts as it is paused).
const TRANSIENT_MESSAGES = ['tuple concurrently updated'];

// Source drivers' own names for a lost server (the MongoDB driver's, for one).
const RETRYABLE_ERROR_NAMES = new Set(['MongoNetworkError', 'MongoNetworkTimeoutError', 'MongoServerSelectionError']);

/** True when the server or the network went away: the work can be retried on a new connection. */
export function isRetryable(err: unknown): boolean {
  // hyperfill's own errors say it by their code: a lost connection (connection.ts), nothing else.
  if (err instanceof HyperfillError) return err.code === 'E_CONNECTION_LOST';
  const e = err as PgLikeError & { name?: string };
  if (!e || typeof e !== 'object') return false;
  if (e.name && RETRYABLE_ERROR_NAMES.has(e.name)) return true;
  if (typeof e.code === 'string' && (RETRYABLE_SQLSTATES.has(e.code) || e.code.startsWith('08') || RETRYABLE_SOCKET.has(e.code))) return true;
  const message = e.message ?? '';
  return [...LOST_CONNECTION_MESSAGES, ...TRANSIENT_MESSAGES].some((m) => message.includes(m));
}

/** Where inside a COPY the server stopped: `COPY t, line 3, column cpu: "abc"`. */
export interface CopyErrorPosition {
  /** 1-based physical line inside the COPY data (quoted newlines count). */
  line?: number;
  column?: string;
}

export function copyErrorPosition(err: unknown): CopyErrorPosition {
  const where = (err as PgLikeError).where ?? '';
  const match = /COPY [^,]+, line (\d+)(?:, column ([^:]+))?/.exec(where);
  if (!match) return {};
  const position: CopyErrorPosition = { line: Number(match[1]) };
  if (match[2]) position.column = match[2];
  return position;
}

/** The server's message with its detail, on one line. */
export function serverMessage(err: unknown): string {
  const e = err as PgLikeError;
  const code = typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? ` (SQLSTATE ${e.code})` : '';
  const detail = e.detail ? ` ${e.detail}` : '';
  return `${e.message ?? String(err)}${detail}${code}`;
}
