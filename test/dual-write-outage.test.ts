/**
 * The secondary goes down for real (pg_ctl stop on a native PostgreSQL) under steady writes:
 * the application sees no error, the spool grows while it is down and drains once it is
 * back, and the secondary ends with every row the application wrote, once. Transactions
 * written during the outage arrive whole. The primary is an embedded PostgreSQL 18.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { createDualWriter, type DualWriter } from '../src/dual-write/index.js';
import { idsOf, nextEvent, pool } from './helpers/dual-write.js';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';
import { type PostgresServer, startPostgres } from './helpers/postgres.js';

describeNative('dual-write while the secondary is down', {}, () => {
  let primaryServer: PostgresServer;
  let secondaryServer: NativeServer;
  let primary: pg.Pool;
  let secondary: pg.Pool;
  const dir = mkdtempSync(join(tmpdir(), 'hyperfill-dw-outage-'));

  before(async () => {
    [primaryServer, secondaryServer] = await Promise.all([startPostgres(), startNativePostgres()]);
    for (const server of [primaryServer, secondaryServer]) {
      await server.query('CREATE TABLE readings (id int PRIMARY KEY, time timestamptz NOT NULL, value float8)');
      await server.query('CREATE TABLE orders (id int PRIMARY KEY, total numeric NOT NULL)');
    }
    primary = pool(primaryServer.url());
    secondary = pool(secondaryServer.url());
  });

  after(async () => {
    await Promise.all([primary?.end(), secondary?.end()]);
    await Promise.all([primaryServer?.stop(), secondaryServer?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('steady writes see no error; the spool grows while the secondary is down and drains after; every row arrives once', async () => {
    const beforeFirstWrite = new Date();
    const writer = await createDualWriter({ primary, secondary, spool: join(dir, 'steady'), writerId: 'ingest-1', secondaryTimeoutMs: 10_000, replay: { retryMs: 100 } });
    const written: number[] = [];
    const errors: unknown[] = [];
    const progress = new EventEmitter();
    let next = 0;
    let stop = false;
    const loop = async () => {
      while (!stop) {
        const id = ++next;
        try {
          const r = await writer.query('INSERT INTO readings (id, time, value) VALUES ($1, $2, $3)', [id, new Date(), id / 3]);
          assert.equal(r.rowCount, 1);
          written.push(id);
        } catch (err) {
          errors.push(err);
        }
        progress.emit('write');
        if (errors.length > 0) return;
      }
    };
    /** Waits (on the writes themselves, no polling) until `done()` holds after a write. */
    const writeUntil = (done: () => boolean) => new Promise<void>((resolve) => {
      const check = () => {
        if (done() || errors.length > 0) {
          progress.off('write', check);
          resolve();
        }
      };
      progress.on('write', check);
    });
    const loops = Array.from({ length: 4 }, loop);
    await writeUntil(() => written.length >= 200);
    const afterFirstWrites = new Date();
    assert.equal(writer.metrics().mode, 'direct');

    await secondaryServer.halt('fast');
    const atHalt = written.length;
    const depths: number[] = [];
    await writeUntil(() => {
      depths.push(writer.metrics().spoolDepth);
      return written.length >= atHalt + 400;
    });
    const duringOutage = written.length - atHalt;
    const outage = writer.metrics();
    assert.equal(outage.mode, 'spooling');
    assert.ok(outage.secondaryFailures >= 1);
    // Writes acknowledged after the halt that the secondary cannot have: every one is in the spool.
    assert.ok(outage.spoolDepth >= duringOutage - 8, `spool depth ${outage.spoolDepth} after ${duringOutage} writes during the outage`);
    assert.ok(depths[depths.length - 1] as number > (depths[0] as number), 'the spool grew while the secondary was down');

    const drained = nextEvent(writer, 'drained');
    await secondaryServer.resume();
    await drained;
    const atDrain = written.length;
    await writeUntil(() => written.length >= atDrain + 100);
    stop = true;
    await Promise.all(loops);
    assert.deepEqual(errors, []);
    const end = writer.metrics();
    assert.equal(end.mode, 'direct');
    assert.equal(end.spoolDepth, 0);
    assert.equal(end.replayLagMs, 0);
    assert.ok(end.replayed >= duringOutage, `replayed ${end.replayed}, wrote ${duringOutage} during the outage`);
    await writer.close();

    const expected = [...written].sort((a, b) => a - b);
    const onPrimary = await idsOf((sql) => primaryServer.query(sql), 'readings');
    const onSecondary = await idsOf((sql) => secondaryServer.query(sql), 'readings');
    assert.deepEqual(onPrimary.ids, expected);
    assert.deepEqual(onSecondary.ids, expected, 'the secondary has every row the application wrote');
    assert.equal(onSecondary.duplicates, 0);
    // Values too, not just ids: both sides hold the same content.
    const digest = 'SELECT md5(string_agg(id || \',\' || value || \',\' || extract(epoch FROM time), \';\' ORDER BY id)) AS d FROM readings';
    assert.equal((await secondaryServer.query(digest)).rows[0].d, (await primaryServer.query(digest)).rows[0].d);

    const first = await secondaryServer.query(`SELECT writer_id, table_schema, table_name, first_write_at, resets FROM hyperfill.dual_write_first`);
    assert.equal(first.rows.length, 1);
    assert.deepEqual([first.rows[0].writer_id, first.rows[0].table_schema, first.rows[0].table_name, first.rows[0].resets], ['ingest-1', 'public', 'readings', 0]);
    assert.ok(first.rows[0].first_write_at >= new Date(beforeFirstWrite.getTime() - 1) && first.rows[0].first_write_at <= afterFirstWrites,
      `first write at ${first.rows[0].first_write_at.toISOString()}`);
  });

  test('a transaction committed while the secondary is down is spooled as one record and arrives whole; a failed one nowhere', async () => {
    const writer = await createDualWriter({ primary, secondary, spool: join(dir, 'tx'), writerId: 'orders-1', secondaryTimeoutMs: 10_000, replay: { retryMs: 100 } });
    await writer.transaction(async (tx) => {
      await tx.query('INSERT INTO orders VALUES ($1, $2)', [1, '10.50']);
      await tx.query('INSERT INTO orders VALUES ($1, $2)', [2, '20.25']);
    });
    await secondaryServer.halt('fast');
    const spooled: Array<{ kind: string }> = [];
    writer.on('spooled', (e) => spooled.push(e));
    const value = await writer.transaction(async (tx) => {
      await tx.query('INSERT INTO orders VALUES ($1, $2)', [3, '1.00']);
      await tx.query('INSERT INTO orders VALUES ($1, $2)', [4, '2.00']);
      await tx.query('UPDATE orders SET total = total * 2 WHERE id IN (1, 3)');
      return 'committed';
    });
    assert.equal(value, 'committed');
    assert.deepEqual(spooled.map((e) => e.kind).filter((k) => k !== 'first-write'), ['transaction']);
    await assert.rejects(writer.transaction(async (tx) => {
      await tx.query('INSERT INTO orders VALUES ($1, $2)', [5, '5.00']);
      throw new Error('the application changed its mind');
    }), /changed its mind/);
    assert.equal(spooled.filter((e) => e.kind === 'transaction').length, 1, 'a rolled-back transaction is not spooled');
    const drained = nextEvent(writer, 'drained');
    await secondaryServer.resume();
    await drained;
    await writer.close();
    const rows = 'SELECT id, total::text FROM orders ORDER BY id';
    const expected = [{ id: 1, total: '21.00' }, { id: 2, total: '20.25' }, { id: 3, total: '2.00' }, { id: 4, total: '2.00' }];
    assert.deepEqual((await primaryServer.query(rows)).rows, expected);
    assert.deepEqual((await secondaryServer.query(rows)).rows, expected);
  });

  test('a writer reopened on a spool with records replays them in the background', async () => {
    const spool = join(dir, 'restart');
    await secondaryServer.halt('fast');
    let writer: DualWriter = await createDualWriter({ primary, secondary, spool, writerId: 'restart-1', secondaryTimeoutMs: 1000, replay: false });
    for (let id = 1_000_001; id <= 1_000_020; id++) await writer.query('INSERT INTO readings (id, time) VALUES ($1, now())', [id]);
    assert.equal(writer.metrics().spoolDepth, 21, '20 statements and the first-write record');
    await writer.close();
    await secondaryServer.resume();
    writer = await createDualWriter({ primary, secondary, spool, writerId: 'restart-1', secondaryTimeoutMs: 1000, replay: { retryMs: 100 } });
    assert.equal(writer.recovery.pendingRecords, 21);
    assert.equal(writer.recovery.tornTail, undefined);
    if (writer.metrics().mode !== 'direct') await nextEvent(writer, 'drained');
    await writer.close();
    const r = await secondaryServer.query('SELECT count(*)::int AS n FROM readings WHERE id BETWEEN 1000001 AND 1000020');
    assert.equal(r.rows[0].n, 20);
  });
});
