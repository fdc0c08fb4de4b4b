/**
 * `hyperfill compare` on two real databases: equal data passes; a changed value, a missing
 * row and a float beyond --tolerance are found and named; ties under an ORDER BY are not
 * differences; :until limits the comparison to what the backfill has copied; queries run
 * read-only; latency figures are present, ordered and counted; --json and --report.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type PostgresServer, startPostgres } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';

let server: PostgresServer;
const dir = mkdtempSync(join(tmpdir(), 'hyperfill-compare-'));
let databases = 0;

// 600 readings a minute apart from 2024-01-01, five hosts; the target gets them in another physical order.
const TABLE = 'CREATE TABLE m (time timestamptz NOT NULL, host text NOT NULL, cpu float8, n numeric)';
const ROWS = `SELECT '2024-01-01'::timestamptz + g * interval '1 minute', 'h' || (g % 5), g / 7.0, g FROM generate_series(0, 599) g`;

before(async () => {
  server = await startPostgres();
});

after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A source and a target holding the same rows; `change` then edits the target. */
async function pair(change?: string): Promise<{ source: string; target: string }> {
  const n = ++databases;
  await server.createDatabase(`s${n}`);
  await server.createDatabase(`t${n}`);
  await server.query(`${TABLE}; INSERT INTO m ${ROWS} ORDER BY 1`, [], `s${n}`);
  await server.query(`${TABLE}; INSERT INTO m ${ROWS} ORDER BY 1 DESC`, [], `t${n}`);
  if (change) await server.query(change, [], `t${n}`);
  return { source: server.url(`s${n}`), target: server.url(`t${n}`) };
}

function queries(name: string, sql: string): string {
  const path = join(dir, `${name}.sql`);
  writeFileSync(path, sql);
  return path;
}

const STANDARD = `-- per host
SELECT host, count(*), avg(cpu), sum(n) FROM m GROUP BY host ORDER BY host;
-- raw rows, unordered
SELECT time, host, cpu, n FROM m;
-- by host, ties in any order
SELECT host, n FROM m ORDER BY host;
`;

async function compare(dbs: { source: string; target: string }, file: string, ...flags: string[]) {
  return runMain(['compare', '--source', dbs.source, '--target', dbs.target, '--queries', file, ...flags]);
}

test('equal data: every query matches (ties under ORDER BY included), latency is reported per side, exit 0', async () => {
  const run = await compare(await pair(), queries('standard', STANDARD), '--repeat', '4', '--json');
  assert.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  assert.equal(result.verdict, 'match');
  assert.deepEqual(result.queries.map((q: { name: string; match: boolean; comparedAs: string }) => [q.name, q.match, q.comparedAs]), [
    ['per host', true, 'ordered, ties as multisets'],
    ['raw rows, unordered', true, 'multiset'],
    ['by host, ties in any order', true, 'ordered, ties as multisets'],
  ]);
  assert.deepEqual(result.queries.map((q: { rows: unknown }) => q.rows), [{ source: 5, target: 5 }, { source: 600, target: 600 }, { source: 600, target: 600 }]);
  for (const q of result.queries) {
    for (const side of ['source', 'target'] as const) {
      const l = q.latencyMs[side];
      const samples: number[] = q.samplesMs[side];
      assert.equal(l.runs, 4);
      assert.equal(samples.length, 4);
      assert.ok(samples.every((s) => s > 0 && Number.isFinite(s)));
      assert.ok(l.min > 0 && l.min <= l.p50 && l.p50 <= l.p95 && l.p95 <= l.p99 && l.p99 <= l.max, JSON.stringify(l));
      assert.equal(l.max, Math.max(...samples));
      assert.equal(l.min, Math.min(...samples));
    }
  }
  const text = await compare(await pair(), queries('standard', STANDARD), '--repeat', '2');
  assert.equal(text.code, 0);
  assert.match(text.stdout, /compare: all 3 queries give the same results on source and target/);
  assert.match(text.stdout, /p50 ms\s+p95 ms\s+p99 ms/);
});

