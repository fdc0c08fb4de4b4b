/**
 * `hyperfill schema`: the DDL it prints (unit tests of src/schema/), and that the DDL
 * applied to an empty database accepts what `backfill` then copies, for a PostgreSQL
 * table of many types and for CSV files; on TimescaleDB, --apply creates a hypertable
 * with the suggested chunk interval and the compression settings. MongoDB (the
 * wire-protocol test server) and ClickHouse sources: the DDL from their sampled or
 * mapped types accepts what backfill copies.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { type SchemaPlan, intervalText, renderDdl } from '../src/schema/ddl.js';
import { chooseChunkInterval, parseChunkInterval } from '../src/schema/suggest.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';
import { createClient } from '@clickhouse/client';
import { describeClickHouse, startClickHouse, type ClickHouseServer } from './helpers/clickhouse-server.js';
import { startMongoWireServer, type MongoWireServer } from './helpers/mongo-wire-server.js';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';

const H = 3_600_000_000n;
const D = 24n * H;
const UNTIL = '2024-01-05T00:00:00Z';

let server: PostgresServer;
let sourceUrl: string;
let dir: string;

/** Every kind of column a user has, with NULLs where allowed. */
const VARIED = `CREATE TABLE readings (
  time timestamptz NOT NULL, device_id integer NOT NULL, site smallint, seq bigint NOT NULL, price numeric(12,3), ratio real, value double precision,
  ok boolean, label text, code varchar(20), grade char(4), id uuid, doc jsonb, raw_json json, blob bytea, day date, local_ts timestamp,
  at_time time, span interval, addr inet, tags text[], counts int4[], "Mixed Case" text, "we""ird" text)`;

before(async () => {
  server = await startPostgres();
  sourceUrl = await server.createDatabase('source');
  await server.query(`${VARIED};
    INSERT INTO readings SELECT '2024-01-01'::timestamptz + i * interval '1 minute', i % 20, (i % 7)::smallint, i, i * 1.125, i / 3.0, i / 7.0,
      CASE WHEN i % 3 = 0 THEN NULL ELSE i % 2 = 0 END, 'label ' || i || E'\\t"x"\\n', 'c' || (i % 5), 'g' || (i % 3),
      md5(i::text)::uuid, jsonb_build_object('i', i, 'nested', jsonb_build_array(i, 'a')), json_build_object('k', i), decode(md5(i::text), 'hex'),
      '2024-01-01'::date + (i % 30), '2024-01-01 00:00'::timestamp + i * interval '1 second', '12:00'::time + i * interval '1 second',
      i * interval '1 minute', ('10.0.' || (i % 255) || '.1')::inet, ARRAY['t' || (i % 4), NULL], ARRAY[i, i + 1], CASE WHEN i % 2 = 0 THEN 'm' END, 'w'
    FROM generate_series(0, 8639) i;
    ANALYZE readings;`, [], 'source');
  dir = mkdtempSync(join(tmpdir(), 'hyperfill-schema-'));
  const lines = ['time,host,cpu,ok,note,id'];
  for (let i = 0; i < 3000; i++) {
    lines.push([new Date(Date.UTC(2024, 0, 1) + i * 180_000).toISOString(), `host_${i % 6}`, i % 10 === 0 ? '' : (i / 8).toString(),
      i % 4 === 0 ? '' : String(i % 2 === 0), i % 5 === 0 ? '"with, comma"' : `n${i}`, String(i)].join(','));
  }
  writeFileSync(join(dir, 'm-1.csv'), `${lines.slice(0, 1500).join('\n')}\n`);
  writeFileSync(join(dir, 'm-2.csv.gz'), gzipSync(`${[lines[0], ...lines.slice(1500)].join('\n')}\n`));
});
after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const plan = (over: Partial<SchemaPlan> = {}): SchemaPlan => ({
  target: { schema: 'public', table: 'metrics' },
  source: { name: 'public.metrics', kind: 'postgres' },
  columns: [
    { name: 'time', pgType: 'timestamp with time zone', nullable: true },
    { name: 'host', pgType: 'text', nullable: false },
    { name: 'we"ird', pgType: 'double precision', nullable: true },
  ],
  timeColumn: 'time',
  timeType: 'timestamptz',
  hypertable: {
    interval: { value: D, reason: 'test' }, byRange: true,
    compression: { segmentBy: ['host'], segmentReason: 'segmentby "host"', enabled: false },
  },
  comments: ['a note'],
  ...over,
});

