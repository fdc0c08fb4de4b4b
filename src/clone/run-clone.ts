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
import { preflight } from '../backfill/preflight.js';
import { type ConnectionConfig, connect, describeConnection, parseConnection } from '../connection.js';
import { HyperfillError } from '../errors.js';
import { type TableName, displayName } from '../pg/table-name.js';
import { qualifiedName } from '../sql.js';
import type { Source } from '../source.js';
import { type Candidate, type HypertableSpec, resolveCandidates } from './candidates.js';
import { type ClientTools, findClientTools } from './client-tools.js';
import { dumpIntoTarget } from './dump-load.js';
import { convertCandidates, type Conversion } from './hypertables.js';
import { type CopiedJob, copyJobsDisabled, jobTable, missingJobOwners, sourceJobs, type SourceJob } from './jobs.js';
import { cloneRoles, type RolesResult } from './load-roles.js';
import { CloneRecords, type CloneSettings } from './records.js';
import { type TimescalePlan, clearTargetExtension, inRestoreMode, planTimescaleTarget } from './timescale-restore.js';
import { type TimescaleInstall, timescaleInstall } from '../target/timescale.js';

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
  let from: pg.Client | undefined;
  let to: pg.Client | undefined;
  try {
    from = await connect(sourceConfig, 'source');
    to = await connect(o.target);
    const c = await checkBeforeChanging(o, src, from, to, log);
    const sourceName = describeConnection(sourceConfig);

    const roles = o.roles ? await cloneRoles(c.tools, sourceConfig, to, o.rolePasswords) : undefined;
    for (const change of roles?.changes ?? []) log(`roles: ${change}`);
    if (roles) log(`roles: created ${roles.created.length === 0 ? 'none' : roles.created.map((r) => `"${r}"`).join(', ')}`);
    await checkJobOwners(to, c.jobs);

    const records = new CloneRecords(o.controlSchema);
    await records.create(to);
    await records.start(to, sourceName, await cloneSettings(from, c.candidates, c.tables, c.sourceTs !== undefined), !c.loadSchema);
    let loadedBytes: number | undefined;
    if (c.loadSchema) {
      const cleared = c.tsPlan ? await clearTargetExtension(to, c.tsPlan) : undefined;
      if (cleared) log(cleared);
      loadedBytes = await loadDump(o, sourceConfig, c.tools, c.candidates, c.tsPlan, from, io, log);
      await records.markLoaded(to, sourceName);
    } else {
      log('the target holds the source\'s schema already: not loaded again (--if-exists skip)');
    }

    const ts = await timescaleInstall(to);
    const hypertables = ts ? await convertCandidates(to, c.candidates, ts) : [];
    for (const h of hypertables) log(`hypertable ${h.table}: ${h.outcome}`);
    if (!ts && c.candidates.length > 0) c.notes.push(`the target has no TimescaleDB (--allow-plain-target): ${c.candidates.map((x) => displayName(x.table)).join(', ')} stay plain tables, empty until the backfill`);
    const copied = c.sourceTs ? await copyJobsDisabled(to, await jobTable(to), c.jobs, records) : [];
    for (const j of copied) log(`job ${j.jobId} (${j.procName}${j.hypertable ? ` on ${j.hypertable}` : ''}): disabled, scheduled=${j.wasScheduled} in the source${j.ownerChange ? `; ${j.ownerChange}` : ''}`);
    await records.markFinished(to, sourceName);
    for (const note of c.notes) log(note);
    return {
      source: sourceName, target: describeConnection(o.target), tools: `${c.tools.version} in ${c.tools.dir}`,
      roles, loadedBytes, tables: c.tables.map(displayName), hypertables, jobs: copied, notes: c.notes,
    };
  } finally {
    await to?.end().catch(() => undefined);
    await from?.end().catch(() => undefined);
    await src.close();
  }
}

interface Checked {
  tools: ClientTools;
  sourceTs: TimescaleInstall | undefined;
  candidates: Candidate[];
  tables: TableName[];
  /** False: --if-exists skip, and the target has the schema. */
  loadSchema: boolean;
  jobs: SourceJob[];
  tsPlan: TimescalePlan | undefined;
  notes: string[];
}

