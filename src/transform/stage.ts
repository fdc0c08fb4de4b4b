/**
 * The transform between a reader and a sink. `transformBatch` turns one encoded input
 * batch (CSV or text-format bytes) into an encoded output batch (text format) with the
 * same position, so anything that moves batches (copy, backfill) can use it.
 * `TransformStage` keeps up to `capacity` batches in flight and hands results to the
 * sink as they finish, in any order: each batch is its own transaction and ledger
 * entry, so order does not matter for what counts as done. `push` waits (on promises)
 * while the stage is full, so a slow sink or a slow transform slows the reader.
 */
import type { EncodedBatch } from '../batch.js';
import { describeLines } from '../batch.js';
import { previewOf } from '../preview.js';
import { HyperfillError } from '../errors.js';
import type { BatchResult, RowProblem } from './batch-transform.js';
import { type InputDialect, RecordIndex } from './decode.js';
import type { BatchRunner } from './pool.js';

/** A transformed batch, with what is kept about it until it is committed. */
export interface TransformedBatch {
  /** Text-format bytes; `rows` are output rows; positions and `seq` are the input's; `sourceCrc` is the input's. */
  batch: EncodedBatch;
  rowsIn: number;
  dropped: number;
  setAside: number;
  problems: RowProblem[];
  /** Input record (within the batch) of each output row, when not the identity. */
  rowMap: Int32Array | undefined;
  /** The input bytes, to show a row the target rejects as it was in the input. */
  source: Buffer;
}

export interface TransformBatchOptions {
  /** Compute `sourceCrc` (the CRC the import ledger keeps): needed with --import-id. */
  crc: boolean;
  /** Names the transform in messages. */
  name: string;
}

/** One batch through the runner. A row error under --on-error stop throws E_TRANSFORM_FAILED. */
export async function transformBatch(runner: BatchRunner, batch: EncodedBatch, options: TransformBatchOptions): Promise<TransformedBatch> {
  const result = await runner.run({
    data: batch.data, inputName: batch.inputName, inputIndex: batch.inputIndex, seq: batch.seq,
    firstLine: batch.firstLine, lastLine: batch.lastLine, firstRow: batch.firstRow, crc: options.crc,
  });
  if (result.error) throw rowFailed(result.error, batch, options.name);
  return {
    batch: {
      seq: batch.seq, inputIndex: batch.inputIndex, inputName: batch.inputName, data: Buffer.from(result.data, 0, result.bytes), rows: result.rows,
      firstLine: batch.firstLine, lastLine: batch.lastLine, firstRow: batch.firstRow, sourceCrc: result.sourceCrc,
    },
    rowsIn: result.rowsIn, dropped: result.dropped, setAside: result.setAside, problems: result.problems,
    rowMap: result.rowMap, source: batch.data,
  };
}

function rowFailed(problem: RowProblem, batch: EncodedBatch, name: string): HyperfillError {
  const where = problem.line !== undefined ? `line ${problem.line}` : `row ${problem.row} (${describeLines(batch)})`;
  const preview = problem.raw ? previewOf(problem.raw) : undefined;
  return new HyperfillError('E_TRANSFORM_FAILED', `${where} of ${batch.inputName}: ${problem.reason}`,
    { file: batch.inputName, line: problem.line, row: problem.row, batch: batch.seq, transform: name },
    [preview && `the row reads: ${preview}`, 'nothing of this batch was loaded; --on-error skip drops such rows, --on-error reject --rejects FILE keeps them']
      .filter(Boolean).join('\n  hint: '));
}


export class TransformStage {
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly running = new Set<Promise<void>>();
  private failure: unknown;

  /**
   * `deliver` hands a transformed batch on (to the sink); while it waits, the batch
   * keeps its place in the stage, which is how the sink's backpressure reaches `push`.
   */
  constructor(
    private readonly runner: BatchRunner,
    private readonly deliver: (t: TransformedBatch) => Promise<void>,
    private readonly options: TransformBatchOptions,
    private readonly capacity = runner.capacity,
  ) {}

  /** Takes one batch; resolves once there is room for it. Rejects with the first failure. */
  async push(batch: EncodedBatch): Promise<void> {
    while (this.inFlight >= this.capacity && this.failure === undefined) await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.failure !== undefined) throw this.failure;
    this.inFlight++;
    const task = this.process(batch).finally(() => {
      this.inFlight--;
      this.running.delete(task);
      this.waiting.shift()?.();
    });
    this.running.add(task);
  }

  /** End of input: waits for every batch in flight. Throws the first failure. */
  async flush(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
    if (this.failure !== undefined) throw this.failure;
  }

  /** Stops taking batches; waiting pushes reject with `err`. */
  fail(err: unknown): void {
    this.failure ??= err;
    for (const wake of this.waiting.splice(0)) wake();
  }

  private async process(batch: EncodedBatch): Promise<void> {
    try {
      const transformed = await transformBatch(this.runner, batch, this.options);
      if (this.failure !== undefined) return;
      await this.deliver(transformed);
    } catch (err) {
      this.fail(err);
    }
  }
}

/**
 * The input row behind line `outputLine` (1-based, as PostgreSQL reports it) of a
 * transformed batch: its input line, row number and text, and the output row.
 */
export function locateTransformedRow(t: TransformedBatch, outputLine: number, dialect: InputDialect):
  { line: number; row: number; preview: string; output: string } | undefined {
  const outputRow = outputLine - 1;
  const lines = t.batch.data.toString('utf8').split('\n');
  const output = lines[outputRow];
  if (output === undefined) return undefined;
  const record = t.rowMap ? t.rowMap[outputRow] : outputRow;
  if (record === undefined) return undefined;
  const index = RecordIndex.build(t.source, dialect);
  const rel = index.lines[record];
  if (rel === undefined) return undefined;
  return { line: t.batch.firstLine + rel - 1, row: t.batch.firstRow + record, preview: previewOf(index.raw(record)), output: previewOf(output) };
}

/** For summaries: counts over committed batches. */
export interface TransformTotals {
  rowsIn: number;
  rowsOut: number;
  dropped: number;
  setAside: number;
  /** The first row set aside (in input order), for the summary line. */
  firstProblem?: { file: string; inputIndex: number; line: number | undefined; row: number; reason: string } | undefined;
}

export function addTotals(totals: TransformTotals, t: TransformedBatch): void {
  totals.rowsIn += t.rowsIn;
  totals.rowsOut += t.batch.rows;
  totals.dropped += t.dropped;
  totals.setAside += t.setAside;
  const first = t.problems[0];
  const known = totals.firstProblem;
  if (first && (!known || t.batch.inputIndex < known.inputIndex || (t.batch.inputIndex === known.inputIndex && first.row < known.row))) {
    totals.firstProblem = { file: t.batch.inputName, inputIndex: t.batch.inputIndex, line: first.line, row: first.row, reason: first.reason };
  }
}

export type { BatchResult };
