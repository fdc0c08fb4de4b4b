/**
 * Backfill across real PostgreSQL majors: Debian's PostgreSQL 15 (native cluster) as the
 * source of an embedded PostgreSQL 18 target, binary COPY between them, checked with
 * SQL on both sides; and the reverse refused before anything is written, since the
 * target must run the same or a newer major.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';

const UNTIL = '2024-01-03T00:00:00Z';
const TABLE = `CREATE TABLE readings (time timestamptz NOT NULL, device int NOT NULL, value float8, price numeric(12,3), ok boolean,
  label text, id uuid, doc jsonb, day date, local_ts timestamp, tags text[])`;
const ROWS = `INSERT INTO readings SELECT '2024-01-01'::timestamptz + i * interval '1 minute', i % 7, i / 3.0, i * 1.125, i % 2 = 0,
  CASE WHEN i % 5 = 0 THEN NULL ELSE 'label ' || i END, md5(i::text)::uuid, jsonb_build_object('i', i), '2024-01-01'::date + i / 1440,
  '2024-01-01'::timestamp + i * interval '1 second', ARRAY['a' || i, NULL] FROM generate_series(0, 4319) i`;
// Text forms of timestamptz follow the session's TimeZone: fixed to UTC so both sides print alike.
const DIGEST = `SELECT count(*)::int AS n, md5(string_agg(readings::text, '|' ORDER BY time)) AS h
  FROM (SELECT set_config('TimeZone', 'UTC', true)) tz, readings WHERE time < '${UNTIL}'`;

describeNative('backfill across PostgreSQL majors', { major: 15 }, () => {
  let pg15: NativeServer;
  let pg18: PostgresServer;

  before(async () => {
    [pg15, pg18] = await Promise.all([startNativePostgres(), startPostgres()]);
    await Promise.all([pg15.query(`SET TIME ZONE 'UTC'; ${TABLE}; ${ROWS}`), pg18.query(`${TABLE}; ${ROWS}`)]);
  });
  after(async () => {
    await Promise.all([pg15?.stop(), pg18?.stop()]);
  });

  test('PostgreSQL 15 source into a PostgreSQL 18 target: every row, every type, equal on both sides', async () => {
    const target = await pg18.createDatabase('from15');
    await pg18.query(TABLE, [], 'from15');
    const args = ['--source', pg15.url(), '--target', target, '--table', 'readings', '--time-column', 'time', '--until', UNTIL];
    const run = await runMain(['backfill', ...args, '--allow-plain-target']);
    assert.equal(run.code, 0, run.stderr);
    const [s, t] = await Promise.all([pg15.query(DIGEST), pg18.query(DIGEST, [], 'from15')]);
    assert.deepEqual(t.rows[0], s.rows[0]);
    assert.equal(s.rows[0].n, 2880);
    const verify = await runMain(['verify', ...args, '--checksum']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });

  test('PostgreSQL 18 source into a PostgreSQL 15 target is refused before anything is written', async () => {
    const target = await pg15.createDatabase('from18');
    await pg15.query(TABLE, [], 'from18');
    const run = await runMain(['backfill', '--source', pg18.url(), '--target', target, '--table', 'readings', '--time-column', 'time',
      '--until', UNTIL, '--allow-plain-target']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /error E_VERSION_MISMATCH: the target runs PostgreSQL 15, older than the source's 18/);
    const written = await pg15.query(`SELECT count(*)::int AS n, to_regclass('hyperfill.backfill_run') AS control FROM readings`, [], 'from18');
    assert.deepEqual(written.rows[0], { n: 0, control: null });
  });
});
