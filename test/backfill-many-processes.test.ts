/**
 * Scaling out: three backfill processes started at different moments join one plan on a
 * real TimescaleDB, one of them SIGKILLed in the middle of a window. Every window is done
 * exactly once, every process reads the one source snapshot the first exported (relayed by
 * the second after the first died: a row added to the source later is in no window), and the
 * policies stay paused until the last process ends. The moments are made deterministic with
 * row locks a test session holds on dual-written rows: a window's DELETE waits on them.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { type CliResult, runCli } from './helpers/cli.js';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';
import { runMain } from './helpers/run-main.js';

const UNTIL = '2024-01-06T00:00:00Z';
const HYPERTABLE = `CREATE TABLE metrics (time timestamptz NOT NULL, host text NOT NULL, cpu float8, n int);
  SELECT create_hypertable('metrics', by_range('time', INTERVAL '1 day'));
  ALTER TABLE metrics SET (timescaledb.compress, timescaledb.compress_segmentby = 'host')`;
const ROW = (i: number | string) => `SELECT '2024-01-01'::timestamptz + i * interval '1 minute', 'h' || (i % 4), i / 10.0, i FROM generate_series(${i}) i`;
/** Dual-written rows (copies of source rows) in window 10 and window 100 of the hourly plan. */
const GATES = [10 * 60 + 30, 100 * 60 + 30];

describeNative('many processes on one plan', { timescale: true }, () => {
  let server: NativeServer;
  let sourceUrl: string;
  let targetUrl: string;

  before(async () => {
    server = await startNativePostgres({ timescale: true });
    sourceUrl = await server.createDatabase('src');
    targetUrl = await server.createDatabase('dst');
    await server.query(`${HYPERTABLE}; INSERT INTO metrics ${ROW('0, 8639')}`, [], 'src');
    await server.query(`${HYPERTABLE}; INSERT INTO metrics ${GATES.map((g) => ROW(`${g}, ${g}`)).join(' UNION ALL ')}`, [], 'dst');
  });
  after(async () => {
    await server?.stop();
  });

  test('three processes, one killed mid-window: every window once, one snapshot, policies back when the last ends', async () => {
    const job = (await server.query(`SELECT add_compression_policy('metrics', INTERVAL '1 day') AS id`, [], 'dst')).rows[0].id;
    const args = (parallel: number) => ['backfill', '--source', sourceUrl, '--target', targetUrl, '--table', 'metrics', '--until', UNTIL,
      '--window', '1h', '--parallel', String(parallel)];
    const watch = new pg.Client({ connectionString: targetUrl });
    const gate = new pg.Client({ connectionString: targetUrl });
    await Promise.all([watch.connect(), gate.connect()]);
    const until = async (what: string, check: () => Promise<boolean>) => {
      for (let i = 0; i < 2400; i++) {
        if (await check()) return;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      throw new Error(`timed out waiting for ${what}`);
    };
    const waitingOnLocks = async () => Number((await watch.query(
      `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = 'dst' AND application_name LIKE 'hyperfill%' AND wait_event_type = 'Lock'`)).rows[0].n);
    const doneWindows = async () => Number((await watch.query(
      `SELECT count(*) AS n FROM hyperfill.backfill_window WHERE state = 'done'`).catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n);
    const started = (parallel: number) => {
      let child!: ChildProcess;
      let stderr = '';
      const done = runCli(args(parallel), { onSpawn: (c) => { child = c; c.stderr?.on('data', (d) => { stderr += d; }); } });
      return { done, child: () => child, stderr: () => stderr };
    };
    try {
      await gate.query('BEGIN');
      await gate.query(`SELECT * FROM metrics WHERE n = ANY($1) FOR UPDATE`, [GATES]);

      // 1: plans, exports the snapshot, copies windows 0-9 and waits in window 10.
      const first = started(1);
      await until('the first process to wait in window 10', async () => (await waitingOnLocks()) === 1);
      // A row the source gains now, in window 60: no process may copy it, since all read the first snapshot.
      await server.query(`INSERT INTO metrics VALUES ('2024-01-03 12:00:30+00', 'late', 0, -1)`, [], 'src');

      // 2: joins, imports the snapshot and copies the rest, except window 100, where one of its copiers waits.
      const second = started(2);
      await until('the second process to wait in window 100', async () => (await waitingOnLocks()) === 2 && (await doneWindows()) >= 100);
      first.child().kill('SIGKILL');
      const killed: CliResult = await first.done;
      assert.equal(killed.signal, 'SIGKILL');
      const paused = await watch.query('SELECT scheduled FROM timescaledb_information.jobs WHERE job_id = $1', [job]);
      assert.equal(paused.rows[0].scheduled, false, 'paused while processes copy');

      // 3: joins while the second still lives, and imports the snapshot the second re-exported.
      const third = started(1);
      await until('the third process to pin its snapshot', async () => /snapshot/.test(third.stderr()));
      await gate.query('ROLLBACK');
      const results = await Promise.all([second.done, third.done]);
      for (const r of results) assert.equal(r.code, 0, r.stderr);

      assert.match(second.stderr(), /resuming run bf-\w+: 120 windows/);
      assert.match(second.stderr(), /read source snapshot \S+, shared with the other processes of this run/);
      assert.match(third.stderr(), /read source snapshot \S+, shared with the other processes of this run/);
      const windows = await watch.query(`SELECT count(*)::int AS total, count(*) FILTER (WHERE state = 'done')::int AS done, sum(rows)::int AS rows FROM hyperfill.backfill_window`);
      assert.deepEqual(windows.rows[0], { total: 120, done: 120, rows: 7200 });
      const q = `SELECT count(*)::int AS c, count(DISTINCT n)::int AS d, md5(string_agg(time::text || host || cpu::text, ',' ORDER BY n)) AS h
        FROM metrics WHERE time < '${UNTIL}' AND host <> 'late'`;
      const [s, t] = await Promise.all([server.query(q, [], 'src'), server.query(q, [], 'dst')]);
      assert.deepEqual(t.rows[0], s.rows[0]);
      assert.equal(t.rows[0].c, 7200);
      assert.equal((await server.query(`SELECT count(*)::int AS n FROM metrics WHERE host = 'late'`, [], 'dst')).rows[0].n, 0, 'the later source row is in no window');
      const restored = await watch.query('SELECT scheduled FROM timescaledb_information.jobs WHERE job_id = $1', [job]);
      assert.equal(restored.rows[0].scheduled, true, 'restored once the last process ended');
    } finally {
      await gate.query('ROLLBACK').catch(() => undefined);
      await Promise.all([watch.end(), gate.end()]);
    }
    await server.query(`DELETE FROM metrics WHERE host = 'late'`, [], 'src');
    const verify = await runMain(['verify', '--source', sourceUrl, '--target', targetUrl, '--table', 'metrics', '--until', UNTIL, '--window', '1h', '--checksum']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });
});
