/**
 * `hyperfill replay`: a writer's spool (the secondary down, no background replay) goes into
 * the target exactly once; a rerun applies nothing; a row the target already has stops
 * replay at that record with a hint, and --on-conflict-do-nothing gets past it; a live
 * writer's spool is refused; --list shows the records.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { createDualWriter } from '../src/dual-write/index.js';
import { idsOf, pool } from './helpers/dual-write.js';
import { freePort, type PostgresServer, startPostgres } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';

let server: PostgresServer;
let primary: pg.Pool;
let down: pg.Pool;
const dir = mkdtempSync(join(tmpdir(), 'hyperfill-replay-'));

before(async () => {
  server = await startPostgres();
  await server.createDatabase('target');
  for (const db of ['postgres', 'target']) await server.query('CREATE TABLE events (id int PRIMARY KEY, kind text, at timestamptz, body bytea)', [], db);
  primary = pool(server.url());
  down = pool(`postgres://postgres@127.0.0.1:${await freePort()}/none`);
});

after(async () => {
  await Promise.all([primary?.end(), down?.end()]);
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('replay applies a spool exactly once, values as the application gave them; a duplicate row stops it until named', async () => {
  const spool = join(dir, 'spool');
  const writer = await createDualWriter({ primary, secondary: down, spool, writerId: 'app-1', secondaryTimeoutMs: 500, replay: false });
  const at = new Date('2024-03-01T12:34:56.789Z');
  for (let id = 1; id <= 30; id++) {
    await writer.query('INSERT INTO events (id, kind, at, body) VALUES ($1, $2, $3, $4)', [id, id % 2 ? 'odd' : `"quoted", \\ and 'single'`, at, Buffer.from([0, id, 255])]);
  }
  await writer.transaction(async (tx) => {
    await tx.query('UPDATE events SET kind = $1 WHERE id <= $2', ['first ten', 10]);
    await tx.query('DELETE FROM events WHERE id = $1', [30]);
  });
  assert.equal(writer.metrics().spoolDepth, 32, '30 inserts, one transaction, one first-write record');
  await assert.rejects(runMain(['replay', '--spool', spool, '--target', server.url('target')]).then((r) => {
    if (r.code !== 0) throw new Error(r.stderr);
  }), /E_SPOOL_LOCKED: the spool is already open in this process/);
  await writer.close();

  // The target already has row 5 (as if a timed-out write had committed there after all).
  await server.query(`INSERT INTO events VALUES (5, 'odd', '2024-03-01T12:34:56.789Z', '\\x0005ff')`, [], 'target');
  const blocked = await runMain(['replay', '--spool', spool, '--target', server.url('target')]);
  assert.equal(blocked.code, 1);
  assert.match(blocked.stderr, /E_REPLAY_STATEMENT: the statement spooled as record 6 failed on the target: duplicate key value violates unique constraint "events_pkey"/);
  assert.match(blocked.stderr, /hint: .*--on-conflict-do-nothing TABLE:COLUMNS/);
  // Everything before record 6 is in: the first-write record and rows 1-4.
  assert.deepEqual((await idsOf((sql) => server.query(sql, [], 'target'), 'events')).ids, [1, 2, 3, 4, 5]);

  const run = await runMain(['replay', '--spool', spool, '--target', server.url('target'), '--on-conflict-do-nothing', 'events:id', '--json']);
  assert.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  assert.deepEqual([result.records, result.appliedSeq, result.tornTail], [32 - 5, 32, null]);
  const rows = 'SELECT id, kind, at, encode(body, \'hex\') AS body FROM events ORDER BY id';
  assert.deepEqual((await server.query(rows, [], 'target')).rows, (await server.query(rows)).rows, 'the target equals the primary');
  assert.equal((await server.query('SELECT count(*)::int AS n FROM events', [], 'target')).rows[0].n, 29);

  const again = await runMain(['replay', '--spool', spool, '--target', server.url('target')]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /^replayed 0 records \(0 statements\)/);
  const position = await server.query('SELECT applied_seq::int AS seq FROM hyperfill.dual_write_replay', [], 'target');
  assert.deepEqual(position.rows, [{ seq: 32 }]);

  const list = await runMain(['replay', '--spool', spool, '--list']);
  assert.equal(list.code, 0);
  const lines = list.stdout.trim().split('\n');
  assert.equal(lines.length, 32);
  assert.match(lines[0] as string, /^1\t\S+\tfirst-write\tapp-1 began writing events at \S+Z$/);
  assert.match(lines[31] as string, /^32\t\S+\ttransaction\tUPDATE events SET kind = \$1 WHERE id <= \$2 \| DELETE FROM events WHERE id = \$1$/);
});

test('replay refuses bad flags with usage errors', async () => {
  for (const [args, message] of [
    [['replay', '--target', server.url('target')], /`--spool DIR` is required/],
    [['replay', '--spool', join(dir, 'x'), '--on-conflict-do-nothing', 'events'], /TABLE:COLUMN\[,COLUMN\.\.\.\]/],
  ] as const) {
    const run = await runMain([...args]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, message);
  }
});
