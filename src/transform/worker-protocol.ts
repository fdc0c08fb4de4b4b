/** The messages between the pool (main thread) and worker.ts. */
import type { EncodeOutcome } from '../encode/batch-encoder.js';
import type { EncodingPlan } from '../encode/plan.js';
import type { ErrorContext } from '../errors.js';
import type { BatchInput, BatchResult, TransformConfig } from './batch-transform.js';

/** What every thread of a pool is set up with (piscina's workerData): the work it may be given. */
export interface WorkerConfig {
  transform?: TransformConfig | undefined;
  encoding?: EncodingPlan | undefined;
}

export type WorkerTask =
  /** Load the module (and run setup) and say which columns the COPY writes. */
  | { kind: 'describe' }
  /** One batch to transform; `data` is transferred. */
  | ({ kind: 'batch'; data: ArrayBuffer } & Omit<BatchInput, 'data'>)
  /** One batch (the first `length` bytes of `data`) to encode as binary COPY into `output`; both are transferred. */
  | { kind: 'encode'; data: ArrayBuffer; length: number; rows: number; output: ArrayBuffer };

export type WorkerReply =
  | { kind: 'described'; outputColumns: string[] }
  | { kind: 'batch'; result: BatchResult }
  /** The encoded batch, or why it goes as text; the input buffer and the outcome's buffer are transferred back. */
  | { kind: 'encoded'; outcome: EncodeOutcome; data: ArrayBuffer }
  /** The run cannot go on (the module failed to load, setup threw). */
  | { kind: 'fatal'; code: string; message: string; hint?: string | undefined; context?: ErrorContext | undefined };
