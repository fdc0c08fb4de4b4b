/**
 * `hyperfill restore-policies`: every job hyperfill left paused goes back to its recorded
 * state: the policies a backfill paused (backfill_job) and the jobs a clone copied
 * disabled from a TimescaleDB source (clone_job). With catch-up, each paused compression
 * policy that was scheduled first has its backlog compressed by hand; the jobs are
 * restored only once that is done, so an interrupted catch-up leaves them paused for a rerun.
 */
import type pg from 'pg';
import { restorePolicies } from '../backfill/policies.js';
import type { ProgressTable } from '../backfill/progress-table.js';
import { catchUpPlan, runCatchUp } from '../target/compression-catch-up.js';
import { timescaleInstall } from '../target/timescale.js';
import { restoreCloneJobs } from './jobs.js';
import type { CloneRecords } from './records.js';

export interface RestoreOptions {
  /** Restore every backfill run's jobs (no --run-id); the clone's jobs go with them. */
  anyRun: boolean;
  catchUp: boolean;
  maxChunksPerMinute: number | undefined;
  log: (line: string) => void;
  signal?: AbortSignal | undefined;
}

export interface RestoreResult {
  restored: Array<{ jobId: number; scheduled: boolean }>;
  compressedChunks: number;
}

export async function restoreAllPolicies(client: pg.Client, progress: ProgressTable, records: CloneRecords, o: RestoreOptions): Promise<RestoreResult> {
  const ts = await timescaleInstall(client);
  let compressedChunks = 0;
  if (o.catchUp && ts) {
    const paused = [
      ...(await progress.unrestoredJobs(client, o.anyRun)),
      ...(o.anyRun ? (await records.allJobs(client)).filter((j) => !j.restored) : []),
    ].filter((j) => j.procName === 'policy_compression' && j.wasScheduled);
    for (const jobId of new Set(paused.map((j) => j.jobId))) {
      const plan = await catchUpPlan(client, ts.schema, jobId);
      if (!plan) {
        o.log(`restore-policies: job ${jobId}: its rule cannot be evaluated by hand (an integer time column without an integer_now function?): no catch-up, the policy does it`);
        continue;
      }
      o.log(`restore-policies: job ${jobId} (${plan.hypertable}, ${plan.rule}): ${plan.chunks.length} chunks to compress`);
      compressedChunks += await runCatchUp(client, ts.schema, plan, { maxPerMinute: o.maxChunksPerMinute, log: o.log, signal: o.signal });
    }
  }
  const restored = await restorePolicies(client, progress, o.anyRun);
  if (o.anyRun && ts) restored.push(...(await progress.withPolicyLock(client, () => restoreCloneJobs(client, records))));
  return { restored, compressedChunks };
}
