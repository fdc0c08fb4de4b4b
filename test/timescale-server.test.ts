// The TimescaleDB harness: PGlite + TimescaleDB served on loopback. These tests pin
// down what the control plane can do on it (hypertables, chunks, compression, jobs,
// continuous aggregates) through `pg`, and how the server behaves with several
// connections, COPY, and clients that disappear.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { startTimescale, type TimescaleServer } from './helpers/timescale-server.js';

type Row = Record<string, unknown>;

/** Connects a client, runs `fn`, and always closes the client. */
async function withClient<T>(server: TimescaleServer, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: server.connectionString });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function rows(client: pg.Client, sql: string, values?: unknown[]): Promise<Row[]> {
  return (await client.query(sql, values)).rows as Row[];
}

async function scalar(client: pg.Client, sql: string, values?: unknown[]): Promise<unknown> {
  const [row] = await rows(client, sql, values);
  assert.ok(row, `no row from: ${sql}`);
  return Object.values(row)[0];
}

/** Resolves with the error a promise rejects with; fails if it resolves. */
async function failure(promise: Promise<unknown>): Promise<Error & { code?: string; hint?: string }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { code?: string };
  }
  assert.fail('expected a rejection');
}

async function copyIn(client: pg.Client, sql: string, data: string | Buffer): Promise<number> {
  const stream = client.query(copyFrom(sql));
  await pipeline(Readable.from([data]), stream);
  return stream.rowCount;
}

async function copyOut(client: pg.Client, sql: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of client.query(copyTo(sql))) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Hourly rows for [from, to) with host h0/h1/h2 by hour modulo 3. */
function hourlyInsert(table: string, from: string, to: string): string {
  return `INSERT INTO ${table} (time, host, v)
    SELECT g, 'h' || (extract(hour FROM g)::int % 3), extract(hour FROM g)
    FROM generate_series('${from}'::timestamptz, '${to}'::timestamptz - interval '1 hour', interval '1 hour') g`;
}

/** A fresh hypertable `name` (time timestamptz, host text, v float8) with daily chunks. */
async function createMetrics(client: pg.Client, name: string): Promise<void> {
  await client.query(`CREATE TABLE ${name} (time timestamptz NOT NULL, host text, v double precision)`);
  await client.query(`SELECT create_hypertable('${name}', by_range('time', INTERVAL '1 day'))`);
}

function chunkStatusSql(table: string): string {
  return `SELECT chunk_name, is_compressed,
      _timescaledb_functions.chunk_status(format('%I.%I', chunk_schema, chunk_name)::regclass) AS status
    FROM timescaledb_information.chunks WHERE hypertable_name = '${table}' ORDER BY range_start`;
}

