/**
 * For readers of byte streams (backfill's window streams, any CSV or text-format
 * source): cuts the bytes into batches of whole records with the same scanner as
 * `copy`, transforms up to `runner.capacity` of them at once, and yields each
 * transformed batch as it finishes (not in input order: `seq` says where it was).
 * The generator pulls the next chunk only when a slot is free, so a slow consumer
 * slows the source. Binary COPY streams cannot be decoded: ask the source for text.
 */
import { RecordScanner, type ScanDialect } from '../csv/record-scanner.js';
import type { EncodedBatch } from '../batch.js';
import type { BatchRunner } from './pool.js';
import { type TransformedBatch, transformBatch } from './stage.js';

export interface TransformStreamOptions {
  dialect: ScanDialect;
  batchRows: number;
  batchBytes: number;
  inputName: string;
  inputIndex?: number | undefined;
  /** Compute each batch's sourceCrc (for a ledger). */
  crc: boolean;
  /** Names the transform in messages. */
  name: string;
}

export async function* transformChunks(runner: BatchRunner, chunks: AsyncIterable<Buffer>, options: TransformStreamOptions): AsyncGenerator<TransformedBatch> {
  const scanner = new RecordScanner(options.dialect, {
    batchRows: options.batchRows, batchBytes: options.batchBytes, skipLines: 0, skipRecords: 0, limit: Infinity,
    maxRecordBytes: Math.max(64 << 20, options.batchBytes * 8),
  }, options.inputIndex ?? 0, options.inputName);
  const pending = new Map<number, Promise<{ id: number; t: TransformedBatch }>>();
  let nextId = 0;
  const start = (batch: EncodedBatch) => {
    const id = nextId++;
    const task = transformBatch(runner, batch, options).then((t) => ({ id, t }));
    task.catch(() => undefined); // observed through Promise.race below
    pending.set(id, task);
  };
  const settle = async () => {
    const { id, t } = await Promise.race(pending.values());
    pending.delete(id);
    return t;
  };
  for await (const chunk of chunks) {
    for (const batch of scanner.push(chunk)) {
      start(batch);
      while (pending.size >= runner.capacity) yield await settle();
    }
  }
  for (const batch of scanner.end()) {
    start(batch);
    while (pending.size >= runner.capacity) yield await settle();
  }
  while (pending.size > 0) yield await settle();
}
