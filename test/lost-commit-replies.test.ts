/**
 * Steps whose connection is lost just after the server committed their work, so the
 * retried step meets its own earlier result: `schema --apply` finds the tables as planned
 * and succeeds (not E_TABLE_EXISTS on its own work); `verify` records its verdict once.
 * A real server behind a proxy that drops one reply.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type CommitDroppingProxy, startCommitDroppingProxy } from './helpers/commit-dropping-proxy.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';

let server: PostgresServer;
let proxy: CommitDroppingProxy;
const UNTIL = '2024-01-02T00:00:00Z';

before(async () => {
  server = await startPostgres();
  await server.createDatabase('source');
  await server.createDatabase('target');
  await server.query(`CREATE TABLE metrics (time timestamptz NOT NULL, host text, cpu float8);
    INSERT INTO metrics SELECT '2024-01-01'::timestamptz + i * interval '1 minute', 'h', i FROM generate_series(1, 100) i`, [], 'source');
  proxy = await startCommitDroppingProxy(server.port);
});
after(async () => {
  await proxy?.close();
  await server?.stop();
});

test('a COMMIT whose answer was lost is not applied twice, nor reported as E_TABLE_EXISTS', async () => {
  const target = `postgres://postgres:${server.password}@127.0.0.1:${proxy.port}/target`;
  const r = await runMain(['schema', '--source', server.url('source'), '--table', 'metrics', '--time-column', 'time',
    '--target', target, '--apply', '--plain', '--retry-timeout', '20s']);
  assert.equal(proxy.dropped(), 1, 'the proxy dropped the answer to the DDL\'s COMMIT');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /connection lost .*retrying/);
  assert.match(r.stderr, /the tables exist as planned: the attempt whose connection was lost had committed/);
  const columns = await server.query(`SELECT attname FROM pg_attribute WHERE attrelid = 'metrics'::regclass AND attnum > 0 ORDER BY attnum`, [], 'target');
  assert.deepEqual(columns.rows.map((c) => c.attname), ['time', 'host', 'cpu']);
  const again = await runMain(['schema', '--source', server.url('source'), '--table', 'metrics', '--time-column', 'time', '--target', server.url('target'), '--apply', '--plain']);
  assert.equal(again.code, 1, 'a new run still refuses to create a table that exists');
  assert.match(again.stderr, /E_TABLE_EXISTS/);
});

test('verify records its verdict once when the answer to the recording INSERT was lost', async () => {
  await server.query(`CREATE TABLE IF NOT EXISTS metrics (time timestamptz NOT NULL, host text, cpu float8); TRUNCATE metrics;
    INSERT INTO metrics SELECT '2024-01-01'::timestamptz + i * interval '1 minute', 'h', i FROM generate_series(1, 100) i`, [], 'target');
  const recording = await startCommitDroppingProxy(server.port, '"verify_result" (verify_id');
  try {
    const target = `postgres://postgres:${server.password}@127.0.0.1:${recording.port}/target`;
    const r = await runMain(['verify', '--source', server.url('source'), '--target', target, '--table', 'metrics', '--time-column', 'time',
      '--until', UNTIL, '--allow-plain-target', '--retry-timeout', '20s']);
    assert.equal(recording.dropped(), 1, 'the proxy dropped the answer to the INSERT');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const rows = await server.query(`SELECT count(*)::int AS n, bool_and(matches) AS ok FROM hyperfill.verify_result`, [], 'target');
    assert.deepEqual(rows.rows[0], { n: 1, ok: true });
  } finally {
    await recording.close();
  }
});