test('ddl: CREATE TABLE with quoted names and NOT NULL, create_hypertable with the interval, compression commented', () => {
  const ddl = renderDdl(plan());
  assert.equal(ddl.text, `-- public.metrics: from postgres table public.metrics
-- a note
CREATE TABLE "public"."metrics" (
  "time"    timestamp with time zone NOT NULL,
  "host"    text NOT NULL,
  "we""ird" double precision
);
-- chunk interval 1 day: test
SELECT create_hypertable('"public"."metrics"', by_range('time', INTERVAL '1 day'));
-- compression: segmentby "host"
-- (not applied: add --compression to include these)
-- ALTER TABLE "public"."metrics" SET (timescaledb.compress, timescaledb.compress_segmentby = '"host"', timescaledb.compress_orderby = '"time" DESC');
-- SELECT add_compression_policy('"public"."metrics"', compress_after => INTERVAL '7 days');
`);
  assert.equal(ddl.statements.length, 2);
  const on = renderDdl(plan({ hypertable: { interval: { value: 6n * H, reason: 'r' }, byRange: false, compression: { segmentBy: [], segmentReason: 'none', enabled: true } } }));
  assert.deepEqual(on.statements.slice(1), [
    `SELECT create_hypertable('"public"."metrics"', 'time', chunk_time_interval => INTERVAL '6 hours');`,
    `ALTER TABLE "public"."metrics" SET (timescaledb.compress, timescaledb.compress_orderby = '"time" DESC');`,
    `SELECT add_compression_policy('"public"."metrics"', compress_after => INTERVAL '7 days');`,
  ]);
  const integer = renderDdl(plan({
    timeType: 'bigint', target: { schema: 'ts', table: "o'k" },
    hypertable: { interval: { value: 86_400_000n, reason: 'r' }, byRange: true, compression: { segmentBy: [], segmentReason: 'none', enabled: true } },
  }));
  assert.equal(integer.statements[0], 'CREATE SCHEMA IF NOT EXISTS "ts";');
  assert.equal(integer.statements[2], `SELECT create_hypertable('"ts"."o''k"', by_range('time', 86400000::bigint));`);
  assert.match(integer.text, /set_integer_now_func/);
  const plain = renderDdl(plan({ hypertable: undefined }));
  assert.equal(plain.statements.length, 1);
  assert.doesNotMatch(plain.text, /hypertable|compress/);
});

test('chunk intervals: about --chunk-rows rows a chunk, rounded down to a readable unit', () => {
  // 240M rows over 10 days at 10M a chunk: 10 hours → 6 hours.
  assert.equal(chooseChunkInterval('timestamptz', 10n * D, 240e6).value, 6n * H);
  assert.equal(chooseChunkInterval('timestamptz', 100n * D, 100e6).value, 7n * D);
  assert.equal(chooseChunkInterval('timestamptz', 365n * D, 1000).value, 30n * D, 'sparse: capped');
  assert.equal(chooseChunkInterval('timestamptz', 0n, 0).value, 7n * D, "nothing known: TimescaleDB's default");
  assert.equal(chooseChunkInterval('date', 10n * D, 240e6).value, D, 'date columns: whole days');
  assert.equal(chooseChunkInterval('bigint', 1_000_000_000n, 1e9, 1e6).value, 1_000_000n);
  assert.equal(chooseChunkInterval('bigint', 3_000_000_000n, 1e9, 1e6).value, 2_000_000n);
  assert.throws(() => chooseChunkInterval('bigint', 0n, 0), (err: Error & { hint?: string }) => /--chunk-interval 86400000/.test(err.hint ?? ''));
  assert.equal(intervalText(90n * 60_000_000n), '90 minutes');
  assert.equal(parseChunkInterval('12h', 'timestamptz'), 12n * H);
  assert.throws(() => parseChunkInterval('6h', 'date'), /whole days/);
  assert.throws(() => parseChunkInterval('1d', 'bigint'), /positive integer/);
});

