/**
 * Pausing and restoring the target's compression and retention jobs around a
 * backfill. The state before pausing is written to the progress table first, so a
 * restore after any failure (or `hyperfill restore-policies` after a SIGKILL) puts
 * back exactly what was scheduled. Each is one transaction (under the policy lock), so
 * a step cut short by a lost connection is simply run again.
 */
import type pg from 'pg';
import type { TableName } from '../pg/table-name.js';
import { policyJobs, restoreJobs, setJobScheduled } from '../target/jobs.js';
import type { ProgressTable } from './progress-table.js';

export async function pausePolicies(client: pg.Client, progress: ProgressTable, hypertables: TableName[]): Promise<number[]> {
  return progress.withPolicyLock(client, async () => {
    const paused: number[] = [];
    for (const table of hypertables) {
      for (const job of await policyJobs(client, table)) {
        await progress.recordJob(client, { jobId: job.jobId, procName: job.procName, hypertable: job.hypertable, wasScheduled: job.scheduled });
        if (job.scheduled) await setJobScheduled(client, job.jobId, false);
        paused.push(job.jobId);
      }
    }
    return paused;
  });
}

/** Restores every job this run (or, with `anyRun`, any run) paused and did not restore yet. */
export async function restorePolicies(client: pg.Client, progress: ProgressTable, anyRun = false): Promise<Array<{ jobId: number; scheduled: boolean }>> {
  return progress.withPolicyLock(client, async () =>
    restoreJobs(client, await progress.unrestoredJobs(client, anyRun), (jobId) => progress.markRestored(client, jobId)));
}
