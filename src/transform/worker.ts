/**
 * The worker side of the pool (loaded through worker-entry.cts). Each thread loads
 * the transform module once (on its first task, so a module that throws or exits
 * while loading fails that task rather than the pool's start-up), runs setup(), then
 * transforms batches: the input bytes
 * arrive as a transferred ArrayBuffer and the output goes back the same way.
 * Failures that end the run (load, setup) come back as data: an error thrown across
 * the thread boundary would lose its class, code and context.
 */
import { threadId } from 'node:worker_threads';
import { Piscina, workerData } from 'piscina';
import { HyperfillError } from '../errors.js';
import { type BatchResult, BatchTransformer, type TransformConfig } from './batch-transform.js';
import { movable } from './transfer.js';
import { loadUserTransform } from './user-module.js';
import type { WorkerReply, WorkerTask } from './worker-protocol.js';

let transformer: Promise<BatchTransformer> | undefined;

async function start(config: TransformConfig): Promise<BatchTransformer> {
  const user = config.module ? await loadUserTransform(config.module.url, config.module.name) : undefined;
  return BatchTransformer.create(config, user, threadId);
}

export default async function run(task: WorkerTask): Promise<WorkerReply> {
  try {
    transformer ??= start(workerData as TransformConfig);
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