async function columnsOf(db: string, table: string) {
  const r = await server.query(`SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null
    FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, [table], db);
  return r.rows;
}

test('PostgreSQL source of many types: schema --apply --plain, then backfill and verify --checksum match', async () => {
  const target = await server.createDatabase('target_pg');
  const printed = await runMain(['schema', '--source', sourceUrl, '--table', 'readings', '--time-column', 'time', '--plain']);
  assert.equal(printed.code, 0, printed.stderr);
  assert.match(printed.stdout, /"we""ird" +text\n\);/);
  const applied = await runMain(['schema', '--source', sourceUrl, '--table', 'readings', '--time-column', 'time', '--target', target, '--apply', '--plain']);
  assert.equal(applied.code, 0, applied.stderr);
  assert.equal(applied.stdout, printed.stdout, '--apply prints what it runs');
  assert.match(applied.stderr, /schema: created public\.readings \(plain tables\)/);
  assert.doesNotMatch(applied.stderr + applied.stdout, /hyperfill-embedded/, 'no password printed');
  assert.deepEqual(await columnsOf('target_pg', 'readings'), await columnsOf('source', 'readings'), 'same names, types and NOT NULLs');

  const args = ['--source', sourceUrl, '--target', target, '--table', 'readings', '--time-column', 'time', '--until', UNTIL];
  const run = await runMain(['backfill', ...args, '--allow-plain-target']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /public\.readings\s+\d+\s+5760\s+0/);
  const verify = await runMain(['verify', ...args, '--checksum']);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);

  const again = await runMain(['schema', '--source', sourceUrl, '--table', 'readings', '--time-column', 'time', '--target', target, '--apply', '--plain']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /error E_TABLE_EXISTS: table public\.readings already exists in the target\n {2}hint: nothing was created/);
  const noTs = await runMain(['schema', '--source', sourceUrl, '--table', 'readings:other', '--time-column', 'time', '--target', target, '--apply']);
  assert.equal(noTs.code, 1);
  assert.match(noTs.stderr, /E_TARGET_NOT_TIMESCALE.*\n {2}hint: pass --plain/);
  const missing = await runMain(['schema', '--source', sourceUrl, '--table', 'readings']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /E_TIME_COLUMN_REQUIRED/);
});

test('PostgreSQL source: the printed hypertable DDL suggests a chunk interval and a segmentby column', async () => {
  const r = await runMain(['schema', '--source', sourceUrl, '--table', 'readings', '--time-column', 'time', '--chunk-rows', '20000']);
  assert.equal(r.code, 0, r.stderr);
  // 8640 rows over 6 days, 20000 rows a chunk: 13.9 days → 7 days.
  assert.match(r.stdout, /SELECT create_hypertable\('"public"\."readings"', by_range\('time', INTERVAL '7 days'\)\);/);
  // device_id (20 values, ~500 rows a segment per chunk) beats code (5), grade (3) and site (7): the finest that still repeats.
  assert.match(r.stdout, /-- compression: segmentby "device_id": 20 distinct values in a sample of 8640 rows/);
  assert.match(r.stdout, /-- ALTER TABLE "public"\."readings" SET \(timescaledb\.compress, timescaledb\.compress_segmentby = '"device_id"'/);
});

test('CSV files: schema --apply --plain sniffs header and types; backfill into it and verify match', async () => {
  const target = await server.createDatabase('target_csv');
  const source = `csv://${dir}/m-*.csv*`;
  const applied = await runMain(['schema', '--source', source, '--table', 'metrics', '--target', target, '--apply', '--plain']);
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /-- time column "time" \(timestamp with time zone\): the first column holding timestamps/);
  assert.deepEqual((await columnsOf('target_csv', 'metrics')).map((c) => [c.name, c.type, c.not_null]), [
    ['time', 'timestamp with time zone', true], ['host', 'text', false], ['cpu', 'double precision', false],
    ['ok', 'boolean', false], ['note', 'text', false], ['id', 'bigint', false],
  ]);
  const args = ['--source', source, '--target', target, '--table', 'metrics', '--until', UNTIL];
  const run = await runMain(['backfill', ...args, '--allow-plain-target']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /public\.metrics\s+1\s+1920\s+0/);
  const verify = await runMain(['verify', ...args]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  const sample = await server.query(`SELECT count(*)::int AS n, count(cpu)::int AS cpu, count(ok)::int AS ok, sum(id)::bigint AS ids FROM metrics`, [], 'target_csv');
  assert.deepEqual(sample.rows[0], { n: 1920, cpu: 1920 - 192, ok: 1920 - 480, ids: String((1919 * 1920) / 2) });

  const printed = await runMain(['schema', '--source', source, '--table', 'metrics', '--compression', '--chunk-rows', '5000']);
  assert.equal(printed.code, 0, printed.stderr);
  // 3000 rows over 6.25 days at 5000 rows a chunk: 10.4 days → 7 days; host (6 values) to segment by.
  assert.match(printed.stdout, /by_range\('time', INTERVAL '7 days'\)/);
  assert.match(printed.stdout, /timescaledb\.compress_segmentby = '"host"'/);
});

