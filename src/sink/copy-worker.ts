/**
 * One worker: one connection, one transaction per batch (BEGIN, COPY, ledger row,
 * COMMIT); the COPY itself waits for one of the sink's stream permits. The row count
 * PostgreSQL reports must equal the rows the batch holds, so nothing is silently
 * dropped (a stray `\.` line, say). A lost connection is retried on a new one; when it
 * was lost during COMMIT, the ledger says whether the batch landed.
 * A batch with a binary form goes as binary; if the server refuses it, the same
 * records go again as text, so an error names the input line as it always has.
 * With `isolate` (--on-error skip|reject), a batch the server refuses for some of its
 * rows is copied again in pieces, in one transaction, and those rows are set aside.
 */
import type pg from 'pg';
import type { EncodedBatch } from '../batch.js';
import { describeLines } from '../batch.js';
import { type ConnectionConfig, LazyClient } from '../connection.js';
import { copyBytes } from '../pg/copy-bytes.js';
import { HyperfillError } from '../errors.js';
import { copyErrorPosition, isRetryable } from '../pg-errors.js';
import type { RowProblem } from '../transform/batch-transform.js';
import { type BatchRows, BinaryRows } from './batch-rows.js';
import { isConstraintError, isolateRows, isRowError, PieceRejected, rejectionReason, underSavepoint } from './isolate-rows.js';
import type { RejectLimit } from './reject-limit.js';
import { type RetryPolicy, withRetry } from '../retry.js';
import { applyConflict, type ConflictPlan } from './conflict.js';
import type { ImportLedger } from './import-ledger.js';
import type { Permits } from '../permits.js';

export interface WorkerStats {
  worker: number;
  rows: number;
  batches: number;
  /** Committed batches that went as binary COPY. */
  binaryBatches: number;
  /** Binary batches the server refused, sent again as text. */
  binaryRefused: number;
  busyMs: number;
  retries: number;
}

export interface WorkerSettings {
  connection: ConnectionConfig;
  /** COPY FROM STDIN for `data` (the input's csv or text format). */
  statement: string;
  /** COPY FROM STDIN (FORMAT binary) for a batch's `binary` form. */
  binaryStatement?: string | undefined;
  retry: RetryPolicy;
  ledger: ImportLedger | undefined;
  /** Run after each BEGIN, e.g. SET LOCAL for TimescaleDB's direct compress. */
  transactionSetup?: string | undefined;
  /** With --on-conflict-*: the statements take the batch from the staging table into the target. */
  conflict?: Pick<ConflictPlan, 'apply'> | undefined;
  /** Shared by the workers: how many may stream COPY data at once (the others begin, commit or wait). */
  streams: Permits;
  /**
   * The server has read a batch's binary form: it may be dropped now (a retry after a
   * connection lost while committing sends `data`).
   */
  onBinarySent?: ((batch: EncodedBatch) => void) | undefined;
  onRetry?: ((err: unknown, worker: number, attempt: number, delayMs: number) => void) | undefined;
  /**
   * --on-error skip or reject: a batch the server refuses with a row error (isolate-rows.ts)
   * is copied again in pieces, and the rows that fail alone are set aside, counted by `limit`.
   */
  isolate?: {
    rowsOf: (batch: EncodedBatch) => BatchRows;
    limit: RejectLimit;
    /** Heard as a batch starts to be copied in pieces (for --log-batches). */
    onStart?: ((batch: EncodedBatch, error: unknown) => void) | undefined;
  } | undefined;
  /** With a ledger: the rows of a batch to record for the rejects file, given those the server rejected. */
  rejectsToRecord?: ((batch: EncodedBatch, rejected: readonly RowProblem[]) => readonly RowProblem[]) | undefined;
}

export class CopyWorker {
  readonly stats: WorkerStats;
  private readonly client: LazyClient;
  /** Aborted by interrupt(): no retry waits on after it. */
  private readonly stopped = new AbortController();
  /** COMMIT sent: the batch is left to finish, so that its fate stays known. */
  private committing = false;

  constructor(readonly id: number, private readonly settings: WorkerSettings) {
    this.stats = { worker: id, rows: 0, batches: 0, binaryBatches: 0, binaryRefused: 0, busyMs: 0, retries: 0 };
    this.client = new LazyClient(settings.connection, { role: 'target', purpose: 'copy' });
  }

