/**
 * `hyperfill clone`: step 1 of the method (schema, roles and relational data), the way
 * the migration guides do it, as one command. Everything that can stop it is checked
 * before anything changes: the client tools, the versions, the hypertable candidates'
 * constraints, an existing schema in the target, the owners of the source's jobs. Then:
 * roles; the schema with the relational data in one transaction (candidates' data and
 * TimescaleDB's chunk data left out); each candidate made a hypertable while empty; the
 * source's TimescaleDB jobs copied disabled. Each step can be rerun: a rerun after any
 * failure, with --if-exists skip once the schema is in, finishes the rest.
 */
import type pg from 'pg';
import { openSource } from '../../connectors/index.js';
import { type ConnectionConfig, describeConnection, parseConnection, withClient } from '../connection.js';
import { ControlConnection } from '../control-connection.js';
import { serverMessage } from '../pg-errors.js';
import type { RetryPolicy } from '../retry.js';
import { HyperfillError } from '../errors.js';
import { type TableName, displayName } from '../pg/table-name.js';
import type { Source } from '../source.js';
import type { Candidate, HypertableSpec } from './candidates.js';
import { checkBeforeChanging, checkJobOwners } from './checks.js';
import type { ClientTools } from './client-tools.js';
import { dumpIntoTarget } from './dump-load.js';
import { convertCandidates, type Conversion } from './hypertables.js';
import { type CopiedJob, copyJobsDisabled, jobTable } from './jobs.js';
import { cloneRoles, type RolesResult } from './load-roles.js';
import { CloneRecords, type CloneSettings } from './records.js';
import { type TimescalePlan, clearTargetExtension, inRestoreMode } from './timescale-restore.js';
import { timescaleInstall } from '../target/timescale.js';

export interface CloneOptions {
  source: string;
  target: ConnectionConfig;
  hypertables: HypertableSpec[];
  roles: boolean;
  rolePasswords: boolean;
  ifExists: 'error' | 'skip';
  allowPlainTarget: boolean;
  pgBin: string | undefined;
  controlSchema: string;
  chunkRows: number;
  reportingPeriodMs: number;
  /** How long a lost target connection is retried. */
  retry: RetryPolicy;
}

export interface CloneResult {
  source: string;
  target: string;
  tools: string;
  roles: RolesResult | undefined;
  /** Bytes of dump loaded; undefined when --if-exists skip kept the target's schema. */
  loadedBytes: number | undefined;
  /** The source's tables, all cloned (schema), with their data unless hypertables. */
  tables: string[];
  hypertables: Conversion[];
  jobs: CopiedJob[];
  notes: string[];
}

export interface CloneIO {
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  signal?: AbortSignal | undefined;
}

export async function runClone(o: CloneOptions, io: CloneIO): Promise<CloneResult> {
  const log = (line: string) => io.stderr.write(`clone: ${line}\n`);
  const sourceConfig = parseConnection(o.source, 'source');
  const src = await openPostgresSource(o.source);
  // The target's steps are each one transaction or safe to repeat, so a lost connection costs a
  // retry (within --retry-timeout). A step that reads the source opens its own source connection
  // per attempt: a lost source is then retried too.
  const target = new ControlConnection(o.target, {
    role: 'target', retry: o.retry, signal: io.signal, purpose: 'clone',
    onRetry: (err, delay) => log(`connection lost (${serverMessage(err)}); retrying in ${delay} ms`),
  });
  const withSource = <T>(use: (from: pg.Client) => Promise<T>) => withClient(sourceConfig, use, 'source');
  try {
    await target.open();
    const c = await target.run((to) => withSource((from) => checkBeforeChanging(o, src, from, to, log)));
    const sourceName = describeConnection(sourceConfig);

    // Roles the target has already are not created again: a retried step carries on.
    const roles = o.roles ? await target.run((to) => cloneRoles(c.tools, sourceConfig, to, o.rolePasswords)) : undefined;
    for (const change of roles?.changes ?? []) log(`roles: ${change}`);
    if (roles) log(`roles: created ${roles.created.length === 0 ? 'none' : roles.created.map((r) => `"${r}"`).join(', ')}`);
    await target.run((to) => checkJobOwners(to, c.jobs));

    const records = new CloneRecords(o.controlSchema);
    const settings = await withSource((from) => cloneSettings(from, c.candidates, c.tables, c.sourceTs !== undefined));
    await target.run(async (to) => {
      await records.create(to);
      await records.start(to, sourceName, settings, !c.loadSchema);
    });
    let loadedBytes: number | undefined;
    if (c.loadSchema) {
      const cleared = c.tsPlan ? await target.run((to) => clearTargetExtension(to, c.tsPlan!)) : undefined;
      if (cleared) log(cleared);
      loadedBytes = await loadDump(o, sourceConfig, c.tools, c.candidates, c.tsPlan, io, log);
      await target.run((to) => records.markLoaded(to, sourceName));
    } else {
      log('the target holds the source\'s schema already: not loaded again (--if-exists skip)');
    }

    // Tables that are hypertables already are skipped: a retried step carries on.
    const ts = await target.run((to) => timescaleInstall(to));
    const hypertables = ts ? await target.run((to) => convertCandidates(to, c.candidates, ts)) : [];
    for (const h of hypertables) log(`hypertable ${h.table}: ${h.outcome}`);
    if (!ts && c.candidates.length > 0) c.notes.push(`the target has no TimescaleDB (--allow-plain-target): ${c.candidates.map((x) => displayName(x.table)).join(', ')} stay plain tables, empty until the backfill`);
    const copied = c.sourceTs ? await target.run(async (to) => copyJobsDisabled(to, await jobTable(to), c.jobs, records)) : [];
    for (const j of copied) log(`job ${j.jobId} (${j.procName}${j.hypertable ? ` on ${j.hypertable}` : ''}): disabled, scheduled=${j.wasScheduled} in the source${j.ownerChange ? `; ${j.ownerChange}` : ''}`);
    await target.run((to) => records.markFinished(to, sourceName));
    for (const note of c.notes) log(note);
    return {
      source: sourceName, target: describeConnection(o.target), tools: `${c.tools.version} in ${c.tools.dir}`,
      roles, loadedBytes, tables: c.tables.map(displayName), hypertables, jobs: copied, notes: c.notes,
    };
  } finally {
    await target.close();
    await src.close();
  }
}

