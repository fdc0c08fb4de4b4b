/**
 * Direct compress on the real TimescaleDB 2.28: a backfill into a hypertable with
 * compression whose range holds dual-written rows in a partially compressed chunk and in
 * an uncompressed chunk. With `--direct-compress on` every dual-written row is replaced
 * exactly once, the target equals the source (counts, an md5 over all rows, verify
 * --checksum), every chunk of the range ends compressed, the fresh ones ordered (status 1),
 * and ordered queries return the source's rows; the policies are as the user left them;
 * a SIGKILL and a rerun give the same. `auto` leaves chunks that hold dual-written rows
 * alone. `copy --direct-compress` compresses as it loads, or says why it cannot.
 * Everything is checked with SQL against the source, not with hyperfill's output.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { killWhen, runCli } from './helpers/cli.js';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';
import { runMain } from './helpers/run-main.js';
import { tempDir } from './helpers/temp-dir.js';

const UNTIL = '2024-01-06T12:00:00Z';
const ROWS = 20_160; // one row every 30 s from Jan 1 to Jan 8

describeNative('backfill and copy with direct compress', { timescale: true }, () => {
  let server: NativeServer;
  let source: string;

  before(async () => {
    server = await startNativePostgres({ timescale: true });
    source = await server.createDatabase('source');
    await server.query(`CREATE TABLE metrics (time timestamptz NOT NULL, host text NOT NULL, cpu float8, n int);
      INSERT INTO metrics SELECT '2024-01-01'::timestamptz + i * interval '30 seconds', 'h' || (i % 4), round((random() * 100)::numeric, 2), i
      FROM generate_series(0, ${ROWS - 1}) i; CREATE INDEX ON metrics (time)`, [], 'source');
  });
  after(async () => {
    await server?.stop();
  });

  /**
   * A target whose dual-write began Jan 5: it holds the source's rows from then on. The
   * Jan 5 chunk is partially compressed (compressed, then more rows came), the Jan 6
   * chunk is not compressed. The compression policy (10 years) would compress none of
   * them; the retention policy was paused by the user.
   */
  async function prepareTarget(name: string): Promise<{ url: string; jobs: Record<number, boolean> }> {
    const url = await server.createDatabase(name);
    await server.query(`CREATE TABLE metrics (time timestamptz NOT NULL, host text NOT NULL, cpu float8, n int);
      SELECT create_hypertable('metrics', by_range('time', INTERVAL '1 day'));
      ALTER TABLE metrics SET (timescaledb.compress, timescaledb.compress_segmentby = 'host', timescaledb.compress_orderby = 'time DESC')`, [], name);
    const dual = async (from: string, to: string) => {
      const rows = (await server.query(`SELECT time, host, cpu, n FROM metrics WHERE time >= $1 AND time < $2`, [from, to], 'source')).rows;
      await server.query(`INSERT INTO metrics SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::float8[], $4::int[])`,
        [rows.map((r) => r.time), rows.map((r) => r.host), rows.map((r) => r.cpu), rows.map((r) => r.n)], name);
    };
    await dual('2024-01-05', '2024-01-05 18:00');
    await server.query(`SELECT compress_chunk(c) FROM show_chunks('metrics') c`, [], name);
    await dual('2024-01-05 18:00', '2024-01-09');
    const compression = (await server.query(`SELECT add_compression_policy('metrics', INTERVAL '10 years') AS id`, [], name)).rows[0].id;
    const retention = (await server.query(`SELECT add_retention_policy('metrics', INTERVAL '20 years') AS id`, [], name)).rows[0].id;
    await server.query('SELECT alter_job($1, scheduled => false)', [retention], name);
    const status = await chunkStatus(name);
    assert.equal(status['2024-01-05'], 9, 'the Jan 5 chunk starts partially compressed');
    assert.equal(status['2024-01-06'], 0, 'the Jan 6 chunk starts uncompressed');
    return { url, jobs: { [compression]: true, [retention]: false } };
  }

  /** Chunk status bits by the chunk's first day. */
  async function chunkStatus(db: string): Promise<Record<string, number>> {
    const r = await server.query(`SELECT to_char(i.range_start, 'YYYY-MM-DD') AS day, c.status FROM timescaledb_information.chunks i
      JOIN _timescaledb_catalog.chunk c ON c.schema_name = i.chunk_schema AND c.table_name = i.chunk_name
      WHERE i.hypertable_name = 'metrics' ORDER BY 1`, [], db);
    return Object.fromEntries(r.rows.map((row) => [row.day, row.status]));
  }

  async function scheduled(db: string): Promise<Record<number, boolean>> {
    const r = await server.query(`SELECT job_id, scheduled FROM timescaledb_information.jobs WHERE hypertable_name = 'metrics'`, [], db);
    return Object.fromEntries(r.rows.map((row) => [row.job_id, row.scheduled]));
  }

  /** The target equals the source: every row once, the same values, in every ordered read too. */
  async function assertEqualToSource(db: string, url: string): Promise<void> {
    const digest = `SELECT count(*)::int AS c, count(DISTINCT n)::int AS d, md5(string_agg(concat_ws('|', time, host, cpu, n), ',' ORDER BY n)) AS h FROM metrics`;
    const [s, t] = [await server.query(digest, [], 'source'), await server.query(digest, [], db)];
    assert.equal(t.rows[0].c, t.rows[0].d, 'no row twice');
    assert.deepEqual(t.rows[0], s.rows[0], 'target rows equal source rows');
    for (const order of ['time DESC', 'time']) {
      const q = `SELECT time, n FROM metrics WHERE host = 'h1' AND time < '${UNTIL}' ORDER BY ${order} LIMIT 300`;
      assert.deepEqual((await server.query(q, [], db)).rows, (await server.query(q, [], 'source')).rows, `ORDER BY ${order} reads the source's rows`);
    }
    const verify = await runMain(['verify', '--source', server.url('source'), '--target', url, '--table', 'metrics', '--time-column', 'time', '--until', UNTIL, '--checksum']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  }

  const args = (url: string, ...extra: string[]) => ['backfill', '--source', source, '--target', url, '--table', 'metrics',
    '--time-column', 'time', '--until', UNTIL, '--window', '12h', ...extra];

  test('--direct-compress on: dual-written rows in compressed and uncompressed chunks replaced once, every chunk of the range compressed', async () => {
    const { url, jobs } = await prepareTarget('t_on');
    const run = await runMain(args(url, '--direct-compress', 'on', '--parallel', '2'));
    assert.equal(run.code, 0, run.stderr);
    await assertEqualToSource('t_on', url);
    const status = await chunkStatus('t_on');
    for (const day of ['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04']) assert.equal(status[day], 1, `${day}: compressed, ordered (sorted by the source)`);
    for (const day of ['2024-01-05', '2024-01-06']) assert.equal((status[day] ?? 0) & 1, 1, `${day}: compressed`);
    assert.equal(status['2024-01-07'], 0, 'the chunk after --until is untouched');
    assert.deepEqual(await scheduled('t_on'), jobs, 'policies as the user left them');
    assert.match(run.stdout, /public\.metrics: 11 windows by direct compress, sorted/);
  });

  test('--direct-compress auto: chunks that hold dual-written rows are loaded normally, the others compressed', async () => {
    const { url, jobs } = await prepareTarget('t_auto');
    const run = await runMain(args(url, '--parallel', '2'));
    assert.equal(run.code, 0, run.stderr);
    await assertEqualToSource('t_auto', url);
    const status = await chunkStatus('t_auto');
    for (const day of ['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04']) assert.equal(status[day], 1, `${day}: compressed by direct compress`);
    assert.equal(status['2024-01-06'], 0, 'the Jan 6 chunk holds dual-written rows: not compressed');
    assert.equal(status['2024-01-05'], 9, 'the Jan 5 chunk stays as it was: compressed, partial');
    assert.deepEqual(await scheduled('t_auto'), jobs);
  });

  test('SIGKILL during a direct-compress backfill, then a rerun: the same result', async () => {
    const { url, jobs } = await prepareTarget('t_kill');
    const windowsDone = async () => (await server.query(`SELECT count(*)::int AS n FROM hyperfill.backfill_window WHERE state = 'done'`, [], 't_kill')).rows[0].n;
    const first = await runCli(args(url, '--direct-compress', 'on', '--parallel', '1'), { onSpawn: killWhen(async () => (await windowsDone()) >= 3) });
    assert.equal(first.signal, 'SIGKILL');
    const done = await windowsDone();
    assert.ok(done >= 3 && done < 11, `killed mid-run after ${done} windows`);
    assert.equal((await scheduled('t_kill'))[Number(Object.keys(jobs)[0])], false, 'the killed run left the compression policy paused');
    const again = await runCli(args(url, '--direct-compress', 'on', '--parallel', '1'));
    assert.equal(again.code, 0, again.stderr);
    await assertEqualToSource('t_kill', url);
    const status = await chunkStatus('t_kill');
    for (const day of ['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04', '2024-01-05', '2024-01-06']) assert.equal((status[day] ?? 0) & 1, 1, `${day}: compressed`);
    assert.deepEqual(await scheduled('t_kill'), jobs, 'the rerun restored what the killed run had paused');
  });

  test('copy --direct-compress: chunks compressed as they load; a unique index makes it load normally and say so', async () => {
    const csv = join(tempDir('dc'), 'metrics.csv');
    const rows = await server.query(`SELECT time, host, cpu, n FROM metrics ORDER BY n`, [], 'source');
    writeFileSync(csv, rows.rows.map((r) => `${(r.time as Date).toISOString()},${r.host},${r.cpu},${r.n}`).join('\n') + '\n');
    const url = await server.createDatabase('t_copy');
    await server.query(`CREATE TABLE metrics (time timestamptz NOT NULL, host text NOT NULL, cpu float8, n int);
      SELECT create_hypertable('metrics', by_range('time', INTERVAL '1 day'));
      ALTER TABLE metrics SET (timescaledb.compress, timescaledb.compress_segmentby = 'host');
      CREATE TABLE keyed (LIKE metrics); SELECT create_hypertable('keyed', by_range('time', INTERVAL '1 day'));
      CREATE UNIQUE INDEX ON keyed (time, n); ALTER TABLE keyed SET (timescaledb.compress, timescaledb.compress_segmentby = 'host')`, [], 't_copy');
    const compressed = async (table: string) => (await server.query(`SELECT count(*) FILTER (WHERE is_compressed)::int AS c, count(*)::int AS n
      FROM timescaledb_information.chunks WHERE hypertable_name = $1`, [table], 't_copy')).rows[0];
    const count = async (table: string) => (await server.query(`SELECT count(*)::int AS n, count(DISTINCT n)::int AS d FROM ${table}`, [], 't_copy')).rows[0];

    let run = await runMain(['copy', '--connection', url, '--table', 'metrics', '--file', csv]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await count('metrics'), { n: ROWS, d: ROWS });
    assert.deepEqual(await compressed('metrics'), { c: 7, n: 7 }, 'auto: every chunk compressed by the load itself');

    await server.query('TRUNCATE metrics', [], 't_copy');
    run = await runMain(['copy', '--connection', url, '--table', 'metrics', '--file', csv, '--direct-compress', 'off']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await compressed('metrics'), { c: 0, n: 7 }, 'off: loaded uncompressed');

    run = await runMain(['copy', '--connection', url, '--table', 'keyed', '--file', csv, '--direct-compress', 'on']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /copy: loading without direct compress: the hypertable has a unique index or primary key/);
    assert.deepEqual(await count('keyed'), { n: ROWS, d: ROWS });
    assert.deepEqual(await compressed('keyed'), { c: 0, n: 7 });

    run = await runMain(['copy', '--connection', url, '--table', 'metrics', '--file', csv, '--direct-compress', 'sometimes']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /`--direct-compress` must be auto, on or off, got "sometimes"/);
  });
});
