/**
 * Each writer records its first dual-written write per table in the target's control
 * schema; `plan` puts T after the *last* writer began, even when older rows are in the
 * target already, and `status` lists the writers. The instants are the test's own clock readings around each writer's
 * first write, never values read back from the code under test.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { createDualWriter } from '../src/dual-write/index.js';
import { pool } from './helpers/dual-write.js';
import { type PostgresServer, startPostgres } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';

let server: PostgresServer;
let source: pg.Pool;
let target: pg.Pool;
const dir = mkdtempSync(join(tmpdir(), 'hyperfill-dw-plan-'));

before(async () => {
  server = await startPostgres();
  for (const db of ['source', 'target']) {
    await server.createDatabase(db);
    await server.query('CREATE SCHEMA app; CREATE TABLE app.metrics (time timestamptz NOT NULL, host text, v float8)', [], db);
  }
  source = pool(server.url('source'));
  target = pool(server.url('target'));
});

after(async () => {
  await Promise.all([source?.end(), target?.end()]);
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const ceilToSecond = (ms: number) => Math.ceil(ms / 1000) * 1000;

test('plan puts T after the last writer began, status lists the writers; a restarted writer keeps its first start', async () => {
  // Writer A begins, writing rows whose time is their event time (here: an hour ago).
  const a = await createDualWriter({ primary: source, secondary: target, spool: join(dir, 'a'), writerId: 'host-a', controlSchema: 'migration', secondaryTimeoutMs: 30_000 });
  const aBefore = Date.now();
  await a.query('INSERT INTO app.metrics VALUES ($1, $2, $3)', [new Date(aBefore - 3_600_000), 'a', 1]);
  const aAfter = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 1100));
  // Writer B begins later; rows before its start are in the target only from A.
  const b = await createDualWriter({ primary: source, secondary: target, spool: join(dir, 'b'), writerId: 'host-b', controlSchema: 'migration', secondaryTimeoutMs: 30_000 });
  const bBefore = Date.now();
  await b.query('INSERT INTO "app"."metrics" (time, host, v) VALUES (now(), $1, $2)', ['b', 2]);
  const bAfter = Date.now();
  await Promise.all([a.close(), b.close()]);

  const recorded = await server.query('SELECT writer_id, table_schema, table_name, first_write_at FROM migration.dual_write_first ORDER BY writer_id', [], 'target');
  assert.deepEqual(recorded.rows.map((r) => [r.writer_id, r.table_schema, r.table_name]), [['host-a', 'app', 'metrics'], ['host-b', 'app', 'metrics']]);
  const [firstA, firstB] = recorded.rows.map((r) => (r.first_write_at as Date).getTime()) as [number, number];
  assert.ok(firstA >= aBefore && firstA <= aAfter, 'A\'s first write is recorded when A wrote it');
  assert.ok(firstB >= bBefore && firstB <= bAfter, 'B\'s first write is recorded when B wrote it');

  const plan = await runMain(['plan', '--source', server.url('source'), '--target', server.url('target'), '--table', 'app.metrics',
    '--time-column', 'time', '--max-lateness', '2s', '--align', '1s', '--control-schema', 'migration', '--json']);
  assert.equal(plan.code, 0, plan.stderr);
  const [suggestion] = JSON.parse(plan.stdout);
  const until = Date.parse(String(suggestion.suggestedUntil).replace(' ', 'T').replace(/\+00$/, 'Z'));
  // After the last writer began plus the lateness, on a whole second; the hour-old row does not pull it back.
  assert.ok(until >= bBefore + 2000, `T ${suggestion.suggestedUntil} is after B began (${new Date(bBefore).toISOString()}) + 2s`);
  assert.ok(until <= ceilToSecond(bAfter + 2000), `T ${suggestion.suggestedUntil} is the first whole second after that`);
  assert.deepEqual(suggestion.writers.map((w: { writerId: string }) => w.writerId).sort(), ['host-a', 'host-b']);
  assert.match(suggestion.warnings.join('\n'), /in the future/);

  // A restarted writer A: its start stays the first one.
  const again = await createDualWriter({ primary: source, secondary: target, spool: join(dir, 'a'), writerId: 'host-a', controlSchema: 'migration', secondaryTimeoutMs: 30_000 });
  await again.query('INSERT INTO app.metrics VALUES (now(), $1, $2)', ['a', 3]);
  await again.close();
  const kept = await server.query(`SELECT first_write_at FROM migration.dual_write_first WHERE writer_id = 'host-a'`, [], 'target');
  assert.equal((kept.rows[0].first_write_at as Date).getTime(), firstA);

  // status shows the writers and where dual-write began.
  const status = await runMain(['status', '--source', server.url('source'), '--target', server.url('target'), '--table', 'app.metrics',
    '--time-column', 'time', '--control-schema', 'migration', '--max-lateness', '2s']);
  assert.equal(status.code, 0, status.stderr);
  const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  assert.match(status.stdout, new RegExp(`dual writers +host-a since ${iso(firstA)}, host-b since ${iso(firstB)}`));
  assert.match(status.stdout, /dual-write since +\S+ \S+ \(when the last dual writer began\)/);

  // Without writer records, plan goes by the earliest row, as before.
  const bare = await runMain(['plan', '--source', server.url('source'), '--target', server.url('target'), '--table', 'app.metrics',
    '--time-column', 'time', '--max-lateness', '2s', '--align', '1s', '--json']);
  const [old] = JSON.parse(bare.stdout);
  assert.deepEqual(old.writers, []);
  assert.ok(Date.parse(String(old.suggestedUntil).replace(' ', 'T').replace(/\+00$/, 'Z')) <= ceilToSecond(aBefore - 3_600_000 + 2000));
});

test('backfill refuses a --until that is not after the last dual writer began', async () => {
  const recorded = await server.query(`SELECT writer_id, first_write_at FROM migration.dual_write_first ORDER BY first_write_at DESC LIMIT 1`, [], 'target');
  const last = recorded.rows[0] as { writer_id: string; first_write_at: Date };
  const before = new Date(last.first_write_at.getTime() - 1000).toISOString();
  const run = await runMain(['backfill', '--source', server.url('source'), '--target', server.url('target'), '--table', 'app.metrics',
    '--time-column', 'time', '--until', before, '--control-schema', 'migration', '--allow-plain-target']);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, new RegExp(`error E_UNTIL_BEFORE_DUAL_WRITE: --until ${before.replace(/\./g, '\\.')} is not after dual writer "${last.writer_id}" began writing app\\.metrics`));
  const control = await server.query(`SELECT to_regclass('migration.backfill_run') AS runs`, [], 'target');
  assert.equal(control.rows[0].runs, null, 'refused before anything was written');
});
