/**
 * `hyperfill copy`: inputs → record scanner → bounded queue → N COPY workers.
 * The bytes reach COPY unparsed. On any failure the error says what is committed.
 * With a transform (--transform or a mapping), batches go through the transform
 * stage (worker threads) between the scanner and the sink and reach COPY as text
 * format; without one, nothing of that runs.
 */
import { locateRecord, locateRow } from '../csv/locate-record.js';
import { looksLikeHeader } from '../csv/looks-like-header.js';
import { openInput } from '../csv/input.js';
import { RecordScanner, type ScanDialect } from '../csv/record-scanner.js';
import type { EncodedBatch } from '../batch.js';
import { describeLines } from '../batch.js';
import { type ConnectionConfig, describeConnection } from '../connection.js';
import { ControlConnection } from '../control-connection.js';
import { HyperfillError } from '../errors.js';
import { copyErrorPosition, serverMessage } from '../pg-errors.js';
import { ProgressReporter } from '../progress.js';
import type { RetryPolicy } from '../retry.js';
import { qualifiedName } from '../sql.js';
import { copyDirectCompress, type DirectCompressMode } from '../target/direct-compress.js';
import { copyFromStatement } from '../sink/copy-statement.js';
import { BatchFailure, CopySink } from '../sink/copy-sink.js';
import type { WorkerStats } from '../sink/copy-worker.js';
import { ImportLedger, type LedgerSettings } from '../sink/import-ledger.js';
import { CommittedRanges } from './committed-ranges.js';
import { checkTargetTable, requireColumns } from './target-table.js';
import type { TransformSettings } from '../transform/options.js';
import { RejectsFile } from '../transform/rejects.js';
import { inputDialect, startTransform, type TransformRun } from '../transform/setup.js';
import { addTotals, locateTransformedRow, type TransformedBatch, TransformStage, type TransformTotals } from '../transform/stage.js';

export interface CopyOptions {
  inputs: string[];
  connection: ConnectionConfig;
  schema: string;
  table: string;
  columns: string[] | undefined;
  format: 'csv' | 'text';
  delimiter: string | undefined;
  quote: string;
  escape: string;
  copyOptions: string | undefined;
  skipHeader: boolean;
  skipLines: number;
  limit: number;
  batchRows: number;
  batchBytes: number;
  workers: number;
  truncate: boolean;
  importId: string | undefined;
  controlSchema: string;
  retry: RetryPolicy;
  reportingPeriodMs: number;
  logBatches: boolean;
  /** Undefined: the pass-through path (no decoding). */
  transform?: TransformSettings | undefined;
  /** TimescaleDB's direct compress for each batch's COPY (default auto: when the hypertable has compression). */
  directCompress?: DirectCompressMode | undefined;
}

export interface CopyResult {
  rows: number;
  bytes: number;
  batches: number;
  seconds: number;
  /** Batches an earlier run of the same --import-id had committed. */
  skippedBatches: number;
  skippedRows: number;
  workers: WorkerStats[];
  /** With a transform: rows in and out of it (committed batches), and the rejects file. */
  transform?: (TransformTotals & { rejectsFile: string | undefined }) | undefined;
}

export interface CopyIO {
  stdin: NodeJS.ReadableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  signal?: AbortSignal | undefined;
}

/** A record larger than this many batches' worth of bytes means the input is misread. */
const MAX_RECORD_FACTOR = 8;

