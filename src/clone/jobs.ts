/**
 * The source's background jobs (id >= 1000: policies and user-defined actions) in the
 * target, disabled. The dump leaves the job table's rows out; they are inserted here
 * with scheduled = false in the same transaction that records the source's state, so no
 * job ever runs on the half-filled target, and `restore-policies` puts back exactly what
 * the source had.
 *
 * Owners: a policy job runs as the owner of its hypertable (TimescaleDB keeps them equal),
 * and after a --no-owner restore the tables belong to the target's user: policy jobs get
 * that owner, which is safe and what TimescaleDB itself does on ALTER TABLE OWNER. A
 * user-defined job keeps its owner, whose privileges it runs with: that role must exist
 * on the target, else the clone stops before loading anything.
 */
import type pg from 'pg';
import { HyperfillError } from '../errors.js';
import { qualifiedName } from '../sql.js';
import { restoreJobs } from '../target/jobs.js';
import type { CloneRecords } from './records.js';

const OWN_SCHEMAS = ['_timescaledb_functions', '_timescaledb_internal'];

export interface SourceJob {
  id: number;
  procSchema: string;
  procName: string;
  /** As regrole prints it: quoted where needed. */
  owner: string;
  scheduled: boolean;
  hypertableId: number | null;
  /** schema.table of the job's hypertable on the source (for a continuous aggregate's policy: the view). */
  hypertable: string | null;
  /** The whole catalog row, as jsonb. */
  row: Record<string, unknown>;
}

/** The job table: _timescaledb_catalog.bgw_job (2.18+), _timescaledb_config.bgw_job before. */
export async function jobTable(client: pg.Client): Promise<string> {
  const r = await client.query(`SELECT n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relname = 'bgw_job' AND c.relkind = 'r' AND n.nspname IN ('_timescaledb_catalog', '_timescaledb_config') ORDER BY 1 LIMIT 1`);
  const schema = r.rows[0]?.schema as string | undefined;
  if (!schema) throw new HyperfillError('E_TIMESCALE_CATALOG', 'the TimescaleDB job table (bgw_job) was not found', {}, 'is the timescaledb extension installed and of a supported version?');
  return qualifiedName(schema, 'bgw_job');
}

export async function sourceJobs(client: pg.Client, table: string): Promise<SourceJob[]> {
  const r = await client.query(`SELECT j.id, j.proc_schema, j.proc_name, j.owner::text AS owner, j.scheduled, j.hypertable_id, to_jsonb(j) AS row,
      coalesce((SELECT format('%s.%s', a.user_view_schema, a.user_view_name) FROM _timescaledb_catalog.continuous_agg a WHERE a.mat_hypertable_id = j.hypertable_id),
               (SELECT format('%s.%s', h.schema_name, h.table_name) FROM _timescaledb_catalog.hypertable h WHERE h.id = j.hypertable_id)) AS hypertable
    FROM ${table} j WHERE j.id >= 1000 ORDER BY j.id`);
  return r.rows.map((row) => ({
    id: row.id, procSchema: row.proc_schema, procName: row.proc_name, owner: row.owner, scheduled: row.scheduled,
    hypertableId: row.hypertable_id, hypertable: row.hypertable, row: row.row,
  }));
}

const isPolicy = (job: SourceJob) => OWN_SCHEMAS.includes(job.procSchema) && job.hypertableId !== null;

/** User-defined jobs whose owner the target lacks: checked before anything is loaded. */
export async function missingJobOwners(target: pg.Client, jobs: SourceJob[]): Promise<string[]> {
  const problems: string[] = [];
  for (const job of jobs.filter((j) => !isPolicy(j))) {
    const r = await target.query('SELECT to_regrole($1) IS NOT NULL AS present', [job.owner]);
    if (!r.rows[0].present) problems.push(`job ${job.id} (${job.procSchema}.${job.procName}) is owned by role ${job.owner}, which the target does not have`);
  }
  return problems;
}

export interface CopiedJob {
  jobId: number;
  procName: string;
  hypertable: string | null;
  wasScheduled: boolean;
  ownerChange: string | undefined;
}

/** Inserts the jobs the target lacks, disabled, with their records; one transaction. */
export async function copyJobsDisabled(target: pg.Client, table: string, jobs: SourceJob[], records: CloneRecords): Promise<CopiedJob[]> {
  const present = new Set((await target.query(`SELECT id FROM ${table} WHERE id >= 1000`)).rows.map((r) => r.id as number));
  const copied: CopiedJob[] = [];
  await target.query('BEGIN');
  try {
    for (const job of jobs.filter((j) => !present.has(j.id))) {
      const owner = isPolicy(job) ? await hypertableOwner(target, job.hypertableId!) : job.owner;
      await target.query(`INSERT INTO ${table} SELECT * FROM jsonb_populate_record(NULL::${table}, $1::jsonb)`,
        [JSON.stringify({ ...job.row, owner, scheduled: false })]);
      await records.recordJob(target, { jobId: job.id, procName: job.procName, hypertable: job.hypertable, wasScheduled: job.scheduled, sourceOwner: job.owner, targetOwner: owner });
      copied.push({
        jobId: job.id, procName: job.procName, hypertable: job.hypertable, wasScheduled: job.scheduled,
        ownerChange: owner === job.owner ? undefined : `owner ${job.owner} → ${owner} (the owner of its hypertable on the target)`,
      });
    }
    await target.query('COMMIT');
    return copied;
  } catch (err) {
    await target.query('ROLLBACK').catch(() => undefined);
    throw new HyperfillError('E_JOBS_COPY', `the target refused the source's background jobs: ${(err as Error).message}`, {},
      'no job was copied (one transaction): fix the cause and rerun clone with --if-exists skip', err);
  }
}

async function hypertableOwner(target: pg.Client, hypertableId: number): Promise<string> {
  const r = await target.query(`SELECT quote_ident(pg_get_userbyid(c.relowner)) AS owner FROM _timescaledb_catalog.hypertable h
    JOIN pg_class c ON c.oid = format('%I.%I', h.schema_name, h.table_name)::regclass WHERE h.id = $1`, [hypertableId]);
  const owner = r.rows[0]?.owner as string | undefined;
  if (!owner) throw new HyperfillError('E_TIMESCALE_CATALOG', `hypertable ${hypertableId} of a job is missing in the target`, {}, 'the load did not bring the TimescaleDB catalog: rerun clone');
  return owner;
}

/** Puts every disabled job back as the source had it. Inside a transaction (the policy lock's). */
export async function restoreCloneJobs(client: pg.Client, records: CloneRecords): Promise<Array<{ jobId: number; scheduled: boolean }>> {
  const unrestored = (await records.allJobs(client)).filter((j) => !j.restored);
  return restoreJobs(client, unrestored, (jobId) => records.markRestored(client, jobId));
}
