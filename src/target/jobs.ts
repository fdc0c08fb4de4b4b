/**
 * Background jobs that must not run during a backfill: compression would compress
 * chunks being written, retention could drop the old chunks being filled.
 */
import type pg from 'pg';
import type { TableName } from '../pg/table-name.js';
import { timescaleFunction } from './timescale.js';

export const PAUSED_PROCS = ['policy_compression', 'policy_retention'];

export interface PolicyJob {
  jobId: number;
  procName: string;
  hypertable: string;
  scheduled: boolean;
}

export async function policyJobs(client: pg.Client, t: TableName): Promise<PolicyJob[]> {
  const r = await client.query(
    `SELECT job_id, proc_name, scheduled FROM timescaledb_information.jobs
     WHERE hypertable_schema = $1 AND hypertable_name = $2 AND proc_name = ANY($3) ORDER BY job_id`,
    [t.schema, t.table, PAUSED_PROCS]);
  return r.rows.map((row) => ({ jobId: row.job_id, procName: row.proc_name, hypertable: `${t.schema}.${t.table}`, scheduled: row.scheduled }));
}

export async function setJobScheduled(client: pg.Client, jobId: number, scheduled: boolean): Promise<void> {
  await client.query(`SELECT ${await timescaleFunction(client, 'alter_job')}($1, scheduled => $2)`, [jobId, scheduled]);
}

export interface RecordedJob {
  jobId: number;
  wasScheduled: boolean;
}

/**
 * Puts each recorded job's schedule back, inside the caller's transaction, marking each
 * done with `markRestored` in the same transaction. A job dropped meanwhile has nothing to
 * restore and is marked all the same.
 */
export async function restoreJobs(client: pg.Client, jobs: RecordedJob[], markRestored: (jobId: number) => Promise<void>): Promise<Array<{ jobId: number; scheduled: boolean }>> {
  const restored: Array<{ jobId: number; scheduled: boolean }> = [];
  for (const job of jobs) {
    await client.query('SAVEPOINT restore_job');
    await setJobScheduled(client, job.jobId, job.wasScheduled).catch(async (err: { code?: string }) => {
      if (err.code !== '42704') throw err;
      await client.query('ROLLBACK TO SAVEPOINT restore_job');
    });
    await markRestored(job.jobId);
    restored.push({ jobId: job.jobId, scheduled: job.wasScheduled });
  }
  return restored;
}