describe('timescale test server (multiplexing)', () => {
  let server: TimescaleServer;

  before(async () => {
    server = await startTimescale();
  });

  after(async () => {
    await server?.stop();
  });

  test('listens on loopback and reports its startup time', () => {
    assert.equal(server.implementation, 'multiplex');
    assert.equal(server.connectionString, `postgres://postgres@127.0.0.1:${server.port}/postgres`);
    assert.ok(server.port > 0);
    assert.ok(server.startupMs > 0 && server.startupMs < 60_000, `startupMs ${server.startupMs}`);
  });

  test('runs TimescaleDB 2.23.0-dev on PostgreSQL 17.5', async () => {
    await withClient(server, async (c) => {
      assert.equal(await scalar(c, "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"), '2.23.0-dev');
      assert.deepEqual(await rows(c, 'SHOW server_version_num'), [{ server_version_num: '170005' }]);
      // One backend: every connection sees pid 0, database template1, whatever the URL says.
      assert.deepEqual(await rows(c, 'SELECT pg_backend_pid() AS pid, current_database() AS db, current_user AS usr'), [
        { pid: 0, db: 'template1', usr: 'postgres' },
      ]);
      assert.deepEqual(await rows(c, 'SHOW TimeZone'), [{ TimeZone: 'GMT' }]);
    });
  });

  test('create_hypertable: new and old API for timestamptz, timestamp, date, bigint, integer', async () => {
    await withClient(server, async (c) => {
      await c.query('CREATE TABLE ht_tz (time timestamptz NOT NULL, v int)');
      const [created] = await rows(c, "SELECT * FROM create_hypertable('ht_tz', by_range('time', INTERVAL '1 day'))");
      assert.deepEqual(Object.keys(created ?? {}), ['hypertable_id', 'created']);
      assert.equal(typeof created?.hypertable_id, 'number');
      assert.equal(created?.created, true);
      await c.query('CREATE TABLE ht_ts (time timestamp NOT NULL, v int)');
      const [old] = await rows(c, "SELECT * FROM create_hypertable('ht_ts', 'time', chunk_time_interval => INTERVAL '6 hours')");
      assert.deepEqual(old && { schema_name: old.schema_name, table_name: old.table_name, created: old.created }, {
        schema_name: 'public',
        table_name: 'ht_ts',
        created: true,
      });
      // A nullable time column is made NOT NULL; existing rows need migrate_data.
      await c.query('CREATE TABLE ht_date (day date, v int)');
      await c.query("INSERT INTO ht_date VALUES ('2024-01-01', 1)");
      const notEmpty = await failure(c.query("SELECT create_hypertable('ht_date', by_range('day', INTERVAL '7 days'))"));
      assert.equal(notEmpty.code, '0A000');
      assert.equal(notEmpty.message, 'table "ht_date" is not empty');
      await c.query("SELECT create_hypertable('ht_date', by_range('day', INTERVAL '7 days'), migrate_data => true)");
      assert.equal(await scalar(c, "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'ht_date'::regclass AND attname = 'day'"), true);
      // Integer time needs an integer interval.
      await c.query('CREATE TABLE ht_big (ts bigint NOT NULL, v int)');
      const wrongInterval = await failure(c.query("SELECT create_hypertable('ht_big', by_range('ts', INTERVAL '1 day'))"));
      assert.equal(wrongInterval.code, '22023');
      assert.equal(wrongInterval.message, 'invalid interval type for bigint dimension');
      assert.equal(wrongInterval.hint, 'Use an interval of type integer.');
      await c.query("SELECT create_hypertable('ht_big', by_range('ts', 86400000))");
      await c.query('CREATE TABLE ht_int (ts integer NOT NULL, v int)');
      await c.query("SELECT create_hypertable('ht_int', 'ts', chunk_time_interval => 1000)");
      const again = await failure(c.query("SELECT create_hypertable('ht_int', by_range('ts', 10))"));
      assert.equal(again.code, 'TS110');
      assert.equal(again.message, 'table "ht_int" is already a hypertable');

      assert.deepEqual(
        await rows(
          c,
          `SELECT hypertable_schema, hypertable_name, num_dimensions, compression_enabled, primary_dimension, primary_dimension_type
           FROM timescaledb_information.hypertables WHERE hypertable_name LIKE 'ht\\_%' ORDER BY hypertable_name`,
        ),
        [
          ['ht_big', 'ts', 'bigint'],
          ['ht_date', 'day', 'date'],
          ['ht_int', 'ts', 'integer'],
          ['ht_ts', 'time', 'timestamp without time zone'],
          ['ht_tz', 'time', 'timestamp with time zone'],
        ].map(([name, column, type]) => ({
          hypertable_schema: 'public',
          hypertable_name: name,
          num_dimensions: 1,
          compression_enabled: false,
          primary_dimension: column,
          primary_dimension_type: type,
        })),
      );
      assert.deepEqual(
        await rows(
          c,
          `SELECT hypertable_name, column_name, column_type::text, dimension_type, time_interval::text, integer_interval
           FROM timescaledb_information.dimensions WHERE hypertable_name LIKE 'ht\\_%' ORDER BY hypertable_name`,
        ),
        [
          { hypertable_name: 'ht_big', column_name: 'ts', column_type: 'bigint', dimension_type: 'Time', time_interval: null, integer_interval: '86400000' },
          { hypertable_name: 'ht_date', column_name: 'day', column_type: 'date', dimension_type: 'Time', time_interval: '7 days', integer_interval: null },
          { hypertable_name: 'ht_int', column_name: 'ts', column_type: 'integer', dimension_type: 'Time', time_interval: null, integer_interval: '1000' },
          { hypertable_name: 'ht_ts', column_name: 'time', column_type: 'timestamp without time zone', dimension_type: 'Time', time_interval: '06:00:00', integer_interval: null },
          { hypertable_name: 'ht_tz', column_name: 'time', column_type: 'timestamp with time zone', dimension_type: 'Time', time_interval: '1 day', integer_interval: null },
        ],
      );
    });
  });

  test('chunks view and show_chunks give time and integer ranges', async () => {
    await withClient(server, async (c) => {
      await createMetrics(c, 'ck');
      await c.query(hourlyInsert('ck', '2024-01-01T00:00:00Z', '2024-01-04T00:00:00Z'));
      await c.query('CREATE TABLE ck_int (ts bigint NOT NULL, v int)');
      await c.query("SELECT create_hypertable('ck_int', by_range('ts', 1000))");
      await c.query('INSERT INTO ck_int VALUES (0, 1), (999, 2), (1000, 3), (5500, 4)');

      const chunks = await rows(
        c,
        `SELECT chunk_schema, range_start, range_end, range_start_integer, range_end_integer, is_compressed
         FROM timescaledb_information.chunks WHERE hypertable_name = 'ck' ORDER BY range_start`,
      );
      assert.deepEqual(
        chunks.map((r) => [(r.range_start as Date).toISOString(), (r.range_end as Date).toISOString()]),
        [
          ['2024-01-01T00:00:00.000Z', '2024-01-02T00:00:00.000Z'],
          ['2024-01-02T00:00:00.000Z', '2024-01-03T00:00:00.000Z'],
          ['2024-01-03T00:00:00.000Z', '2024-01-04T00:00:00.000Z'],
        ],
      );
      for (const r of chunks) {
        assert.equal(r.chunk_schema, '_timescaledb_internal');
        assert.equal(r.range_start_integer, null);
        assert.equal(r.is_compressed, false);
      }
      assert.deepEqual(
        await rows(
          c,
          `SELECT range_start, range_start_integer, range_end_integer FROM timescaledb_information.chunks
           WHERE hypertable_name = 'ck_int' ORDER BY range_start_integer`,
        ),
        [
          { range_start: null, range_start_integer: '0', range_end_integer: '1000' },
          { range_start: null, range_start_integer: '1000', range_end_integer: '2000' },
          { range_start: null, range_start_integer: '5000', range_end_integer: '6000' },
        ],
      );
      const names = (await rows(c, "SELECT chunk_schema || '.' || chunk_name AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'ck' ORDER BY range_start")).map((r) => r.n);
      assert.deepEqual((await rows(c, "SELECT show_chunks('ck')::text AS n")).map((r) => r.n), names);
      assert.deepEqual(
        (await rows(c, "SELECT show_chunks('ck', older_than => '2024-01-03'::timestamptz)::text AS n")).map((r) => r.n),
        names.slice(0, 2),
      );
      assert.equal((await rows(c, "SELECT show_chunks('ck_int', newer_than => 1000)")).length, 2);
    });
  });

  test('compression: settings, compress_chunk, DML on compressed chunks, decompress_chunk', async () => {
    await withClient(server, async (c) => {
      await createMetrics(c, 'cz');
      await c.query(hourlyInsert('cz', '2024-01-01T00:00:00Z', '2024-01-04T00:00:00Z'));
      await c.query(
        "ALTER TABLE cz SET (timescaledb.compress, timescaledb.compress_segmentby = 'host', timescaledb.compress_orderby = 'time DESC')",
      );
      assert.deepEqual(
        await rows(
          c,
          `SELECT attname, segmentby_column_index, orderby_column_index, orderby_asc
           FROM timescaledb_information.compression_settings WHERE hypertable_name = 'cz' ORDER BY attname`,
        ),
        [
          { attname: 'host', segmentby_column_index: 1, orderby_column_index: null, orderby_asc: null },
          { attname: 'time', segmentby_column_index: null, orderby_column_index: 1, orderby_asc: false },
        ],
      );
      assert.equal(await scalar(c, "SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = 'cz'"), true);
      // Compress every chunk (a subquery: ORDER BY ... LIMIT over compress_chunk() would still call it on every row).
      const compressed = await rows(c, "SELECT compress_chunk(ch)::text AS n FROM (SELECT show_chunks('cz') AS ch) s");
      assert.equal(compressed.length, 3);
      assert.deepEqual(
        (await rows(c, chunkStatusSql('cz'))).map((r) => [r.is_compressed, r.status]),
        [[true, 1], [true, 1], [true, 1]],
      );
      assert.equal(await scalar(c, 'SELECT count(*)::int FROM cz'), 72);

      // DELETE of a half-open window inside a compressed chunk removes exactly those rows.
      const del = await c.query("DELETE FROM cz WHERE time >= '2024-01-01T06:00:00Z' AND time < '2024-01-01T12:00:00Z'");
      assert.equal(del.rowCount, 6);
      // INSERT and INSERT ... SELECT into a compressed chunk: the chunk becomes partial (status 9 = compressed | partial).
      const ins = await c.query("INSERT INTO cz VALUES ('2024-01-01T06:30:00Z', 'h9', 1)");
      assert.equal(ins.rowCount, 1);
      const insSel = await c.query(
        "INSERT INTO cz SELECT time + interval '1 minute', host, v FROM cz WHERE time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T03:00:00Z'",
      );
      assert.equal(insSel.rowCount, 3);
      // COPY FROM STDIN into a compressed chunk (emulated by the server, see the COPY test).
      assert.equal(await copyIn(c, 'COPY cz (time, host, v) FROM STDIN', '2024-01-01 07:15:00+00\th8\t2\n'), 1);
      assert.equal(await scalar(c, "SELECT count(*)::int FROM cz WHERE time >= '2024-01-01' AND time < '2024-01-02'"), 24 - 6 + 1 + 3 + 1);
      assert.deepEqual(
        (await rows(c, chunkStatusSql('cz'))).map((r) => [r.is_compressed, r.status]),
        [[true, 9], [true, 1], [true, 1]],
      );
      // A DELETE of a whole day of a compressed chunk leaves it compressed, not partial.
      const delDay = await c.query("DELETE FROM cz WHERE time >= '2024-01-02T00:00:00Z' AND time < '2024-01-03T00:00:00Z'");
      assert.equal(delDay.rowCount, 24);
      assert.deepEqual((await rows(c, chunkStatusSql('cz'))).map((r) => r.status), [9, 1, 1]);
      // Recompressing a partial chunk, and compress_chunk on a compressed chunk (a notice, not an error).
      const notices: string[] = [];
      c.on('notice', (n) => notices.push(`${n.code ?? ''} ${n.message}`));
      await c.query("SELECT compress_chunk(ch) FROM (SELECT show_chunks('cz') AS ch) s");
      assert.deepEqual((await rows(c, chunkStatusSql('cz'))).map((r) => r.status), [1, 1, 1]);
      assert.ok(notices.some((n) => /^42710 chunk "_hyper_\d+_\d+_chunk" is already converted to columnstore$/.test(n)), notices.join('\n'));
      // decompress_chunk; on an uncompressed chunk it is a notice (55000) and returns NULL.
      const first = String(
        await scalar(
          c,
          "SELECT format('%I.%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks WHERE hypertable_name = 'cz' ORDER BY range_start LIMIT 1",
        ),
      );
      assert.equal(await scalar(c, 'SELECT decompress_chunk($1::regclass)::text', [first]), first);
      assert.equal(await scalar(c, 'SELECT decompress_chunk($1::regclass)::text', [first]), null);
      assert.ok(notices.some((n) => /^55000 chunk "_hyper_\d+_\d+_chunk" is not converted to columnstore$/.test(n)));
      assert.deepEqual((await rows(c, chunkStatusSql('cz'))).map((r) => r.is_compressed), [false, true, true]);
      assert.equal(await scalar(c, 'SELECT count(*)::int FROM cz'), 72 - 6 + 1 + 3 + 1 - 24);
    });
  });

  test('compress_chunk without compression enabled fails with 0A000', async () => {
    await withClient(server, async (c) => {
      await createMetrics(c, 'nocz');
      await c.query(hourlyInsert('nocz', '2024-01-01T00:00:00Z', '2024-01-01T02:00:00Z'));
      const err = await failure(c.query("SELECT compress_chunk(ch) FROM show_chunks('nocz') ch"));
      assert.equal(err.code, '0A000');
      assert.equal(err.message, 'columnstore not enabled on "nocz"');
    });
  });

  test('jobs: policies, jobs view, alter_job pause and restore, run_job; no background scheduler', async () => {
    await withClient(server, async (c) => {
      await createMetrics(c, 'jb');
      await c.query(hourlyInsert('jb', '2024-01-01T00:00:00Z', '2024-01-03T00:00:00Z'));
      await c.query("ALTER TABLE jb SET (timescaledb.compress, timescaledb.compress_segmentby = 'host')");
      const compressionJob = Number(await scalar(c, "SELECT add_compression_policy('jb', compress_after => INTERVAL '7 days')"));
      const retentionJob = Number(await scalar(c, "SELECT add_retention_policy('jb', drop_after => INTERVAL '100 years')"));
      assert.ok(compressionJob >= 1000 && retentionJob === compressionJob + 1);
      const dup = await failure(c.query("SELECT add_compression_policy('jb', INTERVAL '7 days')"));
      assert.equal(dup.code, '42710');
      assert.equal(await scalar(c, "SELECT add_compression_policy('jb', INTERVAL '7 days', if_not_exists => true)"), -1);

      const jobsSql = `SELECT job_id, proc_schema, proc_name, hypertable_schema, hypertable_name, scheduled, config, next_start
        FROM timescaledb_information.jobs WHERE hypertable_name = 'jb' ORDER BY job_id`;
      const jobs = await rows(c, jobsSql);
      assert.deepEqual(jobs, [
        {
          job_id: compressionJob,
          proc_schema: '_timescaledb_functions',
          proc_name: 'policy_compression',
          hypertable_schema: 'public',
          hypertable_name: 'jb',
          scheduled: true,
          config: { hypertable_id: (jobs[0]?.config as { hypertable_id: number }).hypertable_id, compress_after: '7 days' },
          next_start: null,
        },
        {
          job_id: retentionJob,
          proc_schema: '_timescaledb_functions',
          proc_name: 'policy_retention',
          hypertable_schema: 'public',
          hypertable_name: 'jb',
          scheduled: true,
          config: { hypertable_id: (jobs[0]?.config as { hypertable_id: number }).hypertable_id, drop_after: '100 years' },
          next_start: null,
        },
      ]);

      // Pause both, then restore: alter_job returns the new row.
      const paused = await rows(c, 'SELECT job_id, scheduled FROM alter_job($1, scheduled => false)', [compressionJob]);
      assert.deepEqual(paused, [{ job_id: compressionJob, scheduled: false }]);
      await c.query('SELECT alter_job($1, scheduled => false)', [retentionJob]);
      assert.deepEqual((await rows(c, jobsSql)).map((j) => j.scheduled), [false, false]);
      assert.deepEqual(
        await rows(c, "SELECT job_id, job_status FROM timescaledb_information.job_stats WHERE hypertable_name = 'jb' ORDER BY job_id"),
        [
          { job_id: compressionJob, job_status: 'Paused' },
          { job_id: retentionJob, job_status: 'Paused' },
        ],
      );
      await c.query('SELECT alter_job($1, scheduled => true)', [compressionJob]);
      assert.deepEqual((await rows(c, jobsSql)).map((j) => j.scheduled), [true, false]);
      const missing = await failure(c.query('SELECT alter_job(999999, scheduled => false)'));
      assert.equal(missing.code, '42704');
      assert.equal(missing.message, 'job 999999 not found');

      // run_job is a procedure: CALL runs the policy in this session (paused or not).
      const notProcedure = await failure(c.query('SELECT run_job($1)', [compressionJob]));
      assert.equal(notProcedure.code, '42809');
      await c.query('CALL run_job($1)', [compressionJob]);
      assert.deepEqual((await rows(c, chunkStatusSql('jb'))).map((r) => r.is_compressed), [true, true]);
      await c.query('CALL run_job($1)', [retentionJob]); // drop_after 100 years: keeps everything
      assert.equal(await scalar(c, 'SELECT count(*)::int FROM jb'), 48);

      // Nothing records manual runs, and the scheduler never runs: no stats, no next_start, no workers.
      assert.deepEqual(
        await rows(
          c,
          `SELECT job_id, last_run_started_at, last_run_status, total_runs, next_start
           FROM timescaledb_information.job_stats WHERE hypertable_name = 'jb' ORDER BY job_id`,
        ),
        [compressionJob, retentionJob].map((id) => ({
          job_id: id,
          last_run_started_at: null,
          last_run_status: null,
          total_runs: null,
          next_start: null,
        })),
      );
      assert.equal(await scalar(c, 'SELECT _timescaledb_functions.start_background_workers()'), false);
      assert.equal(await scalar(c, 'SELECT count(*)::int FROM pg_stat_activity'), 0);
      assert.equal(await scalar(c, 'SELECT count(*)::int FROM timescaledb_information.job_history'), 0);

      await c.query('SELECT delete_job($1)', [retentionJob]);
      assert.equal(await scalar(c, "SELECT remove_compression_policy('jb')"), true);
      assert.deepEqual(await rows(c, jobsSql), []);
    });
  });

  test('retention policy dropped by run_job; integer time needs integer_now', async () => {
    await withClient(server, async (c) => {
      await createMetrics(c, 'rt');
      await c.query(hourlyInsert('rt', '2024-01-01T00:00:00Z', '2024-01-03T00:00:00Z'));
      const job = await scalar(c, "SELECT add_retention_policy('rt', INTERVAL '30 days')");
      await c.query('CALL run_job($1)', [job]);
      assert.equal(await scalar(c, 'SELECT count(*)::int FROM rt'), 0);
      assert.equal(await scalar(c, "SELECT count(*)::int FROM show_chunks('rt')"), 0);

      await c.query('CREATE TABLE rt_int (ts bigint NOT NULL, v int)');
      await c.query("SELECT create_hypertable('rt_int', by_range('ts', 1000))");
      const err = await failure(c.query("SELECT add_retention_policy('rt_int', 1000)"));
      assert.equal(err.code, '22023');
      assert.equal(err.message, 'invalid value for parameter drop_after');
    });
  });

  test('continuous aggregates: create, refresh outside a transaction only, view metadata, policy', async () => {
    await withClient(server, async (c) => {
      await createMetrics(c, 'ca');
      await c.query(hourlyInsert('ca', '2024-01-01T00:00:00Z', '2024-01-04T00:00:00Z'));
      await c.query(`CREATE MATERIALIZED VIEW ca_hourly WITH (timescaledb.continuous) AS
        SELECT time_bucket('1 hour', time) AS bucket, host, count(*) AS n, sum(v) AS s FROM ca GROUP BY 1, 2
        WITH NO DATA`);
      const [meta] = await rows(
        c,
        `SELECT view_schema, view_name, hypertable_schema, hypertable_name, materialization_hypertable_schema,
           materialization_hypertable_name, materialized_only
         FROM timescaledb_information.continuous_aggregates WHERE view_name = 'ca_hourly'`,
      );
      assert.ok(meta);
      assert.match(String(meta.materialization_hypertable_name), /^_materialized_hypertable_\d+$/);
      assert.deepEqual(meta, {
        view_schema: 'public',
        view_name: 'ca_hourly',
        hypertable_schema: 'public',
        hypertable_name: 'ca',
        materialization_hypertable_schema: '_timescaledb_internal',
        materialization_hypertable_name: meta.materialization_hypertable_name,
        materialized_only: true,
      });
      assert.equal(await scalar(c, 'SELECT count(*)::int FROM ca_hourly'), 0);

      // A simple Query with one CALL is not a transaction block.
      await c.query("CALL refresh_continuous_aggregate('ca_hourly', '2024-01-01', '2024-01-02')");
      assert.deepEqual(await rows(c, 'SELECT count(*)::int AS buckets, sum(n)::int AS n FROM ca_hourly'), [{ buckets: 24, n: 24 }]);
      // Extended protocol with parameters works too.
      await c.query('CALL refresh_continuous_aggregate($1, $2::timestamptz, $3::timestamptz)', [
        'ca_hourly',
        '2024-01-01T00:00:00Z',
        '2024-01-03T00:00:00Z',
      ]);
      assert.equal(await scalar(c, 'SELECT count(*)::int FROM ca_hourly'), 48);
      // Inside BEGIN, or in a multi-statement simple Query (an implicit transaction block), it fails.
      await c.query('BEGIN');
      const inTx = await failure(c.query("CALL refresh_continuous_aggregate('ca_hourly', NULL, NULL)"));
      await c.query('ROLLBACK');
      assert.equal(inTx.code, '25001');
      assert.equal(inTx.message, 'refresh_continuous_aggregate() cannot run inside a transaction block');
      const multi = await failure(c.query("SELECT 1; CALL refresh_continuous_aggregate('ca_hourly', NULL, NULL)"));
      assert.equal(multi.code, '25001');
      await c.query("CALL refresh_continuous_aggregate('ca_hourly', NULL, NULL)");
      assert.equal(await scalar(c, 'SELECT count(*)::int FROM ca_hourly'), 72);

      const job = Number(
        await scalar(
          c,
          "SELECT add_continuous_aggregate_policy('ca_hourly', start_offset => INTERVAL '30 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour')",
        ),
      );
      const [jobRow] = await rows(c, 'SELECT proc_name, hypertable_schema, hypertable_name, scheduled, config FROM timescaledb_information.jobs WHERE job_id = $1', [job]);
      // The jobs view names the continuous aggregate, not its materialization hypertable.
      assert.deepEqual(jobRow, {
        proc_name: 'policy_refresh_continuous_aggregate',
        hypertable_schema: 'public',
        hypertable_name: 'ca_hourly',
        scheduled: true,
        config: { end_offset: '01:00:00', start_offset: '30 days', mat_hypertable_id: (jobRow?.config as { mat_hypertable_id: number }).mat_hypertable_id },
      });
      await c.query('CALL run_job($1)', [job]); // refreshes [now - 30 days, now - 1 hour): nothing there
      assert.equal(await scalar(c, 'SELECT count(*)::int FROM ca_hourly'), 72);
    });
  });

  test('pg_export_snapshot works, SET TRANSACTION SNAPSHOT cannot import it', async () => {
    await withClient(server, async (c) => {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      const snapshot = String(await scalar(c, 'SELECT pg_export_snapshot()'));
      assert.match(snapshot, /^[0-9A-F]{8}-[0-9A-F]{8}-\d+$/);
      await c.query('COMMIT');
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      const err = await failure(c.query(`SET TRANSACTION SNAPSHOT '${snapshot}'`));
      await c.query('ROLLBACK');
      assert.equal(err.code, '42704');
      assert.equal(err.message, `snapshot "${snapshot}" does not exist`);
    });
  });

  test('COPY (SELECT ...) TO STDOUT streams through pg-copy-streams; COPY hypertable TO gives no rows', async () => {
    await withClient(server, async (c) => {
      await createMetrics(c, 'co');
      await c.query(hourlyInsert('co', '2024-01-01T00:00:00Z', '2024-01-01T03:00:00Z'));
      assert.equal(
        (await copyOut(c, 'COPY (SELECT time, host, v FROM co ORDER BY time) TO STDOUT')).toString(),
        '2024-01-01 00:00:00+00\th0\t0\n2024-01-01 01:00:00+00\th1\t1\n2024-01-01 02:00:00+00\th2\t2\n',
      );
      assert.equal(
        (await copyOut(c, 'COPY (SELECT time, host FROM co ORDER BY time LIMIT 1) TO STDOUT WITH (FORMAT csv, HEADER)')).toString(),
        'time,host\n2024-01-01 00:00:00+00,h0\n',
      );
      // The data lives in the chunks: COPY of the hypertable itself copies its (empty) root table.
      assert.equal((await copyOut(c, 'COPY co TO STDOUT')).toString(), '');
      assert.equal(await scalar(c, 'SELECT 1'), 1);
    });
  });

  test('COPY FROM STDIN: text, csv, binary; errors before and after the data; CopyFail', async () => {
    await withClient(server, async (c) => {
      await createMetrics(c, 'ci');
      assert.equal(await copyIn(c, 'COPY ci FROM STDIN', '2024-01-01 00:00:00+00\th1\t1\n2024-01-02 00:00:00+00\t\\N\t2\n'), 2);
      assert.equal(
        await copyIn(c, 'COPY ci (time, host) FROM STDIN WITH (FORMAT csv, HEADER true)', 'time,host\n2024-01-03T00:00:00Z,"a,b\nc"\n'),
        1,
      );
      assert.deepEqual(await rows(c, 'SELECT host, v FROM ci ORDER BY time'), [
        { host: 'h1', v: 1 },
        { host: null, v: 2 },
        { host: 'a,b\nc', v: null },
      ]);
      // A quoted semicolon is not a second statement; text that merely mentions COPY FROM STDIN is plain SQL.
      assert.equal(
        await copyIn(c, "-- comment\nCOPY ci (time, host) FROM STDIN WITH (FORMAT csv, DELIMITER ';');", '2024-01-04T00:00:00Z;"x;y"\n'),
        1,
      );
      assert.equal(await scalar(c, "SELECT host FROM ci WHERE time = '2024-01-04'"), 'x;y');
      await c.query("DELETE FROM ci WHERE time = '2024-01-04'");
      assert.equal(await scalar(c, "SELECT 'copy t from stdin'"), 'copy t from stdin');
      const binary = await copyOut(c, 'COPY (SELECT * FROM ci ORDER BY time) TO STDOUT (FORMAT binary)');
      assert.equal(await copyIn(c, 'COPY ci FROM STDIN (FORMAT binary)', binary), 3);
      assert.equal(await scalar(c, 'SELECT count(*)::int FROM ci'), 6);

      // An unknown table fails before any data, as on a real server.
      const noTable = await failure(copyIn(c, 'COPY nope FROM STDIN', 'x\n'));
      assert.equal(noTable.code, '42P01');
      assert.equal(noTable.message, 'relation "nope" does not exist');
      // Bad data fails at the end, and the connection stays usable.
      const bad = await failure(copyIn(c, 'COPY ci FROM STDIN', 'bad\tx\t1\n'));
      assert.equal(bad.code, '22007');
      assert.equal(bad.message, 'invalid input syntax for type timestamp with time zone: "bad"');
      assert.equal(await scalar(c, 'SELECT count(*)::int FROM ci'), 6);

      // A source that fails makes pg-copy-streams send CopyFail: the transaction is aborted.
      await c.query('BEGIN');
      await c.query("DELETE FROM ci WHERE time < '2024-01-02'");
      const source = new Readable({ read() {} });
      source.push('2024-01-05 00:00:00+00\th\t5\n');
      setTimeout(() => source.destroy(new Error('source broke')), 20);
      const broke = await failure(pipeline(source, c.query(copyFrom('COPY ci FROM STDIN'))));
      assert.equal(broke.message, 'source broke');
      const aborted = await failure(c.query('SELECT 1'));
      assert.equal(aborted.code, '25P02');
      await c.query('ROLLBACK');
      assert.equal(await scalar(c, 'SELECT count(*)::int FROM ci'), 6);

      // Forms the server cannot emulate are refused (0A000) instead of crashing the WASM.
      const prepared = await failure(c.query({ name: 'copy-stmt', text: 'COPY ci FROM STDIN' }));
      assert.equal(prepared.code, '0A000');
      const multi = await failure(c.query('COPY ci FROM STDIN; SELECT 1'));
      assert.equal(multi.code, '0A000');
      assert.equal(await scalar(c, 'SELECT 1'), 1);
      assert.ok(server.stats().copies >= 4);
    });
  });

  test('transactions: BEGIN / DELETE / INSERT / COMMIT and ROLLBACK; FOR UPDATE SKIP LOCKED', async () => {
    await withClient(server, async (c) => {
      await createMetrics(c, 'tx');
      await c.query(hourlyInsert('tx', '2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z'));
      await c.query('BEGIN');
      const del = await c.query("DELETE FROM tx WHERE time >= '2024-01-01T10:00:00Z' AND time < '2024-01-01T20:00:00Z'");
      assert.equal(del.rowCount, 10);
      await c.query("INSERT INTO tx VALUES ('2024-01-01T10:30:00Z', 'x', 1)");
      await c.query('COMMIT');
      assert.equal(await scalar(c, 'SELECT count(*)::int FROM tx'), 15);
      await c.query('BEGIN');
      await c.query('DELETE FROM tx');
      await c.query('ROLLBACK');
      assert.equal(await scalar(c, 'SELECT count(*)::int FROM tx'), 15);

      await c.query('CREATE TABLE tx_tasks (id int PRIMARY KEY, done bool NOT NULL DEFAULT false)');
      await c.query('INSERT INTO tx_tasks SELECT generate_series(1, 3)');
      await c.query('BEGIN');
      assert.deepEqual(await rows(c, 'SELECT id FROM tx_tasks WHERE NOT done ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED'), [{ id: 1 }]);
      await c.query('COMMIT');
    });
  });

  test('several connections at once: transactions queue, never interleave', async () => {
    const a = new pg.Client(server.connectionString);
    const b = new pg.Client(server.connectionString);
    await Promise.all([a.connect(), b.connect()]);
    try {
      await a.query('CREATE TABLE mc (id int)');
      await a.query('BEGIN');
      await a.query('INSERT INTO mc VALUES (1)');
      const order: string[] = [];
      const bDone = b.query('SELECT count(*)::int AS n FROM mc').then((r) => {
        order.push('b');
        return r.rows[0].n as number;
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      order.push('a-commit');
      await a.query('COMMIT');
      // b waited for a's transaction, so it sees the committed row.
      assert.equal(await bDone, 1);
      assert.deepEqual(order, ['a-commit', 'b']);

      // Named prepared statements are per connection, as on a real server.
      const [ra, rb] = await Promise.all([
        a.query({ name: 'same', text: 'SELECT 1 AS x' }),
        b.query({ name: 'same', text: 'SELECT 2 AS x' }),
      ]);
      assert.deepEqual([ra.rows, rb.rows], [[{ x: 1 }], [{ x: 2 }]]);
      assert.deepEqual((await a.query({ name: 'same', text: 'SELECT 1 AS x' })).rows, [{ x: 1 }]);

      // Session advisory locks are shared: the second connection gets a lock the first holds.
      assert.equal(await scalar(a, 'SELECT pg_try_advisory_lock(42)'), true);
      assert.equal(await scalar(b, 'SELECT pg_try_advisory_lock(42)'), true);
      await a.query('SELECT pg_advisory_unlock_all()');

      // A request that waits too long for another connection's transaction gets 55P03.
      server.transactionWaitTimeoutMs = 200;
      await a.query('BEGIN');
      const waited = await failure(b.query('SELECT 1'));
      await a.query('ROLLBACK');
      assert.equal(waited.code, '55P03');
      assert.match(waited.message, /^timescale test server: waited 200 ms while connection \d+ held a transaction open/);
      assert.equal(await scalar(b, 'SELECT 2'), 2);
    } finally {
      server.transactionWaitTimeoutMs = 30_000;
      await Promise.all([a.end(), b.end()]);
    }
  });

  test('a pool of workers claims tasks with SKIP LOCKED and copies each in one transaction', async () => {
    const setup = new pg.Client(server.connectionString);
    await setup.connect();
    const pool = new pg.Pool({ connectionString: server.connectionString, max: 4 });
    try {
      await createMetrics(setup, 'pw');
      await setup.query('CREATE TABLE pw_tasks (id int PRIMARY KEY, done bool NOT NULL DEFAULT false)');
      await setup.query('INSERT INTO pw_tasks SELECT generate_series(0, 11)');
      // Rows "dual-written" earlier, to be replaced by the backfill.
      await setup.query(
        "INSERT INTO pw SELECT d + interval '5 minutes', 'dual', -1 FROM generate_series('2024-01-01'::timestamptz, '2024-01-12', '1 day') d",
      );
      const worker = async (w: number): Promise<number> => {
        const c = await pool.connect();
        let done = 0;
        try {
          for (;;) {
            await c.query('BEGIN');
            const claim = await c.query('SELECT id FROM pw_tasks WHERE NOT done ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED');
            const id = claim.rows[0]?.id as number | undefined;
            if (id === undefined) {
              await c.query('COMMIT');
              return done;
            }
            const day = new Date(Date.UTC(2024, 0, 1 + id)).toISOString().slice(0, 10);
            await c.query("DELETE FROM pw WHERE time >= $1::timestamptz AND time < $1::timestamptz + interval '1 day'", [day]);
            let data = '';
            for (let h = 0; h < 24; h++) data += `${day} ${String(h).padStart(2, '0')}:00:00+00\tw${w}\t${h}\n`;
            assert.equal(await copyIn(c as unknown as pg.Client, 'COPY pw FROM STDIN', data), 24);
            await c.query('UPDATE pw_tasks SET done = true WHERE id = $1', [id]);
            await c.query('COMMIT');
            done++;
          }
        } finally {
          c.release();
        }
      };
      // The control connection keeps polling while the workers run.
      let polling = true;
      const poller = (async () => {
        let polls = 0;
        while (polling) {
          await setup.query('SELECT count(*) FROM pw_tasks WHERE done');
          polls++;
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        return polls;
      })();
      const perWorker = await Promise.all([0, 1, 2, 3].map(worker));
      polling = false;
      assert.ok((await poller) > 0);
      assert.equal(perWorker.reduce((x, y) => x + y, 0), 12);
      assert.deepEqual(await rows(setup, "SELECT count(*)::int AS n, count(*) FILTER (WHERE host = 'dual')::int AS dual FROM pw"), [
        { n: 12 * 24, dual: 0 },
      ]);
      assert.ok(server.stats().maxOpen >= 5);
    } finally {
      await pool.end();
      await setup.end();
    }
  });

  test('a client that disappears mid-transaction is rolled back; the next connection starts clean', async () => {
    await withClient(server, (c) => c.query('CREATE TABLE dc (id int)'));
    const before = server.stats().rolledBackOnDisconnect;

    const open = new pg.Client(server.connectionString);
    await open.connect();
    open.on('error', () => {});
    await open.query('BEGIN');
    await open.query('INSERT INTO dc VALUES (1)');
    open.connection.stream.destroy();

    const failed = new pg.Client(server.connectionString);
    await failed.connect();
    failed.on('error', () => {});
    await failed.query('BEGIN');
    await failure(failed.query('SELECT 1/0'));
    failed.connection.stream.destroy();

    await withClient(server, async (c) => {
      assert.equal(await scalar(c, 'SELECT count(*)::int FROM dc'), 0);
      assert.equal(await scalar(c, 'SELECT txid_current_if_assigned()'), null);
      await c.query('BEGIN');
      await c.query('COMMIT');
    });
    assert.equal(server.stats().rolledBackOnDisconnect - before, 2);
  });

  test('session state is reset when the last connection closes', async () => {
    await withClient(server, async (c) => {
      await c.query("SET TimeZone = 'America/New_York'");
      await c.query('CREATE TEMP TABLE scratch (x int)');
      await c.query('SELECT pg_advisory_lock(7)');
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await withClient(server, async (c) => {
      assert.deepEqual(await rows(c, 'SHOW TimeZone'), [{ TimeZone: 'GMT' }]);
      assert.deepEqual(await rows(c, 'SHOW client_min_messages'), [{ client_min_messages: 'notice' }]);
      assert.deepEqual(await rows(c, 'SHOW search_path'), [{ search_path: 'public' }]);
      assert.equal(await scalar(c, "SELECT to_regproc('by_range')::text"), 'by_range');
      assert.equal(await scalar(c, "SELECT to_regclass('scratch')"), null);
      assert.equal(await scalar(c, "SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory'"), 0);
    });
  });

  test('messages larger than one TCP read arrive whole', async () => {
    await withClient(server, async (c) => {
      const big = 'x'.repeat(3_000_000);
      assert.equal(await scalar(c, 'SELECT length($1::text)', [big]), 3_000_000);
      assert.equal(await scalar(c, `SELECT length('${'y'.repeat(300_000)}')`), 300_000);
    });
  });
});

describe('stock PGLiteSocketServer (pglite-socket 0.0.19)', () => {
  let server: TimescaleServer;

  before(async () => {
    server = await startTimescale({ implementation: 'pglite-socket' });
  });

  after(async () => {
    await server?.stop();
  });

  test('serves one connection at a time: the next waits until the first closes', async () => {
    const first = new pg.Client(server.connectionString);
    await first.connect();
    assert.equal(await scalar(first, "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"), '2.23.0-dev');
    const second = new pg.Client({ connectionString: server.connectionString, connectionTimeoutMillis: 300 });
    const err = await failure(second.connect());
    assert.equal(err.message, 'timeout expired');
    const third = new pg.Client(server.connectionString);
    const thirdConnected = third.connect();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await first.end();
    await thirdConnected; // admitted once the first has gone
    assert.equal(await scalar(third, 'SELECT 3'), 3);
    await third.end();
  });

  test('a connection that drops mid-transaction leaves it open for the next one', async () => {
    const first = new pg.Client(server.connectionString);
    await first.connect();
    first.on('error', () => {});
    await first.query('CREATE TABLE leak (id int)');
    await first.query('BEGIN');
    await first.query('INSERT INTO leak VALUES (1)');
    first.connection.stream.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const next = new pg.Client(server.connectionString);
    await next.connect();
    try {
      // Still inside the first client's transaction: its row is visible, a transaction id is assigned.
      assert.equal(await scalar(next, 'SELECT count(*)::int FROM leak'), 1);
      assert.notEqual(await scalar(next, 'SELECT txid_current_if_assigned()'), null);
      await next.query('ROLLBACK');
      assert.equal(await scalar(next, 'SELECT count(*)::int FROM leak'), 0);
    } finally {
      await next.end();
    }
  });
});
