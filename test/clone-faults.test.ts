/**
 * A target that restarts in the middle of `hyperfill clone`: the clone stops with a clear
 * error, the target keeps nothing of the half-loaded dump (one transaction) and is out of
 * TimescaleDB's restore mode again, and a rerun of the same command completes with every
 * row. Real servers: a TimescaleDB 2.28 source and target, the target restarted with
 * `pg_ctl restart -m fast` while psql is inside the dump's COPY.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runCli } from './helpers/cli.js';
import { digest } from './helpers/table-digest.js';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';

let source: NativeServer;
let target: NativeServer;

describeNative('clone survives a target restart', { timescale: true }, () => {
  before(async () => {
    [source, target] = await Promise.all([startNativePostgres({ timescale: true }), startNativePostgres({ timescale: true })]);
    await Promise.all([source.createDatabase('app'), target.createDatabase('app')]);
    for (const sql of [
      'CREATE ROLE auditor LOGIN',
      // ~40 MB of relational rows, so the restart lands inside the load.
      'CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)',
      `INSERT INTO notes SELECT i, repeat(md5(i::text), 3) FROM generate_series(1, 400000) i`,
      'CREATE TABLE metrics (time timestamptz NOT NULL, v float8)',
      `SELECT create_hypertable('metrics', by_range('time', INTERVAL '1 day'))`,
      `INSERT INTO metrics SELECT '2024-01-01'::timestamptz + i * interval '1 minute', i FROM generate_series(1, 5000) i`,
      `SELECT add_retention_policy('metrics', INTERVAL '10 years')`,
    ]) await source.query(sql, [], 'app');
  });
  after(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
  });

  test('restart during the load: clear error, nothing kept, out of restore mode; the rerun completes', async () => {
    const args = ['clone', '--source', source.url('app'), '--target', target.url('app')];
    let restarted = false;
    let restartError: unknown;
    const copying = () => target.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'hyperfill-clone' AND query LIKE 'COPY "public"."notes"%'`)
      .then((r) => r.rows[0].n > 0, () => false);
    const failed = await runCli(args, {
      onSpawn: (child) => {
        let closed = false;
        child.on('close', () => { closed = true; });
        void (async () => {
          while (!closed && !restarted) {
            if (await copying()) {
              restarted = true;
              await target.restart('fast').catch((err) => { restartError = err; });
            } else await new Promise((resolve) => setTimeout(resolve, 20));
          }
        })();
      },
    });
    assert.equal(restartError, undefined);
    assert.ok(restarted, `the load was seen and the target restarted (clone said: ${failed.stderr})`);
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /error E_TARGET_LOST: the connection to the target was lost while loading the dump \(dump line \d+, row \d+ of notes\)/);
    assert.match(failed.stderr, /the target kept nothing of the dump \(it loads in one transaction\): fix the cause and rerun the same command/);
    const tables = await target.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`, [], 'app');
    assert.deepEqual(tables.rows, [{ n: 0 }], 'nothing of the dump was kept');
    const mode = await target.query(`SELECT current_setting('timescaledb.restoring') AS restoring`, [], 'app');
    assert.deepEqual(mode.rows, [{ restoring: 'off' }], 'post_restore ran once the target was back');

    const rerun = await runCli(args);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stderr, /roles: left out CREATE ROLE "auditor": the target has this role already/);
    assert.deepEqual(await digest(target, 'app', 'notes'), await digest(source, 'app', 'notes'));
    const jobs = `SELECT job_id, proc_name, schedule_interval::text, config FROM timescaledb_information.jobs WHERE job_id >= 1000 ORDER BY 1`;
    assert.deepEqual((await target.query(jobs, [], 'app')).rows, (await source.query(jobs, [], 'app')).rows);
  });
});
