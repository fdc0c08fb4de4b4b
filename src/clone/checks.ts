/**
 * Everything that can stop a clone, found before anything changes: the versions, the
 * client tools, the hypertable candidates' constraints, a schema already in the target,
 * where the TimescaleDB extension must go. (The owners of the source's jobs are checked
 * once the roles are in, still before the load.)
 */
import type pg from 'pg';
import { preflight } from '../backfill/preflight.js';
import { HyperfillError } from '../errors.js';
import { type TableName, displayName } from '../pg/table-name.js';
import type { Source } from '../source.js';
import { qualifiedName } from '../sql.js';
import { type TimescaleInstall, timescaleInstall } from '../target/timescale.js';
import { type Candidate, resolveCandidates } from './candidates.js';
import { type ClientTools, findClientTools } from './client-tools.js';
import { jobTable, missingJobOwners, sourceJobs, type SourceJob } from './jobs.js';
import type { CloneOptions } from './run-clone.js';
import { type TimescalePlan, planTimescaleTarget } from './timescale-restore.js';

export interface Checked {
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
export async function checkBeforeChanging(o: CloneOptions, src: Source, from: pg.Client, to: pg.Client, log: (line: string) => void): Promise<Checked> {
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

export async function checkJobOwners(target: pg.Client, jobs: SourceJob[]): Promise<void> {
  const problems = await missingJobOwners(target, jobs);
  if (problems.length === 0) return;
  throw new HyperfillError('E_JOB_OWNER', `the source's jobs cannot be recreated as they are:\n  - ${problems.join('\n  - ')}`, {},
    'a user-defined job runs with its owner\'s privileges, so hyperfill does not hand it to another role: create the role on the target ' +
    '(clone without --no-roles does), or change the job\'s owner on the source; the schema was not loaded');
}
