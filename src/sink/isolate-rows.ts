/**
 * `--on-error skip|reject` for rows the server rejects. A batch refused with a data
 * error is copied again in pieces, each under its own savepoint in the batch's one
 * transaction, down to the single rows that fail alone. Where the error names the line
 * the server stopped at, a piece is cut there (the rows before it, that row, the rows
 * after): one bad row costs about one more pass over its batch. Where it names none (a
 * foreign key is checked at the end of the statement), the piece is cut in halves.
 * Pieces go in input order, so of two rows with the same key the first one loads.
 */
import type pg from 'pg';
import { HyperfillError } from '../errors.js';
import { copyErrorPosition, serverMessage } from '../pg-errors.js';

/**
 * SQLSTATE classes 22 (data exception: a value the type refuses, bad COPY data) and 23
 * (integrity constraint violation): the rows are at fault, not the connection or the
 * server, and copying them again would fail again.
 */
export function isRowError(err: unknown): boolean {
  if (err instanceof HyperfillError) return false;
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code);
}

/** SQLSTATE class 23: the rows break a constraint, whatever form (text or binary) they were sent in. */
export function isConstraintError(err: unknown): boolean {
  return isRowError(err) && String((err as { code: string }).code).startsWith('23');
}

/** For FILE.reasons: the column the server names, and its message. */
export function rejectionReason(err: unknown): string {
  const column = copyErrorPosition(err).column;
  return `${column ? `column ${column}: ` : ''}${serverMessage(err)}`;
}

/** A piece the server rejected: the error, and the row its line falls on, if named. */
export class PieceRejected extends Error {
  constructor(readonly error: unknown, readonly row: number | undefined) {
    super('piece rejected');
  }
}

/**
 * Copies rows [0, count) piece by piece. `copyPiece` copies rows [lo, hi) under a
 * savepoint and throws PieceRejected when the server refuses them with a row error
 * (anything else it throws ends the isolation); `onRejected` hears each row that fails alone.
 */
export async function isolateRows(count: number, copyPiece: (lo: number, hi: number) => Promise<void>,
  onRejected: (row: number, error: unknown) => void, first?: PieceRejected): Promise<void> {
  // A stack of pieces to copy, the next one last; the whole batch's error splits it at once.
  const pending: Array<[number, number]> = [];
  const split = (lo: number, hi: number, rejected: PieceRejected) => {
    if (hi - lo === 1) onRejected(lo, rejected.error);
    else if (rejected.row !== undefined && rejected.row >= lo && rejected.row < hi) {
      pending.push([rejected.row + 1, hi], [rejected.row, rejected.row + 1], [lo, rejected.row]);
    } else {
      const mid = (lo + hi) >>> 1;
      pending.push([mid, hi], [lo, mid]);
    }
  };
  if (first) split(0, count, first);
  else pending.push([0, count]);
  for (let piece = pending.pop(); piece !== undefined; piece = pending.pop()) {
    const [lo, hi] = piece;
    if (lo >= hi) continue;
    try {
      await copyPiece(lo, hi);
    } catch (err) {
      if (!(err instanceof PieceRejected)) throw err;
      split(lo, hi, err);
    }
  }
}

/**
 * Runs `copy` under a savepoint of the transaction in progress: undefined when its rows
 * went in, or the row error the server refused them with (the transaction is back where
 * it was). Any other error is thrown: the transaction is lost.
 */
export async function underSavepoint(client: pg.Client, copy: () => Promise<void>): Promise<unknown> {
  await client.query('SAVEPOINT hyperfill_piece');
  try {
    await copy();
  } catch (err) {
    if (!isRowError(err)) throw err;
    await client.query('ROLLBACK TO SAVEPOINT hyperfill_piece; RELEASE SAVEPOINT hyperfill_piece');
    return err;
  }
  await client.query('RELEASE SAVEPOINT hyperfill_piece');
  return undefined;
}
