/**
 * The backfill control plane on a real TimescaleDB (2.28 on PostgreSQL 15, started by
 * test/helpers/native-postgres.ts), TimescaleDB to TimescaleDB with compressed chunks on
 * both sides: chunk-aligned windows, --parallel 1 and 4, compression and retention jobs
 * paused and restored exactly (after a failure, and by command after a SIGKILL), dual-written
 * rows inside a compressed chunk replaced once, the continuous aggregate refreshed, and two
 * processes sharing one plan. Expected values come from SQL on the source, never from
 * hyperfill's own output.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { runCli } from './helpers/cli.js';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';
import { runMain } from './helpers/run-main.js';

const UNTIL = '2024-01-06T00:00:00Z';
const HYPERTABLE = `CREATE TABLE metrics (time timestamptz NOT NULL, host text NOT NULL, cpu float8, n int);
  SELECT create_hypertable('metrics', by_range('time', INTERVAL '1 day'));
  ALTER TABLE metrics SET (timescaledb.compress, timescaledb.compress_segmentby = 'host')`;

describeNative('backfill between real TimescaleDB databases', { timescale: true }, () => {
  let server: NativeServer;
  let sourceUrl: string;
  let targetUrl: string;
  const sql = (database: 'src' | 'dst', text: string, params: unknown[] = []) => server.query(text, params, database);

  before(async () => {
    server = await startNativePostgres({ timescale: true });
    sourceUrl = await server.createDatabase('src');
    targetUrl = await server.createDatabase('dst');
    await sql('src', HYPERTABLE);
    // One row a minute from Jan 1 to Jan 7 (8640 rows): 6 daily chunks and part of a 7th;
    // the three oldest are compressed, as a source's old chunks usually are.
    await sql('src', `INSERT INTO metrics SELECT '2024-01-01'::timestamptz + i * interval '1 minute', 'h' || (i % 4), i / 10.0, i FROM generate_series(0, 8639) i`);
    await sql('src', `SELECT compress_chunk(c) FROM show_chunks('metrics', older_than => '2024-01-04'::timestamptz) c`);
  });
  after(async () => {
    await server?.stop();
  });

  /** A fresh target hypertable: dual-write began Jan 5 (those rows sit in a compressed chunk), policies as a user left them. */
  async function prepareTarget(): Promise<{ compression: number; retention: number }> {
    await sql('dst', `DROP MATERIALIZED VIEW IF EXISTS metrics_hourly; DROP TABLE IF EXISTS metrics CASCADE; DROP SCHEMA IF EXISTS hyperfill CASCADE`);
    await sql('dst', HYPERTABLE);
    await sql('dst', `INSERT INTO metrics SELECT '2024-01-01'::timestamptz + i * interval '1 minute', 'h' || (i % 4), i / 10.0, i FROM generate_series(5760, 8639) i`);
    await sql('dst', `SELECT compress_chunk(c) FROM show_chunks('metrics', older_than => '2024-01-06'::timestamptz) c`);
    await sql('dst', `CREATE MATERIALIZED VIEW metrics_hourly WITH (timescaledb.continuous) AS
      SELECT time_bucket('1 hour', time) AS bucket, count(*) AS n FROM metrics GROUP BY 1 WITH NO DATA`);
    // A compression policy that would compress every chunk the moment it runs: the backfill must keep it from running.
    const compression = (await sql('dst', `SELECT add_compression_policy('metrics', INTERVAL '1 day') AS id`)).rows[0].id;
    const retention = (await sql('dst', `SELECT add_retention_policy('metrics', INTERVAL '10 years') AS id`)).rows[0].id;
    await sql('dst', 'SELECT alter_job($1, scheduled => false)', [retention]);
    return { compression, retention };
  }

  async function scheduled(client?: pg.Client): Promise<Record<number, boolean>> {
    const text = `SELECT job_id, scheduled FROM timescaledb_information.jobs WHERE hypertable_name = 'metrics'`;
    const r = client ? await client.query(text) : await sql('dst', text);
    return Object.fromEntries(r.rows.map((row) => [row.job_id, row.scheduled]));
  }

  /** What the source holds below UNTIL plus what dual-write put at or after it, by SQL on each side. */
  async function assertTargetEqualsSource(): Promise<void> {
    const q = `SELECT count(*)::int AS c, count(DISTINCT n)::int AS d, sum(n)::bigint AS s, md5(string_agg(time::text || host || cpu::text, ',' ORDER BY n)) AS h FROM metrics`;
    const [s, t] = await Promise.all([sql('src', q), sql('dst', q)]);
    assert.deepEqual(t.rows[0], s.rows[0], 'every source row exactly once');
  }

  const args = (parallel: number, extra: string[] = []) => ['backfill', '--source', sourceUrl, '--target', targetUrl, '--table', 'metrics',
    '--until', UNTIL, '--parallel', String(parallel), ...extra];

  for (const parallel of [1, 4]) {
    test(`--parallel ${parallel}: chunk windows, compressed chunks both sides, policies restored, continuous aggregate refreshed`, async () => {
      const jobs = await prepareTarget();
      const expected = (await sql('src', `SELECT count(*)::int AS n FROM metrics WHERE time < $1`, [UNTIL])).rows[0].n;
      const replaced = (await sql('dst', `SELECT count(*)::int AS n FROM metrics WHERE time < $1`, [UNTIL])).rows[0].n;
      const run = await runMain(args(parallel));
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, new RegExp(`paused policy jobs ${jobs.compression}, ${jobs.retention}`));
      assert.match(run.stderr, /planned run bf-\w+: 5 windows/, 'one window per source chunk before --until');
      assert.match(run.stdout, new RegExp(`public\\.metrics\\s+5\\s+${expected}\\s+${replaced}`), 'rows copied, dual-written rows in the compressed chunk replaced');
      assert.match(run.stderr, /refreshed continuous aggregate public\.metrics_hourly/);
      assert.deepEqual(await scheduled(), { [jobs.compression]: true, [jobs.retention]: false }, 'jobs as the user left them');
      await assertTargetEqualsSource();
      const cagg = await sql('dst', `SELECT count(*)::int AS buckets, sum(n)::int AS n FROM metrics_hourly WHERE bucket < $1`, [UNTIL]);
      assert.deepEqual(cagg.rows[0], { buckets: 120, n: expected }, 'the aggregate covers the backfilled range');
      const verify = await runMain(['verify', '--source', sourceUrl, '--target', targetUrl, '--table', 'metrics', '--until', UNTIL, '--checksum']);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    });
  }

  test('two processes on one plan: one plans, the other joins; every window once; policies restored by the last', async () => {
    const jobs = await prepareTarget();
    const both = await Promise.all([runCli(args(2, ['--window', '3h'])), runCli(args(2, ['--window', '3h']))]);
    for (const r of both) assert.equal(r.code, 0, r.stderr);
    const planned = both.filter((r) => /planned run bf-\w+: 40 windows/.test(r.stderr)).length;
    const joined = both.filter((r) => /resuming run bf-\w+: 40 windows/.test(r.stderr)).length;
    assert.deepEqual([planned, joined], [1, 1], 'the plan is made once and shared');
    const windows = await sql('dst', `SELECT count(*)::int AS total, count(*) FILTER (WHERE state = 'done')::int AS done, sum(rows)::int AS rows FROM hyperfill.backfill_window`);
    const expected = (await sql('src', `SELECT count(*)::int AS n FROM metrics WHERE time < $1`, [UNTIL])).rows[0].n;
    assert.deepEqual(windows.rows[0], { total: 40, done: 40, rows: expected });
    await assertTargetEqualsSource();
    assert.deepEqual(await scheduled(), { [jobs.compression]: true, [jobs.retention]: false });
  });

  test('a failing window stops the run and the policies are restored', async () => {
    const jobs = await prepareTarget();
    await sql('dst', `ALTER TABLE metrics ADD CONSTRAINT no_h3 CHECK (host <> 'h3' OR time >= '2024-01-03')`);
    const run = await runMain(args(1));
    assert.equal(run.code, 1);
    assert.match(run.stderr, /E_WINDOW_FAILED: window 0 of public\.metrics failed: .*violates check constraint "no_h3"/);
    assert.match(run.stderr, /window=0 \[2024-01-01 00:00:00\+00, 2024-01-02 00:00:00\+00\)/);
    assert.match(run.stderr, new RegExp(`policy jobs restored: ${jobs.compression} \\(scheduled=true\\), ${jobs.retention} \\(scheduled=false\\)`));
    assert.match(run.stderr, /rerun the same command to finish/);
    assert.deepEqual(await scheduled(), { [jobs.compression]: true, [jobs.retention]: false });
  });

  test('after a SIGKILL, restore-policies puts the jobs back as they were, and a rerun finishes exactly', async () => {
    const jobs = await prepareTarget();
    const watcher = new pg.Client({ connectionString: targetUrl });
    await watcher.connect();
    try {
      const killed = await runCli(args(1), {
        onSpawn: (child) => {
          // Kill once the run has paused the compression job: the state a SIGKILL leaves behind.
          const poll = async () => {
            const state = await scheduled(watcher).catch(() => ({}) as Record<number, boolean>);
            if (state[jobs.compression] === false) child.kill('SIGKILL');
            else if (child.exitCode === null && child.signalCode === null) setTimeout(poll, 25);
          };
          void poll();
        },
      });
      assert.equal(killed.signal, 'SIGKILL');
    } finally {
      await watcher.end();
    }
    assert.equal((await scheduled())[jobs.compression], false, 'left paused by the killed run');
    const restore = await runMain(['restore-policies', '--target', targetUrl]);
    assert.equal(restore.code, 0, restore.stderr);
    assert.match(restore.stdout, new RegExp(`job ${jobs.compression}: scheduled=true`));
    assert.deepEqual(await scheduled(), { [jobs.compression]: true, [jobs.retention]: false });
    const rerun = await runMain(args(4));
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.deepEqual(await scheduled(), { [jobs.compression]: true, [jobs.retention]: false });
    await assertTargetEqualsSource();
  });
});

