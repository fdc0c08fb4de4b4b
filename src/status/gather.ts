/**
 * `hyperfill status`: where each table stands in the method, read from the target (its
 * rows, its jobs, and what clone, backfill and verify recorded in the control schema) and
 * the source. Reads only: nothing is created or changed, in either database.
 */
import type pg from 'pg';
import { ProgressTable } from '../backfill/progress-table.js';
import { type TableSpec, resolveTables } from '../backfill/resolve-tables.js';
import { defaultAlignment, suggestUntil } from '../backfill/suggest-until.js';
import { CloneRecords, type CloneRun } from '../clone/records.js';
import { DualWriteControl } from '../dual-write/control-tables.js';
import { HyperfillError } from '../errors.js';
import { controlTableExists } from '../pg/control-schema.js';
import { displayName, parseTableName } from '../pg/table-name.js';
import type { Source } from '../source.js';
import { continuousAggregatesOn } from '../target/continuous-aggregates.js';
import { hypertableTimeDimension } from '../target/timescale.js';
import { isIntegerTime, parseWindowSize } from '../time-value.js';
import { VerifyRecords } from '../verify/verify-record.js';
import { nextStep } from './next-step.js';

export interface BackfillState {
  runId: string;
  until: string;
  windowsDone: number;
  windowsTotal: number;
  rows: number;
  completedAt: Date | null;
}

export interface PausedJob {
  jobId: number;
  procName: string;
  /** Which hyperfill step paused it. */
  by: string;
}

export interface TableStatus {
  table: string;
  sourceTable: string;
  hypertable: boolean;
  timeColumn: string | undefined;
  /** Why the table could not be looked at fully (missing in the target, say). */
  problem: string | undefined;
  cloned: 'done' | 'unfinished' | 'no record';
  dualWriteSince: string | undefined;
  /** Where `dualWriteSince` comes from: the target's earliest row, or when the last dual writer began. */
  sinceFrom: 'earliest row' | 'last writer' | undefined;
  /** The dual writers' first writes to the table, as `hyperfill/dual-write` recorded them. */
  dualWriters: Array<{ writerId: string; firstWriteAt: string }>;
  suggestedUntil: string | undefined;
  warnings: string[];
  backfill: BackfillState | undefined;
  pausedJobs: PausedJob[];
  verify: { matches: boolean; mode: string; until: string; checkedAt: Date; mismatched: number; windows: number; sourceRows: number; targetRows: number } | undefined;
  next: string;
}

export interface StatusReport {
  source: string;
  target: string;
  clone: (Omit<CloneRun, 'settings'> & { relationalTables: number; hypertables: number; timescaleSource: boolean }) | undefined;
  tables: TableStatus[];
  next: string;
}

export interface StatusOptions {
  specs: TableSpec[];
  timeColumn: string | undefined;
  maxLateness: string | undefined;
  controlSchema: string;
}

