/**
 * TimescaleDB to TimescaleDB on the real TimescaleDB 2.28, compressed source chunks
 * copied as they are. The source has one day chunk in each state that matters:
 * compressed (copied), compressed with overlapping batches (copied, the unordered bit
 * carried over), partially compressed, not compressed, compressed with other settings,
 * holding dual-written rows in the target, and cut by --until: each of the last five goes
 * by rows, once, for its own reason, and a table whose target settings differ goes by
 * rows altogether. The result equals the source and the row path (counts, an md5 over all
 * rows, verify --checksum, ordered reads, is_compressed), the copied compressed tables
 * hold the source's very batches, and the continuous aggregate covers the copied rows.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';
import { runMain } from './helpers/run-main.js';

const UNTIL = '2024-01-08T12:00:00Z';
const ROWS = 23_040; // one row every 30 s from Jan 1 to Jan 9
const HYPERTABLE = (name: string, segmentby: string) => `CREATE TABLE ${name} (time timestamptz NOT NULL, host text NOT NULL, cpu float8, n int);
  SELECT create_hypertable('${name}', by_range('time', INTERVAL '1 day'));
  ALTER TABLE ${name} SET (timescaledb.compress, timescaledb.compress_segmentby = '${segmentby}', timescaledb.compress_orderby = 'time DESC')`;
const ROW = (i: string) => `'2024-01-01'::timestamptz + ${i} * interval '30 seconds', 'h' || (${i} % 4), round((${i} * 7 % 1000) / 10.0, 1), ${i}`;
const DAY = (day: number) => `FROM generate_series(${(day - 1) * 2880}, ${day * 2880 - 1}) i WHERE true`;
/** The one Jan 2 row written after that chunk was compressed (it makes the chunk partial). */
const LATE_ROW = 2880 + 1234;

