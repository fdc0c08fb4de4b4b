/** The smaller `copy` flags: --columns, --limit, --truncate, --json, --log-batches, --reporting-period, libpq strings. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';

let server: PostgresServer;
const input = Array.from({ length: 100 }, (_, i) => `${i},v${i}`).join('\n') + '\n';

before(async () => {
  server = await startPostgres();
  await server.query('CREATE TABLE t (id int, v text, extra text DEFAULT $$d$$)');
});
after(async () => {
  await server?.stop();
});

test('--columns maps input fields to named columns, others keep their defaults', async () => {
  const run = await runMain(['copy', '--connection', server.url(), '--table', 't', '--columns', 'v,id', '--truncate'], 'a,1\nb,2\n');
  assert.equal(run.code, 0, run.stderr);
  const rows = await server.query('SELECT id, v, extra FROM t ORDER BY id');
  assert.deepEqual(rows.rows, [{ id: 1, v: 'a', extra: 'd' }, { id: 2, v: 'b', extra: 'd' }]);
});

test('--limit loads exactly N rows across batches; --truncate empties the table first', async () => {
  const run = await runMain(['copy', '--connection', server.url(), '--table', 't', '--columns', 'id,v', '--limit', '37', '--batch-size', '10', '--truncate'], input);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'COPY 37\n');
  const r = await server.query('SELECT count(*)::int AS n, max(id) AS hi FROM t');
  assert.deepEqual(r.rows[0], { n: 37, hi: 36 });
});

test('--json prints a machine-readable summary; --log-batches one line per batch', async () => {
  const run = await runMain(['copy', '--connection', server.url(), '--table', 't', '--columns', 'id,v', '--batch-size', '25', '--workers', '2', '--truncate', '--json', '--log-batches'], input);
  assert.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(run.stdout);
  assert.equal(summary.rows, 100);
  assert.equal(summary.batches, 4);
  assert.equal(summary.workers.length, 3, 'two COPY streams over three connections (one can commit while two copy)');
  assert.equal(summary.workers.reduce((n: number, w: { rows: number }) => n + w.rows, 0), 100);
  const lines = run.stderr.split('\n').filter((l) => l.startsWith('batch '));
  assert.equal(lines.length, 4);
  assert.match(lines.join('\n'), /batch 0 stdin lines 1-25: 25 rows by worker \d in \d+ ms/);
});

test('a libpq key=value connection string works, and the summary never shows the password', async () => {
  const url = new URL(server.url());
  const conn = `host=${url.hostname} port=${url.port} dbname=postgres user=postgres password='${decodeURIComponent(url.password)}'`;
  const run = await runMain(['copy', '--connection', conn, '--table', 't', '--columns', 'id,v', '--truncate', '--reporting-period', '10ms'], input);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'COPY 100\n');
  assert.doesNotMatch(run.stderr, new RegExp(decodeURIComponent(url.password)));
  assert.match(run.stderr, /copy: 100 rows, .* MB in [\d.]+ s/);
});

test('--table takes schema.table as the other commands do; --schema names the schema of a bare table', async () => {
  await server.query(`CREATE SCHEMA other; CREATE TABLE other.t (id int, v text); CREATE TABLE "dotted.name" (id int, v text)`);
  let run = await runMain(['copy', '--connection', server.url(), '--table', 'public.t', '--columns', 'id,v', '--truncate'], '1,a\n');
  assert.equal(run.code, 0, run.stderr);
  run = await runMain(['copy', '--connection', server.url(), '--table', 'other.t'], '2,b\n');
  assert.equal(run.code, 0, run.stderr);
  run = await runMain(['copy', '--connection', server.url(), '--schema', 'other', '--table', 't'], '3,c\n');
  assert.equal(run.code, 0, run.stderr);
  run = await runMain(['copy', '--connection', server.url(), '--schema', 'other', '--table', 'other.t'], '4,d\n');
  assert.equal(run.code, 0, run.stderr);
  run = await runMain(['copy', '--connection', server.url(), '--table', '"dotted.name"'], '5,e\n');
  assert.equal(run.code, 0, run.stderr);
  const rows = await server.query(`SELECT 'public' AS s, id FROM public.t UNION ALL SELECT 'other', id FROM other.t UNION ALL SELECT 'dotted', id FROM "dotted.name" ORDER BY 2`);
  assert.deepEqual(rows.rows, [{ s: 'public', id: 1 }, { s: 'other', id: 2 }, { s: 'other', id: 3 }, { s: 'other', id: 4 }, { s: 'dotted', id: 5 }]);
  run = await runMain(['copy', '--connection', server.url(), '--schema', 'public', '--table', 'other.t'], '6,f\n');
  assert.equal(run.code, 2);
  assert.match(run.stderr, /E_USAGE: `--table other.t` names schema "other" and `--schema` says "public": give the schema once/);
});
