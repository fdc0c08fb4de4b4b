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
import { BatchStage } from '../batch-stage.js';
import { describeLines } from '../batch.js';
import { previewOf } from '../preview.js';
import { HyperfillError } from '../errors.js';
import type { BatchResult, RowProblem } from './batch-transform.js';
import { type InputDialect, RecordIndex } from './decode.js';
import type { BatchRunner } from './pool.js';
import { lineRows, type TextRows } from '../sink/batch-rows.js';

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
  private readonly stage: BatchStage<EncodedBatch>;

  /**
   * `deliver` hands a transformed batch on (to the sink); while it waits, the batch
   * keeps its place in the stage, which is how the sink's backpressure reaches `push`.
   */
  constructor(
    runner: BatchRunner,
    deliver: (t: TransformedBatch) => Promise<void>,
    options: TransformBatchOptions,
    capacity = runner.capacity,
  ) {
    this.stage = new BatchStage(async (batch) => {
      const transformed = await transformBatch(runner, batch, options);
      if (!this.stage.failed) await deliver(transformed);
    }, capacity);
  }

  /** Takes one batch; resolves once there is room for it. Rejects with the first failure. */
  push(batch: EncodedBatch): Promise<void> {
    return this.stage.push(batch);
  }

  /** End of input: waits for every batch in flight. Throws the first failure. */
  flush(): Promise<void> {
    return this.stage.flush();
  }

  /** Stops taking batches; waiting pushes reject with `err`. */
  fail(err: unknown): void {
    this.stage.fail(err);
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

/** A transformed batch as rows, for the sink to isolate the ones the target rejects: each one named by its input row. */
export function transformedRows(t: TransformedBatch, dialect: InputDialect): TextRows {
  let index: RecordIndex | undefined;
  return lineRows(t.batch.data, (i, reason) => {
    index ??= RecordIndex.build(t.source, dialect);
    const record = t.rowMap ? (t.rowMap[i] ?? i) : i;
    const rel = index.lines[record];
    return { line: rel === undefined ? undefined : t.batch.firstLine + rel - 1, row: t.batch.firstRow + record, reason, raw: rel === undefined ? undefined : index.raw(record) };
  });
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
