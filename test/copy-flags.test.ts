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
  assert.equal(summary.workers.length, 2);
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
