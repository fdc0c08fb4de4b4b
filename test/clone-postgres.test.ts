/**
 * `hyperfill clone` from a PostgreSQL 15 source (Debian's, started by the harness) into a
 * real TimescaleDB 2.28 target, then the rest of the method on the same databases:
 * roles sanitised (a superuser, a REPLICATION role, a grant GRANTED BY, a password with
 * keywords in it), relational rows equal, the hypertable empty; status at each step;
 * backfill + verify equal; --suggest; a blocked candidate, a target that has the schema,
 * missing and too-old client tools and a role the target may not create, each stopping
 * before anything changes; --data-only at cut-over. Rows are compared with SQL of the
 * test's own on both sides.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';
import { digest, rows } from './helpers/table-digest.js';
import { tempDir } from './helpers/temp-dir.js';

let source: NativeServer;
let target: NativeServer;
const ROWS = 200_000;
/** Dual-write began with this row: the target gets every row from here on. */
const DUAL_FROM = 150_001;
const PASSWORDS = { boss: 'boss-secret', replicator: "r;SUPERUSER'x GRANTED BY" };

/** Row i of the time series, the same expression on both sides. */
const metricRows = (from: number, to: number) =>
  `SELECT '2024-01-01'::timestamptz + i * interval '2 seconds', 1 + i % 50, (i % 1000) / 10.0, i FROM generate_series(${from}, ${to}) i`;