test('a changed value, a missing row and a float beyond --tolerance are found and named', async () => {
  const dbs = await pair(`UPDATE m SET host = 'hX' WHERE n = 10; DELETE FROM m WHERE n = 20; UPDATE m SET cpu = cpu * (1 + 1e-6) WHERE n = 30`);
  const run = await compare(dbs, queries('raw', 'SELECT time, host, cpu, n FROM m;'), '--repeat', '1', '--json');
  assert.equal(run.code, 1);
  const [q] = JSON.parse(run.stdout).queries;
  assert.equal(q.match, false);
  assert.deepEqual(q.rows, { source: 600, target: 599 });
  const byKind = (kind: string) => q.differences.filter((d: { kind: string }) => d.kind === kind);
  assert.equal(byKind('changed').length, 2);
  assert.ok(byKind('changed').some((d: { detail: string }) => /^differs in host: h0 vs hX$/.test(d.detail)));
  assert.ok(byKind('changed').some((d: { detail: string }) => /^differs in cpu: 4\.28571428571428\d* vs 4\.28571\d+$/.test(d.detail)));
  assert.deepEqual(byKind('only-in-source').map((d: { source: string[] }) => d.source), [['2024-01-01 00:20:00+00', 'h0', String(20 / 7), '20']]);
  assert.equal(q.differingRows, 5);
  // Within the tolerance the float matches; the other two differences remain.
  const tolerant = await compare(dbs, queries('raw', 'SELECT time, host, cpu, n FROM m;'), '--repeat', '1', '--tolerance', '1e-5', '--json');
  const [q2] = JSON.parse(tolerant.stdout).queries;
  assert.equal(q2.differingRows, 3);
  assert.ok(!q2.differences.some((d: { detail: string }) => d.detail.includes('cpu')));
  // The text output prints the first differing rows.
  const text = await compare(dbs, queries('raw', 'SELECT time, host, cpu, n FROM m;'), '--repeat', '1', '--max-diffs', '2');
  assert.match(text.stdout, /DIFFERENT \(multiset\): source 600 rows, target 599 rows/);
  assert.match(text.stdout, /\.\.\. 5 rows differ in all/);
  assert.match(text.stdout, /compare: 1 of 1 queries differ/);
});

test('ordered results: the same rows in another order differ; times compare as instants', async () => {
  // Rows 1 and 2 swap their sort key in the target: same rows out, another order.
  const dbs = await pair('UPDATE m SET n = 3 - n WHERE n IN (1, 2)');
  const run = await compare(dbs, queries('order', 'SELECT time, host FROM m ORDER BY n;\nSELECT time, host FROM m;'), '--repeat', '1', '--json');
  const [ordered, unordered] = JSON.parse(run.stdout).queries;
  assert.deepEqual([ordered.match, ordered.comparedAs, ordered.differences[0].kind, ordered.differences[0].sourceRow], [false, 'ordered', 'order', 2]);
  assert.equal(unordered.match, true);
  // The target keeps UTC wall-clock timestamps without a zone: other text, the same instants.
  const retyped = await pair(`ALTER TABLE m ALTER COLUMN time TYPE timestamp USING time AT TIME ZONE 'UTC'`);
  const times = await compare(retyped, queries('times', 'SELECT time, host FROM m ORDER BY time;'), '--repeat', '1', '--json');
  assert.equal(JSON.parse(times.stdout).verdict, 'match');
  const shifted = await pair(`UPDATE m SET time = time + interval '1 microsecond' WHERE n = 9`);
  const off = JSON.parse((await compare(shifted, queries('times', 'SELECT time, host FROM m ORDER BY time;'), '--repeat', '1', '--json')).stdout);
  assert.match(off.queries[0].differences[0].detail, /^differs in time: 2024-01-01 00:09:00\+00 vs 2024-01-01 00:09:00\.000001\+00$/);
});

