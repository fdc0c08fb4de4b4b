/**
 * The dual writer: each write goes to the primary (the database the application trusts
 * today) and the secondary (the migration's target) at the same time. The application
 * gets the primary's result or error, unchanged. The secondary can never fail the write
 * and delays it at most `secondaryTimeoutMs`: a write it refuses, or does not answer in
 * time, goes to a durable local spool once the primary has committed it, and a background
 * replay applies the spool, in order, once the secondary is back. While the spool holds
 * records, new writes go to the primary and the spool, so the secondary sees every write
 * in the order the application made them.
 */
import { EventEmitter } from 'node:events';
import type pg from 'pg';
import { HyperfillError } from '../errors.js';
import { parseTableName } from '../pg/table-name.js';
import { isRetryable } from '../pg-errors.js';
import { bounded, type BoundedOutcome, Deferred } from './bounded.js';
import { DEFAULT_CONTROL_SCHEMA, DualWriteControl } from './control-tables.js';
import { FirstWrites } from './first-writes.js';
import { InDoubtWrites } from './in-doubt.js';
import { type DualWriteMetrics, type DualWriterEvents, type DualWriteMode, emptyMetrics } from './metrics.js';
import { type ReplayClient, type ReplayTarget, replaySpool } from './replay.js';
import { type SpoolEntry, type StoredStatement, storeStatement } from './spool-entry.js';
import { type SpoolOptions, SpoolJournal, type TornTail } from './spool-journal.js';
import type { ConflictKey, WriteTarget } from './statement.js';
import { runTransaction, type TransactionQuery } from './transaction.js';

/** A pg Pool, or anything with its `query` (and `connect`, for transactions and background replay). */
export interface DualWriteDatabase {
  query(text: string | pg.QueryConfig, values?: unknown[]): Promise<pg.QueryResult>;
  connect?(): Promise<ReplayClient>;
  on?(event: 'error', listener: (err: Error) => void): unknown;
  off?(event: 'error', listener: (err: Error) => void): unknown;
}

export interface DualWriterOptions {
  primary: DualWriteDatabase;
  secondary: DualWriteDatabase;
  /** The spool directory, or its options (fsync per record or per group). One writer per directory. */
  spool: string | SpoolOptions;
  /** Names this writer in the target's records (first write per table); stable across restarts. */
  writerId: string;
  /** The longest the secondary may delay a write (default 1000 ms). */
  secondaryTimeoutMs?: number;
  /** The target's schema for hyperfill's tables (default `hyperfill`). */
  controlSchema?: string;
  /** Per table (`schema.table` or `table`), the columns of a unique key: replayed INSERTs get `ON CONFLICT (...) DO NOTHING`. */
  conflictKeys?: Record<string, string[]>;
  /** Background replay (default on); `false` leaves the spool to `hyperfill replay`. */
  replay?: false | {
    /** First wait after a failed attempt; doubles up to 5 s (default 500 ms). */
    retryMs?: number;
    /** Records per target transaction (default 200). */
    batchRecords?: number;
    /** How long replay waits to learn whether a timed-out write committed after all (default 30 s). */
    inDoubtWaitMs?: number;
  };
  /** Emit `metrics` (and call `onMetrics`) this often; off when unset. */
  metricsIntervalMs?: number;
  onMetrics?: (metrics: DualWriteMetrics) => void;
}

/** What opening the spool found: a torn last record (never replayed), and records waiting for replay. */
export interface DualWriterRecovery {
  tornTail: TornTail | undefined;
  pendingRecords: number;
}

/** Replay probes a secondary that is down at most this far apart: a cheap connect attempt. */
const MAX_RETRY_MS = 5000;

export class DualWriter extends EventEmitter<DualWriterEvents> {
  readonly recovery: DualWriterRecovery;
  private mode: DualWriteMode;
  private gate: Deferred<boolean> | undefined;
  private readonly counters = emptyMetrics();
  /** Writes and transactions in flight per generation; a drain starts a new generation. */
  private generation = 0;
  private readonly running = new Map<number, number>();
  private runningWaiters: Array<() => void> = [];
  private readonly inDoubt: InDoubtWrites;
  private readonly firstWrites: FirstWrites;
  private readonly control: DualWriteControl;
  private readonly conflictKeys: ConflictKey[];
  private readonly timeoutMs: number;
  private readonly replayOptions: { retryMs: number; batchRecords: number; inDoubtWaitMs: number } | undefined;
  private oldestPendingAt: number | undefined;
  /** Markers left by an earlier life of this writer are read once; this life's late commits are known in memory. */
  private scannedMarkers = false;
  private wake = new Deferred<void>();
  private readonly stop = new AbortController();
  private loop: Promise<void> = Promise.resolve();
  private metricsTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly onSecondaryIdleError = () => undefined;

