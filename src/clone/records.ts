/**
 * What a clone did, kept in the target's control schema: one row per source (what was
 * cloned, when the load and the whole clone finished) and one per TimescaleDB job the
 * clone disabled, with the state the source had, so `restore-policies` puts back exactly
 * that and `status` can say how far the migration is.
 */
import type pg from 'pg';
import { controlTableExists, ensureControlTables } from '../pg/control-schema.js';
import { qualifiedName } from '../sql.js';

export interface CloneSettings {
  /** Target tables that became (or already were, from a TimescaleDB source) hypertables. */
  hypertables: Array<{ table: string; timeColumn: string }>;
  /** Tables cloned with their data. */
  relational: string[];
  timescaleSource: boolean;
}

export interface CloneRun {
  source: string;
  settings: CloneSettings;
  startedAt: Date;
  loadedAt: Date | null;
  finishedAt: Date | null;
}

export interface CloneJob {
  jobId: number;
  procName: string;
  hypertable: string | null;
  wasScheduled: boolean;
  sourceOwner: string;
  targetOwner: string;
  restored: boolean;
}

export class CloneRecords {
  readonly runs: string;
  readonly jobs: string;

  constructor(readonly schema: string) {
    this.runs = qualifiedName(schema, 'clone_run');
    this.jobs = qualifiedName(schema, 'clone_job');
  }

  create(client: pg.Client): Promise<void> {
    return ensureControlTables(client, this.schema, [
      `CREATE TABLE IF NOT EXISTS ${this.runs} (source text PRIMARY KEY, settings jsonb NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(), loaded_at timestamptz, finished_at timestamptz)`,
      `CREATE TABLE IF NOT EXISTS ${this.jobs} (job_id int PRIMARY KEY, proc_name text NOT NULL, hypertable text,
        was_scheduled boolean NOT NULL, source_owner text NOT NULL, target_owner text NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(), restored boolean NOT NULL DEFAULT false)`,
    ]);
  }

  /** A new clone of this source starts over; a rerun keeps the time the load finished. */
  async start(client: pg.Client, source: string, settings: CloneSettings, loaded: boolean): Promise<void> {
    await client.query(`INSERT INTO ${this.runs} (source, settings, loaded_at) VALUES ($1, $2, CASE WHEN $3 THEN now() END)
      ON CONFLICT (source) DO UPDATE SET settings = EXCLUDED.settings, finished_at = NULL,
        loaded_at = CASE WHEN $3 THEN coalesce(${this.runs}.loaded_at, now()) END`, [source, JSON.stringify(settings), loaded]);
  }

  async markLoaded(client: pg.Client, source: string): Promise<void> {
    await client.query(`UPDATE ${this.runs} SET loaded_at = now() WHERE source = $1`, [source]);
  }

  async markFinished(client: pg.Client, source: string): Promise<void> {
    await client.query(`UPDATE ${this.runs} SET finished_at = now() WHERE source = $1`, [source]);
  }

  /** Inside the transaction that inserts the job disabled. */
  async recordJob(client: pg.Client, job: Omit<CloneJob, 'restored'>): Promise<void> {
    await client.query(`INSERT INTO ${this.jobs} (job_id, proc_name, hypertable, was_scheduled, source_owner, target_owner) VALUES ($1, $2, $3, $4, $5, $6)`,
      [job.jobId, job.procName, job.hypertable, job.wasScheduled, job.sourceOwner, job.targetOwner]);
  }

  async markRestored(client: pg.Client, jobId: number): Promise<void> {
    await client.query(`UPDATE ${this.jobs} SET restored = true WHERE job_id = $1`, [jobId]);
  }

  /** Readers: nothing when no clone ever ran against this target. */
  async latestRun(client: pg.Client): Promise<CloneRun | undefined> {
    if (!(await controlTableExists(client, this.schema, 'clone_run'))) return undefined;
    const r = await client.query(`SELECT source, settings, started_at, loaded_at, finished_at FROM ${this.runs} ORDER BY started_at DESC LIMIT 1`);
    const row = r.rows[0];
    return row ? { source: row.source, settings: row.settings, startedAt: row.started_at, loadedAt: row.loaded_at, finishedAt: row.finished_at } : undefined;
  }

  async allJobs(client: pg.Client): Promise<CloneJob[]> {
    if (!(await controlTableExists(client, this.schema, 'clone_job'))) return [];
    const r = await client.query(`SELECT job_id, proc_name, hypertable, was_scheduled, source_owner, target_owner, restored FROM ${this.jobs} ORDER BY job_id`);
    return r.rows.map((row) => ({
      jobId: row.job_id, procName: row.proc_name, hypertable: row.hypertable, wasScheduled: row.was_scheduled,
      sourceOwner: row.source_owner, targetOwner: row.target_owner, restored: row.restored,
    }));
  }
}