export async function runCopy(options: CopyOptions, io: CopyIO): Promise<CopyResult> {
  const started = performance.now();
  const target = { schema: options.schema, table: options.table, columns: options.columns };
  const dialect: ScanDialect = { format: options.format, quote: options.quote.charCodeAt(0), escape: options.escape.charCodeAt(0) };
  // Usage errors first, before any connection: COPY options, or with a transform, the input dialect.
  let statement = options.transform ? '' : copyFromStatement(target, {
    format: options.format, delimiter: options.delimiter, quote: options.format === 'csv' ? options.quote : undefined,
    escape: options.format === 'csv' ? options.escape : undefined, extraOptions: options.copyOptions,
  });
  const decodeDialect = options.transform ? inputDialect(options) : undefined;

  let ledger: ImportLedger | undefined;
  let transform: TransformRun | undefined;
  let transactionSetup: string | undefined;
  let rejects: RejectsFile | undefined;
  const committed = new CommittedRanges();
  const result: CopyResult = { rows: 0, bytes: 0, batches: 0, seconds: 0, skippedBatches: 0, skippedRows: 0, workers: [] };
  let inputDone = 0;
  let stopListening = () => undefined as void;
  let inputTotal: number | undefined = 0;
  const progress = new ProgressReporter({ stream: io.stderr, periodMs: options.reportingPeriodMs, label: 'copy' },
    () => ({ rows: result.rows, bytes: result.bytes, inputDone, inputTotal }));
  // Transformed batches between the stage and their commit: for totals, rejects and error messages.
  const transformed = new Map<EncodedBatch, TransformedBatch>();
  const totals: TransformTotals = { rowsIn: 0, rowsOut: 0, dropped: 0, setAside: 0 };
  const settle = (batch: EncodedBatch) => {
    const t = transformed.get(batch);
    if (!t) return;
    transformed.delete(batch);
    addTotals(totals, t);
    if (rejects && t.problems.length > 0) rejects.add(batch.inputName, t.problems);
  };

  // The command's own connection: checks and the ledger before the run, the completion
  // mark after. Each step is retried across a lost connection, as the workers' batches are.
  const control = new ControlConnection(options.connection, {
    role: 'target', retry: options.retry, signal: io.signal,
    onRetry: (err, delay) => progress.log(`copy: connection lost (${serverMessage(err)}); retrying in ${delay} ms`),
  });
  try {
    await control.open();
    const where = describeConnection(options.connection);
    // With a transform, --columns names the input's fields; the output columns are checked below.
    const tableColumns = await control.run((c) => checkTargetTable(c, options.transform ? { schema: target.schema, table: target.table } : target, where));
    if (options.transform && decodeDialect) {
      const types = Object.fromEntries(tableColumns.map((c) => [c.name, c.pgType]));
      transform = await startTransform(options.transform, { columns: options.columns ?? tableColumns.map((c) => c.name), types, dialect: decodeDialect });
      requireColumns({ ...target, columns: transform.outputColumns }, tableColumns);
      statement = copyFromStatement({ ...target, columns: transform.outputColumns }, { format: 'text' });
    }
    const direct = await control.run((c) => copyDirectCompress(c, target, options.directCompress ?? 'auto'));
    transactionSetup = direct.setup;
    if (direct.note) io.stderr.write(`copy: ${direct.note}\n`);
    if (options.importId !== undefined) {
      const settings = ledgerSettings(options, transform);
      ledger = await control.run((c) => ImportLedger.open(c, options.importId!, options.controlSchema, settings));
    }
    if (options.truncate && (ledger?.committedBatches ?? 0) === 0) {
      await control.run((c) => c.query(`TRUNCATE ${qualifiedName(options.schema, options.table)}`));
    }
    if (options.transform?.rejects !== undefined) rejects = RejectsFile.open(options.transform.rejects);

    const sink = new CopySink({
      connection: options.connection, statement, retry: options.retry, ledger, workers: options.workers, transactionSetup,
      onRetry: (err, worker, attempt, delay) => progress.log(`worker ${worker}: connection lost (${serverMessage(err)}); retry ${attempt} in ${delay} ms`),
      onCommitted: (batch, worker, ms) => {
        committed.add(batch);
        settle(batch);
        result.rows += batch.rows;
        result.bytes += batch.data.length;
        result.batches++;
        if (options.logBatches) progress.log(`batch ${batch.seq} ${batch.inputName} ${describeLines(batch)}: ${batch.rows} rows by worker ${worker} in ${ms.toFixed(0)} ms`);
      },
      onSkipped: (batch) => {
        committed.add(batch);
        settle(batch);
        result.skippedBatches++;
        result.skippedRows += batch.rows;
      },
    });
    // A signal stops the workers at once: batches in flight roll back, the error says what is committed.
    const onSignal = () => sink.interrupt(interruption(io.signal));
    io.signal?.addEventListener('abort', onSignal, { once: true });
    stopListening = () => io.signal?.removeEventListener('abort', onSignal);
    await sink.start();
    const run = transform;
    const stage = run && new TransformStage(run.runner, async (t) => {
      transformed.set(t.batch, t);
      await sink.write(t.batch);
    }, { crc: ledger !== undefined, name: run.name });
    progress.start();
    try {
      await feed(options, io, dialect, stage ? (batch) => stage.push(batch) : (batch) => sink.write(batch),
        (done, total) => { inputDone = done; inputTotal = total; });
      await stage?.flush();
      result.workers = await sink.finish();
    } catch (err) {
      stage?.fail(err);
      await sink.abort(err);
      // Workers stopped by the signal fail with whatever their statement said: the signal is the reason.
      throw explainFailure(io.signal?.aborted ? interruption(io.signal) : err, committed, dialect, options, transformed, run);
    } finally {
      progress.stop();
    }
    if (ledger) {
      const done = ledger;
      await control.run((c) => done.markComplete(c, result.rows + result.skippedRows));
    }
  } finally {
    stopListening();
    rejects?.close();
    await transform?.close();
    await control.close();
  }
  if (transform) result.transform = { ...totals, rejectsFile: rejects?.path };
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/** Reads every input in order, cutting batches and handing them on (to the sink or the transform stage). */
async function feed(options: CopyOptions, io: CopyIO, dialect: ScanDialect, write: (batch: EncodedBatch) => Promise<void>,
  onInput: (done: number, total: number | undefined) => void): Promise<void> {
  const paths = options.inputs.length > 0 ? options.inputs : ['-'];
  const inputs = await Promise.all(paths.map((p) => openInput(p, io.stdin)));
  const total = inputs.every((i) => i.size !== undefined) ? inputs.reduce((n, i) => n + (i.size ?? 0), 0) : undefined;
  let before = 0;
  let remaining = options.limit;
  for (const [index, input] of inputs.entries()) {
    const scanner = new RecordScanner(dialect, {
      batchRows: options.batchRows, batchBytes: options.batchBytes, skipLines: options.skipLines,
      skipRecords: options.skipHeader ? 1 : 0, limit: remaining, maxRecordBytes: Math.max(64 << 20, options.batchBytes * MAX_RECORD_FACTOR),
    }, index, input.name);
    const send = async (batches: EncodedBatch[]) => {
      for (const batch of batches) {
        remaining -= batch.rows;
        await write(batch);
      }
    };
    for await (const chunk of input.chunks()) {
      if (io.signal?.aborted) throw interruption(io.signal);
      await send(scanner.push(chunk));
      onInput(before + input.bytesRead(), total);
      if (scanner.done) break;
    }
    await send(scanner.end());
    before += input.bytesRead();
    if (remaining <= 0) break;
  }
}

/** The signal's reason (bin.ts names the signal), said to have rolled back the batches in flight. */
function interruption(signal: AbortSignal | undefined): HyperfillError {
  const reason = signal?.reason;
  const message = reason instanceof HyperfillError ? reason.message : 'interrupted by a signal';
  return new HyperfillError('E_INTERRUPTED', `${message}: the batches in flight were rolled back`);
}

function ledgerSettings(o: CopyOptions, transform: TransformRun | undefined): LedgerSettings {
  return {
    target: `${o.schema}.${o.table}`, columns: o.columns?.join(','), inputs: o.inputs.join(' ') || '-', format: o.format,
    batchRows: o.batchRows, batchBytes: o.batchBytes, skipLines: o.skipLines, skipHeader: o.skipHeader,
    limit: Number.isFinite(o.limit) ? o.limit : undefined,
    // A transform's identity: its file and the mappings (a changed mapping would mix two shapes of rows).
    ...(transform ? { ...transform.ledgerSettings, onError: o.transform?.onError } : {}),
  };
}

/** Turns any failure into a HyperfillError that also says what is already committed. */
function explainFailure(err: unknown, committed: CommittedRanges, dialect: ScanDialect, options: CopyOptions,
  transformed: Map<EncodedBatch, TransformedBatch>, transform: TransformRun | undefined): HyperfillError {
  const base = err instanceof BatchFailure ? describeBatchFailure(err, dialect, transformed.get(err.batch), transform, options) : err instanceof HyperfillError ? err
    : new HyperfillError('E_COPY_FAILED', serverMessage(err), {}, undefined, err);
  const transformHint = transform && base.code === 'E_IMPORT_INPUT_CHANGED'
    ? 'with a transform, a resumed batch is transformed again and must come out as before: a changed transform gives this error too'
    : undefined;
  const resume = options.importId !== undefined
    ? `rerun the same command (same --import-id ${options.importId}) to load only what is missing`
    : 'with --import-id, a rerun would load only what is missing; without it, remove these rows before a rerun';
  const hint = [base.hint, transformHint, `already committed: ${committed.rows} rows (${committed.describe()}); ${resume}`].filter(Boolean).join('\n  hint: ');
  return new HyperfillError(base.code, base.message, base.context, hint, base);
}

/** A batch the target took only part of (a `\\.` line ends text COPY data): names the line where it stopped. */
function pinShortBatch(error: HyperfillError, batch: EncodedBatch, dialect: ScanDialect): HyperfillError {
  const row = error.context.row;
  const found = typeof row === 'number' ? locateRow(batch, row - batch.firstRow, dialect) : undefined;
  if (!found) return error;
  return new HyperfillError(error.code,
    `the target stopped reading at line ${found.line} of ${batch.inputName}: it took ${found.row - batch.firstRow} of the batch's ${batch.rows} rows, and the batch was rolled back`,
    { ...error.context, line: found.line }, [`the line reads: ${found.preview}`, error.hint].filter(Boolean).join('\n  hint: '), error.cause);
}

/** SQLSTATE class 22: the server could not read a value (a header's words as numbers or times). */
const isDataError = (err: unknown) => String((err as { code?: unknown }).code ?? '').startsWith('22');

function describeBatchFailure(failure: BatchFailure, dialect: ScanDialect, transformed: TransformedBatch | undefined,
  transform: TransformRun | undefined, options: CopyOptions): HyperfillError {
  const { batch, error } = failure;
  if (error instanceof HyperfillError) return error.code === 'E_ROW_COUNT_MISMATCH' && !transformed ? pinShortBatch(error, batch, dialect) : error;
  const position = copyErrorPosition(error);
  if (transformed && transform) {
    const found = position.line !== undefined ? locateTransformedRow(transformed, position.line, transform.dialect) : undefined;
    const context = { file: batch.inputName, line: found?.line ?? batch.firstLine, row: found?.row, batch: batch.seq, column: position.column, worker: failure.worker };
    const where = found ? `line ${found.line}` : describeLines(batch);
    const hint = found ? `the row reads: ${found.preview}\n  hint: after the transform (${transform.name}) it reads: ${found.output}` : undefined;
    return new HyperfillError('E_BATCH_REJECTED', `the target rejected ${where} of ${batch.inputName} after the transform: ${serverMessage(error)}`, context, hint, error);
  }
  const located = position.line !== undefined ? locateRecord(batch, position.line, dialect) : undefined;
  const context = {
    file: batch.inputName, line: located?.line ?? batch.firstLine, row: located?.row, batch: batch.seq, column: position.column, worker: failure.worker,
  };
  const where = located ? `line ${located.line}` : describeLines(batch);
  const message = `the target rejected ${where} of ${batch.inputName}: ${serverMessage(error)}`;
  const header = located && located.row === 1 && !options.skipHeader && isDataError(error)
    && looksLikeHeader(located.data, options.delimiter ?? (options.format === 'csv' ? ',' : '\t'), options.quote);
  const hint = located ? [`the row reads: ${located.preview}`,
    header && `the first row looks like a header: --skip-header skips the first record of each input`].filter(Boolean).join('\n  hint: ') : undefined;
  return new HyperfillError('E_BATCH_REJECTED', message, context, hint, error);
}

