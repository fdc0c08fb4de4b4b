/**
 * `hyperfill verify`: source and target compared window by window: exact counts by
 * default, planner estimates with --approx, an order-independent digest of the row
 * contents with --checksum. The windows are the backfill's plan when it exists.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { openSource } from '../../connectors/index.js';
import { windowChecksum } from '../pg/checksum.js';
import { type RangeSelection, defaultRunId, parseUntil, planWindows } from '../backfill/run-backfill.js';
import { ProgressTable, type PlannedWindow } from '../backfill/progress-table.js';
import { checkOneTimeType } from '../backfill/preflight.js';
import { type TableSpec, expandPattern, resolveTables } from '../backfill/resolve-tables.js';
import type { BackfillTable } from '../backfill/window-copier.js';
import { ControlConnection } from '../control-connection.js';
import { serverMessage } from '../pg-errors.js';
import { HyperfillError } from '../errors.js';
import type { Source } from '../source.js';
import { qualifiedName, timeRangeCondition } from '../sql.js';
import { formatTimeValue, parseTimeValue } from '../time-value.js';
import { type TableVerdict, VerifyRecords } from './verify-record.js';

export type VerifyMode = 'exact' | 'approx' | 'checksum';

export interface VerifyOptions extends RangeSelection {
  mode: VerifyMode;
  /** Relative difference tolerated by --approx. */
  tolerance: number;
}

export interface WindowCheck {
  table: string;
  window: string;
  source: string;
  target: string;
  matches: boolean;
}

export interface VerifyResult {
  mode: VerifyMode;
  windows: number;
  mismatches: WindowCheck[];
  sourceRows: number;
  targetRows: number;
  planSource: 'backfill plan' | 'planned for this check';
  /** Per table, as recorded in the control schema for `status`. */
  tables: TableVerdict[];
  /** Why the verdicts could not be recorded (e.g. no CREATE right in the target), when they could not. */
  notRecorded?: string;
}

export interface VerifyIO {
  stderr?: NodeJS.WritableStream | undefined;
  signal?: AbortSignal | undefined;
}

export async function runVerify(options: VerifyOptions, io: VerifyIO = {}): Promise<VerifyResult> {
  const log = (line: string) => io.stderr?.write(`verify: ${line}\n`);
  // Stops every worker at the first failure, or at a signal.
  const stop = new AbortController();
  const onSignal = () => stop.abort(io.signal?.reason);
  if (io.signal?.aborted) onSignal();
  else io.signal?.addEventListener('abort', onSignal, { once: true });
  const connection = (purpose: string) => new ControlConnection(options.target, {
    role: 'target', retry: options.retry, signal: stop.signal, setup: `SET TIME ZONE 'UTC'`, purpose,
    onRetry: (err, delay) => log(`connection lost (${serverMessage(err)}); retrying in ${delay} ms`),
  });
  const control = connection('control');
  let source: Source | undefined;
  const workers: ControlConnection[] = [];
  try {
    source = await openSource(options.source, { parallel: options.parallel, log });
    const src = source;
    await control.open();
    const { tables, windows, stored, runId } = await control.run(async (c) => {
      const specs = options.tablePattern ? await expandPattern(src, options.tablePattern) : options.tables;
      const tables = await resolveTables(src, c, specs, options.timeColumn);
      checkOneTimeType(tables);
      const type = tables[0]?.timeType ?? 'timestamptz';
      const until = parseUntil(options.until, type);
      const from = options.from === undefined ? undefined : parseTimeValue(options.from, type, '--from');
      const runId = options.runId ?? defaultRunId(src.kind, options.source, tables, from, until, options.window);
      const stored = await new ProgressTable(options.controlSchema, runId).loadIfExists(c);
      const windows = stored.length > 0 ? stored : await planWindows(src, tables, from, until, { window: options.window, parallel: options.parallel });
      return { tables, windows, stored, runId };
    });
    if (options.mode === 'approx') {
      await control.run(async (c) => {
        for (const t of tables) await c.query(`ANALYZE ${qualifiedName(t.target.schema, t.target.table)}`);
      });
    }

    const byKey = new Map(tables.map((t) => [t.key, t]));
    // Planner estimates are too coarse for small windows: --approx compares whole tables.
    const units = options.mode === 'approx' ? wholeRanges(windows) : windows;
    const checks: WindowCheck[] = [];
    let sourceRows = 0;
    let targetRows = 0;
    const queue = [...units];
    const worker = async (conn: ControlConnection) => {
      for (let w = queue.shift(); w; w = queue.shift()) {
        const table = byKey.get(w.table);
        if (!table) throw new HyperfillError('E_PLAN_MISMATCH', `the stored plan names table ${w.table}, which this check does not include`, {}, 'pass the same --table list as the backfill');
        // Counting again after a lost connection is harmless: the whole check is the retried step.
        const unit = w;
        const check = await conn.run((c) => checkWindow(src, c, table, unit, options));
        sourceRows += Number(check.source.split(':')[0]);
        targetRows += Number(check.target.split(':')[0]);
        checks.push(check);
      }
    };
    workers.push(...Array.from({ length: Math.min(options.parallel, Math.max(units.length, 1)) }, () => connection('verify')));
    let first: { reason: unknown } | undefined;
    await Promise.allSettled(workers.map((conn) => worker(conn).catch((err) => {
      first ??= { reason: err };
      stop.abort(err);
    })));
    if (io.signal?.aborted) {
      const reason = io.signal.reason instanceof HyperfillError ? io.signal.reason : new HyperfillError('E_INTERRUPTED', 'interrupted by a signal');
      throw new HyperfillError(reason.code, `${reason.message}: ${checks.length} of ${units.length} windows were checked, nothing was written`, reason.context,
        'rerun verify to check them all', reason);
    }
    if (first) throw first.reason;
    const order = new Map(units.map((w, i) => [`${w.table}#${w.index}`, i]));
    checks.sort((a, b) => (order.get(a.window) ?? 0) - (order.get(b.window) ?? 0));
    const verdicts = tableVerdicts(checks);
    const verifyId = randomUUID();
    const notRecorded = await control.run((c) => new VerifyRecords(options.controlSchema).record(c, verifyId, runId, options.mode, options.until, verdicts))
      .then(() => undefined, (err: Error) => err.message);
    return {
      mode: options.mode, windows: units.length, mismatches: checks.filter((c) => !c.matches), sourceRows, targetRows,
      planSource: stored.length > 0 ? 'backfill plan' : 'planned for this check', tables: verdicts, ...(notRecorded ? { notRecorded } : {}),
    };
  } finally {
    io.signal?.removeEventListener('abort', onSignal);
    await Promise.all([control, ...workers].map((c) => c.close()));
    await source?.close();
  }
}

