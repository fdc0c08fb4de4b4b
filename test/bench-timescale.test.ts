/**
 * `hyperfill bench` on a real TimescaleDB (2.28 on PostgreSQL 15, test/helpers/native-postgres.ts):
 * the scratch table is a hypertable, and it is dropped at the end.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';
import { runMain } from './helpers/run-main.js';

describeNative('bench on TimescaleDB', { timescale: true }, () => {
  let server: NativeServer;
  before(async () => {
    server = await startNativePostgres({ timescale: true });
  });
  after(async () => {
    await server?.stop();
  });
  const query = (sql: string) => server.query(sql);

  test('with TimescaleDB the scratch table is a hypertable; --keep keeps it, otherwise it is dropped', async () => {
    const args = ['bench', '--target', server.url(), '--scale', '5', '--rows', '600', '--workers', '1', '--batch-size', '300', '--json'];
    const kept = await runMain([...args, '--keep']);
    assert.equal(kept.code, 0, kept.stderr);
    const result = JSON.parse(kept.stdout).target;
    assert.equal(result.hypertable, true);
    assert.match(result.timescaledb, /^2\./);
    assert.match(kept.stderr, /TimescaleDB 2\.[\d.]+\S*; scratch hypertable hyperfill_bench\.hyperfill_bench_cpu_[0-9a-f]{8}/);
    assert.doesNotMatch(kept.stderr, /PLAIN TABLE/);
    assert.equal(result.cells[0].rows, 600);
    const [schema, table] = (result.table as string).split('.');
    const hypertables = await query(`SELECT hypertable_schema, hypertable_name FROM timescaledb_information.hypertables WHERE hypertable_name = '${table}'`);
    assert.deepEqual(hypertables.rows, [{ hypertable_schema: schema, hypertable_name: table }]);
    const rows = await query(`SELECT count(*)::int AS n FROM ${result.table}`);
    assert.equal(rows.rows[0].n, 600);
    await query(`DROP TABLE ${result.table}`);

    const dropped = await runMain(args);
    assert.equal(dropped.code, 0, dropped.stderr);
    assert.equal(JSON.parse(dropped.stdout).target.hypertable, true);
    const left = await query("SELECT count(*)::int AS n FROM timescaledb_information.hypertables WHERE hypertable_name LIKE 'hyperfill_bench_cpu_%'");
    assert.equal(left.rows[0].n, 0, 'the scratch hypertable is gone');
  });
});