  /** Opens the connection now, so a bad target fails before any input is read. */
  async connect(): Promise<void> {
    await withRetry(() => this.client.get(), this.settings.retry, (err, attempt, delay) => this.noteRetry(err, attempt, delay), this.stopped.signal);
  }

  /**
   * Stops now: the batch in flight is cancelled in the server (it rolls back) unless its
   * COMMIT is already on the way, and no retry waits on.
   */
  interrupt(reason: unknown): void {
    this.stopped.abort(reason);
    if (!this.committing) this.client.cancel();
  }

  /**
   * Copies one batch, exactly once, retrying lost connections. Resolves with the rows
   * the server rejected and `isolate` set aside (none unless it is set), or undefined
   * when the ledger shows that another run had already committed the batch.
   */
  async copy(batch: EncodedBatch): Promise<RowProblem[] | undefined> {
    const started = performance.now();
    let reconnected = false;
    // use(): a lost connection fails as E_CONNECTION_LOST, naming the target, not as a rejected batch.
    const landed = await withRetry(() => this.client.use(async (client): Promise<RowProblem[] | undefined> => {
      if (reconnected && this.settings.ledger && (await this.settings.ledger.wasRecorded(client, batch))) return [];
      return this.copyOnce(client, batch);
    }), this.settings.retry, (err, attempt, delay) => {
      reconnected = true;
      this.noteRetry(err, attempt, delay);
    }, this.stopped.signal);
    if (!landed) return undefined;
    this.stats.rows += batch.rows - landed.length;
    this.stats.batches++;
    this.stats.busyMs += performance.now() - started;
    return landed;
  }

  close(): Promise<void> {
    return this.client.close();
  }

  private async copyOnce(client: pg.Client, batch: EncodedBatch): Promise<RowProblem[] | undefined> {
    this.committing = false;
    const binary = this.settings.binaryStatement;
    if (batch.binary && binary) {
      try {
        const landed = await this.inTransaction(client, batch, () => this.copyAll(client, batch, binary, batch.binary!, () => this.settings.onBinarySent?.(batch)), []);
        if (landed) this.stats.binaryBatches++;
        return landed ? [] : undefined;
      } catch (err) {
        // Lost connections are retried as they are; our own errors say what they mean; an interrupt stops.
        if (isRetryable(err) || err instanceof HyperfillError || this.stopped.signal.aborted) throw err;
        // A constraint the rows break: they break it as text too, so the pieces go as binary.
        if (this.settings.isolate && isConstraintError(err)) return this.isolate(client, batch, err, true);
        // The server refused the binary form: the text goes next, and names the line if it fails too.
        this.stats.binaryRefused++;
      }
    }
    try {
      return (await this.inTransaction(client, batch, () => this.copyAll(client, batch, this.settings.statement, batch.data))) ? [] : undefined;
    } catch (err) {
      if (this.settings.isolate && isRowError(err) && !this.stopped.signal.aborted) return this.isolate(client, batch, err, false);
      throw err;
    }
  }

  /** The whole batch in one COPY; the server must take every row. */
  private async copyAll(client: pg.Client, batch: EncodedBatch, statement: string, data: Buffer, onSent?: () => void): Promise<void> {
    const rowCount = await this.stream(client, statement, data);
    onSent?.();
    if (rowCount !== batch.rows) throw shortCopy(batch, 0, rowCount, batch.rows);
  }

