/**
 * `hyperfill copy`: inputs → record scanner → bounded queue → N COPY workers.
 * The bytes reach COPY unparsed. On any failure the error says what is committed.
 */
import { locateRecord } from '../../connectors/csv/locate-record.js';
import { openInput } from '../../connectors/csv/input.js';
import { RecordScanner, type ScanDialect } from '../../connectors/csv/record-scanner.js';
import type pg from 'pg';
import type { EncodedBatch } from '../batch.js';
import { describeLines } from '../batch.js';
import { type ConnectionConfig, connect, describeConnection } from '../connection.js';
import { HyperfillError } from '../errors.js';
import { copyErrorPosition, serverMessage } from '../pg-errors.js';
import { ProgressReporter } from '../progress.js';
import { type RetryPolicy, withRetry } from '../retry.js';
import { qualifiedName } from '../sql.js';
import { copyFromStatement } from '../sink/copy-statement.js';
import { BatchFailure, CopySink } from '../sink/copy-sink.js';
import type { WorkerStats } from '../sink/copy-worker.js';
import { ImportLedger, type LedgerSettings } from '../sink/import-ledger.js';
import { CommittedRanges } from './committed-ranges.js';
import { checkTargetTable } from './target-table.js';

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
  const statement = copyFromStatement(target, {
    format: options.format, delimiter: options.delimiter, quote: options.format === 'csv' ? options.quote : undefined,
    escape: options.format === 'csv' ? options.escape : undefined, extraOptions: options.copyOptions,
  });
  const dialect: ScanDialect = { format: options.format, quote: options.quote.charCodeAt(0), escape: options.escape.charCodeAt(0) };

  let ledger: ImportLedger | undefined;
  const committed = new CommittedRanges();
  const result: CopyResult = { rows: 0, bytes: 0, batches: 0, seconds: 0, skippedBatches: 0, skippedRows: 0, workers: [] };
  let inputDone = 0;
  let inputTotal: number | undefined = 0;
  const progress = new ProgressReporter({ stream: io.stderr, periodMs: options.reportingPeriodMs, label: 'copy' },
    () => ({ rows: result.rows, bytes: result.bytes, inputDone, inputTotal }));

  // The control connection is used before and after the run only, so a server restart
  // in the middle costs the workers a retry and nothing else.
  await withClient(options.connection, async (control) => {
    await checkTargetTable(control, target, describeConnection(options.connection));
    if (options.importId !== undefined) {
      ledger = await ImportLedger.open(control, options.importId, options.controlSchema, ledgerSettings(options));
    }
    if (options.truncate && (ledger?.committedBatches ?? 0) === 0) {
      await control.query(`TRUNCATE ${qualifiedName(options.schema, options.table)}`);
    }
  });

  const sink = new CopySink({
    connection: options.connection, statement, retry: options.retry, ledger, workers: options.workers,
    onRetry: (err, worker, attempt, delay) => progress.log(`worker ${worker}: connection lost (${serverMessage(err)}); retry ${attempt} in ${delay} ms`),
    onCommitted: (batch, worker, ms) => {
      committed.add(batch);
      result.rows += batch.rows;
      result.bytes += batch.data.length;
      result.batches++;
      if (options.logBatches) progress.log(`batch ${batch.seq} ${batch.inputName} ${describeLines(batch)}: ${batch.rows} rows by worker ${worker} in ${ms.toFixed(0)} ms`);
    },
    onSkipped: (batch) => {
      committed.add(batch);
      result.skippedBatches++;
      result.skippedRows += batch.rows;
    },
  });
  await sink.start();
  progress.start();
  try {
    await feed(options, io, dialect, sink, (done, total) => { inputDone = done; inputTotal = total; });
    result.workers = await sink.finish();
  } catch (err) {
    await sink.abort(err);
    throw explainFailure(err, committed, dialect, options);
  } finally {
    progress.stop();
  }
  if (ledger) {
    const done = ledger;
    await withRetry(() => withClient(options.connection, (c) => done.markComplete(c, result.rows + result.skippedRows)), options.retry);
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

async function withClient<T>(config: ConnectionConfig, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(config);
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Reads every input in order, cutting batches and handing them to the sink. */
async function feed(options: CopyOptions, io: CopyIO, dialect: ScanDialect, sink: CopySink,
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
        await sink.write(batch);
      }
    };
    for await (const chunk of input.chunks()) {
      if (io.signal?.aborted) throw interrupted();
      await send(scanner.push(chunk));
      onInput(before + input.bytesRead(), total);
      if (scanner.done) break;
    }
    await send(scanner.end());
    before += input.bytesRead();
    if (remaining <= 0) break;
  }
}

function interrupted(): HyperfillError {
  return new HyperfillError('E_INTERRUPTED', 'interrupted by a signal; batches in flight were allowed to finish');
}

function ledgerSettings(o: CopyOptions): LedgerSettings {
  return {
    target: `${o.schema}.${o.table}`, columns: o.columns?.join(','), inputs: o.inputs.join(' ') || '-', format: o.format,
    batchRows: o.batchRows, batchBytes: o.batchBytes, skipLines: o.skipLines, skipHeader: o.skipHeader,
    limit: Number.isFinite(o.limit) ? o.limit : undefined,
  };
}

/** Turns any failure into a HyperfillError that also says what is already committed. */
function explainFailure(err: unknown, committed: CommittedRanges, dialect: ScanDialect, options: CopyOptions): HyperfillError {
  const base = err instanceof BatchFailure ? describeBatchFailure(err, dialect) : err instanceof HyperfillError ? err
    : new HyperfillError('E_COPY_FAILED', serverMessage(err), {}, undefined, err);
  const resume = options.importId !== undefined
    ? `rerun the same command (same --import-id ${options.importId}) to load only what is missing`
    : 'with --import-id, a rerun would load only what is missing; without it, remove these rows before a rerun';
  const hint = [base.hint, `already committed: ${committed.rows} rows (${committed.describe()}); ${resume}`].filter(Boolean).join('\n  hint: ');
  return new HyperfillError(base.code, base.message, base.context, hint, base);
}

function describeBatchFailure(failure: BatchFailure, dialect: ScanDialect): HyperfillError {
  const { batch, error } = failure;
  if (error instanceof HyperfillError) return error;
  const position = copyErrorPosition(error);
  const located = position.line !== undefined ? locateRecord(batch, position.line, dialect) : undefined;
  const context = {
    file: batch.inputName, line: located?.line ?? batch.firstLine, row: located?.row, batch: batch.seq, column: position.column, worker: failure.worker,
  };
  const where = located ? `line ${located.line}` : describeLines(batch);
  const message = `the target rejected ${where} of ${batch.inputName}: ${serverMessage(error)}`;
  const hint = located ? `the row reads: ${located.preview}` : undefined;
  return new HyperfillError('E_BATCH_REJECTED', message, context, hint, error);
}

