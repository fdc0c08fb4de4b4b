/**
 * `hyperfill backfill`: every source row with from <= time < until, copied into the
 * target window by window, in parallel, exactly once, with the target's policies
 * paused meanwhile and restored whatever happens.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { openSource } from '../../connectors/index.js';
import { type ConnectionConfig, connect, withClient } from '../connection.js';
import { HyperfillError } from '../errors.js';
import { serverMessage } from '../pg-errors.js';
import { ProgressReporter } from '../progress.js';
import type { RetryPolicy } from '../retry.js';
import type { Source, TimeRange } from '../source.js';
import { continuousAggregatesOn, refreshContinuousAggregate } from '../target/continuous-aggregates.js';
import type { DirectCompressMode } from '../target/direct-compress.js';
import { type TimeType, formatTimeValue, isIntegerTime, nowTimeValue, parseTimeValue, parseWindowSize } from '../time-value.js';
import type { TransformSettings } from '../transform/options.js';
import { startTransform, type TransformRun } from '../transform/setup.js';
import { chooseWindowSize, floorTo, windowsFromBoundaries, windowsOfSize } from './plan-windows.js';
import { COMPRESSED_CHUNKS, prepareChunkCopy } from './compressed-chunk-copy.js';
import { prepareDirectCompress } from './direct-compress.js';
import { pausePolicies, restorePolicies } from './policies.js';
import { checkOneTimeType, preflight } from './preflight.js';
import { type PlannedWindow, ProgressTable, type WindowResult } from './progress-table.js';
import { type TableSpec, expandPattern, resolveTables } from './resolve-tables.js';
import { type BackfillTable, WindowCopier, WindowFailure } from './window-copier.js';

/** What to move or compare: the same for backfill and verify, so both find one plan. */
export interface RangeSelection {
  source: string;
  target: ConnectionConfig;
  tables: TableSpec[];
  tablePattern: string | undefined;
  timeColumn: string | undefined;
  until: string;
  from: string | undefined;
  window: string | undefined;
  parallel: number;
  runId: string | undefined;
  controlSchema: string;
}

export interface BackfillOptions extends RangeSelection {
  refreshCaggs: boolean;
  allowPlainTarget: boolean;
  /** Pin one source snapshot for the whole run (holds back the source's vacuum meanwhile). */
  snapshot: boolean;
  retry: RetryPolicy;
  reportingPeriodMs: number;
  /** Rows go through the transform stage (see src/transform/). */
  transform?: TransformSettings | undefined;
  /** TimescaleDB's direct compress for the windows' COPY (see direct-compress.ts); default auto. */
  directCompress?: DirectCompressMode | undefined;
  /** Copy fully compressed source chunks as they are where possible (see compressed-chunk-copy.ts); default true. */
  compressedChunks?: boolean | undefined;
}

export interface TableSummary {
  table: string;
  windows: number;
  rows: number;
  replaced: number;
  seconds: number;
  /** Windows by how their rows went in, e.g. { "direct compress, sorted": 4, rows: 1 }. */
  methods: Record<string, number>;
  /** Windows that went by rows though compressed chunks were possible for the table, by reason. */
  fallbacks: Record<string, number>;
}

export interface BackfillResult {
  runId: string;
  windowsDone: number;
  windowsTotal: number;
  rows: number;
  seconds: number;
  tables: TableSummary[];
  notes: string[];
}

export interface BackfillIO {
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  signal?: AbortSignal | undefined;
}

