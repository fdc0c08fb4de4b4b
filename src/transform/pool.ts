/**
 * Runs batches through worker threads on one piscina pool: the transform (decode, map,
 * encode as text) and binary COPY encoding are both tasks of the same pool, or run
 * inline on the calling thread (`--transform-workers 0`, for debugging and comparison).
 * The pool's queue is bounded (`maxQueue`); callers keep at most `capacity` batches in
 * flight (see stage.ts and batch-stage.ts), so it never overflows and nothing waits by
 * polling.
 *
 * A worker that dies (the transform called process.exit, an exception escaped from a
 * callback, the thread ran out of memory) fails its batch and every batch after it
 * with E_TRANSFORM_CRASHED, naming the work and the batch; destroy() then ends the
 * threads, so a crash never leaves the run hanging.
 */
import { threadId } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { describeLines } from '../batch.js';
import type { BufferPool } from '../buffer-pool.js';
import { type BatchEncoder, type EncodeOutcome, estimateBinaryBytes } from '../encode/batch-encoder.js';
import { createBatchEncoder } from '../encode/create-encoder.js';
import type { EncodingPlan } from '../encode/plan.js';
import { HyperfillError } from '../errors.js';
import type { BatchInput, BatchResult, BatchTransformer, TransformConfig } from './batch-transform.js';
import { movable, ownedArrayBuffer } from './transfer.js';
import type { WorkerConfig, WorkerReply, WorkerTask } from './worker-protocol.js';

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

/** One batch of input records to encode as binary COPY; its bytes are copied, never changed. */
export interface EncodeInput {
  data: Uint8Array;
  /** Records the scanner counted: the encoder must find as many. */
  rows: number;
  /** Where the batch came from, for messages. */
  inputName: string;
  seq: number;
  firstLine: number;
  lastLine: number;
}

export interface EncodeRunner {
  /**
   * The batch as binary COPY, or why it goes as text. The outcome's buffer comes from
   * the runner's pool: give it back once the batch is done with it.
   */
  encode(input: EncodeInput): Promise<EncodeOutcome>;
  readonly capacity: number;
  destroy(): Promise<void>;
}

/** Loads piscina only when threads are asked for: copy's pass-through path never pays for it. */
export async function createRunner(config: TransformConfig, threads: number): Promise<BatchRunner> {
  if (threads === 0) return new InlineRunner(config);
  const { Piscina: PiscinaClass } = await import('piscina');
  return new WorkerPool({ transform: config }, threads, PiscinaClass, config.module?.name ?? 'mappings');
}

/** Binary COPY encoding on `threads` worker threads, or inline when 0; buffers come from `buffers`. */
export async function createEncodeRunner(plan: EncodingPlan, threads: number, buffers: BufferPool): Promise<EncodeRunner> {
  if (threads === 0) return new InlineEncoder(plan, buffers);
  const { Piscina: PiscinaClass } = await import('piscina');
  return new WorkerPool({ encoding: plan }, threads, PiscinaClass, ENCODING, buffers);
}

/** The pool's name when it encodes binary COPY (otherwise: the transform's). */
const ENCODING = 'binary encoding';

const WORKER_FILE = new URL('./worker-entry.cjs', import.meta.url).href;

export class WorkerPool implements BatchRunner, EncodeRunner {
  readonly capacity: number;
  private readonly piscina: Piscina<WorkerTask, WorkerReply>;
  private readonly name: string;
  private crash: HyperfillError | undefined;
  /** Rejecters of the tasks in flight: a crash fails them all at once. */
  private readonly inFlight = new Set<(err: HyperfillError) => void>();
  private destroyed: Promise<void> | undefined;
  private outputSize: OutputSize | undefined;