describeNative('clone from PostgreSQL into TimescaleDB', { timescale: true }, () => {
  before(async () => {
    [source, target] = await Promise.all([startNativePostgres(), startNativePostgres({ timescale: true })]);
    await source.createDatabase('app');
    await target.createDatabase('app');
    await source.query(`CREATE ROLE boss SUPERUSER LOGIN PASSWORD '${PASSWORDS.boss}';
      CREATE ROLE replicator REPLICATION LOGIN PASSWORD '${PASSWORDS.replicator.replace(/'/g, "''")}';
      CREATE ROLE readers NOLOGIN BYPASSRLS; CREATE ROLE analyst LOGIN; CREATE ROLE "we""ird role" LOGIN;
      GRANT readers TO analyst GRANTED BY boss`);
    await source.query(`
      CREATE TABLE hosts (id int PRIMARY KEY, name text NOT NULL, rack text);
      CREATE TABLE "odd ""name""" (k text PRIMARY KEY, v jsonb);
      CREATE TABLE metrics (time timestamptz NOT NULL, host_id int NOT NULL REFERENCES hosts, cpu float8, n bigserial);
      CREATE INDEX ON metrics (time);
      CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL, kind text);
      CREATE TABLE alerts (id int PRIMARY KEY, event_id bigint REFERENCES events);
      INSERT INTO hosts SELECT i, 'host-' || i, CASE WHEN i % 7 = 0 THEN NULL ELSE 'rack ' || (i % 5) END FROM generate_series(1, 100) i;
      INSERT INTO "odd ""name""" SELECT 'k' || i, jsonb_build_object('i', i, 'tab', E'a\\tb') FROM generate_series(1, 50) i;
      INSERT INTO metrics (time, host_id, cpu) SELECT t, h, c FROM (${metricRows(1, ROWS)}) s(t, h, c, i) ORDER BY i;
      INSERT INTO events SELECT i, '2024-01-01'::timestamptz + i * interval '1 hour', 'k' || (i % 3) FROM generate_series(1, 500) i;
      INSERT INTO alerts SELECT i, i FROM generate_series(1, 20) i;
      ANALYZE;`, [], 'app');
  });
  after(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
  });

  const clone = (extra: string[] = [], db = 'app', targetUrl = target.url(db)) =>
    runMain(['clone', '--source', source.url('app'), '--target', targetUrl, ...extra]);

  test('--suggest lists the time-series tables largest first, with time column, interval and blockers', async () => {
    const run = await runMain(['clone', '--source', source.url('app'), '--suggest', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const listed = JSON.parse(run.stdout) as Array<{ table: { table: string }; timeColumn: string; problems: string[]; flag: string; bytes: number }>;
    assert.deepEqual(listed.map((c) => c.table.table), ['metrics', 'events'], 'tables with a timestamp column, largest first');
    assert.ok(listed[0]!.bytes > listed[1]!.bytes);
    assert.equal(listed[0]!.timeColumn, 'time');
    assert.deepEqual(listed[0]!.problems, []);
    assert.match(listed[0]!.flag, /^--hypertable public\.metrics:time:\d+[mhd]$/);
    const events = listed[1]!;
    assert.equal(events.problems.length, 2, events.problems.join('\n'));
    assert.match(events.problems[0]!, /unique key "events_pkey" \(PRIMARY KEY \(id\)\) of public\.events lacks the time column "at"/);
    assert.match(events.problems[1]!, /foreign key "alerts_event_id_fkey" of public\.alerts .* without its time column "at"/);
    const text = await runMain(['clone', '--source', source.url('app'), '--suggest']);
    assert.match(text.stdout, /public\.metrics .* --hypertable public\.metrics:time:/);
    assert.match(text.stdout, /public\.events .* blocked \(2, below\)/);
  });

  test('a blocked candidate stops the clone before anything changes', async () => {
    await target.createDatabase('blocked');
    const run = await clone(['--hypertable', 'events'], 'blocked');
    assert.equal(run.code, 1);
    assert.match(run.stderr, /E_HYPERTABLE_BLOCKED: hypertable candidates cannot be converted as they are \(nothing was changed\)/);
    assert.match(run.stderr, /events_pkey.*\n.*alerts_event_id_fkey/);
    assert.deepEqual(await rows(target, 'blocked', `SELECT tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND schemaname NOT LIKE '\\_timescaledb%'`), []);
    assert.deepEqual(await rows(target, 'postgres', `SELECT rolname FROM pg_roles WHERE rolname IN ('boss', 'analyst')`), [], 'no role created either');
  });

  test('clone: roles sanitised, relational rows equal, the hypertable empty', async () => {
    const run = await clone(['--hypertable', 'metrics:time:1d']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /roles: role "boss": removed SUPERUSER/);
    assert.match(run.stderr, /roles: role "replicator": removed NOSUPERUSER, REPLICATION/);
    assert.match(run.stderr, /roles: role "readers": removed NOSUPERUSER, NOREPLICATION, BYPASSRLS/);
    assert.match(run.stderr, /roles: GRANT "readers" TO "analyst": removed GRANTED BY "boss"/);
    assert.match(run.stderr, /roles: left out CREATE ROLE "postgres"/);
    assert.match(run.stderr, /hypertable public\.metrics: created on "time", chunk interval 1 day/);
    assert.match(run.stdout, /clone complete: postgres@127\.0\.0\.1:\d+\/app -> postgres@127\.0\.0\.1:\d+\/app/);
    for (const secret of [...Object.values(PASSWORDS), 'SCRAM-SHA', source.password, target.password]) {
      assert.ok(!run.stdout.includes(secret) && !run.stderr.includes(secret), `never printed: ${secret}`);
    }

    const attributes = `SELECT rolname, rolsuper, rolreplication, rolbypassrls, rolcanlogin FROM pg_roles
      WHERE rolname IN ('boss', 'replicator', 'readers', 'analyst', 'we"ird role') ORDER BY 1`;
    assert.deepEqual(await rows(target, 'postgres', attributes), [
      { rolname: 'analyst', rolsuper: false, rolreplication: false, rolbypassrls: false, rolcanlogin: true },
      { rolname: 'boss', rolsuper: false, rolreplication: false, rolbypassrls: false, rolcanlogin: true },
      { rolname: 'readers', rolsuper: false, rolreplication: false, rolbypassrls: false, rolcanlogin: false },
      { rolname: 'replicator', rolsuper: false, rolreplication: false, rolbypassrls: false, rolcanlogin: true },
      { rolname: 'we"ird role', rolsuper: false, rolreplication: false, rolbypassrls: false, rolcanlogin: true },
    ]);
    const hashes = `SELECT rolname, rolpassword FROM pg_authid WHERE rolname IN ('boss', 'replicator') ORDER BY 1`;
    assert.deepEqual(await rows(target, 'postgres', hashes), await rows(source, 'postgres', hashes), 'password hashes arrive untouched');
    assert.deepEqual(await rows(target, 'postgres', `SELECT m.rolname AS member FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid
      JOIN pg_roles m ON m.oid = a.member WHERE r.rolname = 'readers'`), [{ member: 'analyst' }]);
    assert.deepEqual(await rows(target, 'postgres', `SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'`), [{ rolsuper: true }]);

    for (const table of ['hosts', '"odd ""name"""', 'events', 'alerts']) {
      const [s, t] = await Promise.all([digest(source, 'app', table), digest(target, 'app', table)]);
      assert.ok(s.n > 0);
      assert.deepEqual(t, s, `${table}: the same rows`);
    }
    assert.deepEqual(await rows(target, 'app', 'SELECT count(*)::int AS n FROM metrics'), [{ n: 0 }], 'the hypertable is empty');
    assert.deepEqual(await rows(target, 'app', `SELECT column_name, time_interval::text FROM timescaledb_information.dimensions WHERE hypertable_name = 'metrics'`),
      [{ column_name: 'time', time_interval: '1 day' }]);
    assert.deepEqual(await rows(target, 'app', `SELECT conname FROM pg_constraint WHERE conrelid = 'metrics'::regclass AND contype = 'f'`),
      [{ conname: 'metrics_host_id_fkey' }], 'the foreign key to the relational table stays');
    const seq = `SELECT last_value::int AS v FROM metrics_n_seq`;
    assert.deepEqual(await rows(target, 'app', seq), await rows(source, 'app', seq), 'sequences carry on where the source is');
    assert.deepEqual(await rows(target, 'app', 'SELECT finished_at IS NOT NULL AS finished FROM hyperfill.clone_run'), [{ finished: true }]);
  });

  test('status, then dual-write, backfill and verify to the end', async () => {
    const status = async () => {
      const run = await runMain(['status', '--source', source.url('app'), '--target', target.url('app'), '--json']);
      assert.equal(run.code, 0, run.stderr);
      return JSON.parse(run.stdout);
    };
    let report = await status();
    assert.equal(report.clone.relationalTables, 4);
    assert.deepEqual(report.tables.map((t: { table: string }) => t.table), ['public.metrics']);
    assert.equal(report.tables[0].cloned, 'done');
    assert.equal(report.tables[0].dualWriteSince, undefined);
    assert.match(report.next, /public\.metrics: make the application write to this table in both databases/);

    await target.query(`INSERT INTO metrics (time, host_id, cpu, n) ${metricRows(DUAL_FROM, ROWS)}`, [], 'app');
    report = await status();
    // Row 150001 is at 2024-01-04 11:20:02; one hour of lateness later, the next 1-day chunk starts 2024-01-05.
    assert.equal(report.tables[0].dualWriteSince, '2024-01-04 11:20:02+00');
    assert.equal(report.tables[0].suggestedUntil, '2024-01-05 00:00:00+00');
    assert.match(report.tables[0].next, /^hyperfill backfill --source SOURCE --target TARGET --table public\.metrics --until '2024-01-05 00:00:00\+00'$/);

    const until = '2024-01-05T00:00:00Z';
    const range = ['--source', source.url('app'), '--target', target.url('app'), '--table', 'metrics', '--time-column', 'time', '--until', until];
    const backfill = await runMain(['backfill', ...range, '--parallel', '2']);
    assert.equal(backfill.code, 0, backfill.stderr);
    report = await status();
    assert.match(report.tables[0].next, /^hyperfill verify .* --until 2024-01-05T00:00:00Z --checksum$/);

    const verify = await runMain(['verify', ...range, '--checksum']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    const below = `time < '${until}'`;
    const [s, t] = await Promise.all([digest(source, 'app', 'metrics', below), digest(target, 'app', 'metrics', below)]);
    assert.equal(s.n, 172_799, 'rows 1..172799 lie before T');
    assert.deepEqual(t, s);
    assert.deepEqual(await digest(target, 'app', 'metrics'), await digest(source, 'app', 'metrics'), 'and with dual-write, the whole table');

    report = await status();
    assert.equal(report.tables[0].verify.matches, true);
    assert.equal(report.tables[0].verify.sourceRows, 172_799);
    assert.equal(report.tables[0].backfill.windowsDone, report.tables[0].backfill.windowsTotal);
    assert.match(report.next, /every table is backfilled, verified and its jobs restored/);
    const screen = await runMain(['status', '--source', source.url('app'), '--target', target.url('app')]);
    assert.match(screen.stdout, /public\.metrics \(hypertable, time column "time"\)\n  clone +done\n/);
    assert.match(screen.stdout, /last verify +match: source 172799 rows, target 172799 \(checksum/);
  });

  test('a target that already holds the schema: clone says so and stops, unless --if-exists skip', async () => {
    const before = await digest(target, 'app', 'hosts');
    const again = await clone(['--hypertable', 'metrics:time:1d']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /E_TARGET_HAS_SCHEMA: the target already holds 5 of the source's 5 tables \(public\.alerts, public\.events, public\.hosts, public\.metrics, public\."odd ""name"""\)/);
    // A libpq key=value source this time: pg_dumpall gets it without the password.
    const keyValue = `host=127.0.0.1 port=${source.port} dbname=app user=postgres password=${source.password}`;
    const skip = await runMain(['clone', '--source', keyValue, '--target', target.url('app'), '--hypertable', 'metrics:time:1d', '--if-exists', 'skip']);
    assert.equal(skip.code, 0, skip.stderr);
    assert.match(skip.stderr, /not loaded again \(--if-exists skip\)/);
    assert.match(skip.stderr, /roles: left out CREATE ROLE "boss": the target has this role already/);
    assert.match(skip.stderr, /hypertable public\.metrics: a hypertable already/);
    assert.deepEqual(await digest(target, 'app', 'hosts'), before);
  });

  test('client tools: a missing one and one older than the source are clear errors naming the package', async () => {
    const empty = tempDir('no-tools');
    await target.createDatabase('tools');
    const missing = await clone(['--pg-bin', empty], 'tools');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /error E_CLIENT_TOOL_MISSING: no pg_dump, pg_dumpall, psql found in .*hyperfill-no-tools-\w+ \(--pg-bin\)/);
    assert.match(missing.stderr, /apt-get install postgresql-client-15/);
    let newer: PostgresServer | undefined;
    try {
      newer = await startPostgres();
      const major = Number((await newer.query('SHOW server_version_num')).rows[0].server_version_num.slice(0, -4));
      assert.ok(major > 15, 'the embedded server is newer than Debian\'s client tools');
      await newer.createDatabase('target');
      const old = await runMain(['clone', '--source', newer.url(), '--target', newer.url('target'), '--allow-plain-target', '--pg-bin', '/usr/lib/postgresql/15/bin']);
      assert.equal(old.code, 1);
      assert.match(old.stderr, new RegExp(`E_CLIENT_TOOL_TOO_OLD: pg_dump, pg_dumpall, psql 15\\.\\d+ \\(/usr/lib/postgresql/15/bin\\) are older than the source's PostgreSQL ${major}`));
      assert.match(old.stderr, new RegExp(`postgresql-client-${major}`));
      assert.deepEqual((await newer.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`, [], 'target')).rows, [{ n: 0 }]);
    } finally {
      await newer?.stop();
    }
    assert.deepEqual(await rows(target, 'tools', `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`), [{ n: 0 }]);
  });

  test('a role the target may not create: a clear error naming it; --no-roles then clones as that user', async () => {
    await source.query('CREATE ROLE aaa_only_in_source NOLOGIN');
    await target.query(`CREATE ROLE loader LOGIN PASSWORD 'loader-pw'`);
    await target.query('CREATE DATABASE limited OWNER loader');
    const url = `postgres://loader:loader-pw@127.0.0.1:${target.port}/limited`;
    const refused = await clone(['--hypertable', 'metrics:time:1d'], 'limited', url);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /E_ROLE_PERMISSION: the target user "loader" may not run CREATE ROLE "aaa_only_in_source": permission denied to create role/);
    assert.match(refused.stderr, /--no-roles/);
    assert.ok(!refused.stderr.includes('loader-pw'));
    assert.deepEqual(await rows(target, 'limited', `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`), [{ n: 0 }], 'nothing loaded');

    // The client tools, wrapped to log how they were started: passwords reach them in the environment only.
    const tools = tempDir('tools');
    for (const tool of ['pg_dump', 'pg_dumpall', 'psql']) {
      writeFileSync(join(tools, tool), `#!/bin/sh\necho "${tool} PGPASSWORD=\${PGPASSWORD:+set} $*" >> ${join(tools, 'calls.log')}\nexec /usr/lib/postgresql/15/bin/${tool} "$@"\n`, { mode: 0o755 });
    }
    const plain = await clone(['--hypertable', 'metrics:time:1d', '--no-roles', '--pg-bin', tools], 'limited', url);
    assert.equal(plain.code, 0, plain.stderr);
    const calls = readFileSync(join(tools, 'calls.log'), 'utf8').split('\n').filter((l) => !l.includes('--version') && l !== '');
    // pg_dump and psql start together (a pipe): either may log first.
    assert.deepEqual(calls.map((l) => l.split(' ').slice(0, 2).join(' ')).sort(), ['pg_dump PGPASSWORD=set', 'psql PGPASSWORD=set']);
    const call = (tool: string) => calls.find((l) => l.startsWith(`${tool} `)) ?? '';
    assert.match(call('pg_dump'), new RegExp(`--dbname=postgres://postgres@127\\.0\\.0\\.1:${source.port}/app$`));
    assert.match(call('psql'), new RegExp(`--dbname=postgres://loader@127\\.0\\.0\\.1:${target.port}/limited$`));
    assert.ok(calls.every((l) => !l.includes('loader-pw') && !l.includes(source.password)), 'no password on a command line');
    assert.deepEqual(await digest(target, 'limited', 'hosts'), await digest(source, 'app', 'hosts'));
    assert.deepEqual(await rows(target, 'limited', `SELECT owner FROM timescaledb_information.hypertables`), [{ owner: 'loader' }]);
  });

  test('--data-only copies changed relational tables again: truncate + copy, or a merge where foreign keys point in', async () => {
    await source.query(`UPDATE hosts SET rack = 'moved' WHERE id = 2; INSERT INTO hosts VALUES (101, 'host-101', 'new');
      DELETE FROM hosts WHERE id = 99;
      DELETE FROM "odd ""name""" WHERE k = 'k1'; INSERT INTO "odd ""name""" VALUES ('k51', '{"i": 51}')`, [], 'app');
    const run = await runMain(['clone', '--source', source.url('app'), '--target', target.url('app'), '--data-only', '--table', 'hosts', '--table', '"odd ""name"""']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /public\.hosts\s+100\s+merge by primary key/);
    assert.match(run.stdout, /public\."odd ""name"""\s+50\s+truncate \+ copy/);
    for (const table of ['hosts', '"odd ""name"""']) assert.deepEqual(await digest(target, 'app', table), await digest(source, 'app', table), table);

    // A host the target's metrics still reference cannot go: the table stays as it was.
    const kept = await digest(target, 'app', 'hosts');
    await source.query('DELETE FROM metrics WHERE host_id = 1; DELETE FROM hosts WHERE id = 1', [], 'app');
    const refused = await runMain(['clone', '--source', source.url('app'), '--target', target.url('app'), '--data-only', '--table', 'hosts']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /E_DATA_ONLY_REFERENCED: copying public\.hosts failed: .*violates foreign key constraint "metrics_host_id_fkey"/);
    assert.deepEqual(await digest(target, 'app', 'hosts'), kept);
  });
});
