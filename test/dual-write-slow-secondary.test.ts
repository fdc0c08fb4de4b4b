/**
 * A secondary that hangs (its table locked by another session, so inserts wait) cannot
 * delay the application beyond the writer's timeout: every write resolves with the
 * primary's result while the secondary's inserts are still waiting on the lock. What the
 * secondary commits late is not replayed again; what it loses is. The primary's errors
 * reach the application unchanged. Two embedded PostgreSQL 18 servers.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { createDualWriter, type DualWriter } from '../src/dual-write/index.js';
import { idsOf, nextEvent, pool } from './helpers/dual-write.js';
import { type PostgresServer, startPostgres } from './helpers/postgres.js';

let primaryServer: PostgresServer;
let secondaryServer: PostgresServer;
let primary: pg.Pool;
let secondary: pg.Pool;
const dir = mkdtempSync(join(tmpdir(), 'hyperfill-dw-slow-'));
let tables = 0;
/** What a failed test leaves behind (a held lock, an open writer) is undone here, so the file never hangs. */
const cleanups: Array<() => Promise<unknown>> = [];

before(async () => {
  [primaryServer, secondaryServer] = await Promise.all([startPostgres(), startPostgres()]);
  primary = pool(primaryServer.url());
  secondary = pool(secondaryServer.url(), 20);
});

