/**
 * The backfill data plane on real PostgreSQL (a source and a target database):
 * exact equality after a run, after SIGKILL and a rerun, with 1 and 4 windows in
 * parallel and with two processes sharing one plan; dual-written rows end up once;
 * rows at exactly --until are not copied.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { runCli } from './helpers/cli.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';
import { watchChild } from './helpers/watch-child.js';

let server: PostgresServer;
let sourceUrl: string;
const UNTIL = '2024-01-11T00:00:00Z';
const ROWS = 240_000;
const DDL = 'CREATE TABLE metrics (time timestamptz NOT NULL, host text, cpu float8, mem float8, n int)';

before(async () => {
  server = await startPostgres();
  sourceUrl = await server.createDatabase('source');
  // 240k rows, one every 4 s from Jan 1 to Jan 12, plus a marker row at exactly --until.
  await server.query(`${DDL}; INSERT INTO metrics SELECT '2024-01-01'::timestamptz + i * interval '4 seconds', 'host_' || (i % 50),
    round((random() * 100)::numeric, 3), random(), i FROM generate_series(0, ${ROWS - 1}) i;
    UPDATE metrics SET n = -1, host = 'marker' WHERE time = '${UNTIL}'; CREATE INDEX ON metrics (time);`, [], 'source');
});
after(async () => {
  await server?.stop();
});

/** A target whose dual-write began on Jan 9: it holds the source's rows from then on, except the marker. */
async function freshTarget(name: string): Promise<string> {
  const url = await server.createDatabase(name);
  await server.query(`CREATE EXTENSION IF NOT EXISTS dblink`, [], name).catch(() => undefined);
  await server.query(DDL, [], name);
  const rows = await server.query(`SELECT time, host, cpu, mem, n FROM metrics WHERE time >= '2024-01-09' AND n <> -1`, [], 'source');
  const values = rows.rows;
  for (let i = 0; i < values.length; i += 5000) {
    const part = values.slice(i, i + 5000);
    await server.query(`INSERT INTO metrics SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::float8[], $4::float8[], $5::int[])`,
      [part.map((r) => r.time), part.map((r) => r.host), part.map((r) => r.cpu), part.map((r) => r.mem), part.map((r) => r.n)], name);
  }
  return url;
}

const backfillArgs = (target: string, ...extra: string[]) => ['backfill', '--source', sourceUrl, '--target', target, '--table', 'metrics',
  '--time-column', 'time', '--until', UNTIL, '--allow-plain-target', ...extra];

/** The target equals the source, except the marker row at exactly --until (dual-write never wrote it). */
async function assertConverged(db: string, target: string): Promise<void> {
  const digest = `SELECT count(*)::int AS c, count(DISTINCT n)::int AS d,
    md5(string_agg(concat_ws('|', time, host, cpu, mem, n), ',' ORDER BY n)) AS h FROM metrics WHERE n <> -1`;
  const [s, t] = [await server.query(digest, [], 'source'), await server.query(digest, [], db)];
  assert.equal(t.rows[0].c, t.rows[0].d, 'no row twice');
  assert.deepEqual(t.rows[0], s.rows[0], 'target rows equal source rows');
  const marker = await server.query(`SELECT count(*)::int AS n FROM metrics WHERE n = -1`, [], db);
  assert.equal(marker.rows[0].n, 0, 'the row at exactly --until was not copied');
  for (const mode of [[], ['--checksum']]) {
    const verify = await runMain(['verify', '--source', sourceUrl, '--target', target, '--table', 'metrics', '--time-column', 'time', '--until', UNTIL, ...mode]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /source and target match/);
  }
}

for (const parallel of [1, 4]) {
  test(`--parallel ${parallel}: the target converges to the source, dual-written rows once`, async () => {
    const db = `target_p${parallel}`;
    const target = await freshTarget(db);
    const run = await runMain(backfillArgs(target, '--parallel', String(parallel), '--window', '12h'));
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /public\.metrics\s+20\s+216000\s+43200/, 'windows, rows copied, dual-written rows replaced');
    assert.match(run.stdout, /backfill complete/);
    await assertConverged(db, target);
  });
}

