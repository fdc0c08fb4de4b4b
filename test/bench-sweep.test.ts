/**
 * `hyperfill bench` against a real PostgreSQL (tiny sizes): sweeps end to end, the
 * report holds the measured numbers, the scratch table is gone after a normal run and
 * after SIGINT, the user's tables are untouched, a user who may not create tables gets
 * a clear error, and the --source read path.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from './helpers/cli.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';
import { tempDir } from './helpers/temp-dir.js';
import { watchChild } from './helpers/watch-child.js';

let server: PostgresServer;
const dir = tempDir('bench');
const TINY = ['--scale', '10', '--rows', '3000'];

before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
});

/** Every relation outside the system schemas, and schemas named like the benchmark's. */
async function userObjects(): Promise<string[]> {
  const r = await server.query(`SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') UNION ALL
    SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname LIKE 'hyperfill%' ORDER BY 1`);
  return r.rows.map((row) => row.name);
}

test('a sweep runs end to end: a cell per pair, JSON and HTML report with the measured numbers, nothing left behind', async () => {
  await server.query('CREATE TABLE users_data (id int PRIMARY KEY, v text); INSERT INTO users_data SELECT i, md5(i::text) FROM generate_series(1, 100) i');
  const userData = () => server.query('SELECT count(*)::int AS n, md5(string_agg(id || \':\' || v, \',\' ORDER BY id)) AS d FROM users_data').then((r) => r.rows[0]);
  const dataBefore = await userData();
  const before = await userObjects();
  const report = join(dir, 'bench.html');
  const run = await runMain(['bench', '--target', server.url(), ...TINY, '--workers', '2,1', '--batch-size', '500,1000', '--report', report, '--json']);
  assert.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  const cells = result.target.cells;
  assert.deepEqual(cells.map((c: { workers: number; batchSize: number }) => [c.workers, c.batchSize]), [[1, 500], [2, 500], [1, 1000], [2, 1000]]);
  for (const c of cells) {
    assert.equal(c.rows, 3000);
    assert.equal(c.batches, 3000 / c.batchSize);
    assert.ok(c.rowsPerSecond > 0 && c.mbPerSecond > 0 && c.seconds > 0, JSON.stringify(c));
    assert.ok(c.latencyMs.p50 > 0 && c.latencyMs.p99 >= c.latencyMs.p50, JSON.stringify(c.latencyMs));
    assert.ok(c.clientCpuSeconds >= 0 && c.clientCpuPercent >= 0);
    assert.ok(c.bytes > 3000 * 100, 'TSBS-like rows are over 100 bytes');
  }
  assert.equal(result.target.hypertable, false);
  assert.equal(result.target.timescaledb, null);
  assert.doesNotMatch(run.stdout + run.stderr, /hyperfill-embedded/, 'the password is never printed');
  assert.match(run.stderr, /WITHOUT TimescaleDB: benchmarking a PLAIN TABLE/);
  assert.match(run.stderr, /cell 4\/4: --workers 2 --batch-size 1000: /);
  assert.match(run.stderr, /dropped the scratch table hyperfill_bench\.hyperfill_bench_cpu_[0-9a-f]{8}/);
  const rec = result.target.recommendation;
  assert.match(rec.text, new RegExp(`^use --workers ${rec.workers} --batch-size ${rec.batchSize}: `));

  const html = readFileSync(report, 'utf8');
  assert.match(html, /^<!doctype html>/);
  assert.doesNotMatch(html, /<script[^>]*\bsrc=|<link\b|https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'opens without a server or network');
  const embedded = JSON.parse(/<script type="application\/json" id="hyperfill-bench-data">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? 'null');
  assert.deepEqual(embedded.target.cells, cells, 'the report holds the numbers printed on stdout');
  for (const c of cells) assert.ok(html.includes(`data-rows-per-second="${Math.round(c.rowsPerSecond)}"`), 'each cell is a point of the chart');
  assert.ok(html.includes(rec.text.replace(/&/g, '&amp;')));

  assert.deepEqual(await userObjects(), before, 'the scratch table and the schema it created are gone; the user table is as it was');
  assert.deepEqual(await userData(), dataBefore, 'the user\'s rows are as they were');
  assert.equal(dataBefore.n, 100);
});

