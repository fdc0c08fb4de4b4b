/**
 * `hyperfill backfill`: every source row with from <= time < until, copied into the
 * target window by window, in parallel, exactly once, with the target's policies
 * paused meanwhile and restored whatever happens.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { openSource } from '../../connectors/index.js';
import type { ConnectionConfig } from '../connection.js';
import { ControlConnection } from '../control-connection.js';
import { HyperfillError } from '../errors.js';
import { serverMessage } from '../pg-errors.js';
import { ProgressReporter } from '../progress.js';
import type { RetryPolicy } from '../retry.js';
import type { Source, TimeRange } from '../source.js';
import { continuousAggregatesOn, refreshContinuousAggregate } from '../target/continuous-aggregates.js';
import type { DirectCompressMode } from '../target/direct-compress.js';
import { timescaleFunction } from '../target/timescale.js';
import { DualWriteControl, type FirstWrite } from '../dual-write/control-tables.js';
import { type TimeType, formatTimeValue, isIntegerTime, nowTimeValue, parseTimeValue, parseWindowSize } from '../time-value.js';
import type { TransformSettings } from '../transform/options.js';
import type { TransformRun } from '../transform/setup.js';
import { chooseWindowSize, floorTo, windowsFromBoundaries, windowsOfSize } from './plan-windows.js';
import { COMPRESSED_CHUNKS, prepareChunkCopy } from './compressed-chunk-copy.js';
import { prepareDirectCompress } from './direct-compress.js';
import { pausePolicies, restorePolicies } from './policies.js';
import { checkOneTimeType, preflight } from './preflight.js';
import { type PlannedWindow, ProgressTable, type WindowResult } from './progress-table.js';
import { type TableSpec, expandPattern, resolveTables } from './resolve-tables.js';
import { type BackfillConflict, prepareConflict } from './on-conflict.js';
import { type BackfillTable, rejectsName, WindowCopier, WindowFailure } from './window-copier.js';
import { Permits } from '../permits.js';
import { RejectLimit } from '../sink/reject-limit.js';
import type { OnError } from '../transform/batch-transform.js';
import { RejectsFile } from '../transform/rejects.js';

/** What to move or compare: the same for backfill and verify, so both find one plan. */
export interface RangeSelection {
  source: string;
  target: ConnectionConfig;
  /** The target may lack TimescaleDB (backfill refuses one otherwise). */
  allowPlainTarget: boolean;
  /** Lost connections are retried this long, control connections included. */
  retry: RetryPolicy;
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
  /** Pin one source snapshot for the whole run (holds back the source's vacuum meanwhile). */
  snapshot: boolean;
  reportingPeriodMs: number;
  /** Rows go through the transform stage (see src/transform/). */
  transform?: TransformSettings | undefined;
  /** TimescaleDB's direct compress for the windows' COPY (see direct-compress.ts); default auto. */
  directCompress?: DirectCompressMode | undefined;
  /** Copy fully compressed source chunks as they are where possible (see compressed-chunk-copy.ts); default true. */
  compressedChunks?: boolean | undefined;
  /** Keep rows already in a window (do-nothing) or update them (update) instead of replacing the window (see on-conflict.ts). */
  onConflict?: BackfillConflict | undefined;
  /**
   * A row the target rejects (without a transform): stop the run (default), skip it, or
   * reject it to `rejects` (window-copier.ts copyIsolating); stop past `maxRejects` such rows.
   */
  onError?: OnError | undefined;
  rejects?: string | undefined;
  maxRejects?: number | undefined;
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
  /** With --on-conflict: rows inserted, and rows that updated a row already there. */
  applied?: { inserted: number; updated: number } | undefined;
  /** Rows the target refused that --on-error skip or reject set aside. */
  rejected: number;
}

export interface BackfillResult {
  runId: string;
  windowsDone: number;
  windowsTotal: number;
  rows: number;
  seconds: number;
  tables: TableSummary[];
  notes: string[];
  /** --on-error reject: where the rejected rows are. */
  rejectsFile?: string | undefined;
}

export interface BackfillIO {
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  signal?: AbortSignal | undefined;
}