  /** Use `createDualWriter`. */
  constructor(private readonly options: DualWriterOptions, private readonly journal: SpoolJournal) {
    super();
    this.timeoutMs = options.secondaryTimeoutMs ?? 1000;
    this.control = new DualWriteControl(options.controlSchema ?? DEFAULT_CONTROL_SCHEMA);
    this.firstWrites = new FirstWrites(options.writerId, this.control);
    this.conflictKeys = Object.entries(options.conflictKeys ?? {}).map(([table, columns]) => ({ table: parseTableName(table), columns }));
    const replay = options.replay === false || !options.secondary.connect ? undefined : options.replay ?? {};
    this.replayOptions = replay && { retryMs: replay.retryMs ?? 500, batchRecords: replay.batchRecords ?? 200, inDoubtWaitMs: replay.inDoubtWaitMs ?? 30_000 };
    this.inDoubt = new InDoubtWrites(this.replayOptions?.inDoubtWaitMs ?? 30_000, {
      settled: (seq, committed) => {
        this.emit('in-doubt', { seq, outcome: committed ? 'committed' : 'failed' });
        // For `hyperfill replay` after a restart, a marker in the spool says the same.
        if (committed && seq > journal.replayed) void journal.append({ kind: 'settled', at: Date.now(), seq }).catch(() => undefined);
      },
      gaveUp: (seq) => {
        this.counters.inDoubtReplayed++;
        this.emit('in-doubt', { seq, outcome: 'replayed-unsettled' });
      },
    });
    this.recovery = { tornTail: journal.tornTail, pendingRecords: journal.pendingRecords };
    this.mode = journal.pendingRecords > 0 ? 'spooling' : 'direct';
    // An idle pooled connection to a secondary that went away must not crash the application.
    options.secondary.on?.('error', this.onSecondaryIdleError);
    if (this.replayOptions) this.loop = this.replayLoop();
    if (options.metricsIntervalMs) {
      this.metricsTimer = setInterval(() => {
        const m = this.metrics();
        this.emit('metrics', m);
        options.onMetrics?.(m);
      }, options.metricsIntervalMs);
      this.metricsTimer.unref();
    }
  }

  get writerId(): string {
    return this.options.writerId;
  }

  get spoolId(): string {
    return this.journal.spoolId;
  }

  metrics(): DualWriteMetrics {
    return {
      ...this.counters,
      mode: this.mode,
      spoolDepth: this.journal.pendingRecords,
      spoolBytes: this.journal.bytes,
      replayLagMs: this.oldestPendingAt === undefined || this.journal.pendingRecords === 0 ? 0 : Math.max(0, Date.now() - this.oldestPendingAt),
      inDoubt: this.inDoubt.size,
    };
  }