export async function gatherStatus(source: Source, target: pg.Client, o: StatusOptions): Promise<Omit<StatusReport, 'source' | 'target'>> {
  await target.query(`SET TIME ZONE 'UTC'`);
  const records = new CloneRecords(o.controlSchema);
  const clone = await records.latestRun(target);
  const tables = o.specs.length > 0 ? o.specs.map((s) => ({ ...s, timeColumn: o.timeColumn }))
    : await knownTables(target, clone, o.controlSchema);
  if (tables.length === 0) {
    throw new HyperfillError('E_USAGE', 'the target has no clone record and no backfill plan, so status does not know which tables to look at', {},
      'name them with --table SRC[:DST] (and --time-column for plain tables), or start with `hyperfill clone`');
  }
  const cloneJobs = await records.allJobs(target);
  const progress = new ProgressTable(o.controlSchema, '');
  const backfillJobs = (await controlTableExists(target, o.controlSchema, 'backfill_job')) ? await progress.unrestoredJobs(target, true) : [];
  const verifies = new VerifyRecords(o.controlSchema);
  const dualWriters = new DualWriteControl(o.controlSchema);
  const statuses: TableStatus[] = [];
  for (const t of tables) {
    const ref = parseTableName(t.target);
    // The backfill's key for the table (quoted where a name needs it, so it reads back the same).
    const key = displayName(ref);
    const status: TableStatus = {
      table: key, sourceTable: t.source, hypertable: false, timeColumn: t.timeColumn, problem: undefined,
      cloned: !clone ? 'no record' : clone.finishedAt && inClone(clone, key) ? 'done' : inClone(clone, key) ? 'unfinished' : 'no record',
      dualWriteSince: undefined, sinceFrom: undefined, dualWriters: [], suggestedUntil: undefined, warnings: [], backfill: undefined, pausedJobs: [], verify: undefined, next: '',
    };
    const dimension = await hypertableTimeDimension(target, ref).catch(() => undefined);
    status.hypertable = dimension !== undefined;
    status.timeColumn = dimension?.column ?? t.timeColumn;
    status.backfill = await backfillState(target, progress, key);
    const firstWrites = await dualWriters.readFirstWrites(target, ref);
    status.dualWriters = firstWrites.map((w) => ({ writerId: w.writerId, firstWriteAt: w.firstWriteAt.toISOString() }));
    try {
      const [resolved] = await resolveTables(source, target, [{ source: t.source, target: t.target }], status.timeColumn);
      // Where dual-write began (as `plan` says): the later of the target's earliest row and the
      // last dual writer's first write. Once a window is backfilled the target's earliest row
      // is the source's, not dual-write's.
      if (resolved && !(status.backfill && status.backfill.windowsDone > 0)) {
        status.timeColumn = resolved.timeColumn;
        const integer = isIntegerTime(resolved.timeType);
        const lateness = o.maxLateness === undefined ? (integer ? 0n : 3_600_000_000n) : parseWindowSize(o.maxLateness, resolved.timeType);
        const s = await suggestUntil(source, target, resolved, lateness, defaultAlignment(resolved.timeType), firstWrites);
        status.dualWriteSince = s.dualWriteSince;
        status.sinceFrom = s.sinceFrom;
        status.suggestedUntil = s.suggestedUntil;
        status.warnings = s.warnings;
      }
    } catch (err) {
      status.problem = err instanceof HyperfillError ? `${err.message}${err.hint ? ` (${err.hint})` : ''}` : (err as Error).message;
    }
    const views = status.hypertable ? (await continuousAggregatesOn(target, ref)).map((v) => `${v.schema}.${v.table}`) : [];
    const mine = (hypertable: string | null) => hypertable === key || (hypertable !== null && views.includes(hypertable));
    status.pausedJobs = [
      ...cloneJobs.filter((j) => !j.restored && mine(j.hypertable)).map((j) => ({ jobId: j.jobId, procName: j.procName, by: 'clone' })),
      ...backfillJobs.filter((j) => mine(j.hypertable)).map((j) => ({ jobId: j.jobId, procName: j.procName, by: `backfill ${j.runId}` })),
    ];
    const v = await verifies.latest(target, key);
    if (v) status.verify = { matches: v.matches, mode: v.mode, until: v.until, checkedAt: v.checkedAt, mismatched: v.mismatched, windows: v.windows, sourceRows: v.sourceRows, targetRows: v.targetRows };
    status.next = nextStep(status);
    statuses.push(status);
  }
  const pending = statuses.find((s) => !s.next.startsWith('nothing'));
  return {
    clone: clone ? {
      source: clone.source, startedAt: clone.startedAt, loadedAt: clone.loadedAt, finishedAt: clone.finishedAt,
      relationalTables: clone.settings.relational.length, hypertables: clone.settings.hypertables.length, timescaleSource: clone.settings.timescaleSource,
    } : undefined,
    tables: statuses,
    next: pending ? `${pending.table}: ${pending.next}` : 'every table is backfilled, verified and its jobs restored: switch the primary to the target',
  };
}

const inClone = (clone: CloneRun, key: string) => clone.settings.hypertables.some((h) => h.table === key) || clone.settings.relational.includes(key);

/** The clone's hypertables, then the tables of backfill plans, each once. */
async function knownTables(target: pg.Client, clone: CloneRun | undefined, schema: string): Promise<Array<TableSpec & { timeColumn: string | undefined }>> {
  const seen = new Map<string, string | undefined>();
  for (const h of clone?.settings.hypertables ?? []) seen.set(h.table, h.timeColumn);
  if (await controlTableExists(target, schema, 'backfill_window')) {
    const r = await target.query(`SELECT DISTINCT table_name FROM ${new ProgressTable(schema, '').windows} ORDER BY 1`);
    for (const row of r.rows) if (!seen.has(row.table_name)) seen.set(row.table_name, undefined);
  }
  return [...seen.entries()].map(([table, timeColumn]) => ({ source: table, target: table, timeColumn }));
}

/** The newest backfill plan that holds the table. */
async function backfillState(target: pg.Client, progress: ProgressTable, key: string): Promise<BackfillState | undefined> {
  if (!(await controlTableExists(target, progress.schema, 'backfill_window'))) return undefined;
  const r = await target.query(`SELECT r.run_id, r.settings->>'until' AS until, r.completed_at, count(*) FILTER (WHERE w.state = 'done')::int AS done,
      count(*)::int AS total, coalesce(sum(w.rows), 0)::float8 AS rows
    FROM ${progress.runs} r JOIN ${progress.windows} w ON w.run_id = r.run_id WHERE w.table_name = $1
    GROUP BY r.run_id, r.settings, r.completed_at, r.created_at ORDER BY r.created_at DESC LIMIT 1`, [key]);
  const row = r.rows[0];
  return row ? { runId: row.run_id, until: row.until, windowsDone: row.done, windowsTotal: row.total, rows: row.rows, completedAt: row.completed_at } : undefined;
}
