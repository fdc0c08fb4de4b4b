/**
 * The plan and each window's state, kept in the target (schema `hyperfill` by
 * default). A window is claimed with FOR UPDATE SKIP LOCKED inside the transaction
 * that also deletes, copies and marks it done, so a window is done exactly when its
 * rows are committed, and any number of processes can share one plan.
 */
import type pg from 'pg';
import { ensureControlTables } from '../pg/control-schema.js';
import { qualifiedName } from '../sql.js';
import type { TimeRange } from '../source.js';
import type { RowProblem } from '../transform/batch-transform.js';

export interface PlannedWindow extends TimeRange {
  table: string;
  index: number;
}

export interface WindowResult {
  rows: number;
  deleted: number;
  seconds: number;
  /** How the rows went in ("rows", "direct compress", ...): for the summary, not stored. */
  method?: string;
  /** Why the window went by rows though its table's windows may go as compressed chunks. */
  fallback?: string | undefined;
  /** With --on-conflict: rows the INSERT ... ON CONFLICT inserted, and rows that updated one there. */
  applied?: { inserted: number; updated: number } | undefined;
  /** Rows the target refused and --on-error skip or reject set aside. */
  rejected?: RowProblem[] | undefined;
}

export interface JobRecord {
  jobId: number;
  procName: string;
  hypertable: string;
  wasScheduled: boolean;
}

export class ProgressTable {
  readonly runs: string;
  readonly windows: string;
  readonly jobs: string;
  readonly rejects: string;

  constructor(readonly schema: string, readonly runId: string) {
    this.runs = qualifiedName(schema, 'backfill_run');
    this.windows = qualifiedName(schema, 'backfill_window');
    this.jobs = qualifiedName(schema, 'backfill_job');
    this.rejects = qualifiedName(schema, 'backfill_reject');
  }

  async create(client: pg.Client): Promise<void> {
    await ensureControlTables(client, this.schema, [
      `CREATE TABLE IF NOT EXISTS ${this.runs} (
        run_id text PRIMARY KEY, settings jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), completed_at timestamptz,
        source_snapshot text)`,
      // Added in a later version: a table made before has no such column (ALTER only then: it locks the table).
      async (c) => {
        const column = await c.query(`SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'source_snapshot'`, [this.runs]);
        if (column.rowCount === 0) await c.query(`ALTER TABLE ${this.runs} ADD COLUMN source_snapshot text`);
      },
      `CREATE TABLE IF NOT EXISTS ${this.windows} (
        run_id text NOT NULL REFERENCES ${this.runs} ON DELETE CASCADE, table_name text NOT NULL, idx int NOT NULL,
        start_value numeric NOT NULL, end_value numeric NOT NULL, state text NOT NULL DEFAULT 'pending',
        rows bigint, deleted bigint, seconds float8, finished_at timestamptz, PRIMARY KEY (run_id, table_name, idx))`,
      // claim() takes the first pending window in plan order: without this index each claim sorts the whole plan.
      `CREATE INDEX IF NOT EXISTS backfill_window_pending ON ${this.windows} (run_id, idx, table_name) WHERE state = 'pending'`,
      `CREATE TABLE IF NOT EXISTS ${this.jobs} (
        run_id text NOT NULL REFERENCES ${this.runs} ON DELETE CASCADE, job_id int NOT NULL, proc_name text NOT NULL,
        hypertable text NOT NULL, was_scheduled boolean NOT NULL, restored boolean NOT NULL DEFAULT false, PRIMARY KEY (run_id, job_id))`,
      // --on-error reject: the rows set aside, committed with their window, for the rejects file of a rerun.
      `CREATE TABLE IF NOT EXISTS ${this.rejects} (
        run_id text NOT NULL, table_name text NOT NULL, idx int NOT NULL, n int NOT NULL, input_name text NOT NULL,
        line bigint, row bigint NOT NULL, reason text NOT NULL, raw bytea, PRIMARY KEY (run_id, table_name, idx, n),
        FOREIGN KEY (run_id, table_name, idx) REFERENCES ${this.windows} ON DELETE CASCADE)`,
    ]);
  }

