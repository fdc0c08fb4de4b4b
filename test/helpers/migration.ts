/**
 * The migration the fault tests interrupt: a TimescaleDB source hypertable of 10 days in
 * 1-day chunks (36k rows each: a window lasts long enough for the tests to hold the run in
 * the middle however fast the machine), and targets with a compression policy to pause,
 * where dual-write may have begun. With --until Jan 9 the plan is the 8 chunks before it.
 */
import { LockHolder, Watcher } from './faults.js';
import type { NativeServer } from './native-postgres.js';

export const UNTIL = '2024-01-09T00:00:00Z';
export const WINDOWS = 8;
const DDL = 'CREATE TABLE metrics (time timestamptz NOT NULL, host text, cpu float8, n int)';
const HYPERTABLE = `SELECT create_hypertable('metrics', 'time', chunk_time_interval => interval '1 day')`;

/** Rows before --until, counted and digested by the server: equal on both sides once backfilled. */
export const DIGEST = `SELECT count(*)::int AS c, count(DISTINCT n)::int AS d,
  md5(string_agg(concat_ws('|', time, host, cpu, n), ',' ORDER BY n)) AS h FROM metrics WHERE time < '${UNTIL}'`;

/** 10 days, one row every 2.4 s, in database `source`. */
export async function fillSource(server: NativeServer): Promise<string> {
  const url = await server.createDatabase('source');
  await server.query(`${DDL}; ${HYPERTABLE};
    INSERT INTO metrics SELECT '2024-01-01'::timestamptz + i * interval '2.4 seconds', 'host_' || (i % 20), round((random() * 100)::numeric, 3), i
    FROM generate_series(0, 359999) i; ANALYZE metrics`, [], 'source');
  return url;
}

export interface PolicyTarget {
  db: string;
  url: string;
  /** The compression policy's job, scheduled until a backfill pauses it. */
  jobId: number;
}

/** A target database `db` with the hypertable and a compression policy; with `dualWriteFrom`, the source's rows from then on. */
export async function policyTarget(target: NativeServer, db: string, dualWrite?: { source: NativeServer; from: string }): Promise<PolicyTarget> {
  const url = await target.createDatabase(db);
  await target.query(`${DDL}; ${HYPERTABLE}; ALTER TABLE metrics SET (timescaledb.compress);
    SELECT add_compression_policy('metrics', compress_after => interval '3650 days')`, [], db);
  if (dualWrite) {
    const rows = await dualWrite.source.query(`SELECT time, host, cpu, n FROM metrics WHERE time >= $1`, [dualWrite.from], 'source');
    await target.query(`INSERT INTO metrics SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::float8[], $4::int[])`,
      [rows.rows.map((r) => r.time), rows.rows.map((r) => r.host), rows.rows.map((r) => r.cpu), rows.rows.map((r) => r.n)], db);
  }
  const job = await target.query<{ job_id: number }>(`SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression'`, [], db);
  return { db, url, jobId: job.rows[0]!.job_id };
}

/** Waits until two windows are done, then holds the next two with their COPY open on both sides (a lock on the source table). */
export async function holdWindowsInFlight(source: NativeServer, target: NativeServer, db: string, alive: () => boolean): Promise<LockHolder> {
  const tw = new Watcher(target, db);
  const sw = new Watcher(source);
  try {
    await tw.until('two windows were done', `SELECT count(*) FILTER (WHERE state = 'done')::int AS n FROM hyperfill.backfill_window`, [], (r: { n: number }) => r.n >= 2, alive);
    const lock = await LockHolder.take(source, 'source', 'LOCK TABLE metrics IN ACCESS EXCLUSIVE MODE');
    try {
      await sw.untilBackends('both windows read the source', `wait_event_type = 'Lock' AND query LIKE 'COPY (SELECT%'`, 2, alive);
      await tw.untilBackends('both windows had their COPY open', `query LIKE 'COPY%FROM STDIN%' AND state = 'active'`, 2, alive);
      return lock;
    } catch (err) {
      const targetSessions = await tw.activity();
      await lock.release();
      throw new Error(`${(err as Error).message}; on the target: ${targetSessions}`);
    }
  } finally {
    await Promise.all([tw.close(), sw.close()]);
  }
}

/** The policy job's scheduled flag now. */
export async function jobScheduled(target: NativeServer, db: string, jobId: number): Promise<boolean | undefined> {
  const r = await target.query<{ scheduled: boolean }>('SELECT scheduled FROM timescaledb_information.jobs WHERE job_id = $1', [jobId], db);
  return r.rows[0]?.scheduled;
}
