/**
 * The worker side of the pool (loaded through worker-entry.cts). A thread is set up
 * for a transform, for binary COPY encoding, or both (workerData says which), and
 * loads only the code of the work it is given. A transform thread loads the module
 * once (on its first task, so a module that throws or exits while loading fails that
 * task rather than the pool's start-up) and runs setup(); batches arrive as
 * transferred ArrayBuffers and go back the same way. Failures that end the run (load,
 * setup) come back as data: an error thrown across the thread boundary would lose its
 * class, code and context.
 */
import { threadId } from 'node:worker_threads';
import { Piscina, workerData } from 'piscina';
import type { BatchEncoder } from '../encode/batch-encoder.js';
import { HyperfillError } from '../errors.js';
import type { BatchResult, BatchTransformer, TransformConfig } from './batch-transform.js';
import { movable } from './transfer.js';
import type { WorkerConfig, WorkerReply, WorkerTask } from './worker-protocol.js';

const config = workerData as WorkerConfig;
let transformer: Promise<BatchTransformer> | undefined;
let encoder: Promise<BatchEncoder> | undefined;

async function startTransform(transform: TransformConfig): Promise<BatchTransformer> {
  const [{ BatchTransformer }, { loadUserTransform }] = await Promise.all([import('./batch-transform.js'), import('./user-module.js')]);
  const user = transform.module ? await loadUserTransform(transform.module.url, transform.module.name) : undefined;
  return BatchTransformer.create(transform, user, threadId);
}

async function startEncoder(): Promise<BatchEncoder> {
  if (!config.encoding) throw new Error('this pool was not set up for encoding');
  const { createBatchEncoder } = await import('../encode/create-encoder.js');
  return createBatchEncoder(config.encoding);
}

export default async function run(task: WorkerTask): Promise<WorkerReply> {
  try {
    if (task.kind === 'encode') {
      encoder ??= startEncoder();
      const outcome = (await encoder).encode(new Uint8Array(task.data, 0, task.length), task.rows, task.output);
      return movable<WorkerReply>(Piscina, { kind: 'encoded', outcome, data: task.data }, [task.data, outcome.output]);
    }
    if (!config.transform) throw new Error('this pool was not set up for a transform');
    transformer ??= startTransform(config.transform);
    const t = await transformer;
    if (task.kind === 'describe') return { kind: 'described', outputColumns: t.outputColumns };
    const result: BatchResult = await t.run({ ...task, data: new Uint8Array(task.data) });
    const buffers: ArrayBufferLike[] = [result.data];
    if (result.rowMap) buffers.push(result.rowMap.buffer);
    return movable<WorkerReply>(Piscina, { kind: 'batch', result }, buffers);
  } catch (err) {
    if (err instanceof HyperfillError) return { kind: 'fatal', code: err.code, message: err.message, hint: err.hint, context: err.context };
    // A message, not a stack: users see this; HYPERFILL_DEBUG=1 is for stacks.
    const detail = process.env.HYPERFILL_DEBUG ? (err as Error)?.stack : (err as Error)?.message;
    return { kind: 'fatal', code: 'E_TRANSFORM_FAILED', message: `the transform worker failed: ${detail ?? String(err)}` };
  }
}