export async function runBackfill(options: BackfillOptions, io: BackfillIO): Promise<BackfillResult> {
  const started = performance.now();
  const source = await openSource(options.source, { parallel: options.parallel });
  let control: pg.Client | undefined;
  const transforms: TransformRun[] = [];
  try {
    control = await connect(options.target);
    await control.query(`SET TIME ZONE 'UTC'`);
    const notes = await preflight(source, control, options.allowPlainTarget);
    const specs = options.tablePattern ? await expandPattern(source, options.tablePattern) : options.tables;
    if (specs.length === 0) throw new HyperfillError('E_USAGE', 'no table to backfill', {}, 'name tables with --table src[:dst] or --tables PATTERN');
    const tables = await resolveTables(source, control, specs, options.timeColumn, options.transform !== undefined);
    checkOneTimeType(tables);
    if (options.transform) await startTransforms(tables, options.transform, transforms);
    const timeType = tables[0]?.timeType ?? 'timestamptz';
    const until = parseUntil(options.until, timeType);
    const from = options.from === undefined ? undefined : parseTimeValue(options.from, timeType, '--from');
    if (from !== undefined && from >= until) throw new HyperfillError('E_USAGE', '`--from` must be before `--until`');
    for (const table of tables) {
      const direct = await prepareDirectCompress(control, table, options.directCompress ?? 'auto', until);
      const chunks = options.compressedChunks !== false ? await prepareChunkCopy(control, source, table) : {};
      table.directCompress = direct.setting;
      table.chunkCopy = chunks.setting;
      notes.push(...[direct.note, chunks.note].filter((n): n is string => n !== undefined));
    }

    const runId = options.runId ?? defaultRunId(source.kind, options.source, tables, from, until, options.window);
    const progress = new ProgressTable(options.controlSchema, runId);
    await progress.create(control);
    const { windows, created } = await progress.ensurePlan(control, { source: describeSource(options.source), tables: tables.map((t) => t.key), until: options.until, from: options.from },
      () => planWindows(source, tables, from, until, options));
    notes.push(`${created ? 'planned' : 'resuming'} run ${runId}: ${windows.length} windows`);

    const hypertables = tables.filter((t) => t.hypertable);
    const paused = await pausePolicies(control, progress, hypertables.map((t) => t.target));
    if (paused.length > 0) notes.push(`paused policy jobs ${paused.join(', ')} until the backfill ends`);
    if (options.snapshot && source.pinSnapshot) {
      const pinned = await source.pinSnapshot(await progress.sharedSnapshot(control));
      if (pinned.id) await progress.shareSnapshot(control, pinned.id);
      notes.push(pinned.note);
    }
    else if (!options.snapshot) notes.push('--no-snapshot: each window reads its own source snapshot');
    for (const note of notes) io.stderr.write(`backfill: ${note}\n`);

    const done = await copyAllWindows(source, progress, tables, windows, options, io).catch(async (err) => {
      const restored = await restoreUnlessBusy(control!, progress);
      throw explainFailure(err, restored, runId, tables);
    });

    const after: string[] = [];
    // Several processes may finish one plan at once: the first to get here refreshes and marks it complete.
    const state = await progress.withRunLock(control, async () => {
      const counted = await progress.doneCount(control!);
      if (counted.done === counted.total && !(await progress.isComplete(control!))) {
        if (options.refreshCaggs) await refreshCaggs(control!, hypertables, windows, compressedCopies(done.results), after);
        await progress.markComplete(control!);
      }
      after.push(await restoreUnlessBusy(control!, progress));
      return counted;
    });
    for (const note of after.filter(Boolean)) io.stderr.write(`backfill: ${note}\n`);
    notes.push(...after.filter(Boolean));
    return {
      runId, windowsDone: state.done, windowsTotal: state.total, rows: done.rows, seconds: (performance.now() - started) / 1000,
      tables: summarise(tables, done.results), notes,
    };
  } finally {
    await Promise.all(transforms.map((t) => t.close()));
    await control?.end().catch(() => undefined);
    await source.close();
  }
}

/** One transform run per table: its columns differ. A broken module fails here, before any copying. */
async function startTransforms(tables: BackfillTable[], settings: TransformSettings, runs: TransformRun[]): Promise<void> {
  if (settings.onError === 'reject') {
    throw new HyperfillError('E_USAGE', '`--on-error reject` is not available for backfill', {}, 'use --on-error skip, or stop (the default)');
  }
  for (const table of tables) {
    const run = await startTransform(settings, {
      columns: table.columns, types: Object.fromEntries(table.targetColumns.map((c) => [c.name, c.pgType])), dialect: TEXT_INPUT,
    });
    runs.push(run);
    if (!run.outputColumns.includes(table.timeColumn)) {
      throw new HyperfillError('E_TRANSFORM_TIME_COLUMN', `the transform's output for ${table.key} has no column "${table.timeColumn}"`, { table: table.key },
        'backfill deletes each window\'s dual-written rows by the time column, so a transform must keep it, with its name and values');
    }
    const lacking = run.outputColumns.filter((c) => !table.targetColumns.some((t) => t.name === c));
    if (lacking.length > 0) {
      throw new HyperfillError('E_COLUMN_MISSING', `table ${table.key} has no column ${lacking.map((c) => `"${c}"`).join(', ')}, which the transform writes`,
        { table: table.key }, `its columns are: ${table.targetColumns.map((t) => t.name).join(', ')}; add them, or --drop or --map them in the transform`);
    }
    table.transform = run;
  }
}

const TEXT_INPUT = { format: 'text', delimiter: '\t', quote: '"', escape: '"', nullString: '\\N' } as const;