describeNative('schema on TimescaleDB', { timescale: true }, () => {
  test('TimescaleDB target: --apply creates the hypertable with the interval and compression settings', async () => {
    let ts: NativeServer | undefined;
    try {
      ts = await startNativePostgres({ timescale: true });
      const r = await runMain(['schema', '--source', sourceUrl, '--table', 'readings:metrics.readings', '--time-column', 'time',
        '--target', ts.url(), '--apply', '--compression', '--chunk-interval', '12h']);
      assert.equal(r.code, 0, r.stderr);
      const client = new pg.Client({ connectionString: ts.url() });
      await client.connect();
      try {
        const h = await client.query(`SELECT h.hypertable_schema, h.hypertable_name, h.compression_enabled, d.column_name, d.time_interval::text AS interval
          FROM timescaledb_information.hypertables h JOIN timescaledb_information.dimensions d USING (hypertable_schema, hypertable_name)`);
        assert.deepEqual(h.rows, [{ hypertable_schema: 'metrics', hypertable_name: 'readings', compression_enabled: true, column_name: 'time', interval: '12:00:00' }]);
        const seg = await client.query(`SELECT attname, segmentby_column_index, orderby_column_index, orderby_asc
          FROM timescaledb_information.compression_settings WHERE hypertable_name = 'readings' AND (segmentby_column_index IS NOT NULL OR orderby_column_index IS NOT NULL)`);
        assert.deepEqual(seg.rows, [
          { attname: 'device_id', segmentby_column_index: 1, orderby_column_index: null, orderby_asc: null },
          { attname: 'time', segmentby_column_index: null, orderby_column_index: 1, orderby_asc: false },
        ]);
        const jobs = await client.query(`SELECT proc_name FROM timescaledb_information.jobs WHERE hypertable_name = 'readings'`);
        assert.deepEqual(jobs.rows.map((j) => j.proc_name), ['policy_compression']);
      } finally {
        await client.end();
      }
    } finally {
      await ts?.stop();
    }
  });
});

/** schema --apply --plain, then backfill and verify, for another source kind. */
async function applyBackfillVerify(db: string, source: string, table: string, timeColumn: string, until: string): Promise<string> {
  const target = await server.createDatabase(db);
  const applied = await runMain(['schema', '--source', source, '--table', table, '--time-column', timeColumn, '--target', target, '--apply', '--plain']);
  assert.equal(applied.code, 0, applied.stderr);
  const args = ['--source', source, '--target', target, '--table', table, '--time-column', timeColumn, '--until', until];
  const run = await runMain(['backfill', ...args, '--allow-plain-target']);
  assert.equal(run.code, 0, run.stderr);
  const verify = await runMain(['verify', ...args]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  return applied.stdout;
}

test('MongoDB source: sampled fields unified, missing ones nullable; the DDL accepts the backfilled documents', async () => {
  let mongo: MongoWireServer | undefined;
  try {
    mongo = await startMongoWireServer();
    const t0 = Date.UTC(2024, 0, 1);
    mongo.insert('app', 'readings', Array.from({ length: 3000 }, (_, n) => ({
      time: new Date(t0 + n * 60_000), device: `d${n % 5}`, v: n / 4, n, ...(n % 3 ? { extra: 'x' } : {}), ...(n % 2 ? { tags: { a: n } } : {}),
    })));
    const ddl = await applyBackfillVerify('target_mongo', mongo.url.replace('/?', '/app?'), 'app.readings:readings', 'time', '2024-01-02T00:00:00Z');
    assert.match(ddl, /-- public\.readings: from mongodb table app\.readings/);
    const columns = await columnsOf('target_mongo', 'readings');
    assert.deepEqual(columns.filter((c) => !c.not_null).map((c) => c.name), ['extra', 'tags'], 'fields some documents lack are nullable');
    const n = await server.query('SELECT count(*)::int AS n, count(extra)::int AS extra, count(tags)::int AS tags FROM readings', [], 'target_mongo');
    assert.deepEqual(n.rows[0], { n: 1440, extra: 960, tags: 720 });
  } finally {
    await mongo?.stop();
  }
});

describeClickHouse('schema from a ClickHouse source', () => {
  test('ClickHouse source: mapped types, Nullable columns nullable; the DDL accepts the backfilled rows', async () => {
    let ch: ClickHouseServer | undefined;
    try {
      ch = await startClickHouse();
      const client = createClient({ url: ch.url });
      try {
        await client.command({ query: `CREATE TABLE fleet (ts DateTime, host String, cpu Float64, n Int32, note Nullable(String))
          ENGINE = MergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (host, ts)` });
        await client.command({ query: `INSERT INTO fleet SELECT toDateTime(1704067200 + number * 60), concat('host_', toString(number % 5)), number / 7,
          toInt32(number), if(number % 2 = 0, NULL, 'x') FROM system.numbers LIMIT 5000` });
      } finally {
        await client.close();
      }
      const ddl = await applyBackfillVerify('target_ch', `clickhouse://default@127.0.0.1:${ch.httpPort}/default`, 'fleet', 'ts', '2024-01-03T00:00:00Z');
      assert.match(ddl, /"note" text\n\);/);
      assert.deepEqual((await columnsOf('target_ch', 'fleet')).map((c) => [c.name, c.type, c.not_null]), [
        ['ts', 'timestamp with time zone', true], ['host', 'text', true], ['cpu', 'double precision', true], ['n', 'integer', true], ['note', 'text', false],
      ]);
      const n = await server.query('SELECT count(*)::int AS n, count(note)::int AS notes FROM fleet', [], 'target_ch');
      assert.deepEqual(n.rows[0], { n: 2880, notes: 1440 });
    } finally {
      await ch?.stop();
    }
  });
});