  /** Runs the statement on both databases; resolves or rejects as the primary did. */
  query<R extends pg.QueryResultRow = any>(text: string | pg.QueryConfig, values?: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.closed) return Promise.reject(closedError());
    return this.tracked(() => this.writeBoth(text, values)) as Promise<pg.QueryResult<R>>;
  }

  /**
   * Runs `work` in a transaction on each database. The primary's COMMIT decides: when it
   * commits and the secondary's side fails or times out, the whole transaction is spooled
   * as one record. Needs `connect()` on both (pg Pools).
   */
  transaction<T>(work: (tx: TransactionQuery) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
    if (!this.options.primary.connect || !this.options.secondary.connect) {
      return Promise.reject(new HyperfillError('E_DUAL_WRITE_OPTIONS', 'transaction() needs `connect()` on the primary and the secondary', {},
        'pass pg Pools as `primary` and `secondary`'));
    }
    this.counters.transactions++;
    return this.tracked(() => runTransaction(this.transactionHost(), work));
  }

  /** Finishes writes in flight and the replay batch in progress, then releases the spool (the pools stay open). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writesBegunBefore();
    this.stop.abort();
    this.wake.resolve();
    await this.loop;
    if (this.metricsTimer) clearInterval(this.metricsTimer);
    await this.journal.close();
    this.options.secondary.off?.('error', this.onSecondaryIdleError);
  }

  /** At open: how long the first record still waiting for replay has waited. */
  async findOldestPending(): Promise<void> {
    if (this.journal.pendingRecords === 0) return;
    for await (const record of this.journal.read(this.journal.replayed)) {
      this.oldestPendingAt = record.entry.at;
      break;
    }
  }

  /** Counts a write or transaction as in flight (by generation, so a drain can wait for the ones begun before it). */
  private async tracked<T>(work: () => Promise<T>): Promise<T> {
    const generation = this.generation;
    this.running.set(generation, (this.running.get(generation) ?? 0) + 1);
    try {
      return await work();
    } finally {
      const left = (this.running.get(generation) ?? 1) - 1;
      if (left > 0) this.running.set(generation, left);
      else {
        this.running.delete(generation);
        for (const wake of this.runningWaiters.splice(0)) wake();
      }
    }
  }

  /** Resolves once every write and transaction begun before this call has finished. */
  private async writesBegunBefore(): Promise<void> {
    const before = this.generation++;
    const pending = () => [...this.running.keys()].some((g) => g <= before);
    while (pending()) await new Promise<void>((resolve) => this.runningWaiters.push(resolve));
  }

  private async writeBoth(text: string | pg.QueryConfig, values: unknown[] | undefined): Promise<pg.QueryResult> {
    this.counters.writes++;
    const sql = typeof text === 'string' ? text : text.text;
    const params = typeof text === 'string' ? values : (text.values ?? values);
    const targets = this.firstWrites.targets(sql);
    if (this.mode === 'spooling') {
      const result = await this.primaryQuery(text, values);
      await this.spool(this.firstWrites.spoolEntries(targets, Date.now()), { kind: 'statement', at: Date.now(), statement: storeStatement(sql, params) }, sql, targets);
      return result;
    }
    // The usual case goes straight to the pool: no gate to pass, no first write to record.
    const secondary = this.mode === 'direct' && this.firstWrites.allRecorded(targets)
      ? bounded(this.timeoutMs, (send) => {
        send();
        return this.options.secondary.query(text, values);
      })
      : bounded(this.timeoutMs, async (send) => {
        await this.passGate();
        await this.firstWrites.recordDirect(this.options.secondary, targets);
        send();
        return this.options.secondary.query(text, values);
      });
    let result: pg.QueryResult | undefined;
    let primaryError: unknown;
    try {
      result = await this.options.primary.query(text, values);
    } catch (err) {
      this.counters.primaryErrors++;
      primaryError = err;
    }
    const outcome = await secondary;
    if (result === undefined) {
      this.watchDivergence(outcome, sql, primaryError);
      throw primaryError;
    }
    if (!outcome.ok) {
      this.secondaryFailed(sql, outcome);
      const seq = await this.spool(this.firstWrites.spoolEntries(targets, Date.now()),
        { kind: 'statement', at: Date.now(), statement: storeStatement(sql, params) }, sql, targets);
      if (seq !== undefined && outcome.timedOut && outcome.issued) this.inDoubt.watch(seq, outcome.late);
    }
    return result;
  }

  private async primaryQuery(text: string | pg.QueryConfig, values: unknown[] | undefined): Promise<pg.QueryResult> {
    try {
      return await this.options.primary.query(text, values);
    } catch (err) {
      this.counters.primaryErrors++;
      throw err;
    }
  }

  /** While replay finishes the spool, new secondary work waits for it (false: the spool is still in use). */
  private async passGate(): Promise<void> {
    if (this.mode === 'draining' && this.gate && !(await this.gate.promise)) throw new Error('the spool is in use again');
  }

  private secondaryFailed(statement: string, outcome: BoundedOutcome): void {
    this.counters.secondaryFailures++;
    if (outcome.timedOut) this.counters.secondaryTimeouts++;
    this.emit('secondary-failure', { statement, error: outcome.error, timedOut: outcome.timedOut });
    if (this.mode === 'direct') {
      this.mode = 'spooling';
      this.wake.resolve();
    }
  }

  /** A write the primary refused: if the secondary took it (now or later), they differ. */
  private watchDivergence(outcome: BoundedOutcome, statement: string, primaryError: unknown): void {
    const diverged = () => {
      this.counters.divergences++;
      this.emit('divergence', { statement, primaryError });
    };
    if (outcome.ok) diverged();
    else if (outcome.timedOut && outcome.issued) outcome.late.then(diverged, () => undefined);
  }

  /**
   * Appends `entries` then `last`; resolves with `last`'s seq, or undefined when the spool
   * failed: then the write is lost for the secondary, which is reported, never thrown.
   */
  private async spool(entries: SpoolEntry[], last: SpoolEntry, statement: string, targets: readonly WriteTarget[]): Promise<number | undefined> {
    if (this.mode === 'direct') this.mode = 'spooling';
    this.wake.resolve();
    const all = [...entries, last];
    this.oldestPendingAt ??= last.at;
    try {
      const seqs = await Promise.all(all.map((e) => this.journal.append(e)));
      this.counters.spooled += all.length;
      for (let n = 0; n < all.length; n++) this.emit('spooled', { seq: seqs[n] as number, kind: (all[n] as SpoolEntry).kind });
      return seqs[seqs.length - 1];
    } catch (error) {
      this.counters.lost++;
      this.firstWrites.reset(targets);
      this.emit('spool-error', { error, statement });
      return undefined;
    }
  }

  private replayTarget(): ReplayTarget {
    const secondary = this.options.secondary;
    const timeoutMs = this.timeoutMs;
    return {
      // A hung secondary must not hold replay forever at connect.
      async connect() {
        const outcome = await bounded(timeoutMs, async (send) => {
          send();
          return (secondary.connect as () => Promise<ReplayClient>)();
        });
        if (!outcome.ok) {
          if (outcome.timedOut) void outcome.late.then((c) => (c as ReplayClient).release(true), () => undefined);
          throw outcome.error;
        }
        return (await outcome.late) as ReplayClient;
      },
    };
  }

  private async replayOnce(): Promise<number> {
    const options = this.replayOptions as NonNullable<DualWriter['replayOptions']>;
    let counted = 0;
    const progress = await replaySpool({
      journal: this.journal, target: this.replayTarget(), control: this.control, conflictKeys: this.conflictKeys,
      batchRecords: options.batchRecords, signal: this.stop.signal, scanMarkers: !this.scannedMarkers,
      alreadyCommitted: (seq) => this.inDoubt.committedAfterAll(seq, this.stop.signal),
      onProgress: (p) => {
        this.counters.replayed += p.records - counted;
        counted = p.records;
        this.oldestPendingAt = p.nextAt ?? (this.journal.pendingRecords > 0 ? this.oldestPendingAt : undefined);
        this.inDoubt.forget(p.appliedSeq);
        this.emit('replayed', p);
      },
    });
    this.counters.replayBlocked = undefined;
    this.scannedMarkers = true;
    return progress.appliedSeq;
  }

  /** Waits for the spool to have records, replays them while the secondary answers, and goes direct again once empty. */
  private async replayLoop(): Promise<void> {
    const options = this.replayOptions as NonNullable<DualWriter['replayOptions']>;
    let delay = options.retryMs;
    while (!this.closed) {
      if (this.mode === 'direct') {
        this.wake = new Deferred<void>();
        if (this.mode === 'direct' && !this.closed) await this.wake.promise;
        continue;
      }
      try {
        const applied = await this.replayOnce();
        delay = options.retryMs;
        // Under steady writes the spool never empties by itself: once what is left fits in a
        // batch, new writes wait at the gate (within their timeout) while the rest is applied.
        if (this.journal.lastSeq - applied <= options.batchRecords && !this.closed) await this.drain();
      } catch (err) {
        if (this.mode === 'draining') this.endDrain(false);
        if (this.closed) break;
        this.replayFailed(err);
        await this.sleep(delay);
        delay = Math.min(delay * 2, MAX_RETRY_MS);
      }
    }
  }

  /**
   * The spool looked empty: writes started earlier finish (they may still spool), new ones
   * wait at the gate, replay applies what is left, and writes go direct again, unless
   * something was spooled meanwhile (then back to spooling, and replay goes on).
   */
  private async drain(): Promise<void> {
    this.mode = 'draining';
    this.gate = new Deferred<boolean>();
    await this.writesBegunBefore();
    const applied = await this.replayOnce();
    this.endDrain(applied >= this.journal.lastSeq && !this.journal.busy);
  }

  private endDrain(empty: boolean): void {
    this.mode = empty ? 'direct' : 'spooling';
    if (empty) this.oldestPendingAt = undefined;
    const gate = this.gate;
    this.gate = undefined;
    gate?.resolve(empty);
    if (empty) this.emit('drained');
  }

  private replayFailed(err: unknown): void {
    if (isRetryable(err) || (err as Error).name === 'SecondaryTimeout') return;
    const error = err instanceof Error ? err : new Error(String(err));
    const seq = err instanceof HyperfillError && typeof err.context.seq === 'number' ? err.context.seq : -1;
    if (this.counters.replayBlocked?.seq !== seq || this.counters.replayBlocked.message !== error.message) {
      this.counters.replayBlocked = { seq, message: error.message };
      this.emit('replay-error', error);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.stop.signal.removeEventListener('abort', wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.stop.signal.addEventListener('abort', wake);
    });
  }

  /** What a transaction needs from its writer. */
  private transactionHost() {
    return {
      primary: this.options.primary,
      secondary: this.options.secondary,
      timeoutMs: this.timeoutMs,
      firstWrites: this.firstWrites,
      spooling: () => this.mode === 'spooling',
      passGate: () => this.passGate(),
      countWrite: () => {
        this.counters.writes++;
      },
      countPrimaryError: () => {
        this.counters.primaryErrors++;
      },
      secondaryFailed: (outcome: BoundedOutcome) => this.secondaryFailed('(transaction)', outcome),
      spool: async (statements: StoredStatement[], targets: WriteTarget[], outcome: BoundedOutcome | undefined) => {
        const seq = await this.spool(this.firstWrites.spoolEntries(targets, Date.now()), { kind: 'transaction', at: Date.now(), statements }, '(transaction)', targets);
        if (seq !== undefined && outcome?.timedOut && outcome.issued) this.inDoubt.watch(seq, outcome.late);
      },
    };
  }
}

