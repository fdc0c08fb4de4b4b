/**
 * One parallel slot of a backfill: a target connection that repeatedly claims a
 * pending window and, in one transaction, deletes what dual-write put there, streams
 * the source's rows in with COPY, and marks the window done. A lost connection rolls
 * the window back and it is tried again; any other error stops the run.
 */
import { once } from 'node:events';
import { finished, pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { copyBytes } from '../pg/copy-bytes.js';
import { CopyInFrames } from '../pg/copy-in-frames.js';
import type { CatalogColumn } from '../pg/catalog.js';
import type { TableName } from '../pg/table-name.js';
import { type ConnectionConfig, LazyClient } from '../connection.js';
import type { Permits } from '../permits.js';
import { HyperfillError } from '../errors.js';
import type { EncodedBatch } from '../batch.js';
import { RecordScanner } from '../csv/record-scanner.js';
import { copyErrorPosition, isRetryable } from '../pg-errors.js';
import { inputRows } from '../sink/batch-rows.js';
import { isolateRows, PieceRejected, rejectionReason, underSavepoint } from '../sink/isolate-rows.js';
import type { RejectLimit } from '../sink/reject-limit.js';
import type { RowProblem } from '../transform/batch-transform.js';
import { type RetryPolicy, withRetry } from '../retry.js';
import type { Source, SourceTableInfo, WindowStream } from '../source.js';
import { columnList, qualifiedName, timeRangeCondition } from '../sql.js';
import { directCompressStatements } from '../target/direct-compress.js';
import { chunksOverlapping, timescaleFunction } from '../target/timescale.js';
import type { TimeType } from '../time-value.js';
import type { TransformRun } from '../transform/setup.js';
import { type ChunkCopyTable, copyCompressedWindow } from './compressed-chunk-copy.js';
import { type DirectCompressTable, useDirectCompress } from './direct-compress.js';
import type { PlannedWindow, ProgressTable, WindowResult } from './progress-table.js';
import { applyConflict, type ConflictPlan } from '../sink/conflict.js';

const TEXT_DIALECT = { format: 'text', quote: 0, escape: 0x5c } as const;
const TRANSFORM_BATCH_ROWS = 10_000;
const TRANSFORM_BATCH_BYTES = 8 << 20;

export interface BackfillTable {
  /** The key in the progress table: the target's "schema.table". */
  key: string;
  source: SourceTableInfo;
  target: TableName;
  columns: string[];
  /** The target's column types for `columns`, in that order. */
  targetTypes: string[];
  /** All of the target table's columns (a transform may write any of them). */
  targetColumns: CatalogColumn[];
  timeColumn: string;
  timeType: TimeType;
  /** The target table is a TimescaleDB hypertable (policies, compressed chunks, caggs apply). */
  hypertable: boolean;
  /** Decompress overlapping compressed chunks first (TimescaleDB before 2.11 cannot write into them). */
  decompress: boolean;
  /** Rows go through the transform stage; the COPY then writes its output columns. */
  transform?: TransformRun | undefined;
  /** Windows may be loaded with TimescaleDB's direct compress (see direct-compress.ts). */
  directCompress?: DirectCompressTable | undefined;
  /** Windows may go as the source's compressed chunks (see compressed-chunk-copy.ts). */
  chunkCopy?: ChunkCopyTable | undefined;
  /**
   * --on-conflict: a window's rows are not deleted first but copied into a staging table
   * and moved by INSERT ... ON CONFLICT, so rows dual-write put there stay (or are updated).
   */
  conflict?: ConflictPlan | undefined;
}

/** What a window's copy did: rows committed, how they went in (for the summary), rows the target refused. */
type Copied = Pick<WindowResult, 'rows' | 'method' | 'rejected'>;

/** SET LOCAL before the COPY; a failure there abandons the source read already under way. */
async function startDirectCompress(client: pg.Client, sorted: boolean, read: { destroy(err?: Error): void }): Promise<void> {
  try {
    await client.query(directCompressStatements(sorted));
  } catch (err) {
    read.destroy(err as Error);
    throw err;
  }
}

/** How the rejects file names a window's rows: the source table and the window. */
export function rejectsName(table: BackfillTable, window: PlannedWindow): string {
  return `${table.source.name} window ${window.index}`;
}

/** The streams are closed: a window failed for good, or the run is stopping. A copier waiting for one just ends. */
export class StreamsClosed extends Error {}

export class WindowFailure extends Error {
  constructor(readonly window: PlannedWindow, readonly error: unknown) {
    super(error instanceof Error ? error.message : String(error));
  }
}

export interface CopierSettings {
  target: ConnectionConfig;
  source: Source;
  /**
   * One permit per stream (--parallel): a copier holds one from its window's BEGIN until
   * the rows are in (DELETE, read, COPY), and gives it back before COMMIT. With one copier
   * more than there are permits, the next window streams while one commits and waits for
   * its WAL flush, so the servers do not idle between windows.
   */
  streams: Permits;
  progress: ProgressTable;
  tables: Map<string, BackfillTable>;
  retry: RetryPolicy;
  onDone: (w: PlannedWindow, result: WindowResult) => void;
  /** Bytes streamed so far, for live progress. */
  onBytes: (n: number) => void;
  onRetry: (w: PlannedWindow, err: unknown, delayMs: number) => void;
  /** A window whose COPY the target refused for some rows is about to be copied again in pieces. */
  onIsolating?: ((w: PlannedWindow, err: unknown) => void) | undefined;
  /** Chunks decompressed along the way, to compress again at the end. */
  decompressed: Set<string>;
  /**
   * --on-error skip or reject: a window whose COPY the target refuses for some rows is read
   * again as text and copied in batches, each isolated as copy isolates a batch (isolate-rows.ts).
   */
  badRows?: { limit: RejectLimit; /** --on-error reject: record the rows with their window. */ keep: boolean } | undefined;
}

export class WindowCopier {
  private readonly client: LazyClient;
  private current: NodeJS.ReadableStream | undefined;
  private stopping = false;
  /** Aborted by stop(): no retry waits on after it. */
  private readonly stopped = new AbortController();

  constructor(private readonly s: CopierSettings) {
    this.client = new LazyClient(s.target, { setup: `SET TIME ZONE 'UTC'`, role: 'target', purpose: 'window' });
  }

  /** Copies windows until none is pending, `stop()` is called, or one fails. */
  async run(): Promise<void> {
    while (!this.stopping) {
      let claimed: PlannedWindow | undefined;
      let found = true;
      try {
        await withRetry(async () => {
          // use(): a lost target connection fails as E_CONNECTION_LOST, naming the target.
          found = await this.client.use((client) => this.copyNext(client, (w) => { claimed = w; }));
        }, this.s.retry, (err, _attempt, delay) => {
          this.client.drop();
          if (claimed) this.s.onRetry(claimed, err, delay);
        }, this.stopped.signal);
      } catch (err) {
        this.client.drop();
        if (err instanceof StreamsClosed || (this.stopping && !claimed)) return;
        if (claimed) throw new WindowFailure(claimed, err);
        throw err;
      }
      if (!found) break;
    }
    await this.close();
  }

  /**
   * Abandons the window in flight and claims no more: the source stream is destroyed and
   * the target's statement in flight cancelled (a long DELETE too), so the window's
   * transaction rolls back now rather than when the statement would have ended.
   */
  stop(reason: Error): void {
    if (this.stopping) return;
    this.stopping = true;
    this.stopped.abort(reason);
    this.s.streams.close(new StreamsClosed('stopping'));
    const stream = this.current as unknown as { destroy?: (e: Error) => void } | undefined;
    stream?.destroy?.(reason);
    this.client.cancel();
  }

  close(): Promise<void> {
    return this.client.close();
  }

  private async copyNext(client: pg.Client, onClaim: (w: PlannedWindow) => void): Promise<boolean> {
    // A stream from BEGIN to the end of the window's rows: a copier waiting for one holds no
    // transaction open (idle_in_transaction_session_timeout), and gives it back before COMMIT.
    const release = await this.s.streams.acquire();
    try {
      // Stopped while waiting for a stream: no window starts.
      if (this.stopped.signal.aborted) throw this.stopped.signal.reason;
      const started = performance.now();
      await client.query('BEGIN');
      try {
        const window = await this.s.progress.claim(client);
        if (!window) {
          await client.query('COMMIT');
          return false;
        }
        onClaim(window);
        const table = this.s.tables.get(window.table);
        if (!table) throw new HyperfillError('E_PLAN_MISMATCH', `the stored plan names table ${window.table}, which this run does not include`, { table: window.table },
          'run with the same --table list as the run that made the plan, or use another --run-id');
        const result = await this.copyClaimed(client, table, window);
        release();
        result.seconds = (performance.now() - started) / 1000;
        const keep = this.s.badRows?.keep && result.rejected ? { inputName: rejectsName(table, window), rows: result.rejected } : undefined;
        await this.s.progress.markDone(client, window, result, keep);
        await client.query('COMMIT');
        this.s.onDone(window, result);
        return true;
      } catch (err) {
        // A failure no retry will repair ends the run: no other copier may take the stream and start a window.
        if (!isRetryable(err)) {
          this.s.streams.close(new StreamsClosed('a window failed'));
          await client.query('ROLLBACK').catch(() => this.client.drop());
        }
        throw err;
      }
    } finally {
      release();
    }
  }

  /** A claimed window's work inside its transaction: as compressed chunks where it can go so, else delete and copy rows. */
  private async copyClaimed(client: pg.Client, table: BackfillTable, window: PlannedWindow): Promise<WindowResult> {
    let fallback: string | undefined;
    if (table.chunkCopy) {
      const outcome = await copyCompressedWindow(client, table, table.chunkCopy, window, (read, statement) => this.pipe(client, read, statement, table));
      if (outcome.copied) return { ...outcome.copied, deleted: 0, seconds: 0 };
      fallback = outcome.fallback;
    }
    if (table.decompress) await this.decompressOverlapping(client, table, window);
    if (table.conflict) return this.copyOnConflict(client, table, table.conflict, window);
    const where = timeRangeCondition(table.timeColumn, table.timeType, window);
    const deleted = await client.query(`DELETE FROM ${qualifiedName(table.target.schema, table.target.table)} WHERE ${where}`);
    const compress = table.directCompress !== undefined && (await useDirectCompress(client, table, table.directCompress, window, deleted.rowCount ?? 0));
    const copied = table.transform ? await this.copyTransformed(client, table, table.transform, window, compress)
      : this.s.badRows ? await this.copyIsolating(client, table, window, compress, this.s.badRows.limit)
        : await this.copyWindow(client, table, window, compress);
    return { ...copied, deleted: deleted.rowCount ?? 0, seconds: 0, fallback };
  }

  /** The window's rows into the staging table, then into the target by INSERT ... ON CONFLICT, in the window's transaction. */
  private async copyOnConflict(client: pg.Client, table: BackfillTable, conflict: ConflictPlan, window: PlannedWindow): Promise<WindowResult> {
    await client.query(conflict.setup);
    const copied = table.transform ? await this.copyTransformed(client, table, table.transform, window, false, conflict.stage)
      : await this.copyWindow(client, table, window, false, conflict.stage);
    const applied = await applyConflict(client, conflict);
    return { rows: copied.rows, deleted: 0, seconds: 0, method: conflict.key ? 'on conflict update' : 'on conflict do nothing', applied };
  }

  private async copyWindow(client: pg.Client, table: BackfillTable, window: PlannedWindow, compress: boolean, into: TableName = table.target): Promise<Copied> {
    const orderBy = compress ? table.directCompress?.sortOrder : undefined;
    const read = await this.s.source.read({ table: table.source, window, columns: table.columns, targetTypes: table.targetTypes, orderBy });
    const sorted = orderBy !== undefined && read.ordered === true;
    if (compress) await startDirectCompress(client, sorted, read.stream);
    const options = [`FORMAT ${read.format}`, read.copyOptions].filter(Boolean).join(', ');
    const statement = `COPY ${qualifiedName(into.schema, into.table)} ${columnList(table.columns)} FROM STDIN WITH (${options})`;
    const rows = await this.pipe(client, read, statement, table);
    return { rows, method: compress ? (sorted ? 'direct compress, sorted' : 'direct compress') : 'rows' };
  }

  /**
   * The window in one COPY under a savepoint; if the target refuses rows of it, the window
   * again, read as text and copied in batches of isolated pieces (without direct compress),
   * so the rows it refuses alone are set aside and the window still commits once.
   */
  private async copyIsolating(client: pg.Client, table: BackfillTable, window: PlannedWindow, compress: boolean, limit: RejectLimit): Promise<Copied> {
    let whole: Copied | undefined;
    const refused = await underSavepoint(client, async () => {
      whole = await this.copyWindow(client, table, window, compress);
    });
    if (whole) return whole;
    const inputName = rejectsName(table, window);
    this.s.onIsolating?.(window, refused);
    const read = await this.s.source.read({ table: table.source, window, columns: table.columns, targetTypes: table.targetTypes, decodable: true });
    if (read.format !== 'text') {
      (read.stream as unknown as { destroy(): void }).destroy();
      throw refused;
    }
    const statement = `COPY ${qualifiedName(table.target.schema, table.target.table)} ${columnList(table.columns)} FROM STDIN WITH (FORMAT text${read.copyOptions ? `, ${read.copyOptions}` : ''})`;
    const scanner = new RecordScanner(TEXT_DIALECT, {
      batchRows: TRANSFORM_BATCH_ROWS, batchBytes: TRANSFORM_BATCH_BYTES, skipLines: 0, skipRecords: 0, limit: Infinity, maxRecordBytes: 64 << 20,
    }, 0, inputName);
    const rejected: RowProblem[] = [];
    let rows = 0;
    let rowsRead = 0;
    const copyBatch = async (batch: EncodedBatch) => {
      rowsRead += batch.rows;
      const pieces = inputRows(batch, TEXT_DIALECT);
      await isolateRows(pieces.count, async (lo, hi) => {
        const error = await underSavepoint(client, async () => {
          const taken = await copyBytes(client, statement, pieces.text(lo, hi));
          if (taken !== hi - lo) throw new HyperfillError('E_ROW_COUNT_MISMATCH', `the target's COPY took ${taken} of ${hi - lo} rows of ${inputName}`, { table: table.key });
        });
        if (error === undefined) rows += hi - lo;
        else {
          const line = copyErrorPosition(error).line;
          throw new PieceRejected(error, line === undefined ? undefined : pieces.rowAtLine(lo, hi, line));
        }
      }, (row, error) => {
        const problem = pieces.problem(row, rejectionReason(error));
        limit.take(1, { file: inputName, line: problem.line, batch: window.index, reason: problem.reason });
        rejected.push(problem);
      });
    };
    this.current = read.stream;
    try {
      for await (const chunk of read.stream as AsyncIterable<Buffer>) {
        this.s.onBytes(chunk.length);
        for (const batch of scanner.push(chunk)) await copyBatch(batch);
      }
      for (const batch of scanner.end()) await copyBatch(batch);
    } catch (err) {
      limit.give(rejected.length);
      throw err;
    } finally {
      this.current = undefined;
    }
    const sent = await read.rowsSent?.();
    if (sent !== undefined && sent !== rowsRead) {
      limit.give(rejected.length);
      throw new HyperfillError('E_ROW_COUNT_MISMATCH', `the source sent ${sent} rows but ${rowsRead} were read`, { table: table.key });
    }
    return { rows, method: 'rows, bad rows isolated', rejected };
  }

  /** Streams a source read into a COPY on the target; the rows the target took must be the rows the source sent. */
  private async pipe(client: pg.Client, read: WindowStream, statement: string, table: BackfillTable): Promise<number> {
    // CopyData messages from a PostgreSQL source go to the socket as they are.
    const sink = client.query(read.copyData ? new CopyInFrames(statement) : copyFrom(statement));
    this.current = read.stream;
    read.stream.on('data', (chunk: Buffer) => this.s.onBytes(chunk.length));
    try {
      await pipeline(read.stream, sink);
    } finally {
      this.current = undefined;
    }
    const sent = await read.rowsSent?.();
    if (sent !== undefined && sent !== sink.rowCount) {
      throw new HyperfillError('E_ROW_COUNT_MISMATCH', `the source sent ${sent} rows but the target's COPY took ${sink.rowCount}`, { table: table.key });
    }
    return sink.rowCount;
  }

  /**
   * The window's rows decoded, transformed and re-encoded in the worker pool, written
   * into one COPY in whatever order the batches finish. Rows in must equal the rows the
   * source sent, rows out the rows COPY took.
   */
  private async copyTransformed(client: pg.Client, table: BackfillTable, run: TransformRun, window: PlannedWindow, compress: boolean, into: TableName = table.target): Promise<Copied> {
    // Loaded here: a backfill without a transform never needs the stage.
    const { transformChunks } = await import('../transform/transform-stream.js');
    const read = await this.s.source.read({ table: table.source, window, columns: table.columns, targetTypes: table.targetTypes, decodable: true });
    if (compress) await startDirectCompress(client, false, read.stream);
    if (read.format !== 'text') throw new HyperfillError('E_TRANSFORM_INPUT', `the ${this.s.source.kind} source sent ${read.format} rows; a transform decodes text format only`, { table: table.key });
    const sink = client.query(copyFrom(`COPY ${qualifiedName(into.schema, into.table)} ${columnList(run.outputColumns)} FROM STDIN WITH (FORMAT text)`));
    this.current = read.stream;
    read.stream.on('data', (chunk: Buffer) => this.s.onBytes(chunk.length));
    // The target may refuse the COPY while the first batch is still being transformed:
    // keep its error for the loop (an 'error' with no listener would end the process).
    let refused: Error | undefined;
    sink.on('error', (err) => { refused ??= err; });
    let rowsIn = 0;
    let rowsOut = 0;
    try {
      const batches = transformChunks(run.runner, read.stream as AsyncIterable<Buffer>, {
        dialect: TEXT_DIALECT, batchRows: TRANSFORM_BATCH_ROWS, batchBytes: TRANSFORM_BATCH_BYTES,
        inputName: `${table.key} window ${window.index}`, crc: false, name: run.name,
      });
      for await (const t of batches) {
        if (refused) throw refused;
        rowsIn += t.rowsIn;
        rowsOut += t.batch.rows;
        if (!sink.write(t.batch.data) && !refused) await once(sink, 'drain');
      }
      if (refused) throw refused;
      sink.end();
      await finished(sink);
    } catch (err) {
      sink.destroy(err as Error);
      throw err;
    } finally {
      this.current = undefined;
    }
    const sent = await read.rowsSent?.();
    if ((sent !== undefined && sent !== rowsIn) || sink.rowCount !== rowsOut) {
      throw new HyperfillError('E_ROW_COUNT_MISMATCH', `the source sent ${sent} rows, the transform read ${rowsIn} and wrote ${rowsOut}, the target's COPY took ${sink.rowCount}`, { table: table.key });
    }
    return { rows: sink.rowCount, method: compress ? 'direct compress' : 'rows' };
  }

  private async decompressOverlapping(client: pg.Client, table: BackfillTable, window: PlannedWindow): Promise<void> {
    for (const chunk of await chunksOverlapping(client, table.target, table.timeType, window)) {
      if (!chunk.compressed) continue;
      const name = qualifiedName(chunk.schema, chunk.name);
      await client.query(`SELECT ${await timescaleFunction(client, 'decompress_chunk')}($1::regclass, if_compressed => true)`, [name]);
      this.s.decompressed.add(name);
    }
  }
}