/** Runs `parallel` copiers over the plan; the first failure (or a signal) stops the others. */
async function copyAllWindows(source: Source, progress: ProgressTable, tables: BackfillTable[], windows: PlannedWindow[],
  options: BackfillOptions, io: BackfillIO): Promise<{ rows: number; results: Array<[PlannedWindow, WindowResult]> }> {
  const results: Array<[PlannedWindow, WindowResult]> = [];
  let rows = 0;
  let bytes = 0;
  const before = await withClient(options.target, (c) => progress.doneCount(c));
  let doneWindows = before.done;
  const reporter = new ProgressReporter({ stream: io.stderr, periodMs: options.reportingPeriodMs, label: 'backfill' },
    () => ({ rows, bytes, inputDone: doneWindows, inputTotal: windows.length, detail: `windows ${doneWindows}/${windows.length}` }));
  const decompressed = new Set<string>();
  const copiers = Array.from({ length: options.parallel }, () => new WindowCopier({
    target: options.target, source, progress, tables: new Map(tables.map((t) => [t.key, t])), retry: options.retry, decompressed,
    onDone: (w, result) => {
      results.push([w, result]);
      rows += result.rows;
      doneWindows++;
    },
    onBytes: (n) => { bytes += n; },
    onRetry: (w, err, delay) => reporter.log(`backfill: window ${w.index} of ${w.table}: connection lost (${serverMessage(err)}); retrying in ${delay} ms`),
  }));
  const stopAll = (reason: Error) => copiers.forEach((c) => c.stop(reason));
  const onAbort = () => stopAll(new HyperfillError('E_INTERRUPTED', 'interrupted by a signal'));
  io.signal?.addEventListener('abort', onAbort, { once: true });
  reporter.start();
  try {
    const outcomes = await Promise.allSettled(copiers.map((c) => c.run().catch((err) => {
      stopAll(err instanceof Error ? err : new Error(String(err)));
      throw err;
    })));
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
    if (decompressed.size > 0) await withClient(options.target, async (c) => {
      for (const chunk of decompressed) await c.query('SELECT compress_chunk($1::regclass, if_not_compressed => true)', [chunk]);
    });
    return { rows, results };
  } finally {
    io.signal?.removeEventListener('abort', onAbort);
    reporter.stop();
    await Promise.all(copiers.map((c) => c.close()));
  }
}

export async function planWindows(source: Source, tables: BackfillTable[], from: bigint | undefined, until: bigint,
  options: Pick<BackfillOptions, 'window' | 'parallel'>): Promise<PlannedWindow[]> {
  const planned: PlannedWindow[] = [];
  for (const table of tables) {
    const wide: TimeRange = { start: from ?? minTime(table.timeType), end: until };
    const edges = options.window === undefined ? await source.naturalBoundaries?.(table.source, wide) : undefined;
    let ranges: TimeRange[];
    if (edges && edges.length > 0) {
      // Chunks hold all the data, so the first one bounds it: no min() over every chunk
      // (on a hypertable with 20k chunks that query alone takes minutes).
      const first = edges.reduce((a, b) => (b < a ? b : a));
      ranges = windowsFromBoundaries({ start: from ?? (first > wide.start ? first : wide.start), end: until }, edges);
    } else {
      const extent = await source.extent(table.source, wide);
      if (!extent) continue;
      const range = { start: from ?? extent.start, end: until };
      const size = options.window !== undefined ? parseWindowSize(options.window, table.timeType)
        : chooseWindowSize(range, await source.estimateRows(table.source, range), table.timeType, options.parallel);
      ranges = windowsOfSize({ start: from ?? floorTo(extent.start, size), end: until }, size);
    }
    ranges.forEach((r, index) => planned.push({ ...r, table: table.key, index }));
  }
  return planned;
}

export function parseUntil(text: string, type: TimeType): bigint {
  const until = parseTimeValue(text, type, '--until');
  const now = nowTimeValue(type);
  if (now !== undefined && until > now) {
    throw new HyperfillError('E_UNTIL_IN_FUTURE', `--until ${text} lies in the future`, {},
      'the completion point must be a time dual-write has already passed; `hyperfill plan` suggests one');
  }
  return until;
}