describeNative('backfill copies compressed chunks as they are', { timescale: true }, () => {
  let server: NativeServer;

  before(async () => {
    server = await startNativePostgres({ timescale: true });
    await server.createDatabase('source');
    const q = (text: string) => server.query(text, [], 'source');
    await q(HYPERTABLE('metrics', 'host'));
    for (const day of [1, 2, 3, 4, 6, 7, 8]) await q(`INSERT INTO metrics SELECT ${ROW('i')} ${DAY(day)} AND i <> ${LATE_ROW}`);
    await q(`SELECT compress_chunk(c) FROM show_chunks('metrics') c WHERE c IN (SELECT format('%I.%I', chunk_schema, chunk_name)::regclass
      FROM timescaledb_information.chunks WHERE hypertable_name = 'metrics' AND range_start::date IN ('2024-01-01', '2024-01-02', '2024-01-06', '2024-01-07', '2024-01-08'))`);
    await q(`INSERT INTO metrics SELECT ${ROW('i')} FROM generate_series(${LATE_ROW}, ${LATE_ROW}) i`);
    // Jan 4 compressed with other settings; Jan 5 written by direct compress (batches overlap: unordered).
    await q(`ALTER TABLE metrics SET (timescaledb.compress_segmentby = '', timescaledb.compress_orderby = 'time')`);
    await q(`SELECT compress_chunk(format('%I.%I', chunk_schema, chunk_name)::regclass) FROM timescaledb_information.chunks WHERE hypertable_name = 'metrics' AND range_start = '2024-01-04'`);
    await q(`ALTER TABLE metrics SET (timescaledb.compress_segmentby = 'host', timescaledb.compress_orderby = 'time DESC')`);
    await q(`BEGIN; SET LOCAL timescaledb.enable_direct_compress_insert = on; INSERT INTO metrics SELECT ${ROW('i')} ${DAY(5)}; COMMIT`);
    assert.deepEqual(await chunkStatus('source'), {
      '2024-01-01': 1, '2024-01-02': 9, '2024-01-03': 0, '2024-01-04': 1, '2024-01-05': 3, '2024-01-06': 1, '2024-01-07': 1, '2024-01-08': 1,
    }, 'the source chunks are in the states this test is about');
    // A second table whose target will be compressed with another segmentby.
    await q(HYPERTABLE('other', 'host'));
    await q(`INSERT INTO other SELECT ${ROW('i')} ${DAY(1)}; SELECT compress_chunk(c) FROM show_chunks('other') c`);
  });
  after(async () => {
    await server?.stop();
  });

  async function chunkStatus(db: string, table = 'metrics'): Promise<Record<string, number>> {
    const r = await server.query(`SELECT to_char(i.range_start, 'YYYY-MM-DD') AS day, c.status FROM timescaledb_information.chunks i
      JOIN _timescaledb_catalog.chunk c ON c.schema_name = i.chunk_schema AND c.table_name = i.chunk_name
      WHERE i.hypertable_name = $1 ORDER BY 1`, [table], db);
    return Object.fromEntries(r.rows.map((row) => [row.day, row.status]));
  }

  /** A target with dual-write from Jan 7 on and a continuous aggregate materialized before the backfill. */
  async function prepareTarget(name: string): Promise<string> {
    const url = await server.createDatabase(name);
    const q = (text: string) => server.query(text, [], name);
    await q(HYPERTABLE('metrics', 'host'));
    await q(HYPERTABLE('other', 'cpu'));
    await q(`INSERT INTO metrics SELECT ${ROW('i')} FROM generate_series(${6 * 2880}, ${ROWS - 1}) i`);
    await q(`CREATE MATERIALIZED VIEW metrics_daily WITH (timescaledb.continuous) AS
      SELECT time_bucket('1 day', time) AS bucket, count(*) AS rows, sum(n) AS total FROM metrics GROUP BY 1 WITH NO DATA`);
    await q(`CALL refresh_continuous_aggregate('metrics_daily', '2023-12-01', '2024-02-01')`);
    return url;
  }

  const backfill = (url: string, ...extra: string[]) => runMain(['backfill', '--source', server.url('source'), '--target', url,
    '--table', 'metrics', '--table', 'other', '--until', UNTIL, '--parallel', '2', ...extra]);

  async function digest(db: string, table: string): Promise<Record<string, unknown>> {
    return (await server.query(`SELECT count(*)::int AS c, count(DISTINCT n)::int AS d,
      md5(string_agg(concat_ws('|', time, host, cpu, n), ',' ORDER BY n)) AS h FROM ${table}`, [], db)).rows[0];
  }

  /** The batches of a day's compressed chunk, as stored: equal bytes mean the chunk was copied as it is. */
  async function batches(db: string, day: string): Promise<Record<string, unknown>> {
    const t = (await server.query(`SELECT format('%I.%I', cc.schema_name, cc.table_name) AS t FROM timescaledb_information.chunks i
      JOIN _timescaledb_catalog.chunk c ON c.schema_name = i.chunk_schema AND c.table_name = i.chunk_name
      JOIN _timescaledb_catalog.chunk cc ON cc.id = c.compressed_chunk_id WHERE i.hypertable_name = 'metrics' AND i.range_start = $1`, [day], db)).rows[0]?.t;
    assert.ok(t, `${db} has a compressed chunk for ${day}`);
    return (await server.query(`SELECT count(*)::int AS n, md5(string_agg(b::text, ',' ORDER BY b::text)) AS h FROM ${t} b`, [], db)).rows[0];
  }

  test('compressed chunks copied as they are, every other window by rows for its reason, the result equal to the source and to the row path', async () => {
    const url = await prepareTarget('t_chunks');
    const run = await backfill(url);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /public\.other: compressed source chunks are copied by rows: the compression settings differ/);
    assert.match(run.stdout, /public\.metrics: 3 windows by compressed chunks/);
    const fallbacks = /public\.metrics: by rows instead of compressed chunks: (.*)/.exec(run.stdout)?.[1] ?? '';
    for (const reason of ['a source chunk is partially compressed', 'a source chunk is not compressed', 'a source chunk was compressed with other settings',
      'the target has dual-written rows in the window', 'a source chunk reaches beyond the window']) {
      assert.match(fallbacks, new RegExp(`1 \\(${reason}`), `taken once: ${reason}`);
    }
    assert.equal(fallbacks.match(/\d+ \(/g)?.length, 5, `five fallbacks, no other: ${fallbacks}`);

    for (const table of ['metrics', 'other']) assert.deepEqual(await digest('t_chunks', table), await digest('source', table), `${table} equals the source`);
    for (const day of ['2024-01-01', '2024-01-05', '2024-01-06']) {
      assert.deepEqual(await batches('t_chunks', day), await batches('source', day), `${day}: the source's compressed batches, byte for byte`);
    }
    const status = await chunkStatus('t_chunks');
    assert.equal(status['2024-01-01'], 1);
    assert.equal(status['2024-01-05'], 3, 'the unordered bit came along');
    assert.equal(status['2024-01-06'], 1);
    for (const order of ['time DESC', 'time']) {
      for (const where of ["host = 'h2'", 'true']) {
        const q = `SELECT time, host, n FROM metrics WHERE ${where} AND time < '${UNTIL}' ORDER BY ${order} LIMIT 500`;
        assert.deepEqual((await server.query(q, [], 't_chunks')).rows, (await server.query(q, [], 'source')).rows, `${where} ORDER BY ${order}`);
      }
      const inUnordered = `SELECT time, n FROM metrics WHERE time >= '2024-01-05' AND time < '2024-01-06' ORDER BY ${order} LIMIT 100`;
      assert.deepEqual((await server.query(inUnordered, [], 't_chunks')).rows, (await server.query(inUnordered, [], 'source')).rows);
    }
    const cagg = `SELECT bucket, rows::int, total::bigint FROM metrics_daily WHERE bucket < '2024-01-08' ORDER BY 1`;
    const expected = `SELECT time_bucket('1 day', time) AS bucket, count(*)::int AS rows, sum(n)::bigint AS total FROM metrics WHERE time < '2024-01-08' GROUP BY 1 ORDER BY 1`;
    assert.deepEqual((await server.query(cagg, [], 't_chunks')).rows, (await server.query(expected, [], 'source')).rows, 'the aggregate covers the copied chunks');
    for (const table of ['metrics', 'other']) {
      const verify = await runMain(['verify', '--source', server.url('source'), '--target', url, '--table', table, '--until', UNTIL, '--checksum']);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    }

    // The row path into an identical target: the same rows, the same chunks compressed.
    const rowsUrl = await prepareTarget('t_rows');
    const byRows = await backfill(rowsUrl, '--no-compressed-chunks');
    assert.equal(byRows.code, 0, byRows.stderr);
    assert.doesNotMatch(byRows.stdout, /compressed chunks/);
    for (const table of ['metrics', 'other']) assert.deepEqual(await digest('t_rows', table), await digest('t_chunks', table));
    const compressed = async (db: string) => (await server.query(`SELECT to_char(range_start, 'YYYY-MM-DD') AS day, is_compressed FROM timescaledb_information.chunks
      WHERE hypertable_name = 'metrics' ORDER BY 1`, [], db)).rows;
    assert.deepEqual(await compressed('t_chunks'), await compressed('t_rows'));
  });

  test('a rerun after a finished run copies nothing again; a target chunk that holds rows sends its window by rows', async () => {
    const url = await prepareTarget('t_rerun');
    assert.equal((await backfill(url)).code, 0);
    const again = await backfill(url);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /resuming run/);
    assert.deepEqual(await digest('t_rerun', 'metrics'), await digest('source', 'metrics'));

    // A fresh run id over a target whose Jan 1 chunk already holds the rows: no duplicate, the chunk is not replaced.
    const fresh = await backfill(url, '--run-id', 'second');
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.match(fresh.stdout, /the target has dual-written rows in the window/);
    assert.deepEqual(await digest('t_rerun', 'metrics'), await digest('source', 'metrics'));
  });
});
