/**
 * `backfill --on-conflict do-nothing|update` on real PostgreSQL 18 (source and target
 * databases): rows dual-write put below --until are kept (do-nothing) or updated from the
 * source (update), never deleted; rows only the target has stay; each window commits once
 * (a rerun changes nothing). The expected table is computed here from what the source and
 * the target held before, never from hyperfill's output. Also on a TimescaleDB hypertable
 * whose dual-written rows sit in a compressed chunk.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';

const UNTIL = '2024-01-03T00:00:00Z';
const DDL = 'CREATE TABLE metrics (time timestamptz NOT NULL, host text NOT NULL, cpu float8, n int, PRIMARY KEY (host, time))';

type Row = { time: Date; host: string; cpu: number; n: number };
const key = (r: Row) => `${r.host}|${r.time.toISOString()}`;

/** What the target must hold: its rows before, plus (do-nothing) or over them (update) the source's rows below --until. */
function expected(source: Row[], target: Row[], mode: 'do-nothing' | 'update'): Map<string, Row> {
  const out = new Map(target.map((r) => [key(r), r]));
  for (const r of source) {
    if (r.time.getTime() >= Date.parse(UNTIL)) continue;
    if (mode === 'update' || !out.has(key(r))) out.set(key(r), r);
  }
  return out;
}

const SOURCE_ROWS = `INSERT INTO metrics SELECT '2024-01-01'::timestamptz + i * interval '1 minute', 'h' || (i % 3), i / 10.0, i FROM generate_series(0, 4319) i`;
/** Dual-write from Jan 2 12:00 with other values (cpu -1), and a row only the target has. */
const DUAL_WRITTEN = `INSERT INTO metrics SELECT '2024-01-01'::timestamptz + i * interval '1 minute', 'h' || (i % 3), -1, -i FROM generate_series(2160, 4319) i;
  INSERT INTO metrics VALUES ('2024-01-01 06:00:30+00', 'only-in-target', 0, 0)`;