after(async () => {
  for (const undo of cleanups.reverse()) await undo().catch(() => undefined);
  await Promise.all([primary?.end(), secondary?.end()]);
  await Promise.all([primaryServer?.stop(), secondaryServer?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

async function freshTable(): Promise<string> {
  const name = `t${++tables}`;
  for (const server of [primaryServer, secondaryServer]) await server.query(`CREATE TABLE ${name} (id int PRIMARY KEY, v text)`);
  return name;
}

/** Holds an exclusive lock on the secondary's table: its inserts wait until `release`. */
async function hang(table: string): Promise<{ waiting: () => Promise<number>; release: () => Promise<void>; terminateWaiting: () => Promise<number> }> {
  const blocker = new pg.Client({ connectionString: secondaryServer.url() });
  await blocker.connect();
  await blocker.query('BEGIN');
  await blocker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  let released = false;
  cleanups.push(async () => {
    if (!released) await blocker.end();
  });
  const waitingQuery = `SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO ${table} %'`;
  return {
    waiting: async () => (await blocker.query(waitingQuery)).rows.length,
    terminateWaiting: async () => (await blocker.query(`SELECT pg_terminate_backend(pid) FROM (${waitingQuery}) w`)).rows.length,
    release: async () => {
      released = true;
      await blocker.query('COMMIT');
      await blocker.end();
    },
  };
}

/** Writes go to both databases again (on a loaded machine even a healthy secondary may miss a 300 ms deadline). */
async function direct(w: DualWriter): Promise<void> {
  if (w.metrics().mode !== 'direct') await nextEvent(w, 'drained');
}

async function writer(name: string, options: { inDoubtWaitMs?: number; conflictKeys?: Record<string, string[]> } = {}): Promise<DualWriter> {
  const w = await createDualWriter({
    primary, secondary, spool: join(dir, name), writerId: name, secondaryTimeoutMs: 300,
    replay: { retryMs: 50, inDoubtWaitMs: options.inDoubtWaitMs ?? 600_000 }, ...(options.conflictKeys ? { conflictKeys: options.conflictKeys } : {}),
  });
  cleanups.push(() => w.close());
  return w;
}

test('a hung secondary: each write resolves with the primary\'s result while the secondary still waits; late commits are not replayed again', async () => {
  const table = await freshTable();
  const w = await writer('late-commits');
  // The table's first write is recorded before it is written; from the second on, a write is sent
  // to the secondary at once, so each of the writes below is sent before its deadline, whatever the load.
  await w.query(`INSERT INTO ${table} VALUES (0, 'before')`);
  await direct(w);
  const secondaryHangs = await hang(table);
  const outcomes: string[] = [];
  w.on('in-doubt', (e) => outcomes.push(e.outcome));
  // Five writes at once: all five reach the secondary and wait there on the lock.
  const results = await Promise.all([1, 2, 3, 4, 5].map((id) => w.query(`INSERT INTO ${table} VALUES ($1, $2) RETURNING id`, [id, `v${id}`])));
  assert.deepEqual(results.map((r) => r.rows[0].id), [1, 2, 3, 4, 5]);
  // By construction, not by a stopwatch: the writes have resolved and the secondary has not answered them.
  assert.equal(await secondaryHangs.waiting(), 5, 'the five inserts still wait on the secondary');
  let m = w.metrics();
  assert.deepEqual([m.secondaryTimeouts, m.inDoubt, m.mode], [5, 5, 'spooling']);
  // Later writes go to the primary and the spool without touching the hung secondary.
  for (const id of [6, 7, 8]) await w.query(`INSERT INTO ${table} VALUES ($1, $2)`, [id, `v${id}`]);
  assert.equal(await secondaryHangs.waiting(), 5);
  const drained = nextEvent(w, 'drained');
  await secondaryHangs.release();
  await drained;
  m = w.metrics();
  assert.deepEqual(outcomes.sort(), ['committed', 'committed', 'committed', 'committed', 'committed']);
  assert.deepEqual([m.inDoubt, m.inDoubtReplayed, m.spoolDepth, m.mode], [0, 0, 0, 'direct']);
  await w.close();
  const rows = await idsOf((sql) => secondaryServer.query(sql), table);
  assert.deepEqual(rows, { ids: [0, 1, 2, 3, 4, 5, 6, 7, 8], duplicates: 0 });
});

test('timed-out writes the secondary then loses are replayed', async () => {
  const table = await freshTable();
  const w = await writer('late-failures');
  // The first write records the table (see the first test): the writes below go straight to the hung secondary.
  await w.query(`INSERT INTO ${table} VALUES (0, 'before')`);
  await direct(w);
  const secondaryHangs = await hang(table);
  await Promise.all([1, 2, 3].map((id) => w.query(`INSERT INTO ${table} VALUES ($1, 'x')`, [id])));
  assert.equal(await secondaryHangs.waiting(), 3);
  const failed: number[] = [];
  w.on('in-doubt', (e) => {
    if (e.outcome === 'failed') failed.push(e.seq);
  });
  assert.equal(await secondaryHangs.terminateWaiting(), 3);
  const drained = nextEvent(w, 'drained');
  await secondaryHangs.release();
  await drained;
  assert.equal(failed.length, 3);
  await w.close();
  assert.deepEqual(await idsOf((sql) => secondaryServer.query(sql), table), { ids: [0, 1, 2, 3], duplicates: 0 });
});

test('replay that stops waiting for a timed-out write repeats it safely when the table\'s key is named', async () => {
  const table = await freshTable();
  const w = await writer('gave-up', { inDoubtWaitMs: 100, conflictKeys: { [table]: ['id'] } });
  await w.query(`INSERT INTO ${table} VALUES (0, 'before')`);
  await direct(w);
  const secondaryHangs = await hang(table);
  const events: string[] = [];
  w.on('in-doubt', (e) => events.push(e.outcome));
  const errors: unknown[] = [];
  w.on('replay-error', (e) => errors.push(e));
  await Promise.all([1, 2].map((id) => w.query(`INSERT INTO ${table} VALUES ($1, 'x')`, [id])));
  // Replay gives up on an unknown outcome and applies the record: its insert queues behind the
  // lock too, beside the original. (Whether the second record is in that batch, or in a later
  // one that runs after the lock is gone and so sees its late commit, depends on when replay
  // first read the spool: both are right, and the ids below hold either way.)
  while (!events.includes('replayed-unsettled')) await nextEvent(w, 'in-doubt');
  const drained = nextEvent(w, 'drained');
  await secondaryHangs.release();
  await drained;
  assert.deepEqual(errors, []);
  assert.equal(w.metrics().inDoubtReplayed, events.filter((e) => e === 'replayed-unsettled').length);
  await w.close();
  assert.deepEqual(await idsOf((sql) => secondaryServer.query(sql), table), { ids: [0, 1, 2], duplicates: 0 });
});

test('a transaction on a hung secondary commits on the primary in time, is spooled whole, and arrives once', async () => {
  const table = await freshTable();
  const w = await writer('hung-transaction');
  await w.query(`INSERT INTO ${table} VALUES (0, 'before')`);
  await direct(w);
  const secondaryHangs = await hang(table);
  const spooled: string[] = [];
  w.on('spooled', (e) => spooled.push(e.kind));
  const value = await w.transaction(async (tx) => {
    await tx.query(`INSERT INTO ${table} VALUES (1, 'a')`);
    await tx.query(`INSERT INTO ${table} VALUES (2, 'b')`);
    await tx.query(`UPDATE ${table} SET v = 'changed' WHERE id = 0`);
    return 'done';
  });
  assert.equal(value, 'done');
  // Resolved while the secondary's side still waits on the lock (replay's first try may wait beside it).
  assert.ok(await secondaryHangs.waiting() >= 1);
  assert.deepEqual(spooled, ['transaction']);
  assert.deepEqual([w.metrics().secondaryTimeouts, w.metrics().inDoubt], [1, 0]);
  const drained = nextEvent(w, 'drained');
  await secondaryHangs.release();
  await drained;
  await w.close();
  const rows = `SELECT id, v FROM ${table} ORDER BY id`;
  assert.deepEqual((await secondaryServer.query(rows)).rows, [{ id: 0, v: 'changed' }, { id: 1, v: 'a' }, { id: 2, v: 'b' }]);
  assert.deepEqual((await secondaryServer.query(rows)).rows, (await primaryServer.query(rows)).rows);
});

test('the primary\'s error reaches the application unchanged; a row only the secondary took is reported as a divergence', async () => {
  const table = await freshTable();
  await primaryServer.query(`INSERT INTO ${table} VALUES (1, 'only in the primary')`);
  const w = await writer('divergence');
  const diverged: string[] = [];
  w.on('divergence', (e) => diverged.push(e.statement));
  await assert.rejects(w.query(`INSERT INTO ${table} VALUES (1, 'again')`), (err: unknown) => {
    const e = err as { code?: string; constraint?: string };
    return err instanceof pg.DatabaseError && e.code === '23505' && e.constraint === `${table}_pkey`;
  });
  assert.deepEqual(diverged, [`INSERT INTO ${table} VALUES (1, 'again')`]);
  const m = w.metrics();
  assert.deepEqual([m.primaryErrors, m.divergences, m.spooled, m.mode], [1, 1, 0, 'direct']);
  // A statement both refuse is no divergence, and nothing is spooled for it.
  await assert.rejects(w.query(`INSERT INTO ${table} VALUES ('not a number', 'x')`), /invalid input syntax/);
  assert.equal(w.metrics().divergences, 1);
  await w.close();
});