/** Everything that can stop a clone, found before anything changes. */
async function checkBeforeChanging(o: CloneOptions, src: Source, from: pg.Client, to: pg.Client, log: (line: string) => void): Promise<Checked> {
  const sourceTs = await timescaleInstall(from);
  await preflight(src, to, o.allowPlainTarget || sourceTs !== undefined);
  const targetTs = await timescaleInstall(to);
  const sourceMajor = Math.floor(Number((await from.query('SHOW server_version_num')).rows[0].server_version_num) / 10000);
  const tools = findClientTools(o.roles ? ['pg_dump', 'pg_dumpall', 'psql'] : ['pg_dump', 'psql'], sourceMajor, o.pgBin);
  log(`client tools: PostgreSQL ${tools.version} in ${tools.dir} (the source runs PostgreSQL ${sourceMajor})`);
  const notes: string[] = [];
  const candidates = await checkCandidates(from, src, o, sourceTs, (targetTs ?? sourceTs)?.version, notes);
  const tables = await sourceTables(from, o.controlSchema);
  const loadSchema = await checkExistingSchema(to, tables, o.ifExists);
  const jobs = sourceTs ? await sourceJobs(from, await jobTable(from)) : [];
  const tsPlan = sourceTs && loadSchema ? await planTimescaleTarget(to, sourceTs) : undefined;
  return { tools, sourceTs, candidates, tables, loadSchema, jobs, tsPlan, notes };
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

async function checkCandidates(from: pg.Client, src: Source, o: CloneOptions, sourceTs: TimescaleInstall | undefined, tsVersion: string | undefined, notes: string[]): Promise<Candidate[]> {
  const resolved = await resolveCandidates(from, src, o.hypertables, tsVersion, o.chunkRows);
  const candidates: Candidate[] = [];
  for (const c of resolved) {
    const name = `${c.table.schema}.${c.table.table}`;
    if (sourceTs && (await isHypertable(from, name))) notes.push(`${name} is a hypertable in the source already: cloned as one`);
    else candidates.push(c);
  }
  const problems = candidates.flatMap((c) => c.problems);
  if (problems.length > 0) {
    throw new HyperfillError('E_HYPERTABLE_BLOCKED', `${problems.length === 1 ? 'a hypertable candidate cannot' : 'hypertable candidates cannot'} be converted as they are (nothing was changed):\n  - ${problems.join('\n  - ')}`, {},
      'change the source as said, or leave those tables out of --hypertable; `hyperfill clone --suggest` lists candidates and their problems');
  }
  return candidates;
}

async function isHypertable(client: pg.Client, name: string): Promise<boolean> {
  const r = await client.query(`SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables WHERE format('%s.%s', hypertable_schema, hypertable_name) = $1) AS is`, [name]);
  return r.rows[0].is === true;
}

/** The source's own tables (not an extension's, not TimescaleDB's internals, not hyperfill's). */
async function sourceTables(client: pg.Client, controlSchema: string): Promise<TableName[]> {
  const r = await client.query(`SELECT n.nspname AS schema, c.relname AS table FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname <> ALL ($1) AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname NOT LIKE '\\_timescaledb%'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
    ORDER BY 1, 2`, [['information_schema', controlSchema]]);
  return r.rows.map((row) => ({ schema: row.schema, table: row.table }));
}

/** True: load the schema. False: --if-exists skip and the target has all of it. */
async function checkExistingSchema(target: pg.Client, sourceTables: TableName[], ifExists: 'error' | 'skip'): Promise<boolean> {
  const tables = sourceTables.map(displayName);
  const present: string[] = [];
  for (const t of sourceTables) {
    const r = await target.query('SELECT to_regclass($1) IS NOT NULL AS present', [qualifiedName(t.schema, t.table)]);
    if (r.rows[0].present) present.push(displayName(t));
  }
  if (present.length === 0) return true;
  const some = `${present.slice(0, 5).join(', ')}${present.length > 5 ? `, and ${present.length - 5} more` : ''}`;
  if (ifExists === 'skip' && present.length === tables.length) return false;
  if (ifExists === 'skip') {
    const missing = tables.filter((t) => !present.includes(t));
    throw new HyperfillError('E_TARGET_PARTIAL_SCHEMA', `the target holds ${present.length} of the source's ${tables.length} tables (${some}) but lacks ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`, {},
      'neither a fresh load nor --if-exists skip fits: drop those tables from the target and clone again, or create the missing ones');
  }
  throw new HyperfillError('E_TARGET_HAS_SCHEMA', `the target already holds ${present.length} of the source's ${tables.length} tables (${some}): clone stops and changes nothing`, {},
    'clone into an empty database, or pass --if-exists skip to keep the schema there and do the remaining steps (roles, hypertables, jobs)');
}

async function checkJobOwners(target: pg.Client, jobs: SourceJob[]): Promise<void> {
  const problems = await missingJobOwners(target, jobs);
  if (problems.length === 0) return;
  throw new HyperfillError('E_JOB_OWNER', `the source's jobs cannot be recreated as they are:\n  - ${problems.join('\n  - ')}`, {},
    'a user-defined job runs with its owner\'s privileges, so hyperfill does not hand it to another role: create the role on the target ' +
    '(clone without --no-roles does), or change the job\'s owner on the source; the schema was not loaded');
}

async function cloneSettings(from: pg.Client, candidates: Candidate[], tables: TableName[], timescaleSource: boolean): Promise<CloneSettings> {
  const hypertables = candidates.map((c) => ({ table: `${c.table.schema}.${c.table.table}`, timeColumn: c.timeColumn }));
  if (timescaleSource) {
    const r = await from.query(`SELECT format('%s.%s', d.hypertable_schema, d.hypertable_name) AS t, d.column_name AS c FROM timescaledb_information.dimensions d
      WHERE d.dimension_number = 1 AND d.hypertable_schema NOT LIKE '\\_timescaledb%' ORDER BY 1`);
    hypertables.push(...r.rows.map((row) => ({ table: row.t as string, timeColumn: row.c as string })));
  }
  const timeSeries = new Set(hypertables.map((h) => h.table));
  return { hypertables, relational: tables.map(displayName).filter((t) => !timeSeries.has(t)), timescaleSource };
}

async function loadDump(o: CloneOptions, sourceConfig: ConnectionConfig, tools: ClientTools, candidates: Candidate[],
  tsPlan: TimescalePlan | undefined, from: pg.Client, io: CloneIO, log: (line: string) => void): Promise<number> {
  const dumpArgs = [`--exclude-schema=${pattern(o.controlSchema)}`, ...candidates.map((c) => `--exclude-table-data=${pattern(c.table.schema)}.${pattern(c.table.table)}`)];
  if (tsPlan) dumpArgs.push('--exclude-table-data=_timescaledb_internal.*', `--exclude-table-data=${await jobTable(from)}`);
  const excluded = candidates.length > 0 ? ` without the data of ${candidates.map((c) => `${c.table.schema}.${c.table.table}`).join(', ')}` : '';
  log(`loading the schema and relational data${excluded}${tsPlan ? ' (TimescaleDB: chunk data and jobs left out, in restore mode)' : ''}, in one transaction`);
  const started = performance.now();
  let bytes = 0;
  const timer = o.reportingPeriodMs > 0 || io.stderr.isTTY ? setInterval(() => log(`loading: ${(bytes / 1e6).toFixed(1)} MB of dump`), o.reportingPeriodMs || 2000) : undefined;
  timer?.unref();
  try {
    const load = (prelude?: string) => dumpIntoTarget({ tools, source: sourceConfig, target: o.target, dumpArgs, prelude, onBytes: (n) => { bytes += n; }, signal: io.signal });
    await (tsPlan ? inRestoreMode(o.target, tsPlan, load) : load());
  } finally {
    if (timer) clearInterval(timer);
  }
  log(`loaded ${(bytes / 1e6).toFixed(1)} MB of dump in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return bytes;
}

/** A pg_dump pattern matching exactly this name: double quotes make it literal. */
const pattern = (name: string) => `"${name.replace(/"/g, '""')}"`;
