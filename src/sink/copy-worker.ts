/**
 * One worker: one connection, one transaction per batch (BEGIN, COPY, ledger row,
 * COMMIT); the COPY itself waits for one of the sink's stream permits. The row count
 * PostgreSQL reports must equal the rows the batch holds, so nothing is silently
 * dropped (a stray `\.` line, say). A lost connection is retried on a new one; when it
 * was lost during COMMIT, the ledger says whether the batch landed.
 * A batch with a binary form goes as binary; if the server refuses it, the same
 * records go again as text, so an error names the input line as it always has.
 */
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { EncodedBatch } from '../batch.js';
import { describeLines } from '../batch.js';
import { type ConnectionConfig, LazyClient } from '../connection.js';
import { HyperfillError } from '../errors.js';
import { isRetryable } from '../pg-errors.js';
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
   * Copies one batch, exactly once, retrying lost connections. Returns false when the
   * ledger shows that another run had already committed it.
   */
  async copy(batch: EncodedBatch): Promise<boolean> {
    const started = performance.now();
    let reconnected = false;
    // use(): a lost connection fails as E_CONNECTION_LOST, naming the target, not as a rejected batch.
    const landed = await withRetry(() => this.client.use(async (client) => {
      if (reconnected && this.settings.ledger && (await this.settings.ledger.wasRecorded(client, batch))) return true;
      return this.copyOnce(client, batch);
    }), this.settings.retry, (err, attempt, delay) => {
      reconnected = true;
      this.noteRetry(err, attempt, delay);
    }, this.stopped.signal);
    if (!landed) return false;
    this.stats.rows += batch.rows;
    this.stats.batches++;
    this.stats.busyMs += performance.now() - started;
    return true;
  }

  close(): Promise<void> {
    return this.client.close();
  }

  private async copyOnce(client: pg.Client, batch: EncodedBatch): Promise<boolean> {
    this.committing = false;
    const binary = this.settings.binaryStatement;
    if (batch.binary && binary) {
      try {
        const landed = await this.copyInTransaction(client, batch, binary, batch.binary, () => this.settings.onBinarySent?.(batch));
        if (landed) this.stats.binaryBatches++;
        return landed;
      } catch (err) {
        // Lost connections are retried as they are; our own errors say what they mean; an interrupt stops.
        if (isRetryable(err) || err instanceof HyperfillError || this.stopped.signal.aborted) throw err;
        // The server refused the binary form: the text goes next, and names the line if it fails too.
        this.stats.binaryRefused++;
      }
    }
    return this.copyInTransaction(client, batch, this.settings.statement, batch.data);
  }

  private async copyInTransaction(client: pg.Client, batch: EncodedBatch, statement: string, data: Buffer, onSent?: () => void): Promise<boolean> {
    try {
      await client.query('BEGIN');
      if (this.settings.transactionSetup) await client.query(this.settings.transactionSetup);
      const rowCount = await this.settings.streams.run(() => {
        // Interrupted while waiting for a stream: the COPY must not start (it could wait on a lock for ever).
        if (this.stopped.signal.aborted) throw this.stopped.signal.reason;
        return copyBytes(client, statement, data);
      });
      onSent?.();
      if (rowCount !== batch.rows) {
        throw new HyperfillError('E_ROW_COUNT_MISMATCH',
          `the target accepted ${rowCount} rows from a batch of ${batch.rows}; the batch was rolled back`,
          // row: the first one it did not take (run-copy finds its line).
          { file: batch.inputName, line: batch.firstLine, row: batch.firstRow + rowCount, batch: batch.seq },
          'a line holding only \\. ends COPY data early in text format; check the input there');
      }
      if (this.settings.conflict) batch.applied = await applyConflict(client, this.settings.conflict);
      if (this.settings.ledger && !(await this.settings.ledger.record(client, batch))) {
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

  private noteRetry(err: unknown, attempt: number, delay: number): void {
    this.stats.retries++;
    this.client.drop();
    this.settings.onRetry?.(err, this.id, attempt, delay);
  }
}

/** Runs one `COPY ... FROM STDIN` with `data`; resolves with the server's row count. */
export function copyBytes(client: pg.Client, statement: string, data: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = client.query(copyFrom(statement));
    stream.on('error', reject);
    stream.on('finish', () => resolve(stream.rowCount));
    stream.end(data);
  });
}