test('text output: a table and the recommendation on stdout, progress on stderr; an SVG report', async () => {
  const report = join(dir, 'bench.svg');
  const run = await runMain(['bench', '--target', server.url(), ...TINY, '--workers', '1', '--batch-size', '1000', '--report', report]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^target \(plain table: the target has no TimescaleDB\):\nworkers\s+batch\s+rows\s+seconds\s+rows\/s\s+MB\/s\s+p50 ms\s+p99 ms\s+client CPU\n/);
  assert.match(run.stdout, /\n\s+1\s+1000\s+3000\s/);
  assert.match(run.stdout, /\nuse --workers 1 --batch-size 1000: [\d.]+k? rows\/s \([\d.]+ MB\/s\)\n$/);
  assert.doesNotMatch(run.stdout, /bench:/, 'notes stay on stderr');
  const svg = readFileSync(report, 'utf8');
  assert.match(svg, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\n$/);
  assert.match(svg, /data-workers="1" data-rows-per-second="\d+"/);
});

test('--keep keeps the scratch table with the last cell\'s rows, in the schema given; --repeat reports the median run', async () => {
  const run = await runMain(['bench', '--target', server.url(), ...TINY, '--workers', '1', '--batch-size', '1000', '--schema', 'public', '--keep', '--repeat', '3', '--json']);
  assert.equal(run.code, 0, run.stderr);
  const cell = JSON.parse(run.stdout).target.cells[0];
  assert.equal(cell.runs.length, 3);
  assert.equal(cell.rowsPerSecond, [...cell.runs].sort((a: number, b: number) => a - b)[1]);
  assert.match(run.stderr, /cell 1\/1: --workers 1 --batch-size 1000: [\d.]+k? rows\/s \(runs [\d.]+k?-[\d.]+k?\)/);
  const table = JSON.parse(run.stdout).target.table as string;
  assert.match(table, /^public\.hyperfill_bench_cpu_[0-9a-f]{8}$/);
  assert.match(run.stderr, /kept the scratch table/);
  const r = await server.query(`SELECT count(*)::int AS n, count(DISTINCT hostname)::int AS hosts, min(time) AS lo FROM ${table}`);
  assert.deepEqual([r.rows[0].n, r.rows[0].hosts], [3000, 10]);
  assert.equal((r.rows[0].lo as Date).toISOString(), '2016-01-01T00:00:00.000Z');
  await server.query(`DROP TABLE ${table}`);
});

test('SIGINT: the run stops promptly, the scratch table is dropped, the exit is non-zero with a clear message', async () => {
  const before = await userObjects();
  let interrupted: Promise<boolean> | undefined;
  const run = await runCli(['bench', '--target', server.url(), '--scale', '10', '--workers', '1', '--batch-size', '500', '--duration', '120s'], {
    onSpawn: (child) => {
      // Interrupt mid-cell: once the scratch table holds committed batches.
      interrupted = watchChild(child, server.url(), async (c) => {
        const table = (await c.query("SELECT oid::regclass::text AS name FROM pg_class WHERE relname LIKE 'hyperfill_bench_cpu_%' AND relkind = 'r'")).rows[0]?.name;
        return table !== undefined && (await c.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n >= 2000;
      }, () => child.kill('SIGINT'), 50);
    },
  });
  assert.equal(await interrupted, true, 'the scratch table held rows when the benchmark was interrupted');
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /error E_INTERRUPTED: interrupted by a signal/);
  assert.match(run.stderr, /dropped the scratch table hyperfill_bench\.hyperfill_bench_cpu_/);
  assert.equal(run.stdout, '', 'no results for an interrupted run');
  assert.deepEqual(await userObjects(), before, 'nothing is left behind');
});