/** The same arguments give the same run id: a rerun resumes, a second process joins, verify finds the plan. */
export function defaultRunId(kind: string, sourceUrl: string, tables: BackfillTable[], from: bigint | undefined, until: bigint, window: string | undefined): string {
  const key = JSON.stringify([kind, describeSource(sourceUrl), tables.map((t) => `${t.source.name}>${t.key}`), String(from), String(until), window]);
  return `bf-${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
}

/** A source URL without its password, for the progress table and messages. */
export function describeSource(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString();
  } catch {
    return url.replace(/password\s*=\s*('[^']*'|\S+)/gi, 'password=***');
  }
}

/** The earliest value of each time type (year 1 for timestamps and dates). */
function minTime(type: TimeType): bigint {
  if (type === 'smallint') return -32768n;
  if (type === 'integer') return -2147483648n;
  if (type === 'bigint') return -(2n ** 63n);
  return -62_135_596_800_000_000n;
}

/** Tables into which this run copied compressed chunks: TimescaleDB logged no invalidation for those rows. */
function compressedCopies(results: Array<[PlannedWindow, WindowResult]>): Set<string> {
  return new Set(results.filter(([, r]) => r.method === COMPRESSED_CHUNKS).map(([w]) => w.table));
}

async function refreshCaggs(control: pg.Client, tables: BackfillTable[], windows: PlannedWindow[], force: Set<string>, notes: string[]): Promise<void> {
  for (const table of tables) {
    const mine = windows.filter((w) => w.table === table.key);
    const first = mine[0];
    const last = mine[mine.length - 1];
    if (!first || !last) continue;
    const cast = isIntegerTime(table.timeType) ? table.timeType : table.timeType === 'date' ? 'date' : table.timeType;
    for (const view of await continuousAggregatesOn(control, table.target)) {
      await refreshContinuousAggregate(control, view, formatTimeValue(first.start, table.timeType), formatTimeValue(last.end, table.timeType), cast, force.has(table.key));
      notes.push(`refreshed continuous aggregate ${view.schema}.${view.table} for the backfilled range`);
    }
  }
}

async function restoreUnlessBusy(control: pg.Client, progress: ProgressTable): Promise<string> {
  try {
    if ((await progress.busyElsewhere(control)) > 0) return 'policies stay paused: another hyperfill process is still copying this plan';
    const restored = await restorePolicies(control, progress);
    return restored.length > 0 ? `policy jobs restored: ${restored.map((j) => `${j.jobId} (scheduled=${j.scheduled})`).join(', ')}` : '';
  } catch (err) {
    return `could not restore policies (${(err as Error).message}): run \`hyperfill restore-policies --target ...\``;
  }
}

function explainFailure(err: unknown, restoreNote: string, runId: string, tables: BackfillTable[]): HyperfillError {
  const rerun = `rerun the same command to finish: completed windows are kept and only the rest is copied (run ${runId})`;
  const hint = (h: string | undefined) => [h, restoreNote, rerun].filter(Boolean).join('\n  hint: ');
  if (err instanceof WindowFailure) {
    const inner = err.error;
    const type = tables.find((t) => t.key === err.window.table)?.timeType ?? 'timestamptz';
    const where = { table: err.window.table, window: describeWindow(err.window, type) };
    if (inner instanceof HyperfillError) return new HyperfillError(inner.code, inner.message, { ...inner.context, ...where }, hint(inner.hint), inner);
    return new HyperfillError('E_WINDOW_FAILED', `window ${err.window.index} of ${err.window.table} failed: ${serverMessage(inner)}`, where, hint(undefined), inner);
  }
  if (err instanceof HyperfillError) return new HyperfillError(err.code, err.message, err.context, hint(err.hint), err);
  return new HyperfillError('E_BACKFILL_FAILED', serverMessage(err), {}, hint(undefined), err);
}

function summarise(tables: BackfillTable[], results: Array<[PlannedWindow, WindowResult]>): TableSummary[] {
  return tables.map((t) => {
    const mine = results.filter(([w]) => w.table === t.key).map(([, r]) => r);
    const methods: Record<string, number> = {};
    const fallbacks: Record<string, number> = {};
    for (const r of mine) {
      methods[r.method ?? 'rows'] = (methods[r.method ?? 'rows'] ?? 0) + 1;
      if (r.fallback) fallbacks[r.fallback] = (fallbacks[r.fallback] ?? 0) + 1;
    }
    return {
      table: t.key, windows: mine.length, rows: mine.reduce((n, r) => n + r.rows, 0),
      replaced: mine.reduce((n, r) => n + r.deleted, 0), seconds: mine.reduce((n, r) => n + r.seconds, 0), methods, fallbacks,
    };
  });
}

/** "3 [2024-01-01 00:00:00+00, 2024-01-02 00:00:00+00)" */
export function describeWindow(w: PlannedWindow, type: TimeType): string {
  return `${w.index} [${formatTimeValue(w.start, type)}, ${formatTimeValue(w.end, type)})`;
}
