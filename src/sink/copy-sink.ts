/**
 * N COPY streams over N + 1 connections behind a bounded queue: at most N connections
 * stream COPY data at once, so one can commit (and wait for the WAL to be flushed)
 * while the others copy, and the server never idles between batches. Concurrent
 * streams cost a server CPU (index page splits, WAL contention); an idle one costs it
 * time. `write` resolves when a worker can take the batch soon, so a slow target slows
 * the reader; at most `2 × (workers + 1)` batches are in memory. The first failure
 * stops the queue; batches already in flight finish, so what is committed is exactly
 * what the `committed` events reported.
 */
import { AsyncQueue } from '../async-queue.js';
import type { EncodedBatch } from '../batch.js';
import { Permits } from '../permits.js';
import type { RowProblem } from '../transform/batch-transform.js';
import { CopyWorker, type WorkerSettings, type WorkerStats } from './copy-worker.js';

export interface CopySinkOptions extends Omit<WorkerSettings, 'streams'> {
  /** COPY streams at once; the sink opens one connection more. */
  workers: number;
  /** Batches waiting for a worker (default: one per worker). */
  queueCapacity?: number | undefined;
  /** `rejected`: the rows the server refused and the worker set aside (--on-error skip|reject). */
  onCommitted?: ((batch: EncodedBatch, worker: number, ms: number, rejected: RowProblem[]) => void) | undefined;
  onSkipped?: ((batch: EncodedBatch) => void) | undefined;
  /**
   * Route each batch to the worker its `lane` names (key routing, --on-conflict-update):
   * a worker then takes its batches in the order they were written. Lanes: workers + 1.
   */
  lanes?: boolean | undefined;
}

export class BatchFailure extends Error {
  constructor(readonly batch: EncodedBatch, readonly worker: number, readonly error: unknown) {
    super(`batch ${batch.seq} failed`);
  }
}

export class CopySink {
  private readonly queue: AsyncQueue<EncodedBatch>;
  /** With lanes: one queue per worker. */
  private readonly laneQueues: AsyncQueue<EncodedBatch>[] | undefined;
  private readonly workers: CopyWorker[];
  private running: Promise<void>[] = [];
  private failure: BatchFailure | undefined;

  constructor(private readonly options: CopySinkOptions) {
    this.queue = new AsyncQueue(options.queueCapacity ?? options.workers);
    const settings = { ...options, streams: new Permits(options.workers) };
    this.workers = Array.from({ length: options.workers + 1 }, (_, i) => new CopyWorker(i + 1, settings));
    this.laneQueues = options.lanes ? this.workers.map(() => new AsyncQueue<EncodedBatch>(2)) : undefined;
  }

  /** How many lanes a routed batch may name. */
  get laneCount(): number {
    return this.workers.length;
  }

  private get queues(): AsyncQueue<EncodedBatch>[] {
    return [this.queue, ...(this.laneQueues ?? [])];
  }

  /** Connects every worker; fails before any input is read when the target is not usable. */
  async start(): Promise<void> {
    const connected = await Promise.allSettled(this.workers.map((w) => w.connect()));
    const failed = connected.find((c): c is PromiseRejectedResult => c.status === 'rejected');
    if (failed) {
      // The workers that did connect must not keep the process alive.
      for (const q of this.queues) q.fail(failed.reason);
      await Promise.all(this.workers.map((w) => w.close()));
      throw failed.reason;
    }
    this.running = this.workers.map((w) => this.loop(w));
  }

  /** Queues one batch; rejects with the first failure once the sink has failed. */
  async write(batch: EncodedBatch): Promise<void> {
    if (this.failure) throw this.failure;
    const lane = this.laneQueues && batch.lane !== undefined ? this.laneQueues[batch.lane] : undefined;
    await (lane ?? this.queue).put(batch);
  }

  /** No more input: waits for the workers. Throws the first failure, if any. */
  async finish(): Promise<WorkerStats[]> {
    for (const q of this.queues) q.close();
    await Promise.all(this.running);
    await Promise.all(this.workers.map((w) => w.close()));
    if (this.failure) throw this.failure;
    return this.stats();
  }

  /** Stops taking batches (input failed or the user interrupted); in-flight batches finish. */
  async abort(reason: unknown): Promise<void> {
    for (const q of this.queues) q.fail(reason);
    await Promise.all(this.running);
    await Promise.all(this.workers.map((w) => w.close()));
  }

  /**
   * Stops at once (a signal): nothing more is taken, batches in flight are rolled back
   * (except one whose COMMIT is on the way), no retry waits on. Then call abort().
   */
  interrupt(reason: unknown): void {
    for (const q of this.queues) q.fail(reason);
    for (const worker of this.workers) worker.interrupt(reason);
  }

  stats(): WorkerStats[] {
    return this.workers.map((w) => ({ ...w.stats }));
  }

  private async loop(worker: CopyWorker): Promise<void> {
    const queue = this.laneQueues?.[worker.id - 1] ?? this.queue;
    for (;;) {
      const batch = await queue.take();
      if (batch === undefined) return;
      try {
        if (this.options.ledger?.isCommitted(batch)) {
          this.options.onSkipped?.(batch);
          continue;
        }
        const started = performance.now();
        const rejected = await worker.copy(batch);
        if (rejected) this.options.onCommitted?.(batch, worker.id, performance.now() - started, rejected);
        else this.options.onSkipped?.(batch);
      } catch (err) {
        this.failure ??= new BatchFailure(batch, worker.id, err);
        for (const q of this.queues) q.fail(this.failure);
        return;
      }
    }
  }
}