export async function runBackfill(options: BackfillOptions, io: BackfillIO): Promise<BackfillResult> {
  const started = performance.now();
  // The run's own target connection: checks, plan, policies, completion. Every step on it
  // is retried across a lost connection, like the windows themselves.
  const control = new ControlConnection(options.target, {
    role: 'target', retry: options.retry, signal: io.signal, setup: `SET TIME ZONE 'UTC'`,
    onRetry: (err, delay) => io.stderr.write(`backfill: target connection lost (${serverMessage(err)}); retrying in ${delay} ms\n`),
  });
  const transforms: TransformRun[] = [];
  let source: Source | undefined;
  let rejects: RejectsFile | undefined;
  try {
    source = await openSource(options.source, { parallel: options.parallel, log: (line) => io.stderr.write(`backfill: ${line}\n`) });
    const src = source;
    await control.open();
    const { notes, tables, until, from } = await control.run(async (c) => {
      const notes = await preflight(src, c, options.allowPlainTarget);
      const specs = options.tablePattern ? await expandPattern(src, options.tablePattern) : options.tables;
      if (specs.length === 0) throw new HyperfillError('E_USAGE', 'no table to backfill', {}, 'name tables with --table src[:dst] or --tables PATTERN');
      const tables = await resolveTables(src, c, specs, options.timeColumn, options.transform !== undefined);
      checkOneTimeType(tables);
      const timeType = tables[0]?.timeType ?? 'timestamptz';
      const until = parseUntil(options.until, timeType);
      const from = options.from === undefined ? undefined : parseTimeValue(options.from, timeType, '--from');
      if (from !== undefined && from >= until) throw new HyperfillError('E_USAGE', '`--from` must be before `--until`');
      await checkUntilAfterDualWriters(c, new DualWriteControl(options.controlSchema), tables, until, options.until);
      return { notes, tables, until, from };
    });
    if (options.transform) await startTransforms(tables, options.transform, transforms);
    notes.push(...await control.run(async (c) => {
      const found: string[] = [];
      for (const table of tables) {
        if (options.onConflict) {
          // Rows go by INSERT: neither direct compress nor compressed chunks (which replace a window) apply.
          table.conflict = await prepareConflict(c, table, options.onConflict);
          continue;
        }
        const direct = await prepareDirectCompress(c, table, options.directCompress ?? 'auto', until);
        const chunks = options.compressedChunks !== false ? await prepareChunkCopy(c, src, table) : {};
        table.directCompress = direct.setting;
        table.chunkCopy = chunks.setting;
        found.push(...[direct.note, chunks.note].filter((n): n is string => n !== undefined));
      }
      return found;
    }));

    const runId = options.runId ?? defaultRunId(src.kind, options.source, tables, from, until, options.window);
    const progress = new ProgressTable(options.controlSchema, runId);
    await control.run((c) => progress.create(c));
    const { windows, created } = await control.run((c) => progress.ensurePlan(c,
      { source: describeSource(options.source), tables: tables.map((t) => t.key), until: options.until, from: options.from },
      () => planWindows(src, tables, from, until, options)));
    notes.push(`${created ? 'planned' : 'resuming'} run ${runId}: ${windows.length} windows`);

    const hypertables = tables.filter((t) => t.hypertable);
    const paused = await control.run((c) => pausePolicies(c, progress, hypertables.map((t) => t.target))).catch(async (err) => {
      // Some jobs may be paused already: put them back before reporting.
      const restored = await restoreUnlessBusy(control, progress, hypertables.length > 0 ? 'unknown' : []);
      throw explainFailure(err, restored.note, runId, tables, undefined);
    });
    if (paused.length > 0) notes.push(`paused policy jobs ${paused.join(', ')} until the backfill ends`);
    if (options.snapshot && src.pinSnapshot) {
      const pinned = await src.pinSnapshot(await control.run((c) => progress.sharedSnapshot(c)));
      const id = pinned.id;
      if (id) await control.run((c) => progress.shareSnapshot(c, id));
      notes.push(pinned.note);
    }
    else if (!options.snapshot) notes.push('--no-snapshot: each window reads its own source snapshot');
    for (const note of notes) io.stderr.write(`backfill: ${note}\n`);

    // Windows done, as this process knows them: for the line that says what is committed.
    const known = { done: 0, total: windows.length };
    if (options.rejects !== undefined) {
      const file = RejectsFile.open(options.rejects);
      rejects = file;
      // A rerun writes what its earlier runs rejected again first: the file holds each rejected row once.
      await control.run(async (c) => {
        file.truncate();
        await progress.eachReject(c, (name, problems) => file.add(name, problems));
      });
    }
    const done = await copyAllWindows(src, control, progress, tables, windows, options, io, known, rejects).catch(async (err) => {
      const restored = await restoreUnlessBusy(control, progress, paused);
      throw explainFailure(err, restored.note, runId, tables, known);
    });

    const after: string[] = [];
    let state: { done: number; total: number };
    try {
      // Several processes may finish one plan at once: the first to get here refreshes and marks it
      // complete. One step: after a lost connection (its session lock gone with it) it runs again.
      const end = await control.run((c) => progress.withRunLock(c, async () => {
        const counted = await progress.doneCount(c);
        const refreshed: string[] = [];
        if (counted.done === counted.total && !(await progress.isComplete(c))) {
          if (options.refreshCaggs) refreshed.push(...await refreshCaggs(c, hypertables, windows, compressedCopies(done.results)));
          await progress.markComplete(c);
        }
        return { counted, refreshed };
      }));
      state = end.counted;
      after.push(...end.refreshed);
    } catch (err) {
      const restored = await restoreUnlessBusy(control, progress, paused);
      throw explainFailure(err, restored.note, runId, tables, known);
    }
    const restored = await restoreUnlessBusy(control, progress, paused);
    if (restored.error !== undefined) throw policiesLeftPaused(restored, runId, state);
    after.push(restored.note);
    for (const note of after.filter(Boolean)) io.stderr.write(`backfill: ${note}\n`);
    notes.push(...after.filter(Boolean));
    return {
      runId, windowsDone: state.done, windowsTotal: state.total, rows: done.rows, seconds: (performance.now() - started) / 1000,
      tables: summarise(tables, done.results), notes, rejectsFile: rejects?.path,
    };
  } finally {
    rejects?.close();
    await Promise.all(transforms.map((t) => t.close()));
    await control.close();
    await source?.close();
  }
}