for (const killAfter of [1, 9]) {
  test(`SIGKILL after ${killAfter} windows, then a rerun: identical to an uninterrupted run`, async () => {
    const db = `target_kill${killAfter}`;
    const target = await freshTarget(db);
    const args = backfillArgs(target, '--parallel', '2', '--window', '6h');
    let watched: Promise<boolean> | undefined;
    const first = await runCli(args, {
      onSpawn: (child) => {
        watched = watchChild(child, target, async (c) => (await c.query(`SELECT count(*)::int AS n FROM hyperfill.backfill_window WHERE state = 'done'`)).rows[0].n >= killAfter,
          () => child.kill('SIGKILL'));
      },
    });
    assert.equal(await watched, true, first.stderr);
    assert.equal(first.signal, 'SIGKILL');
    const done = await server.query(`SELECT count(*)::int AS n FROM hyperfill.backfill_window WHERE state = 'done'`, [], db);
    assert.ok(done.rows[0].n >= killAfter && done.rows[0].n < 40, `killed mid-run after ${done.rows[0].n} windows`);
    const again = await runCli(args);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /resuming run bf-/);
    assert.equal(Number(/public\.metrics\s+(\d+)/.exec(again.stdout)?.[1]) + done.rows[0].n, 40, 'the rerun did only the unfinished windows');
    await assertConverged(db, target);
  });
}

test('two processes given the same plan share the windows', async () => {
  const db = 'target_shared';
  const target = await freshTarget(db);
  const args = backfillArgs(target, '--parallel', '1', '--window', '3h');
  const [a, b] = await Promise.all([runCli(args), runCli(args)]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const windows = [a, b].map((r) => Number(/public\.metrics\s+(\d+)/.exec(r.stdout)?.[1]));
  assert.equal((windows[0] ?? 0) + (windows[1] ?? 0), 80, `each window done once: ${windows.join(' + ')}`);
  assert.ok((windows[0] ?? 0) > 0 && (windows[1] ?? 0) > 0, `both processes copied windows: ${windows.join(' + ')}`);
  await assertConverged(db, target);
});

test('bad completion points and tables are clear errors', async () => {
  const target = await freshTarget('target_errors');
  const cases: Array<[string[], RegExp]> = [
    [['--until', '2999-01-01T00:00:00Z'], /E_UNTIL_IN_FUTURE: --until 2999-01-01T00:00:00Z lies in the future/],
    [['--until', 'yesterday'], /E_TIME_VALUE: --until "yesterday" is not an ISO timestamp, and the time column is timestamptz/],
    [['--until', '2024-01-05T00:00:00'], /has no time zone, and the time column is timestamptz/],
    [['--until', '1700000000'], /is not an ISO timestamp/],
  ];
  for (const [flags, message] of cases) {
    const args = backfillArgs(target).filter((a, i, all) => a !== '--until' && all[i - 1] !== '--until');
    const run = await runMain([...args, ...flags]);
    assert.equal(run.code, 1, flags.join(' '));
    assert.match(run.stderr, message);
    assert.doesNotMatch(run.stderr, /\n\s+at /);
  }
  let run = await runMain(['backfill', '--source', sourceUrl, '--target', target, '--table', 'metrics', '--until', UNTIL, '--allow-plain-target']);
  assert.match(run.stderr, /E_TIME_COLUMN_REQUIRED: source table public\.metrics is not a hypertable[\s\S]*--time-column/);
  run = await runMain(backfillArgs(target).filter((a) => a !== '--allow-plain-target'));
  assert.match(run.stderr, /E_TARGET_NOT_TIMESCALE: the target has no timescaledb extension[\s\S]*--allow-plain-target/);
  await server.query('CREATE TABLE other (ts bigint, v int)', [], 'source');
  await server.query('CREATE TABLE other (ts bigint, v int)', [], 'target_errors');
  run = await runMain(['backfill', '--source', sourceUrl, '--target', target, '--table', 'metrics', '--table', 'other', '--time-column', 'time', '--until', UNTIL, '--allow-plain-target']);
  assert.match(run.stderr, /E_COLUMN_MISSING: source table public\.other has no column "time"/);
});

test('plan suggests --until after the first dual-written row, and warns when the target misses rows', async () => {
  const target = await freshTarget('target_plan');
  const planArgs = ['plan', '--source', sourceUrl, '--target', target, '--table', 'metrics', '--time-column', 'time'];
  let run = await runMain(planArgs);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /public\.metrics\s+2024-01-09 00:00:00\+00\s+2024-01-09 01:00:00\+00/);
  assert.doesNotMatch(run.stdout, /warning/);
  run = await runMain([...planArgs, '--max-lateness', '1d', '--align', '1d']);
  assert.match(run.stdout, /2024-01-10 00:00:00\+00/);
  await server.query(`DELETE FROM metrics WHERE time >= '2024-01-09 00:30' AND time < '2024-01-09 00:40'`, [], 'target_plan');
  run = await runMain(planArgs);
  assert.match(run.stdout, /warning: public\.metrics: the target has 750 rows in \[2024-01-09 00:00:00\+00, 2024-01-09 01:00:00\+00\) but the source 900/);
});