async function checkWindow(source: Source, client: pg.Client, table: BackfillTable, w: PlannedWindow, options: VerifyOptions): Promise<WindowCheck> {
  const label = `[${formatTimeValue(w.start, table.timeType)}, ${formatTimeValue(w.end, table.timeType)})`;
  const where = timeRangeCondition(table.timeColumn, table.timeType, w);
  const target = qualifiedName(table.target.schema, table.target.table);
  const base = { table: table.key, window: `${w.table}#${w.index}` };
  if (options.mode === 'checksum') {
    if (!source.checksum) throw new HyperfillError('E_UNSUPPORTED', `--checksum is not supported for ${source.kind} sources`, {}, 'use exact counts (the default)');
    const [s, t] = await Promise.all([
      source.checksum(table.source, w, table.columns),
      inTransaction(client, () => windowChecksum(client, target, where, table.columns)),
    ]);
    return { ...base, window: label, source: s, target: t, matches: s === t };
  }
  if (options.mode === 'approx') {
    const [s, t] = await Promise.all([
      source.estimateRows(table.source, w),
      client.query(`EXPLAIN (FORMAT JSON) SELECT 1 FROM ${target} WHERE ${where}`).then((r) => Number(r.rows[0]['QUERY PLAN'][0].Plan['Plan Rows'])),
    ]);
    const matches = Math.abs(s - t) <= Math.max(options.tolerance * Math.max(s, t), 10);
    return { ...base, window: label, source: String(Math.round(s)), target: String(Math.round(t)), matches };
  }
  const [s, t] = await Promise.all([
    source.count(table.source, w),
    client.query(`SELECT count(*) AS n FROM ${target} WHERE ${where}`).then((r) => Number(r.rows[0].n)),
  ]);
  return { ...base, window: label, source: String(s), target: String(t), matches: s === t };
}

function tableVerdicts(checks: WindowCheck[]): TableVerdict[] {
  const byTable = new Map<string, TableVerdict>();
  for (const c of checks) {
    const v = byTable.get(c.table) ?? { table: c.table, windows: 0, mismatched: 0, sourceRows: 0, targetRows: 0 };
    v.windows++;
    if (!c.matches) v.mismatched++;
    v.sourceRows += Number(c.source.split(':')[0]);
    v.targetRows += Number(c.target.split(':')[0]);
    byTable.set(c.table, v);
  }
  return [...byTable.values()];
}

/** One range per table, from its first window's start to its last window's end. */
function wholeRanges(windows: PlannedWindow[]): PlannedWindow[] {
  const byTable = new Map<string, PlannedWindow>();
  for (const w of windows) {
    const seen = byTable.get(w.table);
    byTable.set(w.table, seen ? { ...seen, start: seen.start < w.start ? seen.start : w.start, end: seen.end > w.end ? seen.end : w.end } : { ...w, index: 0 });
  }
  return [...byTable.values()];
}

async function inTransaction<T>(client: pg.Client, use: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    return await use();
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}
