/**
 * The backfill control plane against TimescaleDB (WASM TimescaleDB served over the
 * wire, see test/helpers/timescale-server.ts), TimescaleDB to TimescaleDB: the time
 * column and chunk-aligned windows are discovered, compression and retention jobs
 * are paused and restored exactly (also after a failure and, by command, after a
 * SIGKILL), dual-written rows inside a compressed chunk are replaced once, and the
 * continuous aggregate is refreshed.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { runCli } from './helpers/cli.js';
import { runMain } from './helpers/run-main.js';
import { startTimescale, type TimescaleServer } from './helpers/timescale-server.js';

let source: TimescaleServer;
let target: TimescaleServer;
const UNTIL = '2024-01-06T00:00:00Z';

async function sql(server: TimescaleServer, text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: server.connectionString });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await client.query(text, params);
  } finally {
    await client.end();
  }
}

const HYPERTABLE = `CREATE TABLE metrics (time timestamptz NOT NULL, host text NOT NULL, cpu float8, n int);
  SELECT create_hypertable('metrics', by_range('time', INTERVAL '1 day'));`;

before(async () => {
  [source, target] = await Promise.all([startTimescale({ transactionWaitTimeoutMs: 60_000 }), startTimescale({ transactionWaitTimeoutMs: 60_000 })]);
  await sql(source, HYPERTABLE);
  // One row a minute from Jan 1 to Jan 7 (8640 rows), 6 daily chunks plus part of a 7th.
  await sql(source, `INSERT INTO metrics SELECT '2024-01-01'::timestamptz + i * interval '1 minute', 'h' || (i % 4), i / 10.0, i FROM generate_series(0, 8639) i`);
});
after(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
});

/** A fresh target hypertable: dual-write began Jan 5 (those rows are in a compressed chunk), policies as a user left them. */
async function prepareTarget(): Promise<{ compression: number; retention: number }> {
  await sql(target, `DROP MATERIALIZED VIEW IF EXISTS metrics_hourly; DROP TABLE IF EXISTS metrics; DROP SCHEMA IF EXISTS hyperfill CASCADE`);
  await sql(target, HYPERTABLE);
  await sql(target, `ALTER TABLE metrics SET (timescaledb.compress, timescaledb.compress_segmentby = 'host')`);
  await sql(target, `INSERT INTO metrics SELECT '2024-01-01'::timestamptz + i * interval '1 minute', 'h' || (i % 4), i / 10.0, i FROM generate_series(5760, 8639) i`);
  await sql(target, `SELECT compress_chunk(c) FROM show_chunks('metrics') c WHERE c::text IN
    (SELECT format('%I.%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks WHERE range_start = '2024-01-05 00:00:00+00')`);
  await sql(target, `CREATE MATERIALIZED VIEW metrics_hourly WITH (timescaledb.continuous) AS
    SELECT time_bucket('1 hour', time) AS bucket, count(*) AS n FROM metrics GROUP BY 1 WITH NO DATA`);
  const compression = (await sql(target, `SELECT add_compression_policy('metrics', INTERVAL '30 days') AS id`)).rows[0].id;
  const retention = (await sql(target, `SELECT add_retention_policy('metrics', INTERVAL '10 years') AS id`)).rows[0].id;
  await sql(target, 'SELECT alter_job($1, scheduled => false)', [retention]);
  return { compression, retention };
}

async function scheduled(): Promise<Record<number, boolean>> {
  const r = await sql(target, `SELECT job_id, scheduled FROM timescaledb_information.jobs WHERE hypertable_name = 'metrics'`);
  return Object.fromEntries(r.rows.map((row) => [row.job_id, row.scheduled]));
}

const args = () => ['backfill', '--source', source.connectionString, '--target', target.connectionString, '--table', 'metrics',
  '--until', UNTIL, '--parallel', '1', '--no-snapshot'];

test('TimescaleDB to TimescaleDB: chunk windows, compressed chunk, policies restored, continuous aggregate refreshed', async () => {
  const jobs = await prepareTarget();
  const run = await runMain(args());
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, new RegExp(`paused policy jobs ${jobs.compression}, ${jobs.retention}`));
  assert.match(run.stderr, /planned run bf-\w+: 5 windows/, 'one window per source chunk before --until');
  assert.match(run.stdout, /public\.metrics\s+5\s+7200\s+1440/, '7200 rows copied, 1440 dual-written rows in the compressed chunk replaced');
  assert.match(run.stderr, /refreshed continuous aggregate public\.metrics_hourly/);
  assert.deepEqual(await scheduled(), { [jobs.compression]: true, [jobs.retention]: false }, 'jobs as the user left them');

  const rows = await sql(target, `SELECT count(*)::int AS c, count(DISTINCT n)::int AS d, sum(n)::bigint AS s FROM metrics`);
  assert.deepEqual(rows.rows[0], { c: 8640, d: 8640, s: String((8639 * 8640) / 2) });
  const cagg = await sql(target, `SELECT count(*)::int AS buckets, sum(n)::int AS n FROM metrics_hourly WHERE bucket < $1`, [UNTIL]);
  assert.deepEqual(cagg.rows[0], { buckets: 120, n: 7200 }, 'the aggregate covers the backfilled range');
  const verify = await runMain(['verify', '--source', source.connectionString, '--target', target.connectionString, '--table', 'metrics', '--until', UNTIL, '--checksum']);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});

test('a failing window stops the run and the policies are restored', async () => {
  const jobs = await prepareTarget();
  await sql(target, `ALTER TABLE metrics ADD CONSTRAINT no_h3 CHECK (host <> 'h3' OR time >= '2024-01-03')`);
  const run = await runMain(args());
  assert.equal(run.code, 1);
  assert.match(run.stderr, /E_WINDOW_FAILED: window 0 of public\.metrics failed: .*violates check constraint "no_h3"/);
  assert.match(run.stderr, /window=0 \[2024-01-01 00:00:00\+00, 2024-01-02 00:00:00\+00\)/);
  assert.match(run.stderr, new RegExp(`policy jobs restored: ${jobs.compression} \\(scheduled=true\\), ${jobs.retention} \\(scheduled=false\\)`));
  assert.match(run.stderr, /rerun the same command to finish/);
  assert.deepEqual(await scheduled(), { [jobs.compression]: true, [jobs.retention]: false });
});

test('after a SIGKILL, restore-policies puts the jobs back as they were', async () => {
  const jobs = await prepareTarget();
  const killed = await runCli(args(), {
    onSpawn: (child) => {
      const timer = setInterval(async () => {
        const state = await scheduled().catch(() => ({}) as Record<number, boolean>);
        if (state[jobs.compression] === false) {
          clearInterval(timer);
          child.kill('SIGKILL');
        }
      }, 20);
      child.on('close', () => clearInterval(timer));
    },
  });
  assert.equal(killed.signal, 'SIGKILL');
  assert.equal((await scheduled())[jobs.compression], false, 'left paused by the killed run');
  const restore = await runMain(['restore-policies', '--target', target.connectionString]);
  assert.equal(restore.code, 0, restore.stderr);
  assert.match(restore.stdout, new RegExp(`job ${jobs.compression}: scheduled=true`));
  assert.deepEqual(await scheduled(), { [jobs.compression]: true, [jobs.retention]: false });
  // The rerun then finishes the job and leaves the policies as they were.
  const rerun = await runMain(args());
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.deepEqual(await scheduled(), { [jobs.compression]: true, [jobs.retention]: false });
});
