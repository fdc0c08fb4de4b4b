/** The messages between the pool (main thread) and worker.ts. */
import type { ErrorContext } from '../errors.js';
import type { BatchInput, BatchResult } from './batch-transform.js';

export type WorkerTask =
  /** Load the module (and run setup) and say which columns the COPY writes. */
  | { kind: 'describe' }
  /** One batch; `data` is transferred. */
  | ({ kind: 'batch'; data: ArrayBuffer } & Omit<BatchInput, 'data'>);

export type WorkerReply =
  | { kind: 'described'; outputColumns: string[] }
  | { kind: 'batch'; result: BatchResult }
  /** The run cannot go on (the module failed to load, setup threw). */
  | { kind: 'fatal'; code: string; message: string; hint?: string | undefined; context?: ErrorContext | undefined };
