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