describeNative('backfill into TimescaleDB installed in its own schema', { timescale: true }, () => {
  let server: NativeServer;
  before(async () => {
    server = await startNativePostgres({ timescale: true });
  });
  after(async () => {
    await server?.stop();
  });

  test('the extension in schema "ts", off the search path: policies paused and restored, aggregate refreshed', async () => {
    const sourceUrl = await server.createDatabase('src');
    await server.query(`${HYPERTABLE}; INSERT INTO metrics SELECT '2024-01-01'::timestamptz + i * interval '1 minute', 'h' || (i % 4), i / 10.0, i FROM generate_series(0, 8639) i`, [], 'src');
    await server.query(`CREATE DATABASE dst TEMPLATE template0`);
    const targetUrl = server.url('dst');
    await server.query(`CREATE SCHEMA ts; CREATE EXTENSION timescaledb WITH SCHEMA ts;
      CREATE TABLE metrics (time timestamptz NOT NULL, host text NOT NULL, cpu float8, n int);
      SELECT ts.create_hypertable('metrics', ts.by_range('time', INTERVAL '1 day'));
      ALTER TABLE metrics SET (timescaledb.compress, timescaledb.compress_segmentby = 'host');
      CREATE MATERIALIZED VIEW metrics_hourly WITH (timescaledb.continuous) AS
        SELECT ts.time_bucket('1 hour', time) AS bucket, count(*) AS n FROM metrics GROUP BY 1 WITH NO DATA`, [], 'dst');
    const job = (await server.query(`SELECT ts.add_compression_policy('metrics', INTERVAL '1 day', initial_start => now() + interval '1 day') AS id`, [], 'dst')).rows[0].id;
    const run = await runMain(['backfill', '--source', sourceUrl, '--target', targetUrl, '--table', 'metrics', '--until', UNTIL]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, new RegExp(`paused policy jobs ${job}`));
    assert.match(run.stderr, /refreshed continuous aggregate public\.metrics_hourly/);
    const state = await server.query(`SELECT scheduled FROM timescaledb_information.jobs WHERE job_id = $1`, [job], 'dst');
    assert.equal(state.rows[0].scheduled, true);
    const [s, t] = await Promise.all([
      server.query(`SELECT count(*)::int AS n, sum(n)::bigint AS s FROM metrics WHERE time < $1`, [UNTIL], 'src'),
      server.query(`SELECT count(*)::int AS n, sum(n)::bigint AS s FROM metrics`, [], 'dst'),
    ]);
    assert.deepEqual(t.rows[0], s.rows[0]);
    const cagg = await server.query(`SELECT sum(n)::int AS n FROM metrics_hourly`, [], 'dst');
    assert.equal(cagg.rows[0].n, s.rows[0].n);
  });
});
