/**
 * `hyperfill copy`: inputs → record scanner → bounded queue → N COPY workers.
 * With binary encoding (--encoding auto or binary, when the columns and dialect allow
 * it), each batch is also encoded as binary COPY in the worker pool on its way to the
 * sink, and goes as its input bytes when the encoder is not certain of a value; with
 * --encoding text the bytes reach COPY unparsed. With a transform (--transform or a
 * mapping), batches go through the transform stage (worker threads) instead and reach
 * COPY as text format. On any failure the error says what is committed.
 */
import { locateRecord, locateRow } from '../csv/locate-record.js';
import { looksLikeHeader } from '../csv/looks-like-header.js';
import { openInput } from '../csv/input.js';
import { RecordScanner, type ScanDialect } from '../csv/record-scanner.js';
import type { EncodedBatch } from '../batch.js';
import { describeLines } from '../batch.js';
import { BatchStage } from '../batch-stage.js';
import { BufferPool } from '../buffer-pool.js';
import type { EncodingMode } from '../encode/plan.js';
import { chooseEncoding } from '../encode/setup.js';
import { type ConnectionConfig, describeConnection } from '../connection.js';
import { ControlConnection } from '../control-connection.js';
import { HyperfillError } from '../errors.js';
import { copyErrorPosition, serverMessage } from '../pg-errors.js';
import { ProgressReporter } from '../progress.js';
import type { RetryPolicy } from '../retry.js';
import { qualifiedName } from '../sql.js';
import { copyDirectCompress, type DirectCompressMode } from '../target/direct-compress.js';
import { type CopyDialect, copyFromStatement, nullStringOf } from '../sink/copy-statement.js';
import type { InputDialect } from '../transform/decode.js';
import { BatchFailure, CopySink } from '../sink/copy-sink.js';
import type { WorkerStats } from '../sink/copy-worker.js';
import { ImportLedger, type LedgerSettings } from '../sink/import-ledger.js';
import type { ConflictMode, ConflictPlan } from '../sink/conflict.js';
import type { KeyFields } from './conflict-setup.js';
// --column-mapping and --on-conflict-* load their modules (and the CSV parser) only when given.
import type { ColumnMapping } from './column-mapping.js';
import type { Input } from '../csv/input.js';
import { CommittedRanges } from './committed-ranges.js';
import { checkTargetTable, requireColumns } from './target-table.js';
import { generatedColumns } from '../pg/catalog.js';
import { inputDialect } from '../transform/input-dialect.js';
import type { TransformSettings } from '../transform/options.js';
import { createEncodeRunner, type EncodeRunner } from '../transform/pool.js';
import { RejectsFile } from '../transform/rejects.js';
import type { OnError, RowProblem } from '../transform/batch-transform.js';
import { inputRows } from '../sink/batch-rows.js';
import { RejectLimit } from '../sink/reject-limit.js';
import { type InputSummary, InputTally } from './input-tally.js';
import type { TransformRun } from '../transform/setup.js';
import type { TransformedBatch, TransformTotals } from '../transform/stage.js';

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
  /** Undefined: no transform (the input's records reach COPY as they are, or binary-encoded). */
  transform?: TransformSettings | undefined;
  /** TimescaleDB's direct compress for each batch's COPY (default auto: when the hypertable has compression). */
  directCompress?: DirectCompressMode | undefined;
  /** auto: binary COPY where every column has an encoder; binary: that or an error; text: the input bytes. */
  encoding: EncodingMode;
  /** Worker threads that encode binary COPY; 0 encodes on the main thread. */
  encodeThreads: number;
  /** --on-conflict-do-nothing / --on-conflict-update: each batch goes through a staging table and INSERT ... ON CONFLICT. */
  onConflict?: ConflictMode | undefined;
  /** --column-mapping / --auto-column-mapping: each input's header record names the columns. */
  columnMapping?: ColumnMapping | undefined;
  /** --verbose: timescaledb-parallel-copy's "COPY n, took ..." line. */
  verbose?: boolean | undefined;
  /** A row the transform or the target rejects: stop the run, skip it, or reject it to `rejects`. */
  onError: OnError;
  rejects: string | undefined;
  /** Stop once more than this many rows were rejected or skipped (Infinity: no limit). */
  maxRejects: number;
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
  /** What went as binary COPY: batches encoded, and why the run sent its input bytes as they are when it did. */
  encoding: { binaryBatches: number; textBatches: number; refused: number; reason: string | undefined; firstTextReason: string | undefined };
  /** With a transform: rows in and out of it (committed batches), and the rejects file. */
  transform?: (TransformTotals & { rejectsFile: string | undefined }) | undefined;
  /**
   * With --on-conflict-*: rows inserted, rows that updated a row already there, and rows
   * that changed nothing (do nothing: a row with their key was there; update: a later row
   * of their batch had the same key).
   */
  conflict?: { action: ConflictMode['action']; key: string[] | undefined; inserted: number; updated: number; skipped: number } | undefined;
  /** Rows the target rejected and --on-error skip or reject set aside, the first of them, and where they went. */
  rejected: { rows: number; first: { file: string; line: number | undefined; reason: string } | undefined; rejectsFile: string | undefined };
  /** Per input: read, loaded, rejected, seconds. */
  inputs: InputSummary[];
}