test('a target where the user may not create tables: E_PERMISSION naming the grant needed', async () => {
  await server.query("CREATE ROLE nocreate LOGIN PASSWORD 'x'");
  const url = `postgres://nocreate:x@127.0.0.1:${server.port}/postgres`;
  const before = await userObjects();

  const noSchema = await runMain(['bench', '--target', url, ...TINY]);
  assert.equal(noSchema.code, 1);
  assert.match(noSchema.stderr, /^error E_PERMISSION: user "nocreate" may not create the benchmark's schema "hyperfill_bench" in database "postgres"$/m);
  assert.match(noSchema.stderr, /hint: grant it: GRANT CREATE ON DATABASE "postgres" TO "nocreate"; or give --schema NAME/);
  assert.doesNotMatch(noSchema.stderr, /\n\s+at .*\.js:\d+/, 'no stack trace');

  // PostgreSQL 15+: PUBLIC may not create in schema public.
  const publicSchema = await runMain(['bench', '--target', url, ...TINY, '--schema', 'public']);
  assert.equal(publicSchema.code, 1);
  assert.match(publicSchema.stderr, /^error E_PERMISSION: user "nocreate" may not create tables in schema "public" of database "postgres"$/m);
  assert.match(publicSchema.stderr, /hint: grant it: GRANT CREATE ON SCHEMA "public" TO "nocreate"/);

  // With the grant it runs.
  await server.query('GRANT CREATE ON SCHEMA public TO nocreate');
  const granted = await runMain(['bench', '--target', url, ...TINY, '--schema', 'public', '--workers', '1', '--batch-size', '1000']);
  assert.equal(granted.code, 0, granted.stderr);
  assert.deepEqual(await userObjects(), before);
});

test('--source: reads a table with 1..N readers on time windows, writes nothing to the source', async () => {
  await server.query(`CREATE TABLE src_metrics AS SELECT timestamptz '2024-01-01' + i * interval '1 second' AS time, 'host_' || (i % 7) AS host,
    (i % 100)::float8 AS cpu FROM generate_series(0, 4999) i`);
  const before = await userObjects();
  const run = await runMain(['bench', '--source', server.url(), '--table', 'src_metrics', '--workers', '1,2,4', '--rows', '2000', '--json']);
  assert.equal(run.code, 0, run.stderr);
  const source = JSON.parse(run.stdout).source;
  assert.equal(source.table, 'public.src_metrics');
  assert.equal(source.timeColumn, 'time');
  assert.equal(source.cells.length, 3);
  for (const c of source.cells) {
    assert.ok(Math.abs(c.rows - 2000) <= 1, `about --rows rows per cell: ${c.rows}`);
    assert.ok(c.rowsPerSecond > 0 && c.bytes > c.rows * 20);
  }
  // Consecutive cells read consecutive ranges (the third starts over).
  assert.equal(source.cells[0].range.start, '2024-01-01 00:00:00+00');
  assert.equal(source.cells[1].range.start, source.cells[0].range.end);
  assert.deepEqual(source.cells[2].range, source.cells[0].range);
  assert.match(source.recommendation.text, /^the source reads [\d.]+[kM]? rows\/s \([\d.]+ MB\/s\) with \d parallel readers?/);
  assert.equal(JSON.parse(run.stdout).target, undefined, 'no target involved');
  assert.deepEqual(await userObjects(), before, 'nothing created in the source');

  // No time column and more than one reader: a clear usage error.
  await server.query('CREATE TABLE no_time AS SELECT i FROM generate_series(1, 10) i');
  const noTime = await runMain(['bench', '--source', server.url(), '--table', 'no_time', '--workers', '1,2']);
  assert.equal(noTime.code, 2);
  assert.match(noTime.stderr, /cannot tell the time column of public\.no_time: it has no timestamp or date column/);
  const oneReader = await runMain(['bench', '--source', server.url(), '--table', 'no_time', '--workers', '1', '--json']);
  assert.equal(oneReader.code, 0, oneReader.stderr);
  assert.equal(JSON.parse(oneReader.stdout).source.cells[0].rows, 10);
});

test('--source with --target: both sweeps, and which side limits', async () => {
  const run = await runMain(['bench', '--source', server.url(), '--table', 'src_metrics', '--target', server.url(), ...TINY,
    '--workers', '1', '--batch-size', '1000', '--json']);
  assert.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  assert.equal(result.source.cells.length, 1);
  assert.equal(result.target.cells.length, 1);
  assert.match(result.limit, /limits the backfill|about even/);
});

test('usage errors exit 2 and name the flag', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--workers', '0,2'], /`--workers` must be a comma-separated list of whole numbers greater than zero/],
    [['--batch-size', '1000,x'], /`--batch-size` must be a comma-separated list/],
    [['--report', 'out.pdf'], /`--report` must name a \.html or \.svg file/],
    [['--source', 'postgres://x@localhost/db'], /`--source` needs `--table`/],
    [['--source', 'postgres://x@localhost/db', '--table', 't', '--batch-size', '10'], /`--batch-size` applies to a target benchmark/],
    [['--table', 't'], /need `--source`/],
    [['--duration', 'soon'], /`--duration` must be a duration/],
  ];
  for (const [args, message] of cases) {
    const run = await runMain(['bench', ...args]);
    assert.equal(run.code, 2, args.join(' '));
    assert.match(run.stderr, message);
  }
  const help = await runMain(['bench', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--batch-size LIST/);
});