async function openPostgresSource(url: string): Promise<Source> {
  const src = await openSource(url, { parallel: 1 });
  if (src.kind !== 'postgres') {
    await src.close();
    throw new HyperfillError('E_USAGE', `clone copies from PostgreSQL or TimescaleDB, not from a ${src.kind} source`, {},
      'for other sources, prepare the target with `hyperfill schema --apply`');
  }
  return src;
}

async function cloneSettings(from: pg.Client, candidates: Candidate[], tables: TableName[], timescaleSource: boolean): Promise<CloneSettings> {
  // Names as displayName writes them (quoted where needed), as status and backfill read them back.
  const hypertables = candidates.map((c) => ({ table: displayName(c.table), timeColumn: c.timeColumn }));
  if (timescaleSource) {
    const r = await from.query(`SELECT d.hypertable_schema AS s, d.hypertable_name AS n, d.column_name AS c FROM timescaledb_information.dimensions d
      WHERE d.dimension_number = 1 AND d.hypertable_schema NOT LIKE '\\_timescaledb%' ORDER BY 1, 2`);
    hypertables.push(...r.rows.map((row) => ({ table: displayName({ schema: row.s as string, table: row.n as string }), timeColumn: row.c as string })));
  }
  const timeSeries = new Set(hypertables.map((h) => h.table));
  return { hypertables, relational: tables.map(displayName).filter((t) => !timeSeries.has(t)), timescaleSource };
}

async function loadDump(o: CloneOptions, sourceConfig: ConnectionConfig, tools: ClientTools, candidates: Candidate[],
  tsPlan: TimescalePlan | undefined, io: CloneIO, log: (line: string) => void): Promise<number> {
  const dumpArgs = [`--exclude-schema=${pattern(o.controlSchema)}`, ...candidates.map((c) => `--exclude-table-data=${pattern(c.table.schema)}.${pattern(c.table.table)}`)];
  if (tsPlan) dumpArgs.push('--exclude-table-data=_timescaledb_internal.*', `--exclude-table-data=${await withClient(sourceConfig, jobTable, 'source')}`);
  const excluded = candidates.length > 0 ? ` without the data of ${candidates.map((c) => `${c.table.schema}.${c.table.table}`).join(', ')}` : '';
  log(`loading the schema and relational data${excluded}${tsPlan ? ' (TimescaleDB: chunk data and jobs left out, in restore mode)' : ''}, in one transaction`);
  const started = performance.now();
  let bytes = 0;
  const timer = o.reportingPeriodMs > 0 || io.stderr.isTTY ? setInterval(() => log(`loading: ${(bytes / 1e6).toFixed(1)} MB of dump`), o.reportingPeriodMs || 2000) : undefined;
  timer?.unref();
  try {
    const load = (prelude?: string) => dumpIntoTarget({ tools, source: sourceConfig, target: o.target, dumpArgs, prelude, onBytes: (n) => { bytes += n; }, signal: io.signal });
    await (tsPlan ? inRestoreMode(o.target, tsPlan, o.retry, load) : load());
  } finally {
    if (timer) clearInterval(timer);
  }
  log(`loaded ${(bytes / 1e6).toFixed(1)} MB of dump in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return bytes;
}

/** A pg_dump pattern matching exactly this name: double quotes make it literal. */
const pattern = (name: string) => `"${name.replace(/"/g, '""')}"`;