  /**
   * Stores the plan unless this run already has one (then returns that one): a rerun and
   * a second process see the same windows. Serialized by an advisory lock on the run id.
   */
  async ensurePlan(client: pg.Client, settings: object, plan: () => Promise<PlannedWindow[]>): Promise<{ windows: PlannedWindow[]; created: boolean }> {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`hyperfill.backfill:${this.runId}`]);
      const existing = await this.load(client);
      if (existing.length > 0) {
        await client.query('COMMIT');
        return { windows: existing, created: false };
      }
      const windows = await plan();
      await client.query(`INSERT INTO ${this.runs} (run_id, settings) VALUES ($1, $2) ON CONFLICT (run_id) DO UPDATE SET settings = EXCLUDED.settings`,
        [this.runId, JSON.stringify(settings)]);
      for (let i = 0; i < windows.length; i += 1000) {
        const part = windows.slice(i, i + 1000);
        await client.query(`INSERT INTO ${this.windows} (run_id, table_name, idx, start_value, end_value)
          SELECT $1, t, i, s, e FROM unnest($2::text[], $3::int[], $4::numeric[], $5::numeric[]) AS u(t, i, s, e)`,
        [this.runId, part.map((w) => w.table), part.map((w) => w.index), part.map((w) => w.start.toString()), part.map((w) => w.end.toString())]);
      }
      await client.query('COMMIT');
      return { windows, created: true };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  async load(client: pg.Client): Promise<PlannedWindow[]> {
    const r = await client.query(`SELECT table_name, idx, start_value::text AS s, end_value::text AS e FROM ${this.windows} WHERE run_id = $1 ORDER BY table_name, idx`, [this.runId]);
    return r.rows.map((row) => ({ table: row.table_name, index: row.idx, start: BigInt(row.s), end: BigInt(row.e) }));
  }

  /** The stored plan, or none when the progress tables do not exist (no backfill ran here). */
  async loadIfExists(client: pg.Client): Promise<PlannedWindow[]> {
    const r = await client.query('SELECT to_regclass($1) IS NOT NULL AS ok', [this.windows]);
    return r.rows[0].ok ? this.load(client) : [];
  }

  async doneCount(client: pg.Client): Promise<{ done: number; total: number; rows: number }> {
    const r = await client.query(`SELECT count(*) FILTER (WHERE state = 'done') AS done, count(*) AS total, coalesce(sum(rows), 0) AS rows FROM ${this.windows} WHERE run_id = $1`, [this.runId]);
    return { done: Number(r.rows[0].done), total: Number(r.rows[0].total), rows: Number(r.rows[0].rows) };
  }

  /** Inside an open transaction: the next pending window nobody else holds, now locked by us. */
  async claim(client: pg.Client): Promise<PlannedWindow | undefined> {
    const r = await client.query(`SELECT table_name, idx, start_value::text AS s, end_value::text AS e FROM ${this.windows}
      WHERE run_id = $1 AND state = 'pending' ORDER BY idx, table_name LIMIT 1 FOR UPDATE SKIP LOCKED`, [this.runId]);
    const row = r.rows[0];
    return row ? { table: row.table_name, index: row.idx, start: BigInt(row.s), end: BigInt(row.e) } : undefined;
  }

  /** Inside the window's transaction, before COMMIT; `rejects`: rows to keep for the rejects file, named by `inputName`. */
  async markDone(client: pg.Client, w: PlannedWindow, result: WindowResult, rejects?: { inputName: string; rows: readonly RowProblem[] }): Promise<void> {
    await client.query(`UPDATE ${this.windows} SET state = 'done', rows = $4, deleted = $5, seconds = $6, finished_at = now()
      WHERE run_id = $1 AND table_name = $2 AND idx = $3`, [this.runId, w.table, w.index, result.rows, result.deleted, result.seconds]);
    if (rejects && rejects.rows.length > 0) {
      const p = rejects.rows;
      await client.query(`INSERT INTO ${this.rejects} (run_id, table_name, idx, n, input_name, line, row, reason, raw)
        SELECT $1, $2, $3, r.n, $4, r.line, r.row, r.reason, r.raw FROM unnest($5::bigint[], $6::bigint[], $7::text[], $8::bytea[]) WITH ORDINALITY AS r(line, row, reason, raw, n)`,
      [this.runId, w.table, w.index, rejects.inputName, p.map((x) => x.line ?? null), p.map((x) => x.row), p.map((x) => x.reason),
        p.map((x) => (x.raw ? Buffer.from(x.raw.buffer, x.raw.byteOffset, x.raw.byteLength) : null))]);
    }
  }

  /** The rows earlier runs set aside, window by window, `page` at a time (memory stays bounded). */
  async eachReject(client: pg.Client, add: (inputName: string, problems: RowProblem[]) => void, page = 10_000): Promise<void> {
    let after: [number, string, number] = [-1, '', -1];
    for (;;) {
      const r = await client.query(`SELECT idx, table_name, n, input_name, line, row, reason, raw FROM ${this.rejects}
        WHERE run_id = $1 AND (idx, table_name, n) > ($2, $3, $4) ORDER BY idx, table_name, n LIMIT $5`, [this.runId, ...after, page]);
      for (const x of r.rows) add(x.input_name, [{ line: x.line === null ? undefined : Number(x.line), row: Number(x.row), reason: x.reason, raw: x.raw ?? undefined }]);
      const last = r.rows[r.rows.length - 1];
      if (!last || r.rows.length < page) return;
      after = [last.idx, last.table_name, last.n];
    }
  }

  /** Pending windows another process holds right now (locked rows we cannot claim). */
  async busyElsewhere(client: pg.Client): Promise<number> {
    await client.query('BEGIN');
    try {
      const all = await client.query(`SELECT count(*) AS n FROM ${this.windows} WHERE run_id = $1 AND state = 'pending'`, [this.runId]);
      const free = await client.query(`SELECT count(*) AS n FROM (SELECT 1 FROM ${this.windows} WHERE run_id = $1 AND state = 'pending' FOR UPDATE SKIP LOCKED) f`, [this.runId]);
      return Number(all.rows[0].n) - Number(free.rows[0].n);
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
    }
  }

  /** The source snapshot the run's processes share (the latest one exported), if any. */
  async sharedSnapshot(client: pg.Client): Promise<string | undefined> {
    const r = await client.query(`SELECT source_snapshot FROM ${this.runs} WHERE run_id = $1`, [this.runId]);
    return r.rows[0]?.source_snapshot ?? undefined;
  }

  /** Records a snapshot this process exports, for processes that join later. */
  async shareSnapshot(client: pg.Client, id: string): Promise<void> {
    await client.query(`UPDATE ${this.runs} SET source_snapshot = $2 WHERE run_id = $1`, [this.runId, id]);
  }

  async isComplete(client: pg.Client): Promise<boolean> {
    const r = await client.query(`SELECT completed_at IS NOT NULL AS done FROM ${this.runs} WHERE run_id = $1`, [this.runId]);
    return r.rows[0]?.done === true;
  }

  async markComplete(client: pg.Client): Promise<void> {
    await client.query(`UPDATE ${this.runs} SET completed_at = now() WHERE run_id = $1 AND completed_at IS NULL`, [this.runId]);
  }

  /**
   * Pausing and restoring jobs, one transaction at a time across every hyperfill process on
   * this target: two processes altering one job at once fail with "tuple concurrently updated".
   */
  async withPolicyLock<T>(client: pg.Client, work: () => Promise<T>): Promise<T> {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`hyperfill.policies:${this.schema}`]);
      const result = await work();
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  /**
   * The end of a run (continuous aggregate refresh, completion mark, policy restore) by one
   * process at a time: a session lock, since refreshing an aggregate cannot run in a transaction.
   */
  async withRunLock<T>(client: pg.Client, work: () => Promise<T>): Promise<T> {
    const key = `hyperfill.run:${this.schema}.${this.runId}`;
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [key]);
    try {
      return await work();
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [key]).catch(() => undefined);
    }
  }

  /**
   * Records a job's state before we pause it. A record that a run which died left
   * unrestored wins: the job's current "paused" state is ours, not the user's.
   */
  async recordJob(client: pg.Client, job: JobRecord): Promise<void> {
    const earlier = await client.query(`SELECT was_scheduled FROM ${this.jobs} WHERE job_id = $1 AND NOT restored LIMIT 1`, [job.jobId]);
    const wasScheduled = earlier.rows[0]?.was_scheduled ?? job.wasScheduled;
    await client.query(`INSERT INTO ${this.jobs} (run_id, job_id, proc_name, hypertable, was_scheduled) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (run_id, job_id) DO UPDATE SET restored = false, was_scheduled = EXCLUDED.was_scheduled WHERE ${this.jobs}.restored`,
    [this.runId, job.jobId, job.procName, job.hypertable, wasScheduled]);
  }

  async unrestoredJobs(client: pg.Client, anyRun = false): Promise<Array<JobRecord & { runId: string }>> {
    const r = await client.query(`SELECT run_id, job_id, proc_name, hypertable, was_scheduled FROM ${this.jobs}
      WHERE NOT restored AND (run_id = $1 OR $2) ORDER BY job_id`, [this.runId, anyRun]);
    return r.rows.map((row) => ({ runId: row.run_id, jobId: row.job_id, procName: row.proc_name, hypertable: row.hypertable, wasScheduled: row.was_scheduled }));
  }

  /** Every record of the job is settled once its state is back. */
  async markRestored(client: pg.Client, jobId: number): Promise<void> {
    await client.query(`UPDATE ${this.jobs} SET restored = true WHERE job_id = $1`, [jobId]);
  }
}