export interface CopyIO {
  stdin: NodeJS.ReadableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  signal?: AbortSignal | undefined;
}

/**
 * The first batch of a run holds this many rows, each next one twice as many up to
 * --batch-size: the target's first COPY starts after a few milliseconds of reading and
 * encoding (cold code included), not after a whole batch.
 */
const FIRST_BATCH_ROWS = 1000;

/** A record larger than this many batches' worth of bytes means the input is misread. */
const MAX_RECORD_FACTOR = 8;

export async function runCopy(given: CopyOptions, io: CopyIO): Promise<CopyResult> {
  const started = performance.now();
  // With a column mapping, the inputs are opened first: their headers name the columns.
  const headed = given.columnMapping ? await readHeaders(given, io) : undefined;
  try {
    return await copyInputs(headed ? { ...given, columns: headed.columns, skipHeader: true } : given, io, headed, started);
  } finally {
    await headed?.close();
  }
}

async function copyInputs(options: CopyOptions, io: CopyIO, headed: Headers | undefined, started: number): Promise<CopyResult> {
  const target = { schema: options.schema, table: options.table, columns: options.columns };
  const dialect: ScanDialect = { format: options.format, quote: options.quote.charCodeAt(0), escape: options.escape.charCodeAt(0) };
  // Usage errors first, before any connection: COPY options, or with a transform, the input dialect.
  const passThrough = copyDialectOf(options);
  let statement = options.transform ? '' : copyFromStatement(target, passThrough);
  const warn = (line: string) => io.stderr.write(`${line}\n`);
  const decodeDialect = options.transform ? inputDialect(options) : undefined;
  const kit = options.transform ? await import('./transform-kit.js') : undefined;

  let ledger: ImportLedger | undefined;
  let transform: TransformRun | undefined;
  let transactionSetup: string | undefined;
  let rejects: RejectsFile | undefined;
  const committed = new CommittedRanges();
  const result: CopyResult = {
    rows: 0, bytes: 0, batches: 0, seconds: 0, skippedBatches: 0, skippedRows: 0, workers: [],
    encoding: { binaryBatches: 0, textBatches: 0, refused: 0, reason: undefined, firstTextReason: undefined },
    rejected: { rows: 0, first: undefined, rejectsFile: undefined }, inputs: [],
  };
  if (options.onConflict) result.conflict = { action: options.onConflict.action, key: undefined, inserted: 0, updated: 0, skipped: 0 };
  const tally = new InputTally();
  const limit = new RejectLimit(options.maxRejects);
  let encoder: EncodeRunner | undefined;
  let conflict: ConflictPlan | undefined;
  let keyFields: KeyFields | undefined;
  if (options.onConflict && options.directCompress === 'on') {
    throw new HyperfillError('E_USAGE', '`--direct-compress on` does not go with --on-conflict-*: rows then reach the table by INSERT, which direct compress does not apply to', {},
      'leave --direct-compress out (a compression policy compresses the chunks later)');
  }
  if (options.onConflict?.action === 'update' && options.transform) {
    throw new HyperfillError('E_USAGE', '`--on-conflict-update` does not go with a transform', {}, 'transform the input first, or load it with --on-conflict-do-nothing');
  }
  let binaryStatement: string | undefined;
  // Without a transform, batch bytes and their binary form live in pooled buffers, given back once committed.
  const buffers = options.transform ? undefined : new BufferPool(2 * options.workers + 8);
  const dropBinary = (batch: EncodedBatch) => {
    if (buffers && batch.binary) buffers.give(batch.binary.buffer as ArrayBuffer);
    batch.binary = undefined;
  };
  const recycle = (batch: EncodedBatch) => {
    if (!buffers) return;
    buffers.give(batch.data.buffer as ArrayBuffer);
    dropBinary(batch);
  };
  let inputDone = 0;
  let stopListening = () => undefined as void;
  let inputTotal: number | undefined = 0;
  const progress = new ProgressReporter({ stream: io.stderr, periodMs: options.reportingPeriodMs, label: 'copy' },
    () => ({ rows: result.rows, bytes: result.bytes, inputDone, inputTotal }));
  // Transformed batches between the stage and their commit: for totals, rejects and error messages.
  const transformed = new Map<EncodedBatch, TransformedBatch>();
  const totals: TransformTotals = { rowsIn: 0, rowsOut: 0, dropped: 0, setAside: 0 };
  // A committed batch: its rows set aside by the transform and by the target go to the rejects file, counts to the tallies.
  const settle = (batch: EncodedBatch, rejected: RowProblem[]) => {
    const t = transformed.get(batch);
    transformed.delete(batch);
    if (t) kit?.addTotals(totals, t);
    if (rejects && t && t.problems.length > 0) rejects.add(batch.inputName, t.problems);
    if (rejected.length > 0) {
      if (options.onError === 'reject') rejects?.add(batch.inputName, rejected);
      result.rejected.rows += rejected.length;
      const first = result.rejected.first;
      if (!first) result.rejected.first = { file: batch.inputName, line: rejected[0]!.line, reason: rejected[0]!.reason };
    }
    tally.committed(batch, { loaded: batch.rows - rejected.length, rejected: rejected.length + (t?.setAside ?? 0), dropped: t?.dropped ?? 0 });
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
    const tableColumns = await control.run((c) => checkTargetTable(c, options.transform || headed ? { schema: target.schema, table: target.table } : target, where));
    if (headed) (await import('./column-mapping.js')).checkMappedColumns(headed.header, headed.columns, tableColumns.map((c) => c.name), `${target.schema}.${target.table}`, options.columnMapping === 'auto');
    if (options.transform && decodeDialect && kit) {
      const types = Object.fromEntries(tableColumns.map((c) => [c.name, c.pgType]));
      transform = await kit.startTransform(options.transform, { columns: options.columns ?? tableColumns.map((c) => c.name), types, dialect: decodeDialect });
      requireColumns({ ...target, columns: transform.outputColumns }, tableColumns);
      statement = copyFromStatement({ ...target, columns: transform.outputColumns }, { format: 'text' });
      if (options.onConflict) {
        const { planConflict } = await import('./conflict-setup.js');
        const outputs = transform.outputColumns.map((name) => tableColumns.find((c) => c.name === name)).filter((c) => c !== undefined);
        conflict = await control.run((c) => planConflict(c, options.onConflict!, target, outputs, warn));
        statement = copyFromStatement({ ...conflict.stage, columns: transform.outputColumns }, { format: 'text' });
      }
    } else {
      // The columns COPY fills, in input order: --columns, or the table's without its generated ones.
      const listed = options.columns;
      const generated = listed || (options.encoding === 'text' && !options.onConflict) ? new Set<string>() : await control.run((c) => generatedColumns(c, target));
      const copyColumns = listed
        ? listed.map((name) => tableColumns.find((c) => c.name === name)).filter((c) => c !== undefined)
        : tableColumns.filter((c) => !generated.has(c.name));
      const choice = await control.run((c) => chooseEncoding(c, options.encoding, options, copyColumns));
      result.encoding.reason = choice.reason;
      if (choice.plan) {
        encoder = await createEncodeRunner(choice.plan, options.encodeThreads, buffers ?? new BufferPool(0));
        binaryStatement = copyFromStatement(target, { format: 'binary' });
      }
      if (options.onConflict) {
        const { planConflict, stagedStatements } = await import('./conflict-setup.js');
        conflict = await control.run((c) => planConflict(c, options.onConflict!, target, copyColumns, warn));
        ({ statement, binaryStatement, keyFields } = stagedStatements(conflict, copyColumns, target, passThrough, binaryStatement !== undefined));
      }
    }
    if (result.conflict && conflict) result.conflict.key = conflict.key;
    // With --on-conflict-* rows reach the target by INSERT, which direct compress (a COPY setting) does not touch.
    const direct = await control.run((c) => copyDirectCompress(c, target, options.onConflict ? 'off' : options.directCompress ?? 'auto'));
    transactionSetup = [direct.setup, conflict?.setup].filter(Boolean).join('; ') || undefined;
    if (direct.note) io.stderr.write(`copy: ${direct.note}\n`);
    if (options.importId !== undefined) {
      const settings = { ...ledgerSettings(options, transform), ...(conflict ? { onConflict: conflict.key ? `update (${conflict.key.join(',')})` : 'nothing', lanes: keyFields ? options.workers + 1 : undefined } : {}) };
      ledger = await control.run((c) => ImportLedger.open(c, options.importId!, options.controlSchema, settings));
    }
    if (options.truncate && (ledger?.committedBatches ?? 0) === 0) {
      await control.run((c) => c.query(`TRUNCATE ${qualifiedName(options.schema, options.table)}`));
    }
    if (options.rejects !== undefined) rejects = await openRejects(options.rejects, ledger, control);

    const sink = new CopySink({
      connection: options.connection, statement, binaryStatement, retry: options.retry, ledger, workers: options.workers, transactionSetup,
      conflict, lanes: keyFields !== undefined,
      onBinarySent: dropBinary,
      // Batches the encode stage holds are ready too: the queue needs fewer slots beside them.
      queueCapacity: encoder ? Math.max(1, options.workers - encoder.capacity) : undefined,
      onRetry: (err, worker, attempt, delay) => progress.log(`worker ${worker}: connection lost (${serverMessage(err)}); retry ${attempt} in ${delay} ms`),
      isolate: options.onError === 'stop' ? undefined : {
        limit,
        onStart: (batch, err) => {
          if (options.logBatches) progress.log(`batch ${batch.seq} ${batch.inputName} ${describeLines(batch)}: the target rejected a row (${serverMessage(err)}); copying the batch again in pieces`);
        },
        rowsOf: (batch) => {
          const t = transformed.get(batch);
          return t && transform && kit ? kit.transformedRows(t, transform.dialect) : inputRows(batch, dialect);
        },
      },
      // --on-error reject with --import-id: the rows for the rejects file are recorded with their batch.
      rejectsToRecord: options.onError === 'reject' ? (batch, rejected) => [...(transformed.get(batch)?.problems ?? []), ...rejected] : undefined,
      onCommitted: (batch, worker, ms, rejected) => {
        committed.add({ inputName: batch.inputName, firstLine: batch.firstLine, lastLine: batch.lastLine, rows: batch.rows - rejected.length });
        settle(batch, rejected);
        result.rows += batch.rows - rejected.length;
        result.bytes += batch.data.length;
        result.batches++;
        if (batch.applied && result.conflict) {
          result.conflict.inserted += batch.applied.inserted;
          result.conflict.updated += batch.applied.updated;
          result.conflict.skipped += batch.rows - batch.applied.inserted - batch.applied.updated;
        }
        const set = rejected.length > 0 ? ` (${rejected.length} ${options.onError === 'reject' ? 'rejected' : 'skipped'})` : '';
        if (options.logBatches) progress.log(`batch ${batch.seq} ${batch.inputName} ${describeLines(batch)}: ${batch.rows - rejected.length} rows${set} by worker ${worker} in ${ms.toFixed(0)} ms`);
        recycle(batch);
      },
      onSkipped: (batch) => {
        committed.add(batch);
        transformed.delete(batch);
        tally.skipped(batch, batch.rows);
        result.skippedBatches++;
        result.skippedRows += batch.rows;
        recycle(batch);
      },
    });
    // A signal stops the workers at once: batches in flight roll back, the error says what is committed.
    const onSignal = () => sink.interrupt(interruption(io.signal));
    io.signal?.addEventListener('abort', onSignal, { once: true });
    stopListening = () => io.signal?.removeEventListener('abort', onSignal);
    await sink.start();
    const run = transform;
    const stage = run && kit && new kit.TransformStage(run.runner, async (t) => {
      // Rows set aside count against --max-rejects, except in batches an earlier run of the import committed.
      const problem = t.problems[0];
      if (problem && !ledger?.isCommitted(t.batch)) limit.take(t.setAside, { file: t.batch.inputName, line: problem.line, batch: t.batch.seq, reason: problem.reason });
      transformed.set(t.batch, t);
      await sink.write(t.batch);
    }, { crc: ledger !== undefined, name: run.name });
    const encoding = encoder;
    const encodeStage = encoding && new BatchStage<EncodedBatch>(async (batch) => {
      const outcome = await encoding.encode(batch);
      if (outcome.ok) batch.binary = Buffer.from(outcome.output, 0, outcome.bytes);
      else {
        buffers?.give(outcome.output);
        result.encoding.textBatches++;
        result.encoding.firstTextReason ??= `${batch.inputName} ${describeLines(batch)}: ${outcome.reason}`;
        if (options.logBatches) progress.log(`batch ${batch.seq} ${batch.inputName} ${describeLines(batch)} goes as text: ${outcome.reason}`);
      }
      if (!encodeStage?.failed) await sink.write(batch);
    }, keyFields ? 1 : encoding.capacity); // routed batches must reach their worker in order
    const next = stage ? (batch: EncodedBatch) => stage.push(batch) : encodeStage ? (batch: EncodedBatch) => encodeStage.push(batch) : (batch: EncodedBatch) => sink.write(batch);
    const router = keyFields && new (await import('./key-router.js')).KeyRouter(inputDialectOf(options), keyFields.fields, keyFields.integer, sink.laneCount, buffers);
    const write = router ? async (batch: EncodedBatch) => {
      const routed = router.route(batch);
      buffers?.give(batch.data.buffer as ArrayBuffer);
      for (const part of routed) await next(part);
    } : next;
    progress.start();
    try {
      await feed(options, io, dialect, (batch) => {
        tally.read(batch);
        return write(batch);
      }, (done, total) => { inputDone = done; inputTotal = total; }, buffers, headed?.inputs);
      await stage?.flush();
      await encodeStage?.flush();
      result.workers = await sink.finish();
    } catch (err) {
      stage?.fail(err);
      encodeStage?.fail(err);
      await sink.abort(err);
      // Workers stopped by the signal fail with whatever their statement said: the signal is the reason.
      throw explainFailure(io.signal?.aborted ? interruption(io.signal) : err, committed, dialect, options, transformed,
        run && kit && { run, locate: kit.locateTransformedRow });
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
    await encoder?.destroy();
    await control.close();
  }
  if (transform) result.transform = { ...totals, rejectsFile: rejects?.path };
  result.rejected.rejectsFile = rejects?.path;
  result.inputs = tally.list();
  for (const w of result.workers) {
    result.encoding.binaryBatches += w.binaryBatches;
    result.encoding.refused += w.binaryRefused;
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/**
 * Reads every input in order, cutting batches and handing them on (to the sink or a
 * stage). With a buffer pool, batches are gathered in pooled buffers and a file is read
 * into one buffer over and over.
 */
async function feed(options: CopyOptions, io: CopyIO, dialect: ScanDialect, write: (batch: EncodedBatch) => Promise<void>,
  onInput: (done: number, total: number | undefined) => void, buffers: BufferPool | undefined, opened?: Input[]): Promise<void> {
  const paths = options.inputs.length > 0 ? options.inputs : ['-'];
  const inputs = opened ?? await Promise.all(paths.map((p) => openInput(p, io.stdin, { reuseChunks: buffers !== undefined })));
  const total = inputs.every((i) => i.size !== undefined) ? inputs.reduce((n, i) => n + (i.size ?? 0), 0) : undefined;
  let before = 0;
  let remaining = options.limit;
  for (const [index, input] of inputs.entries()) {
    const scanner = new RecordScanner(dialect, {
      batchRows: options.batchRows, batchBytes: options.batchBytes, skipLines: options.skipLines,
      skipRecords: options.skipHeader ? 1 : 0, limit: remaining, maxRecordBytes: Math.max(64 << 20, options.batchBytes * MAX_RECORD_FACTOR),
      firstBatchRows: index === 0 ? FIRST_BATCH_ROWS : undefined,
    }, index, input.name, buffers);
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
    batchRows: o.batchRows, batchBytes: o.batchBytes, firstBatchRows: FIRST_BATCH_ROWS, skipLines: o.skipLines, skipHeader: o.skipHeader,
    limit: Number.isFinite(o.limit) ? o.limit : undefined,
    // A transform's identity: its file and the mappings (a changed mapping would mix two shapes of rows).
    ...(transform ? { ...transform.ledgerSettings, onError: o.transform?.onError } : {}),
  };
}

/** Turns any failure into a HyperfillError that also says what is already committed. */
function explainFailure(err: unknown, committed: CommittedRanges, dialect: ScanDialect, options: CopyOptions,
  transformed: Map<EncodedBatch, TransformedBatch>, transform: TransformLocator | undefined): HyperfillError {
  const base = err instanceof BatchFailure ? describeBatchFailure(err, dialect, transformed.get(err.batch), transform, options) : err instanceof HyperfillError ? err
    : new HyperfillError('E_COPY_FAILED', serverMessage(err), {}, undefined, err);
  const transformHint = transform && base.code === 'E_IMPORT_INPUT_CHANGED'
    ? 'with a transform, a resumed batch is transformed again and must come out as before: a changed transform gives this error too'
    : undefined;
  const resume = options.importId !== undefined
    ? `rerun the same command (same --import-id ${options.importId}) to load only what is missing`
    : options.onConflict
      ? `a rerun of the same command repairs the target: rows already there are ${options.onConflict.action === 'update' ? 'set again, the last of each key winning' : 'skipped'}`
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

/** A transformed run, and how to find the input row behind a row the target rejected. */
interface TransformLocator {
  run: TransformRun;
  locate: typeof import('../transform/stage.js').locateTransformedRow;
}

function describeBatchFailure(failure: BatchFailure, dialect: ScanDialect, transformed: TransformedBatch | undefined,
  transform: TransformLocator | undefined, options: CopyOptions): HyperfillError {
  const { batch, error } = failure;
  if (error instanceof HyperfillError) return error.code === 'E_ROW_COUNT_MISMATCH' && !transformed ? pinShortBatch(error, batch, dialect) : error;
  const position = copyErrorPosition(error);
  if (transformed && transform) {
    const found = position.line !== undefined ? transform.locate(transformed, position.line, transform.run.dialect) : undefined;
    const context = { file: batch.inputName, line: found?.line ?? batch.firstLine, row: found?.row, batch: batch.seq, column: position.column, worker: failure.worker };
    const where = found ? `line ${found.line}` : describeLines(batch);
    const hint = found ? `the row reads: ${found.preview}\n  hint: after the transform (${transform.run.name}) it reads: ${found.output}` : undefined;
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


/** The rejects file; a rerun of an import writes the rejects its earlier runs recorded first, so each row is there once. */
async function openRejects(path: string, ledger: ImportLedger | undefined, control: ControlConnection): Promise<RejectsFile> {
  const file = RejectsFile.open(path);
  if (ledger && ledger.committedBatches > 0) {
    await control.run(async (c) => {
      file.truncate();
      await ledger.eachReject(c, (name, problems) => file.add(name, problems));
    });
  }
  return file;
}

/** The input as it is, as COPY reads it (the text pass-through). */
function copyDialectOf(o: CopyOptions): CopyDialect {
  return { format: o.format, delimiter: o.delimiter, quote: o.format === 'csv' ? o.quote : undefined,
    escape: o.format === 'csv' ? o.escape : undefined, extraOptions: o.copyOptions };
}

/** How the key router decodes records: the run's dialect, NULL as --copy-options says. */
function inputDialectOf(o: CopyOptions): InputDialect {
  return { format: o.format, delimiter: o.delimiter ?? (o.format === 'csv' ? ',' : '\t'), quote: o.quote, escape: o.escape, nullString: nullStringOf(o).nullString };
}

interface Headers {
  header: string[];
  columns: string[];
  inputs: Input[];
  close: () => Promise<void>;
}

/** Opens the inputs and reads their headers: the mapped columns, the same for every input. */
async function readHeaders(o: CopyOptions, io: CopyIO): Promise<Headers> {
  const scan: ScanDialect = { format: o.format, quote: o.quote.charCodeAt(0), escape: o.escape.charCodeAt(0) };
  const paths = o.inputs.length > 0 ? o.inputs : ['-'];
  const inputs: Input[] = [];
  const closers: Array<() => Promise<void>> = [];
  const close = async () => void (await Promise.all(closers.map((c) => c())));
  let first: { header: string[]; columns: string[] } | undefined;
  const { mappedColumns, takeHeader } = await import('./column-mapping.js');
  try {
    for (const path of paths) {
      const taken = await takeHeader(await openInput(path, io.stdin, { reuseChunks: !o.transform }), scan, inputDialectOf(o), o.skipLines);
      closers.push(taken.close);
      const columns = mappedColumns(taken.header, o.columnMapping!, taken.input.name);
      if (first && columns.join('\u0000') !== first.columns.join('\u0000')) {
        throw new HyperfillError('E_USAGE', `the header of ${taken.input.name} maps to columns (${columns.join(', ')}), not to (${first.columns.join(', ')}) as the first input's does`,
          { file: taken.input.name }, 'load inputs with different headers in separate runs');
      }
      first ??= { header: taken.header, columns };
      inputs.push(taken.input);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { ...first!, inputs, close };
}