  /**
   * The batch again, in one transaction, in pieces down to the rows that fail alone
   * (isolate-rows.ts); `error` is what the whole batch failed with. The good rows and
   * the ledger entry commit together, so a kill during isolation leaves nothing of the
   * batch and a rerun does it again: one transaction with savepoints rather than one
   * per piece, which would need a ledger entry per piece.
   */
  private async isolate(client: pg.Client, batch: EncodedBatch, error: unknown, asBinary: boolean): Promise<RowProblem[] | undefined> {
    const { rowsOf, limit, onStart } = this.settings.isolate!;
    const rows = rowsOf(batch);
    // Rows that cannot be told apart (an unterminated quote): nothing is set aside, the batch fails as it did.
    if (rows.count !== batch.rows) throw error;
    onStart?.(batch, error);
    const tuples = asBinary && batch.binary ? new BinaryRows(batch.binary) : undefined;
    const binary = tuples && tuples.count === rows.count ? tuples : undefined;
    const rowAt = (err: unknown, lo: number, hi: number, inBinary: boolean) => {
      const line = copyErrorPosition(err).line;
      if (line === undefined) return undefined;
      return inBinary && binary ? binary.rowAtLine(lo, hi, line) : rows.rowAtLine(lo, hi, line);
    };
    const rejected: RowProblem[] = [];
    const piece = async (lo: number, hi: number) => {
      const copy = (statement: string, data: Buffer) => async () => {
        const rowCount = await this.stream(client, statement, data);
        if (rowCount !== hi - lo) throw shortCopy(batch, lo, rowCount, hi - lo);
      };
      let refused = binary ? await underSavepoint(client, copy(this.settings.binaryStatement!, binary.binary(lo, hi))) : undefined;
      let inBinary = binary !== undefined;
      // A binary form the server refuses for another reason than a constraint: the text decides.
      if (!binary || (refused !== undefined && !isConstraintError(refused))) {
        refused = await underSavepoint(client, copy(this.settings.statement, rows.text(lo, hi)));
        inBinary = false;
      }
      if (refused !== undefined) throw new PieceRejected(refused, rowAt(refused, lo, hi, inBinary));
    };
    try {
      const landed = await this.inTransaction(client, batch, () => isolateRows(rows.count, piece, (row, err) => {
        const problem = rows.problem(row, rejectionReason(err));
        limit.take(1, { file: batch.inputName, line: problem.line, batch: batch.seq, reason: problem.reason });
        rejected.push(problem);
      }, new PieceRejected(error, rowAt(error, 0, rows.count, asBinary))), rejected);
      if (!landed) {
        limit.give(rejected.length);
        return undefined;
      }
      if (binary) this.stats.binaryBatches++;
      return rejected;
    } catch (err) {
      limit.give(rejected.length);
      throw err;
    }
  }

  /**
   * BEGIN, `body`, the ledger row (with the rows set aside for the rejects file), COMMIT.
   * False when another run had recorded the batch.
   */
  private async inTransaction(client: pg.Client, batch: EncodedBatch, body: () => Promise<void>, rejected: readonly RowProblem[] = []): Promise<boolean> {
    try {
      await client.query('BEGIN');
      if (this.settings.transactionSetup) await client.query(this.settings.transactionSetup);
      await body();
      if (this.settings.conflict) batch.applied = await applyConflict(client, this.settings.conflict);
      const ledger = this.settings.ledger;
      if (ledger && !(await ledger.record(client, batch, this.settings.rejectsToRecord?.(batch, rejected) ?? []))) {
        await client.query('ROLLBACK');
        return false;
      }
      this.committing = true;
      await client.query('COMMIT');
      return true;
    } catch (err) {
      if (isRetryable(err)) {
        this.client.drop();
        if (this.committing && !this.settings.ledger) {
          throw new HyperfillError('E_COMMIT_UNKNOWN',
            `the connection was lost while committing batch ${batch.seq} (${describeLines(batch)}): it may or may not be in the target`,
            { file: batch.inputName, line: batch.firstLine, batch: batch.seq },
            'use --import-id so hyperfill can tell on its own; without it, check those lines in the target before rerunning', err);
        }
        throw err;
      }
      await client.query('ROLLBACK').catch(() => this.client.drop());
      throw err;
    } finally {
      this.committing = false;
    }
  }

  /** One COPY, when one of the sink's stream permits is free. */
  private stream(client: pg.Client, statement: string, data: Buffer): Promise<number> {
    return this.settings.streams.run(() => {
      // Interrupted while waiting for a stream: the COPY must not start (it could wait on a lock for ever).
      if (this.stopped.signal.aborted) throw this.stopped.signal.reason;
      return copyBytes(client, statement, data);
    });
  }

  private noteRetry(err: unknown, attempt: number, delay: number): void {
    this.stats.retries++;
    this.client.drop();
    this.settings.onRetry?.(err, this.id, attempt, delay);
  }
}

/** The server took fewer rows than it was sent (a `\.` line ends text COPY data early): rolled back. */
function shortCopy(batch: EncodedBatch, from: number, rowCount: number, rows: number): HyperfillError {
  return new HyperfillError('E_ROW_COUNT_MISMATCH',
    `the target accepted ${rowCount} rows from a batch of ${rows}; the batch was rolled back`,
    // row: the first one it did not take (run-copy finds its line).
    { file: batch.inputName, line: batch.firstLine, row: batch.firstRow + from + rowCount, batch: batch.seq },
    'a line holding only \\. ends COPY data early in text format; check the input there');
}
