/**
 * `hyperfill clone` from a real TimescaleDB 2.28 source (hypertable with compressed
 * chunks, a continuous aggregate, compression and retention policies, a user-defined job
 * owned by its own role, one job the source keeps paused) into a TimescaleDB target, then
 * backfill, verify and `restore-policies --catch-up`: the jobs come back as the source has
 * them, the backlog is compressed, the aggregate is refreshed. Also: a job owner the
 * target lacks stops the clone before loading; the extension in a schema other than
 * public. Expected values come from SQL on the servers, never from hyperfill.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';
import { runMain } from './helpers/run-main.js';
import { digest, rows } from './helpers/table-digest.js';

let source: NativeServer;
let target: NativeServer;
const UNTIL = '2024-01-05T00:00:00Z';
/** One row a minute from 2024-01-01 for six days: 8640 rows, six daily chunks. */
const metricRows = (from: number, to: number) =>
  `SELECT '2024-01-01'::timestamptz + i * interval '1 minute', i % 5, i / 7.0 FROM generate_series(${from}, ${to}) i`;

const JOBS = `SELECT job_id, proc_schema, proc_name, owner::text, scheduled, schedule_interval::text, config FROM timescaledb_information.jobs WHERE job_id >= 1000 ORDER BY 1`;

describeNative('clone from TimescaleDB into TimescaleDB', { timescale: true }, () => {
  before(async () => {
    [source, target] = await Promise.all([startNativePostgres({ timescale: true }), startNativePostgres({ timescale: true })]);
    await source.createDatabase('tsapp');
    await source.query(`CREATE ROLE etl_owner LOGIN`);
    const setup = [
      'CREATE TABLE devices (id int PRIMARY KEY, name text NOT NULL)',
      `INSERT INTO devices SELECT i, 'device ' || i FROM generate_series(0, 4) i`,
      'CREATE TABLE metrics (time timestamptz NOT NULL, device_id int NOT NULL REFERENCES devices, v float8)',
      `SELECT create_hypertable('metrics', by_range('time', INTERVAL '1 day'))`,
      `INSERT INTO metrics ${metricRows(0, 8639)}`,
      `ALTER TABLE metrics SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id')`,
      `SELECT compress_chunk(c) FROM show_chunks('metrics', older_than => '2024-01-04'::timestamptz) c`,
      `SELECT add_compression_policy('metrics', INTERVAL '7 days')`,
      `SELECT add_retention_policy('metrics', INTERVAL '10 years')`,
      `CREATE MATERIALIZED VIEW metrics_hourly WITH (timescaledb.continuous) AS
         SELECT time_bucket('1 hour', time) AS bucket, device_id, count(*) AS n, sum(v) AS total FROM metrics GROUP BY 1, 2`,
      `SELECT add_continuous_aggregate_policy('metrics_hourly', start_offset => NULL, end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour')`,
      `CREATE PROCEDURE tidy(job_id int, config jsonb) LANGUAGE plpgsql AS $$ BEGIN PERFORM 1; END $$`,
      'GRANT EXECUTE ON PROCEDURE tidy TO etl_owner',
      `SET ROLE etl_owner; SELECT add_job('tidy', '1 day', config => '{"keep": 3}'); RESET ROLE`,
      `SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention'`,
    ];
    for (const sql of setup) await source.query(sql, [], 'tsapp');
  });
  after(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
  });

  const clone = (db: string, extra: string[] = []) => runMain(['clone', '--source', source.url('tsapp'), '--target', target.url(db), ...extra]);

  test('a user-defined job whose owner the target lacks stops the clone before anything is loaded', async () => {
    await target.createDatabase('noroles');
    const run = await clone('noroles', ['--no-roles']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /E_JOB_OWNER: the source's jobs cannot be recreated as they are:\n {2}- job 1003 \(public\.tidy\) is owned by role etl_owner, which the target does not have/);
    assert.match(run.stderr, /clone without --no-roles does/);
    assert.deepEqual(await rows(target, 'noroles', `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`), [{ n: 0 }]);
  });

  test('clone: relational rows equal, hypertables empty, every job copied disabled with its state recorded', async () => {
    await target.createDatabase('tsapp');
    const run = await clone('tsapp');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /TimescaleDB: chunk data and jobs left out, in restore mode/);
    assert.match(run.stderr, /job 1000 \(policy_compression on public\.metrics\): disabled, scheduled=true in the source/);
    assert.match(run.stderr, /job 1001 \(policy_retention on public\.metrics\): disabled, scheduled=false in the source/);
    assert.match(run.stderr, /job 1002 \(policy_refresh_continuous_aggregate on public\.metrics_hourly\): disabled/);
    assert.deepEqual(await digest(target, 'tsapp', 'devices'), await digest(source, 'tsapp', 'devices'));
    assert.deepEqual(await rows(target, 'tsapp', 'SELECT count(*)::int AS n FROM metrics'), [{ n: 0 }]);
    assert.deepEqual(await rows(target, 'tsapp', `SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1`), [{ hypertable_name: 'metrics' }]);
    assert.deepEqual(await rows(target, 'tsapp', `SELECT view_name FROM timescaledb_information.continuous_aggregates`), [{ view_name: 'metrics_hourly' }]);

    const sourceJobs = await rows(source, 'tsapp', JOBS);
    const targetJobs = await rows(target, 'tsapp', JOBS);
    assert.equal(sourceJobs.length, 4);
    assert.deepEqual(targetJobs, sourceJobs.map((j) => ({ ...j, scheduled: false })), 'the same jobs, all disabled');
    assert.deepEqual(await rows(target, 'tsapp', 'SELECT job_id, was_scheduled FROM hyperfill.clone_job ORDER BY 1'),
      sourceJobs.map((j) => ({ job_id: j.job_id, was_scheduled: j.scheduled })));
    assert.deepEqual(await rows(target, 'tsapp', `SELECT current_setting('timescaledb.restoring') AS restoring`), [{ restoring: 'off' }], 'out of restore mode');
  });

  test('backfill and verify, then restore-policies --catch-up: backlog compressed, jobs as the source has them, aggregate refreshed', async () => {
    await target.query(`INSERT INTO metrics ${metricRows(5760, 8639)}`, [], 'tsapp'); // dual-write since Jan 5
    const range = ['--source', source.url('tsapp'), '--target', target.url('tsapp'), '--table', 'metrics', '--until', UNTIL];
    const backfill = await runMain(['backfill', ...range, '--parallel', '2']);
    assert.equal(backfill.code, 0, backfill.stderr);
    assert.match(backfill.stderr, /refreshed continuous aggregate public\.metrics_hourly/);
    const verify = await runMain(['verify', ...range, '--checksum']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.deepEqual(await digest(target, 'tsapp', 'metrics'), await digest(source, 'tsapp', 'metrics'));
    // Sums of floats depend on the order rows are added in: compared to 9 digits.
    const hourly = `SELECT bucket, device_id, n, round(total::numeric, 9) AS total FROM metrics_hourly WHERE bucket < '${UNTIL}'`;
    const [s, t] = await Promise.all([rows(source, 'tsapp', `${hourly} ORDER BY 1, 2`), rows(target, 'tsapp', `${hourly} ORDER BY 1, 2`)]);
    assert.equal(s.length, 96 * 5);
    assert.deepEqual(t, s, 'the aggregate holds what the source\'s does for the backfilled range');

    const status = await runMain(['status', '--source', source.url('tsapp'), '--target', target.url('tsapp'), '--json']);
    assert.equal(status.code, 0, status.stderr);
    const report = JSON.parse(status.stdout);
    assert.deepEqual(report.tables[0].pausedJobs.map((j: { jobId: number; by: string }) => `${j.jobId} ${j.by}`), ['1000 clone', '1001 clone', '1002 clone']);
    assert.equal(report.tables[0].next, 'hyperfill restore-policies --target TARGET --catch-up');

    // What the compression policy (compress_after 7 days) would have compressed by now: every chunk not fully compressed.
    const backlog = `SELECT count(*)::int AS n FROM _timescaledb_catalog.chunk c JOIN _timescaledb_catalog.hypertable h ON h.id = c.hypertable_id
      WHERE h.table_name = 'metrics' AND ((c.status & 1) = 0 OR (c.status & 8) <> 0)`;
    const [{ n: pending }] = await rows(target, 'tsapp', backlog);
    assert.ok(pending >= 3, `chunks to compress: ${pending}`);
    const restore = await runMain(['restore-policies', '--target', target.url('tsapp'), '--catch-up', '--max-chunks-per-minute', '600']);
    assert.equal(restore.code, 0, restore.stderr);
    assert.match(restore.stderr, new RegExp(`job 1000 \\(public\\.metrics, compress_after 7 days\\): ${pending} chunks to compress`));
    assert.match(restore.stdout, new RegExp(`caught up: ${pending} chunks compressed`));
    assert.deepEqual(await rows(target, 'tsapp', backlog), [{ n: 0 }]);
    assert.deepEqual(await rows(target, 'tsapp', JOBS), await rows(source, 'tsapp', JOBS), 'every job back as the source has it');
    assert.deepEqual(await digest(target, 'tsapp', 'metrics'), await digest(source, 'tsapp', 'metrics'), 'compression kept every row');
    const again = await runMain(['status', '--source', source.url('tsapp'), '--target', target.url('tsapp'), '--json']);
    assert.match(JSON.parse(again.stdout).next, /every table is backfilled, verified and its jobs restored/);
  });

  test('the extension in a schema other than public: the target\'s, still unused, makes way for the source\'s', async () => {
    await source.query('CREATE DATABASE tsschema TEMPLATE template0');
    for (const sql of [
      'CREATE SCHEMA ts', 'CREATE EXTENSION timescaledb WITH SCHEMA ts',
      'CREATE TABLE readings (time timestamptz NOT NULL, v int)',
      `SELECT ts.create_hypertable('readings', ts.by_range('time', INTERVAL '1 day'))`,
      `INSERT INTO readings SELECT '2024-01-01'::timestamptz + i * interval '1 hour', i FROM generate_series(0, 99) i`,
      `CREATE MATERIALIZED VIEW readings_daily WITH (timescaledb.continuous) AS SELECT ts.time_bucket('1 day', time) AS day, sum(v) AS v FROM readings GROUP BY 1`,
      `SELECT ts.add_retention_policy('readings', INTERVAL '20 years')`,
    ]) await source.query(sql, [], 'tsschema');
    await target.createDatabase('tsschema');
    const run = await runMain(['clone', '--source', source.url('tsschema'), '--target', target.url('tsschema'), '--no-roles']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /dropped the target's unused timescaledb extension from schema "public": the load creates it in "ts", as in the source/);
    assert.deepEqual(await rows(target, 'tsschema', `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE extname = 'timescaledb'`), [{ nspname: 'ts' }]);
    assert.deepEqual(await rows(target, 'tsschema', `SELECT view_name FROM timescaledb_information.continuous_aggregates`), [{ view_name: 'readings_daily' }]);
    const restore = await runMain(['restore-policies', '--target', target.url('tsschema')]);
    assert.equal(restore.code, 0, restore.stderr);
    assert.deepEqual(await rows(target, 'tsschema', JOBS), await rows(source, 'tsschema', JOBS));
  });
});
