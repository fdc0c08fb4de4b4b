/**
 * Row estimates of tables the planner has no statistics for: a freshly loaded table was
 * "about 394 rows" to `hyperfill schema`, which then suggested a chunk interval for a
 * table a thousand times smaller. Never-analyzed tables are counted (small ones) or
 * sampled (large ones), and the DDL says which; analyzed tables keep the planner's number.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';

let server: PostgresServer;
let source: string;

before(async () => {
  server = await startPostgres();
  source = await server.createDatabase('estimates');
  // One row a minute for 100k minutes (69.4 days). autovacuum off: nothing analyzes them behind the test's back.
  const fill = (table: string, rows: number, pad: number) => `CREATE TABLE ${table} (time timestamptz NOT NULL, device int, pad text) WITH (autovacuum_enabled = false);
    INSERT INTO ${table} SELECT '2024-01-01'::timestamptz + i * interval '1 minute', i % 10, repeat('x', ${pad}) FROM generate_series(0, ${rows - 1}) i;`;
  await server.query(`${fill('fresh', 100_000, 1)} ${fill('analyzed', 100_000, 1)} ANALYZE analyzed; ${fill('big', 200_000, 300)}`, [], 'estimates');
});
after(async () => {
  await server?.stop();
});

const schema = (table: string) => runMain(['schema', '--source', source, '--table', table, '--time-column', 'time', '--chunk-rows', '10000']);

test('a never-analyzed table is counted, and the DDL says so', async () => {
  const r = await schema('fresh');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /about 100000 rows \(counted: the table has no planner statistics; it was never analyzed\)/);
  // 10000 rows a chunk at one row a minute is 6.9 days: rounded down to 1 day (the 394-row guess gave 30 days).
  assert.match(r.stdout, /chunk interval 1 day: ~1440 rows a chunk/);
});

test('an analyzed table keeps the planner estimate, with no note', async () => {
  const r = await schema('analyzed');
  assert.equal(r.code, 0, r.stderr);
  const rows = Number(/about (\d+) rows/.exec(r.stdout)?.[1]);
  assert.ok(Math.abs(rows - 100_000) <= 1000, `planner estimate ${rows}`);
  assert.doesNotMatch(r.stdout, /never analyzed/);
  assert.match(r.stdout, /chunk interval 1 day/);
});

test('a large never-analyzed table is sampled, and the DDL says how much', async () => {
  const r = await schema('big');
  assert.equal(r.code, 0, r.stderr);
  const match = /about (\d+) rows \(sampled ([\d.]+)% of its pages: the table has no planner statistics; it was never analyzed\)/.exec(r.stdout);
  assert.ok(match, r.stdout);
  const exact = await server.query<{ n: number }>('SELECT count(*)::int AS n FROM big', [], 'estimates');
  const rows = Number(match[1]);
  assert.ok(Math.abs(rows - exact.rows[0]!.n) / exact.rows[0]!.n < 0.1, `sampled estimate ${rows} against ${exact.rows[0]!.n} rows`);
  assert.ok(Number(match[2]) < 100);
});

describeNative('row estimates of a TimescaleDB hypertable source', { timescale: true }, () => {
  let ts: NativeServer;
  let url: string;
  before(async () => {
    ts = await startNativePostgres({ timescale: true });
    url = await ts.createDatabase('hyper');
    await ts.query(`CREATE TABLE small (time timestamptz NOT NULL, device int, pad text) WITH (autovacuum_enabled = false);
      SELECT create_hypertable('small', 'time', chunk_time_interval => interval '7 days');
      INSERT INTO small SELECT '2024-01-01'::timestamptz + i * interval '1 minute', i % 10, 'x' FROM generate_series(0, 99999) i;
      CREATE TABLE large (time timestamptz NOT NULL, device int, pad text) WITH (autovacuum_enabled = false);
      SELECT create_hypertable('large', 'time', chunk_time_interval => interval '7 days');
      INSERT INTO large SELECT '2024-01-01'::timestamptz + i * interval '1 minute', i % 10, repeat('x', 300) FROM generate_series(0, 199999) i;`, [], 'hyper');
  });
  after(async () => {
    await ts?.stop();
  });

  test('chunks never analyzed: the hypertable is counted or sampled', async () => {
    const small = await runMain(['schema', '--source', url, '--table', 'small', '--chunk-rows', '10000']);
    assert.equal(small.code, 0, small.stderr);
    assert.match(small.stdout, /about 100000 rows \(counted: the table has no planner statistics; it was never analyzed\)/);
    const large = await runMain(['schema', '--source', url, '--table', 'large', '--chunk-rows', '10000']);
    assert.equal(large.code, 0, large.stderr);
    const rows = Number(/about (\d+) rows \(sampled [\d.]+% of its pages/.exec(large.stdout)?.[1]);
    assert.ok(Math.abs(rows - 200_000) / 200_000 < 0.1, `sampled estimate ${rows} against 200000 rows: ${large.stdout}`);
    await ts.query('ANALYZE small', [], 'hyper');
    const analyzed = await runMain(['schema', '--source', url, '--table', 'small', '--chunk-rows', '10000']);
    assert.doesNotMatch(analyzed.stdout, /never analyzed/);
    assert.ok(Math.abs(Number(/about (\d+) rows/.exec(analyzed.stdout)?.[1]) - 100_000) <= 1000, analyzed.stdout);
  });
});