test('--until binds :until, so a target the backfill has filled only before T compares equal there', async () => {
  const dbs = await pair(`DELETE FROM m WHERE time >= '2024-01-01 05:00+00'`);
  const file = queries('until', `-- before T
SELECT host, count(*), max(time) FROM m WHERE time < :until GROUP BY host ORDER BY host;
`);
  const missing = await compare(dbs, file);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /E_USAGE: "before T" \(line 2\) use :until: give --until T/);
  assert.equal((await compare(dbs, file, '--until', '2024-01-01T05:00:00Z', '--repeat', '2')).code, 0);
  const late = await compare(dbs, file, '--until', '2024-01-01T06:00:00Z', '--repeat', '1');
  assert.equal(late.code, 1);
});

test('queries run read-only: a data-modifying query fails on both sides and changes nothing; errors are per query', async () => {
  const dbs = await pair('CREATE SEQUENCE s');
  await server.query('CREATE SEQUENCE s', [], /\/([^/]+)$/.exec(dbs.source)?.[1]);
  const run = await compare(dbs, queries('write', `SELECT nextval('s'), count(*) FROM (WITH gone AS (SELECT 1) SELECT * FROM gone) g;
SELECT count(*) FROM no_such_table;
SELECT count(*) FROM m;`), '--repeat', '1', '--json');
  assert.equal(run.code, 1);
  const result = JSON.parse(run.stdout);
  assert.match(result.queries[0].errors.source, /cannot execute nextval\(\) in a read-only transaction/);
  assert.match(result.queries[0].errors.target, /cannot execute nextval\(\) in a read-only transaction/);
  assert.match(result.queries[1].errors.target, /relation "no_such_table" does not exist/);
  assert.equal(result.queries[2].match, true);
  for (const url of [dbs.source, dbs.target]) {
    const db = /\/([^/]+)$/.exec(url)?.[1];
    assert.equal((await server.query(`SELECT last_value, is_called FROM s`, [], db)).rows[0].is_called, false, 'the sequence never moved');
  }
  const cte = await compare(dbs, queries('cte', 'WITH gone AS (DELETE FROM m RETURNING 1) SELECT count(*) FROM gone;'), '--repeat', '1', '--json');
  assert.match(JSON.parse(cte.stdout).queries[0].errors.source, /data-modifying/);
  for (const url of [dbs.source, dbs.target]) {
    assert.equal((await server.query('SELECT count(*)::int AS n FROM m', [], /\/([^/]+)$/.exec(url)?.[1])).rows[0].n, 600);
  }
  const refused = await compare(dbs, queries('delete', 'DELETE FROM m;'));
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /E_COMPARE_NOT_A_READ: query 1 is not a read query[\s\S]*line=1/);
});

test('--report writes one self-contained page with a latency chart per query', async () => {
  const report = join(dir, 'report.html');
  const run = await compare(await pair(`DELETE FROM m WHERE n = 7`), queries('standard', STANDARD), '--repeat', '3', '--report', report);
  assert.equal(run.code, 1);
  const html = readFileSync(report, 'utf8');
  assert.equal(html.match(/<svg /g)?.length, 3);
  assert.equal(html.match(/<section class="query"/g)?.length, 3);
  assert.equal(html.match(/<script/g)?.length, 1);
  assert.match(html, /<script type="application\/json" id="hyperfill-compare-data">/);
  assert.doesNotMatch(html, /<link|<img|src=|href=|@import|url\(/);
  assert.match(html, /queries differ between source and target/);
  // Three runs per side are three dots per side per chart.
  const first = html.slice(html.indexOf('<section class="query" id="query-1">'), html.indexOf('</section>'));
  assert.equal(first.match(/<g class="runs" data-side="source">[\s\S]*?<\/g>/)?.[0].match(/<circle/g)?.length, 3);
  assert.equal(first.match(/data-mark="p99"/g)?.length, 2);
  const data = JSON.parse(html.slice(html.indexOf('>', html.indexOf('id="hyperfill-compare-data"')) + 1, html.lastIndexOf('</script>')));
  assert.equal(data.verdict, 'differ');
});