export type TransactionHost = ReturnType<DualWriter['transactionHost']>;

/** Opens the spool (taking its lock, setting aside a torn tail) and returns a writer. */
export async function createDualWriter(options: DualWriterOptions): Promise<DualWriter> {
  if (!options || typeof options.primary?.query !== 'function' || typeof options.secondary?.query !== 'function') {
    throw new HyperfillError('E_DUAL_WRITE_OPTIONS', '`primary` and `secondary` must be pg Pools (or have their `query`)', {}, 'createDualWriter({ primary, secondary, spool, writerId })');
  }
  if (typeof options.writerId !== 'string' || options.writerId.trim() === '') {
    throw new HyperfillError('E_DUAL_WRITE_OPTIONS', '`writerId` must name this writer (e.g. the host and service name)', {});
  }
  if (options.secondaryTimeoutMs !== undefined && !(options.secondaryTimeoutMs > 0)) {
    throw new HyperfillError('E_DUAL_WRITE_OPTIONS', '`secondaryTimeoutMs` must be greater than zero', {});
  }
  for (const [table, columns] of Object.entries(options.conflictKeys ?? {})) {
    if (!Array.isArray(columns) || columns.length === 0 || columns.some((c) => typeof c !== 'string' || c === '')) {
      throw new HyperfillError('E_DUAL_WRITE_OPTIONS', `\`conflictKeys["${table}"]\` must list the key's columns`, {});
    }
  }
  const journal = await SpoolJournal.open(typeof options.spool === 'string' ? { dir: options.spool } : options.spool);
  const writer = new DualWriter(options, journal);
  await writer.findOldestPending();
  return writer;
}

function closedError(): HyperfillError {
  return new HyperfillError('E_DUAL_WRITE_CLOSED', 'the dual writer is closed', {}, 'create a new writer after close()');
}
