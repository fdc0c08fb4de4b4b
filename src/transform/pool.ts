/**
 * Runs batches through the transform: on a piscina pool of worker threads, or inline
 * on the calling thread (`--transform-workers 0`, for debugging and comparison). The
 * pool's queue is bounded (`maxQueue`); callers keep at most `capacity` batches in
 * flight (see stage.ts), so it never overflows and nothing waits by polling.
 *
 * A worker that dies (the transform called process.exit, an exception escaped from a
 * callback, the thread ran out of memory) fails its batch and every batch after it
 * with E_TRANSFORM_CRASHED, naming the transform and the batch; destroy() then ends
 * the threads, so a crash never leaves the run hanging.
 */
import { threadId } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { describeLines } from '../batch.js';
import { HyperfillError } from '../errors.js';
import { type BatchInput, type BatchResult, BatchTransformer, type TransformConfig } from './batch-transform.js';
import { movable, ownedArrayBuffer } from './transfer.js';
import { loadUserTransform } from './user-module.js';
import type { WorkerReply, WorkerTask } from './worker-protocol.js';

export interface BatchRunner {
  /** Loads the module (and runs its setup) once; the columns the COPY writes. */
  describe(): Promise<string[]>;
  /** Transforms one batch. The input bytes are copied or transferred, never changed. */
  run(input: BatchInput): Promise<BatchResult>;
  /** How many batches may be in flight at once. */
  readonly capacity: number;
  /** Ends the threads. Safe to call more than once. */
  destroy(): Promise<void>;
}

/** Loads piscina only when threads are asked for: copy's pass-through path never pays for it. */
export async function createRunner(config: TransformConfig, threads: number): Promise<BatchRunner> {
  if (threads === 0) return new InlineRunner(config);
  const { Piscina: PiscinaClass } = await import('piscina');
  return new TransformPool(config, threads, PiscinaClass);
}

const WORKER_FILE = new URL('./worker-entry.cjs', import.meta.url).href;

export class TransformPool implements BatchRunner {
  readonly capacity: number;
  private readonly piscina: Piscina<WorkerTask, WorkerReply>;
  private readonly name: string;
  private crash: HyperfillError | undefined;
  /** Rejecters of the tasks in flight: a crash fails them all at once. */
  private readonly inFlight = new Set<(err: HyperfillError) => void>();
  private destroyed: Promise<void> | undefined;

  constructor(config: TransformConfig, threads: number, private readonly PiscinaClass: typeof Piscina) {
    this.name = config.module?.name ?? 'mappings';
    this.piscina = new PiscinaClass<WorkerTask, WorkerReply>({
      filename: WORKER_FILE, workerData: config, minThreads: threads, maxThreads: threads, maxQueue: threads, idleTimeout: 60_000,
    });
    // Two batches per thread: one running, one queued so a thread never waits for the reader.
    this.capacity = threads * 2;
    // A thread that fails outside any task (e.g. while starting) is reported here only.
    this.piscina.on('error', (err: unknown) => this.fail(this.crashError(err, 'while starting')));
  }

  async describe(): Promise<string[]> {
    const reply = await this.submit({ kind: 'describe' }, 'while loading');
    if (reply.kind !== 'described') throw new Error(`unexpected reply ${reply.kind}`);
    return reply.outputColumns;
  }

  async run(input: BatchInput): Promise<BatchResult> {
    const data = ownedArrayBuffer(input.data);
    const where = `while transforming ${describeLines(input)} of ${input.inputName} (batch ${input.seq})`;
    const reply = await this.submit(movable<WorkerTask>(this.PiscinaClass, { ...input, kind: 'batch', data }, [data]), where, input);
    if (reply.kind !== 'batch') throw new Error(`unexpected reply ${reply.kind}`);
    return reply.result;
  }

  destroy(): Promise<void> {
    if (this.destroyed === undefined) this.destroyed = this.piscina.destroy().catch(() => undefined);
    return this.destroyed;
  }

  private async submit(task: WorkerTask, where: string, input?: BatchInput): Promise<WorkerReply> {
    if (this.crash) throw this.crash;
    let reply: WorkerReply;
    // Not Promise.race with one long-lived "crashed" promise: every race would leave a
    // reaction on it, holding its reply (and the batch's bytes) for the whole run.
    let fail!: (err: HyperfillError) => void;
    try {
      reply = await new Promise<WorkerReply>((resolve, reject) => {
        fail = reject;
        this.inFlight.add(fail);
        this.piscina.run(task).then(resolve, reject);
      });
    } catch (err) {
      if (err instanceof HyperfillError) throw err;
      throw this.fail(this.crashError(err, where, input));
    } finally {
      this.inFlight.delete(fail);
    }
    if (reply.kind === 'fatal') throw fatalError(reply, input);
    return reply;
  }

  private fail(err: HyperfillError): HyperfillError {
    if (!this.crash) {
      this.crash = err;
      for (const reject of this.inFlight) reject(err);
    }
    return this.crash;
  }

  private crashError(err: unknown, where: string, input?: BatchInput): HyperfillError {
    const message = err instanceof Error ? err.message : String(err);
    const exit = /worker exited with code: (-?\d+)/.exec(message);
    const what = exit ? `a transform worker thread exited (code ${exit[1]})` : `a transform worker thread died (${message})`;
    return new HyperfillError('E_TRANSFORM_CRASHED', `${what} ${where}; the transform is ${this.name}`,
      { transform: this.name, file: input?.inputName, line: input?.firstLine, batch: input?.seq },
      exit ? 'a transform must not call process.exit(); throw an error instead (see --on-error)' : 'run the transform with --transform-workers 0 to see the failure on the main thread', err);
  }
}

function fatalError(reply: Extract<WorkerReply, { kind: 'fatal' }>, input?: BatchInput): HyperfillError {
  const context = { ...reply.context, ...(input ? { file: input.inputName, line: input.firstLine, batch: input.seq } : {}) };
  return new HyperfillError(reply.code, reply.message, context, reply.hint);
}

/** The same work on the calling thread: no isolation (process.exit in a transform ends the process). */
export class InlineRunner implements BatchRunner {
  readonly capacity = 1;
  private transformer: Promise<BatchTransformer> | undefined;

  constructor(private readonly config: TransformConfig) {}

  async describe(): Promise<string[]> {
    return (await this.start()).outputColumns;
  }

  async run(input: BatchInput): Promise<BatchResult> {
    return (await this.start()).run(input);
  }

  async destroy(): Promise<void> {
    return undefined;
  }

  private start(): Promise<BatchTransformer> {
    this.transformer ??= (async () => {
      const user = this.config.module ? await loadUserTransform(this.config.module.url, this.config.module.name) : undefined;
      return BatchTransformer.create(this.config, user, threadId);
    })();
    return this.transformer;
  }
}