test('source and target from the environment (HYPERFILL_SOURCE, DATABASE_URL): no password on the command line', async () => {
  const target = await freshTarget('from_env');
  const run = await runCli(['backfill', '--table', 'metrics', '--time-column', 'time', '--until', UNTIL, '--allow-plain-target'],
    { env: { HYPERFILL_SOURCE: sourceUrl, DATABASE_URL: target } });
  assert.equal(run.code, 0, run.stderr);
  assert.doesNotMatch(run.stdout + run.stderr, new RegExp(server.password));
  await assertConverged('from_env', target);
});

test('data that ends long before --until: windows sized by the data for every stream, one window for the empty tail', async () => {
  const src = await server.createDatabase('short_source');
  // 50k rows over one day; --until two months later.
  await server.query(`${DDL}; INSERT INTO metrics SELECT '2024-03-01'::timestamptz + i * interval '1728 ms', 'h', 0, 0, i FROM generate_series(0, 49999) i`, [], 'short_source');
  const target = await server.createDatabase('short_target');
  await server.query(DDL, [], 'short_target');
  const run = await runMain(['backfill', '--source', src, '--target', target, '--table', 'metrics', '--time-column', 'time',
    '--until', '2024-05-01T00:00:00Z', '--allow-plain-target', '--parallel', '2']);
  assert.equal(run.code, 0, run.stderr);
  const windows = (await server.query(`SELECT start_value::bigint AS s, end_value::bigint AS e, rows FROM hyperfill.backfill_window ORDER BY idx`, [], 'short_target')).rows
    .map((w) => ({ s: Number(w.s) / 1000, e: Number(w.e) / 1000, rows: Number(w.rows) }));
  const lastRow = Date.parse('2024-03-01T00:00:00Z') + 49_999 * 1728;
  const tail = windows.filter((w) => w.s > lastRow);
  assert.equal(tail.length, 1, `one window past the last row: ${JSON.stringify(windows)}`);
  assert.equal(tail[0]?.e, Date.parse('2024-05-01T00:00:00Z'));
  assert.ok(windows.filter((w) => w.rows > 0).length >= 4, `at least two windows of rows per stream: ${JSON.stringify(windows)}`);
  assert.equal(windows.reduce((n, w) => n + w.rows, 0), 50_000);
  assert.deepEqual((await server.query('SELECT count(*)::int AS n, sum(n)::bigint AS s FROM metrics', [], 'short_target')).rows,
    [{ n: 50_000, s: String((49_999 * 50_000) / 2) }]);
});

test('--parallel 1 streams one window at a time; the copier waiting for its turn holds no transaction open', async () => {
  const db = 'target_turns';
  const target = await freshTarget(db);
  // A target that ends sessions idle in a transaction for 300 ms: a copier holding a claimed window while it waits would be cut off.
  await server.query(`ALTER DATABASE ${db} SET idle_in_transaction_session_timeout = '300ms'`);
  const gate = new pg.Client({ connectionString: target });
  await gate.connect();
  try {
    // The first window's DELETE waits behind this lock for 1.5 s: its copier is busy, the spare one waits for the stream.
    await gate.query('SET idle_in_transaction_session_timeout = 0');
    await gate.query('BEGIN');
    await gate.query('LOCK TABLE metrics IN SHARE MODE');
    const running = runMain(backfillArgs(target, '--parallel', '1', '--window', '12h'));
    const seen = { windowConnections: 0, idleInTransaction: 0, copying: 0 };
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      const r = await server.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE state = 'idle in transaction')::int AS idle,
        count(*) FILTER (WHERE query LIKE 'DELETE%' OR query LIKE 'COPY%')::int AS copying
        FROM pg_stat_activity WHERE datname = $1 AND application_name = 'hyperfill window'`, [db]);
      seen.windowConnections = Math.max(seen.windowConnections, r.rows[0].n);
      seen.idleInTransaction += r.rows[0].idle;
      seen.copying = Math.max(seen.copying, r.rows[0].copying);
    }
    await gate.query('COMMIT');
    const run = await running;
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(seen, { windowConnections: 2, idleInTransaction: 0, copying: 1 }, 'two copiers, one streaming, none idle in a transaction');
    assert.doesNotMatch(run.stderr, /retrying/, 'no copier was cut off');
    await assertConverged(db, target);
  } finally {
    await gate.end();
  }
});