describe('backfill --on-conflict on PostgreSQL', () => {
  let server: PostgresServer;
  let sourceUrl: string;
  before(async () => {
    server = await startPostgres();
    sourceUrl = await server.createDatabase('source');
    await server.query(`${DDL}; ${SOURCE_ROWS}`, [], 'source');
  });
  after(async () => {
    await server?.stop();
  });

  for (const mode of ['do-nothing', 'update'] as const) {
    test(`--on-conflict ${mode}: dual-written rows kept or updated, none deleted, each window once`, async () => {
      const db = `t_${mode.replace('-', '_')}`;
      const target = await server.createDatabase(db);
      await server.query(`${DDL}; ${DUAL_WRITTEN}`, [], db);
      const rows = async (database: string) => (await server.query('SELECT time, host, cpu, n FROM metrics', [], database)).rows as Row[];
      const want = expected(await rows('source'), await rows(db), mode);
      const args = ['backfill', '--source', sourceUrl, '--target', target, '--table', 'metrics', '--time-column', 'time', '--until', UNTIL,
        '--allow-plain-target', '--window', '6h', '--parallel', '3', '--on-conflict', mode];
      const run = await runMain(args);
      assert.equal(run.code, 0, run.stderr);
      const got = await rows(db);
      assert.equal(got.length, want.size);
      for (const r of got) assert.deepEqual(r, want.get(key(r)), key(r));
      // Rows below --until: 2880 from the source; 720 of them (Jan 2 12:00 on) dual-written already.
      const inserted = 2880 - 720;
      const updated = mode === 'update' ? 720 : 0;
      assert.match(run.stdout, new RegExp(`public\\.metrics: on conflict: ${inserted} rows inserted, ${updated} updated a row already there, ${720 - updated} left the row there as it was`));
      const again = await runMain(args);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(await rows(db), got, 'a rerun of the finished run changes nothing');
    });
  }

  test('one connection, two tables of other columns: each window goes through a staging table of its own table', async () => {
    const other = 'CREATE TABLE other (k int, time timestamptz NOT NULL, label text, PRIMARY KEY (k, time))';
    await server.query(`${other}; INSERT INTO other SELECT i % 5, '2024-01-01'::timestamptz + i * interval '7 minutes', 'src' || i FROM generate_series(0, 999) i`, [], 'source');
    const target = await server.createDatabase('t_two');
    await server.query(`${DDL}; ${other}; ${DUAL_WRITTEN}; INSERT INTO other VALUES (1, '2024-01-01 00:07:00+00', 'dual')`, [], 't_two');
    const run = await runMain(['backfill', '--source', sourceUrl, '--target', target, '--table', 'metrics', '--table', 'other', '--time-column', 'time',
      '--until', UNTIL, '--allow-plain-target', '--window', '12h', '--parallel', '1', '--on-conflict', 'do-nothing']);
    assert.equal(run.code, 0, run.stderr);
    const labels = await server.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE label = 'dual')::int AS dual FROM other`, [], 't_two');
    // Source rows below --until: every 7 minutes over two days, 412 of them (i = 0..411); one was dual-written.
    assert.deepEqual(labels.rows[0], { n: 412, dual: 1 });
    assert.equal((await server.query(`SELECT count(*)::int AS n FROM metrics WHERE time < '${UNTIL}'`, [], 't_two')).rows[0].n, 2880 + 1);
  });

  test('--on-conflict without a unique key on the target is a usage error, and nothing is written', async () => {
    const target = await server.createDatabase('t_nokey');
    await server.query('CREATE TABLE metrics (time timestamptz NOT NULL, host text NOT NULL, cpu float8, n int)', [], 't_nokey');
    const run = await runMain(['backfill', '--source', sourceUrl, '--target', target, '--table', 'metrics', '--time-column', 'time', '--until', UNTIL,
      '--allow-plain-target', '--on-conflict', 'update']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /has no primary key or unique index: with --on-conflict nothing could conflict/);
    const bad = await runMain(['backfill', '--source', sourceUrl, '--target', target, '--table', 'metrics', '--until', UNTIL, '--on-conflict', 'replace']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /`--on-conflict` must be do-nothing or update/);
    assert.equal((await server.query('SELECT count(*)::int AS n FROM metrics', [], 't_nokey')).rows[0].n, 0);
  });
});

describeNative('backfill --on-conflict into a hypertable', { timescale: true }, () => {
  let ts: NativeServer;
  before(async () => {
    ts = await startNativePostgres({ timescale: true });
  });
  after(async () => {
    await ts?.stop();
  });

  test('update: dual-written rows in a compressed chunk get the source values; rows only the target has stay', async () => {
    const sourceUrl = await ts.createDatabase('src');
    const target = await ts.createDatabase('dst');
    const hyper = `${DDL}; SELECT create_hypertable('metrics', by_range('time', INTERVAL '12 hours'));
      ALTER TABLE metrics SET (timescaledb.compress, timescaledb.compress_segmentby = 'host')`;
    await ts.query(`${hyper}; ${SOURCE_ROWS}`, [], 'src');
    await ts.query(`${hyper}; ${DUAL_WRITTEN}; SELECT compress_chunk(c) FROM show_chunks('metrics', older_than => '${UNTIL}'::timestamptz) c`, [], 'dst');
    const rows = async (database: string) => (await ts.query('SELECT time, host, cpu, n FROM metrics', [], database)).rows as Row[];
    const want = expected(await rows('src'), await rows('dst'), 'update');
    const run = await runMain(['backfill', '--source', sourceUrl, '--target', target, '--table', 'metrics', '--until', UNTIL, '--parallel', '2', '--on-conflict', 'update']);
    assert.equal(run.code, 0, run.stderr);
    const got = await rows('dst');
    assert.equal(got.length, want.size);
    for (const r of got) assert.deepEqual(r, want.get(key(r)), key(r));
  });
});