/**
 * T must lie after every recorded dual writer began writing the table (src/dual-write records
 * it): rows older than that writer's start may be missing from the target, and a backfill
 * bounded by an earlier T would leave them missing. Integer time columns cannot be compared
 * with a wall-clock start: `plan` warns about those.
 */
async function checkUntilAfterDualWriters(client: pg.Client, control: DualWriteControl, tables: BackfillTable[], until: bigint, text: string): Promise<void> {
  for (const table of tables) {
    if (isIntegerTime(table.timeType)) continue;
    const last = (await control.readFirstWrites(client, table.target)).reduce<FirstWrite | undefined>((a, w) => (a && a.firstWriteAt >= w.firstWriteAt ? a : w), undefined);
    if (last && until <= BigInt(last.firstWriteAt.getTime()) * 1000n) {
      throw new HyperfillError('E_UNTIL_BEFORE_DUAL_WRITE', `--until ${text} is not after dual writer "${last.writerId}" began writing ${table.key} (${last.firstWriteAt.toISOString()})`,
        { table: table.key }, 'rows older than the last writer\'s start may be missing from the target: choose a later --until (`hyperfill plan` suggests one)');
    }
  }
}

/** One transform run per table: its columns differ. A broken module fails here, before any copying. */
async function startTransforms(tables: BackfillTable[], settings: TransformSettings, runs: TransformRun[]): Promise<void> {
  if (settings.onError === 'reject') {
    throw new HyperfillError('E_USAGE', '`--on-error reject` is not available for backfill', {}, 'use --on-error skip, or stop (the default)');
  }
  const { startTransform } = await import('../transform/setup.js'); // only a run with a transform loads it
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

/** Runs `parallel` streams of windows (over one copier more); the first failure (or a signal) stops the others. */
async function copyAllWindows(source: Source, control: ControlConnection, progress: ProgressTable, tables: BackfillTable[], windows: PlannedWindow[],
  options: BackfillOptions, io: BackfillIO, known: { done: number }, rejects: RejectsFile | undefined): Promise<{ rows: number; results: Array<[PlannedWindow, WindowResult]> }> {
  const results: Array<[PlannedWindow, WindowResult]> = [];
  let rows = 0;
  let bytes = 0;
  const before = await control.run((c) => progress.doneCount(c));
  let doneWindows = before.done;
  known.done = doneWindows;
  const reporter = new ProgressReporter({ stream: io.stderr, periodMs: options.reportingPeriodMs, label: 'backfill' },
    () => ({ rows, bytes, inputDone: doneWindows, inputTotal: windows.length, detail: `windows ${doneWindows}/${windows.length}` }));
  const decompressed = new Set<string>();
  const onError = options.transform ? 'stop' : options.onError ?? 'stop';
  const limit = new RejectLimit(options.maxRejects ?? Infinity);
  const byKey = new Map(tables.map((t) => [t.key, t]));
  // --parallel streams over one copier (and target connection) more: see CopierSettings.streams.
  const streams = new Permits(options.parallel);
  const copiers = Array.from({ length: options.parallel + 1 }, () => new WindowCopier({
    target: options.target, source, progress, streams, tables: new Map(tables.map((t) => [t.key, t])), retry: options.retry, decompressed,
    badRows: onError === 'stop' ? undefined : { limit, keep: onError === 'reject' },
    onIsolating: (w, err) => reporter.log(`backfill: window ${w.index} of ${w.table}: the target rejected a row (${serverMessage(err)}); copying the window again in pieces`),
    onDone: (w, result) => {
      const table = byKey.get(w.table);
      if (rejects && table && result.rejected?.length) rejects.add(rejectsName(table, w), result.rejected);
      results.push([w, result]);
      rows += result.rows;
      doneWindows++;
      known.done = doneWindows;
    },
    onBytes: (n) => { bytes += n; },
    onRetry: (w, err, delay) => reporter.log(`backfill: window ${w.index} of ${w.table}: connection lost (${serverMessage(err)}); retrying in ${delay} ms`),
  }));
  const stopAll = (reason: Error) => copiers.forEach((c) => c.stop(reason));
  const onAbort = () => stopAll(interruption(io.signal));
  if (io.signal?.aborted) onAbort();
  else io.signal?.addEventListener('abort', onAbort, { once: true });
  reporter.start();
  try {
    // The first failure stops the other copiers; theirs, caused by the stop, are not the story.
    let first: { reason: unknown } | undefined;
    await Promise.allSettled(copiers.map((c) => c.run().catch((err) => {
      first ??= { reason: err };
      stopAll(err instanceof Error ? err : new Error(String(err)));
    })));
    // Copiers stopped by the signal fail with whatever their statement said: the signal is the reason.
    if (io.signal?.aborted) throw interruption(io.signal);
    if (first) throw first.reason;
    if (decompressed.size > 0) await control.run(async (c) => {
      const compress = await timescaleFunction(c, 'compress_chunk');
      for (const chunk of decompressed) await c.query(`SELECT ${compress}($1::regclass, if_not_compressed => true)`, [chunk]);
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
      // Sized by where the rows are: data that ends long before --until still gets windows for every stream.
      const filled = { start: from ?? extent.start, end: extent.end < until ? extent.end + 1n : until };
      const size = options.window !== undefined ? parseWindowSize(options.window, table.timeType)
        : chooseWindowSize(filled, await source.estimateRows(table.source, filled), table.timeType, options.parallel);
      // Past the last row, one window to --until: empty windows cost a transaction each.
      const start = from ?? floorTo(extent.start, size);
      const dataEnd = floorTo(filled.end - 1n, size) + size;
      ranges = dataEnd < until ? [...windowsOfSize({ start, end: dataEnd }, size), { start: dataEnd, end: until }] : windowsOfSize({ start, end: until }, size);
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

/** Refreshing a range again is harmless, so a lost connection just runs it again. */
async function refreshCaggs(control: pg.Client, tables: BackfillTable[], windows: PlannedWindow[], force: Set<string>): Promise<string[]> {
  const notes: string[] = [];
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
  return notes;
}

interface RestoreOutcome {
  note: string;
  /** Set when restoring failed: the jobs stay paused. */
  error?: unknown;
  jobs?: number[];
}

/**
 * Puts the paused jobs back unless another process still copies this plan (it restores
 * them when it ends). A cleanup step: retried across lost connections, also after a signal.
 * `paused`: the jobs this run paused (or found paused by an earlier one), 'unknown' when
 * pausing failed part way; none: nothing to do.
 */
async function restoreUnlessBusy(control: ControlConnection, progress: ProgressTable, paused: number[] | 'unknown'): Promise<RestoreOutcome> {
  if (paused !== 'unknown' && paused.length === 0) return { note: '' };
  try {
    return await control.cleanup(async (c) => {
      if ((await progress.busyElsewhere(c)) > 0) return { note: 'policies stay paused: another hyperfill process is still copying this plan' };
      const restored = await restorePolicies(c, progress);
      return { note: restored.length > 0 ? `policy jobs restored: ${restored.map((j) => `${j.jobId} (scheduled=${j.scheduled})`).join(', ')}` : '' };
    });
  } catch (err) {
    const jobs = paused === 'unknown' ? undefined : paused;
    const which = jobs === undefined ? 'the paused policy jobs' : `policy jobs ${jobs.join(', ')}`;
    return {
      note: `${which} are STILL PAUSED: restoring them failed (${serverMessage(err)}); rerun the same command, or run \`hyperfill restore-policies --target ...\``,
      error: err, jobs,
    };
  }
}

/** Every window is copied, but the policies could not be put back: not a success. */
function policiesLeftPaused(restored: RestoreOutcome, runId: string, state: { done: number; total: number }): HyperfillError {
  const which = restored.jobs ? `policy jobs ${restored.jobs.join(', ')}` : 'the paused policy jobs';
  return new HyperfillError('E_POLICIES_PAUSED', `${state.done} of ${state.total} windows are copied, but ${which} are still paused: restoring them failed: ${serverMessage(restored.error)}`,
    {}, `rerun the same command (run ${runId}): it finds the windows done and restores the jobs; or run \`hyperfill restore-policies --target ...\``, restored.error);
}

/** The signal's reason: E_INTERRUPTED naming the signal (bin.ts), or a plain one. */
function interruption(signal: AbortSignal | undefined): HyperfillError {
  const reason = signal?.reason;
  return reason instanceof HyperfillError ? reason : new HyperfillError('E_INTERRUPTED', 'interrupted by a signal');
}

function explainFailure(err: unknown, restoreNote: string, runId: string, tables: BackfillTable[], state: { done: number; total: number } | undefined): HyperfillError {
  const rerun = `rerun the same command to finish: completed windows are kept and only the rest is copied (run ${runId})`;
  const committed = state ? `${state.done} of ${state.total} windows are committed; windows in flight were rolled back` : undefined;
  const hint = (h: string | undefined) => [h, committed, restoreNote, rerun].filter(Boolean).join('\n  hint: ');
  if (err instanceof HyperfillError && err.code === 'E_INTERRUPTED') {
    // The line an orchestrator's log keeps: what is committed, in the message itself.
    return new HyperfillError(err.code, `${err.message}${committed ? `: ${committed}` : ''}`, err.context,
      [restoreNote, rerun].filter(Boolean).join('\n  hint: '), err);
  }
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
    const applied = t.conflict ? {
      inserted: mine.reduce((n, r) => n + (r.applied?.inserted ?? 0), 0), updated: mine.reduce((n, r) => n + (r.applied?.updated ?? 0), 0),
    } : undefined;
    return {
      table: t.key, windows: mine.length, rows: mine.reduce((n, r) => n + r.rows, 0),
      replaced: mine.reduce((n, r) => n + r.deleted, 0), seconds: mine.reduce((n, r) => n + r.seconds, 0), methods, fallbacks,
      ...(applied ? { applied } : {}),
      rejected: mine.reduce((n, r) => n + (r.rejected?.length ?? 0), 0),
    };
  });
}

/** "3 [2024-01-01 00:00:00+00, 2024-01-02 00:00:00+00)" */
export function describeWindow(w: PlannedWindow, type: TimeType): string {
  return `${w.index} [${formatTimeValue(w.start, type)}, ${formatTimeValue(w.end, type)})`;
}