  /** `name` says what the threads do, in messages: the transform's file, "mappings" or "binary encoding". */
  constructor(private readonly config: WorkerConfig, threads: number, private readonly PiscinaClass: typeof Piscina, name: string,
    private readonly buffers?: BufferPool) {
    this.name = name;
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

  async encode(input: EncodeInput): Promise<EncodeOutcome> {
    const plan = this.config.encoding;
    const buffers = this.buffers;
    if (!plan || !buffers) throw new Error('this pool was not set up for encoding');
    // The thread gets a copy of the batch (the batch keeps its bytes) and a buffer to write into; both come back.
    const data = buffers.take(input.data.length);
    new Uint8Array(data).set(input.data);
    this.outputSize ??= new OutputSize(plan);
    const output = buffers.take(this.outputSize.guess(input.data.length, input.rows));
    const where = `while encoding ${describeLines(input)} of ${input.inputName} (batch ${input.seq})`;
    const task = movable<WorkerTask>(this.PiscinaClass, { kind: 'encode', data, length: input.data.length, rows: input.rows, output }, [data, output]);
    const reply = await this.submit(task, where, { inputName: input.inputName, firstLine: input.firstLine, seq: input.seq });
    if (reply.kind !== 'encoded') throw new Error(`unexpected reply ${reply.kind}`);
    buffers.give(reply.data);
    return this.outputSize.learn(input.data.length, reply.outcome);
  }

  destroy(): Promise<void> {
    if (this.destroyed === undefined) this.destroyed = this.piscina.destroy().catch(() => undefined);
    return this.destroyed;
  }

  private async submit(task: WorkerTask, where: string, input?: BatchPlace): Promise<WorkerReply> {
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

  private crashError(err: unknown, where: string, input?: BatchPlace): HyperfillError {
    const message = err instanceof Error ? err.message : String(err);
    const exit = /worker exited with code: (-?\d+)/.exec(message);
    const thread = this.name === ENCODING ? 'an encoding worker thread' : 'a transform worker thread';
    const what = exit ? `${thread} exited (code ${exit[1]})` : `${thread} died (${message})`;
    const work = this.name === ENCODING ? 'it was encoding binary COPY' : `the transform is ${this.name}`;
    return new HyperfillError('E_TRANSFORM_CRASHED', `${what} ${where}; ${work}`,
      { transform: this.name, file: input?.inputName, line: input?.firstLine, batch: input?.seq },
      exit && this.name !== ENCODING ? 'a transform must not call process.exit(); throw an error instead (see --on-error)'
        : 'run with --transform-workers 0 to see the failure on the main thread', err);
  }
}

/** Where a batch came from: enough to name it in an error. */
type BatchPlace = Pick<BatchInput, 'inputName' | 'firstLine' | 'seq'>;

function fatalError(reply: Extract<WorkerReply, { kind: 'fatal' }>, input?: BatchPlace): HyperfillError {
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
      // Loaded here, not with this file: encoding runs use the pool without the transform stack.
      const [{ BatchTransformer }, { loadUserTransform }] = await Promise.all([import('./batch-transform.js'), import('./user-module.js')]);
      const user = this.config.module ? await loadUserTransform(this.config.module.url, this.config.module.name) : undefined;
      return BatchTransformer.create(this.config, user, threadId);
    })();
    return this.transformer;
  }
}

/**
 * How big a batch's binary form will be: about as much bigger than its text as the
 * last batch's was (the static estimate until there is one). A short guess costs a
 * copy into a bigger buffer; a long one, memory held by every batch in flight.
 */
class OutputSize {
  private ratio = 0;

  constructor(private readonly plan: EncodingPlan) {}

  guess(inputBytes: number, rows: number): number {
    const bound = estimateBinaryBytes(this.plan, inputBytes, rows);
    // Before the first batch, a quarter more than the text: the bound is often twice what it takes.
    return Math.min(bound, Math.ceil(inputBytes * (this.ratio === 0 ? 1.25 : this.ratio * 1.03)) + 64);
  }

  learn(inputBytes: number, outcome: EncodeOutcome): EncodeOutcome {
    if (outcome.ok && inputBytes > 0) this.ratio = outcome.bytes / inputBytes;
    return outcome;
  }
}

/** Encoding on the calling thread. */
export class InlineEncoder implements EncodeRunner {
  readonly capacity = 1;
  private readonly encoder: BatchEncoder;

  private readonly size: OutputSize;

  constructor(plan: EncodingPlan, private readonly buffers: BufferPool) {
    this.encoder = createBatchEncoder(plan);
    this.size = new OutputSize(plan);
  }

  async encode(input: EncodeInput): Promise<EncodeOutcome> {
    const n = input.data.length;
    return this.size.learn(n, this.encoder.encode(input.data, input.rows, this.buffers.take(this.size.guess(n, input.rows))));
  }

  async destroy(): Promise<void> {
    return undefined;
  }
}
