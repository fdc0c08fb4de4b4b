/**
 * The ClickHouse source against a real ClickHouse 18.16 (its server time zone set to
 * Europe/Berlin, so nothing may depend on it) and a real PostgreSQL: every mapped type
 * with NULLs and hostile strings arrives exactly, window by window, through text COPY;
 * counts per window agree; a query that fails mid-stream, a NUL and invalid UTF-8 fail
 * the window clearly; and `hyperfill backfill` from ClickHouse survives SIGKILL.
 */
import assert from 'node:assert/strict';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { openSource } from '../connectors/index.js';
import type { ClickHouseSource, ClickHouseTableInfo } from '../connectors/clickhouse/index.js';
import { HyperfillError } from '../src/errors.js';
import type { TimeRange } from '../src/source.js';
import { describeClickHouse, startClickHouse, type ClickHouseServer } from './helpers/clickhouse-server.js';
import { runCli } from './helpers/cli.js';
import { freePort, startPostgres, type PostgresServer } from './helpers/postgres.js';
import { watchChild } from './helpers/watch-child.js';

let ch: ClickHouseServer;
let chClient: ClickHouseClient;
let pgServer: PostgresServer;
let source: ClickHouseSource;
let sourceUrl: string;

const S = 1_000_000n;
const T0 = 1691668800; // 2023-08-10 12:00:00 UTC

async function command(query: string): Promise<void> {
  await chClient.command({ query, clickhouse_settings: { allow_experimental_low_cardinality_type: 1 } as never });
}

async function withPg<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: pgServer.url() });
  await client.connect();
  try {
    await client.query(`SET TIME ZONE 'Asia/Kolkata'`); // COPY must not depend on the session zone
    return await use(client);
  } finally {
    await client.end();
  }
}

const qi = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** What backfill does with a window: read it and COPY it in, in one transaction. */
async function copyWindow(client: pg.Client, info: ClickHouseTableInfo, window: TimeRange, target: string): Promise<{ sent?: number; copied: number }> {
  const columns = info.columns.map((c) => c.name);
  const read = await source.read({ table: info, window, columns, targetTypes: info.columns.map((c) => c.pgType) });
  const options = [`FORMAT ${read.format}`, read.copyOptions].filter(Boolean).join(', ');
  const sink = client.query(copyFrom(`COPY ${qi(target)} (${columns.map(qi).join(', ')}) FROM STDIN WITH (${options})`));
  await pipeline(read.stream, sink);
  const sent = await read.rowsSent?.();
  return { ...(sent === undefined ? {} : { sent }), copied: sink.rowCount };
}

const ddl = (name: string, info: ClickHouseTableInfo) =>
  `CREATE TABLE ${qi(name)} (${info.columns.map((c) => `${qi(c.name)} ${c.pgType}${c.nullable ? '' : ' NOT NULL'}`).join(', ')})`;

// ---------------------------------------------------------------- every type

/** Column: ClickHouse type, PostgreSQL type and nullability, then per row a ClickHouse expression and the expected value. */
type Cell = [string, unknown];
// ClickHouse 18.16's date tables end with 2105: it prints later DateTime values wrongly itself, so the
// latest value tested is 2105-12-31 23:59:59 (newer servers print up to 2106-02-07 06:28:15).
const TYPES: Array<{ name: string; ch: string; pg: string; nullable?: boolean; rows: [Cell, Cell, Cell] }> = [
  { name: 'id', ch: 'UInt32', pg: 'bigint', rows: [['1', 1], ['2', 2], ['3', 3]] },
  { name: 'ts', ch: 'DateTime', pg: 'timestamp with time zone', rows: [[`toDateTime(${T0})`, '2023-08-10 12:00:00Z'], [`toDateTime(${T0 + 1})`, '2023-08-10 12:00:01Z'], [`toDateTime(${T0 + 3599})`, '2023-08-10 12:59:59Z']] },
  { name: 'ts_tokyo', ch: "DateTime('Asia/Tokyo')", pg: 'timestamp with time zone', rows: [[`toDateTime(${T0})`, '2023-08-10 12:00:00Z'], ['toDateTime(0)', '1970-01-01 00:00:00Z'], ['toDateTime(4291747199)', '2105-12-31 23:59:59Z']] },
  { name: 'd', ch: 'Date', pg: 'date', rows: [["toDate('2023-08-10')", '2023-08-10'], ['toDate(0)', '1970-01-01'], ["toDate('2105-12-31')", '2105-12-31']] },
  { name: 'i8', ch: 'Int8', pg: 'smallint', rows: [['1', 1], ['-128', -128], ['127', 127]] },
  { name: 'i16', ch: 'Int16', pg: 'smallint', rows: [['-32768', -32768], ['32767', 32767], ['0', 0]] },
  { name: 'i32', ch: 'Int32', pg: 'integer', rows: [['-2147483648', -2147483648], ['2147483647', 2147483647], ['0', 0]] },
  { name: 'i64', ch: 'Int64', pg: 'bigint', rows: [['-9223372036854775808', '-9223372036854775808'], ['9223372036854775807', '9223372036854775807'], ['0', '0']] },
  { name: 'u8', ch: 'UInt8', pg: 'smallint', rows: [['255', 255], ['0', 0], ['1', 1]] },
  { name: 'u16', ch: 'UInt16', pg: 'integer', rows: [['65535', 65535], ['0', 0], ['1', 1]] },
  { name: 'u32', ch: 'UInt32', pg: 'bigint', rows: [['4294967295', '4294967295'], ['0', '0'], ['1', '1']] },
  { name: 'u64', ch: 'UInt64', pg: 'numeric(20,0)', rows: [['18446744073709551615', '18446744073709551615'], ['9223372036854775808', '9223372036854775808'], ['0', '0']] },
  { name: 'f32', ch: 'Float32', pg: 'real', rows: [['0.1', '0.1'], ['nan', 'NaN'], ['-inf', '-Infinity']] },
  { name: 'f64', ch: 'Float64', pg: 'double precision', rows: [['0.1 + 0.2', '0.30000000000000004'], ['inf', 'Infinity'], ['-1e-7', '-1e-07']] },
  { name: 'dec', ch: 'Decimal(18, 4)', pg: 'numeric(18,4)', rows: [["toDecimal64('1234.5678', 4)", '1234.5678'], ["toDecimal64('-0.0001', 4)", '-0.0001'], ["toDecimal64('99999999999999.9999', 4)", '99999999999999.9999']] },
  { name: 'dec32', ch: 'Decimal(9, 2)', pg: 'numeric(9,2)', rows: [["toDecimal32('1.5', 2)", '1.50'], ["toDecimal32('-9999999.99', 2)", '-9999999.99'], ['toDecimal32(0, 2)', '0.00']] },
  { name: 's', ch: 'String', pg: 'text', rows: [["'plain'", 'plain'],
    ["'tab\\there\\nnewline\\rcr back\\\\slash \\'single\\' \"double\" é€😀 \\\\N NULL \\\\.'", 'tab\there\nnewline\rcr back\\slash \'single\' "double" é€😀 \\N NULL \\.'], ["''", '']] },
  { name: 'fs', ch: 'FixedString(4)', pg: 'text', rows: [["'abcd'", 'abcd'], ["'ab'", 'ab'], ["''", '']] },
  { name: 'uuid', ch: 'UUID', pg: 'uuid', rows: [["toUUID('61f0c404-5cb3-11e7-907b-a6006ad3dba0')", '61f0c404-5cb3-11e7-907b-a6006ad3dba0'],
    ["toUUID('00000000-0000-0000-0000-000000000000')", '00000000-0000-0000-0000-000000000000'], ["toUUID('ffffffff-ffff-ffff-ffff-ffffffffffff')", 'ffffffff-ffff-ffff-ffff-ffffffffffff']] },
  { name: 'e8', ch: "Enum8('a' = 1, 'it\\'s' = 2)", pg: 'text', rows: [["'a'", 'a'], ["'it\\'s'", "it's"], ["'a'", 'a']] },
  { name: 'e16', ch: "Enum16('x' = -1000, 'y' = 1000)", pg: 'text', rows: [["'x'", 'x'], ["'y'", 'y'], ["'x'", 'x']] },
  { name: 'n_i32', ch: 'Nullable(Int32)', pg: 'integer', nullable: true, rows: [['42', 42], ['NULL', null], ['-1', -1]] },
  { name: 'n_s', ch: 'Nullable(String)', pg: 'text', nullable: true, rows: [["'x'", 'x'], ['NULL', null], ["''", '']] },
  { name: 'n_ts', ch: 'Nullable(DateTime)', pg: 'timestamp with time zone', nullable: true, rows: [[`toDateTime(${T0})`, '2023-08-10 12:00:00Z'], ['NULL', null], ['toDateTime(0)', '1970-01-01 00:00:00Z']] },
  { name: 'n_d', ch: 'Nullable(Date)', pg: 'date', nullable: true, rows: [["toDate('2023-08-10')", '2023-08-10'], ['NULL', null], ['toDate(0)', '1970-01-01']] },
  { name: 'n_f64', ch: 'Nullable(Float64)', pg: 'double precision', nullable: true, rows: [['nan', 'NaN'], ['NULL', null], ['-0.', '-0']] },
  { name: 'n_dec', ch: 'Nullable(Decimal(10, 3))', pg: 'numeric(10,3)', nullable: true, rows: [["toDecimal32('1.5', 3)", '1.500'], ['NULL', null], ["toDecimal32('-0.001', 3)", '-0.001']] },
  { name: 'n_uuid', ch: 'Nullable(UUID)', pg: 'uuid', nullable: true, rows: [["toUUID('61f0c404-5cb3-11e7-907b-a6006ad3dba0')", '61f0c404-5cb3-11e7-907b-a6006ad3dba0'], ['NULL', null],
    ["toUUID('00000000-0000-0000-0000-000000000001')", '00000000-0000-0000-0000-000000000001']] },
  { name: 'n_fs', ch: 'Nullable(FixedString(3))', pg: 'text', nullable: true, rows: [["'abc'", 'abc'], ['NULL', null], ["'a'", 'a']] },
  { name: 'lc', ch: 'LowCardinality(String)', pg: 'text', rows: [["'low'", 'low'], ["''", ''], ["'tab\\there'", 'tab\there']] },
  { name: 'lc_n', ch: 'LowCardinality(Nullable(String))', pg: 'text', nullable: true, rows: [["'x'", 'x'], ['NULL', null], ["''", '']] },
  { name: 'a_i32', ch: 'Array(Int32)', pg: 'integer[]', rows: [['[1, -2, 3]', [1, -2, 3]], ['[]', []], ['[2147483647]', [2147483647]]] },
  { name: 'a_s', ch: 'Array(Nullable(String))', pg: 'text[]', rows: [
    ["['a', NULL, '', 'NULL', 'q\"uote', 'back\\\\slash', 'com,ma', '{br}', 'sp ace', 'tab\\t', 'it\\'s', 'é€']",
      ['a', null, '', 'NULL', 'q"uote', 'back\\slash', 'com,ma', '{br}', 'sp ace', 'tab\t', "it's", 'é€']], ['[]', []], ['[NULL]', [null]]] },
  { name: 'a_ts', ch: 'Array(DateTime)', pg: 'timestamp with time zone[]', rows: [[`[toDateTime(0), toDateTime(${T0})]`, ['1970-01-01 00:00:00Z', '2023-08-10 12:00:00Z']], ['[]', []],
    ['[toDateTime(4291747199)]', ['2105-12-31 23:59:59Z']]] },
  { name: 'a_f64', ch: 'Array(Float64)', pg: 'double precision[]', rows: [['[1.5, nan, inf, -inf]', [1.5, 'NaN', 'Infinity', '-Infinity']], ['[]', []], ['[-0.]', ['-0']]] },
  { name: 'a_d', ch: 'Array(Nullable(Date))', pg: 'date[]', rows: [["[toDate(0), NULL, toDate('2023-08-10')]", ['1970-01-01', null, '2023-08-10']], ['[]', []], ['[NULL]', [null]]] },
  { name: 'a_u64', ch: 'Array(UInt64)', pg: 'numeric(20,0)[]', rows: [['[18446744073709551615, 0]', ['18446744073709551615', '0']], ['[]', []], ['[1]', ['1']]] },
  { name: 'a_e', ch: "Array(Enum8('p' = 1, 'q' = 2))", pg: 'text[]', rows: [["['p', 'q']", ['p', 'q']], ['[]', []], ["['q']", ['q']]] },
  { name: 'aa', ch: 'Array(Array(Int32))', pg: 'jsonb', rows: [['[[1, 2], [], [3]]', '[[1,2],[],[3]]'], ['arrayFilter(x -> 0, [[1]])', '[]'], ['[emptyArrayInt32()]', '[[]]']] },
  { name: 'tup', ch: 'Tuple(Int32, String, Nullable(DateTime))', pg: 'jsonb', rows: [
    [`(1, 'a\\'b\\tc\\\\d', toDateTime(${T0}))`, JSON.stringify([1, "a'b\tc\\d", '2023-08-10 12:00:00+00'])],
    ["(-1, '', NULL)", JSON.stringify([-1, '', null])], ["(0, 'é€', toDateTime(0))", JSON.stringify([0, 'é€', '1970-01-01 00:00:00+00'])]] },
  { name: 'nest.k', ch: 'Array(String)', pg: 'text[]', rows: [["['a', 'b']", ['a', 'b']], ['[]', []], ["['c']", ['c']]] },
  { name: 'nest.v', ch: 'Array(UInt64)', pg: 'numeric(20,0)[]', rows: [['[1, 18446744073709551615]', ['1', '18446744073709551615']], ['[]', []], ['[0]', ['0']]] },
];

describeClickHouse('the ClickHouse source', () => {
  before(async () => {
    ch = await startClickHouse({ timezone: 'Europe/Berlin' });
    chClient = createClient({ url: ch.url });
    pgServer = await startPostgres();
    sourceUrl = `clickhouse://default@127.0.0.1:${ch.httpPort}/default`;
    source = (await openSource(sourceUrl, { parallel: 4 })) as ClickHouseSource;
  });

  after(async () => {
    await source?.close();
    await chClient?.close();
    await ch?.stop();
    await pgServer?.stop();
  });

  describe('every type', () => {
    let info: ClickHouseTableInfo;

    before(async () => {
      const columns = TYPES.filter((c) => !c.name.startsWith('nest.')).map((c) => `${'`'}${c.name}${'`'} ${c.ch}`);
      await command(`CREATE TABLE everything (${columns.join(', ')}, nest Nested(k String, v UInt64))
        ENGINE = MergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (ts, id)`);
      for (let r = 0; r < 3; r++) {
        // INSERT ... SELECT with a CAST per column: 18.16's VALUES parser trips over some tuples.
        const values = TYPES.map((c) => `CAST(${c.rows[r]?.[0]} AS ${c.ch})`);
        await command(`INSERT INTO everything (${TYPES.map((c) => `\`${c.name}\``).join(', ')}) SELECT ${values.join(', ')}`);
      }
      info = await source.describe('everything');
    });

    test('describe maps every column to its PostgreSQL type and nullability, and finds ts in the sorting key', () => {
      assert.equal(info.name, 'default.everything');
      assert.equal(info.timeColumn, 'ts');
      assert.equal(info.timeType, 'timestamptz');
      assert.equal(info.timeColumnDiscovered, true);
      assert.deepEqual(info.columns.map((c) => [c.name, c.pgType, c.nullable]), TYPES.map((c) => [c.name, c.pg, c.nullable ?? false]));
    });

    test('every value arrives exactly, NULLs and hostile strings included, window by window', async () => {
      await withPg(async (client) => {
        await client.query(ddl('everything', info));
        await client.query(ddl('expected', info));
        for (let r = 0; r < 3; r++) {
          await client.query(`INSERT INTO expected VALUES (${TYPES.map((_, i) => `$${i + 1}`).join(', ')})`, TYPES.map((c) => c.rows[r]?.[1]));
        }
        // Three windows of one row each (the third cut mid-second: t < 12:59:59.5 is t < 13:00:00 in whole seconds).
        const edges = [T0, T0 + 1, T0 + 2].map((t) => BigInt(t) * S);
        const windows = [{ start: edges[0]!, end: edges[1]! }, { start: edges[1]!, end: edges[2]! }, { start: edges[2]!, end: BigInt(T0 + 3599) * S + 500_000n }];
        for (const w of windows) {
          await client.query('BEGIN');
          assert.deepEqual(await copyWindow(client, info, w, 'everything'), { sent: 1, copied: 1 });
          await client.query('COMMIT');
        }
        for (const c of TYPES) {
          const q = (t: string) => client.query(`SELECT id, ${qi(c.name)}::text AS v FROM ${t} ORDER BY id`).then((r) => r.rows);
          assert.deepEqual(await q('everything'), await q('expected'), `column ${c.name} (${c.ch})`);
        }
        // And the raw text of a few, as a person would see them.
        const row = (await client.query(`SELECT s, f32::text, a_s::text, tup::text FROM everything WHERE id = 2`)).rows[0];
        assert.equal(row.s, TYPES.find((c) => c.name === 's')?.rows[1][1]);
        assert.equal(row.f32, 'NaN');
        assert.equal(row.a_s, '{}');
        assert.equal(row.tup, '[-1, "", null]');
      });
    });
  });

  // ---------------------------------------------------------------- windows and counts

  describe('windows and counts', () => {
    let info: ClickHouseTableInfo;
    const START = 1_704_067_200; // 2024-01-01

    before(async () => {
      await command(`CREATE TABLE metrics (ts DateTime, host String, cpu Float64, mem Float64, n Int32)
        ENGINE = MergeTree() PARTITION BY toYYYYMMDD(ts) ORDER BY (host, ts)`);
      // 100k rows, one every 8.64 s on average over 10 days, unevenly: more on later days.
      await command(`INSERT INTO metrics SELECT toDateTime(${START} + toUInt32(sqrt(number / 100000) * 864000)), concat('host_', toString(number % 7)),
        number / 7, number * 0.001, toInt32(number) FROM system.numbers LIMIT 100000`);
      info = await source.describe('default.metrics', 'ts');
    });

    test('counts per window: source count = rows sent = rows COPY took = PostgreSQL count', async () => {
      await withPg(async (client) => {
        await client.query(ddl('metrics', info));
        let total = 0;
        for (let day = 0; day < 10; day++) {
          const w = { start: BigInt(START + day * 86400) * S, end: BigInt(START + (day + 1) * 86400) * S };
          const counted = await source.count(info, w);
          const { sent, copied } = await copyWindow(client, info, w, 'metrics');
          const inPg = await client.query(`SELECT count(*)::int AS n FROM metrics WHERE ts >= to_timestamp(${START + day * 86400}) AND ts < to_timestamp(${START + (day + 1) * 86400})`);
          assert.deepEqual([sent, copied, inPg.rows[0].n], [counted, counted, counted], `day ${day}`);
          total += counted;
        }
        assert.equal(total, 100_000);
        const empty = { start: BigInt(START - 86400) * S, end: BigInt(START) * S };
        assert.deepEqual([await source.count(info, empty), await copyWindow(client, info, empty, 'metrics')], [0, { sent: 0, copied: 0 }], 'an empty window');
        const bad = await client.query(`SELECT count(*)::int AS n FROM metrics WHERE cpu <> n::float8 / 7 OR host <> 'host_' || (n % 7)`);
        assert.equal(bad.rows[0].n, 0, 'every value as ClickHouse computed it');
      });
    });

    test('extent and estimateRows', async () => {
      const all = { start: 0n, end: BigInt(START + 30 * 86400) * S };
      const last = Math.trunc(Math.sqrt(99_999 / 100_000) * 864_000);
      assert.deepEqual(await source.extent(info, all), { start: BigInt(START) * S, end: BigInt(START + last) * S });
      assert.equal(await source.extent(info, { start: 0n, end: BigInt(START) * S }), undefined);
      assert.equal(await source.estimateRows(info, all), 100_000);
      // Partitions by day: the estimate for a day is close to the count.
      const day = { start: BigInt(START + 5 * 86400) * S, end: BigInt(START + 6 * 86400) * S };
      const [estimate, count] = [await source.estimateRows(info, day), await source.count(info, day)];
      assert.ok(Math.abs(estimate - count) <= count * 0.05 + 1, `estimate ${estimate} vs count ${count}`);
    });

    test('integer epoch and Date time columns are cut in their own units', async () => {
      await command('CREATE TABLE epochs (ms UInt64, day Date, v String) ENGINE = MergeTree() ORDER BY ms');
      await command(`INSERT INTO epochs SELECT 1695036737000 + number * 1000, toDate('2023-09-18') + intDiv(number, 10), toString(number) FROM system.numbers LIMIT 100`);
      const byMs = await source.describe('epochs', 'ms');
      assert.equal(byMs.timeType, 'bigint');
      assert.equal(byMs.columns.find((c) => c.name === 'ms')?.pgType, 'bigint', 'a UInt64 epoch maps to bigint');
      assert.equal(await source.count(byMs, { start: 1695036737000n, end: 1695036747000n }), 10);
      assert.equal(await source.count(byMs, { start: 1695036737001n, end: 1695036747001n }), 10);
      assert.equal(await source.count(byMs, { start: -5n, end: 2n ** 63n - 1n }), 100);
      assert.deepEqual(await source.extent(byMs, { start: 0n, end: 2n ** 62n }), { start: 1695036737000n, end: 1695036836000n });
      const byDay = await source.describe('epochs', 'day');
      assert.equal(byDay.timeType, 'date');
      const d = (iso: string) => BigInt(Date.parse(iso)) * 1000n;
      assert.equal(await source.count(byDay, { start: d('2023-09-18'), end: d('2023-09-20') }), 20);
      assert.equal(await source.count(byDay, { start: d('2023-09-18T00:00:01Z'), end: d('2023-09-20') }), 10, 'a date window starting mid-day starts the next day');
      assert.deepEqual(await source.extent(byDay, { start: 0n, end: d('2030-01-01') }), { start: d('2023-09-18'), end: d('2023-09-27') });
    });
  });

  // ---------------------------------------------------------------- failures

  describe('failures', () => {
    test('a query that fails mid-stream fails the window, names it, and COPY rolls back', async () => {
      // A view whose query throws once `number` passes 100000: ClickHouse has sent rows (HTTP 200) by then.
      await command(`CREATE VIEW boom AS SELECT toDateTime(${T0} + number) AS ts, toString(number) AS s, throwIf(number > 100000) AS x
        FROM system.numbers LIMIT 300000`);
      await command(`CREATE VIEW boom_text AS SELECT concat(s, toString(x)) AS s, ts FROM boom`);
      for (const [view, first] of [['boom', 'ts'], ['boom_text', 's']] as const) {
        const info = await source.describe(view, 'ts');
        assert.equal(info.columns[0]?.name, first);
        await withPg(async (client) => {
          await client.query(`CREATE TABLE ${view} (${info.columns.map((c) => `${qi(c.name)} ${c.pgType}`).join(', ')})`);
          await client.query('BEGIN');
          const window = { start: BigInt(T0) * S, end: BigInt(T0 + 300000) * S };
          const err = await copyWindow(client, info, window, view).then(() => undefined, (e: unknown) => e);
          await client.query('ROLLBACK');
          assert.ok(err instanceof HyperfillError, `${view}: ${String(err)}`);
          assert.equal(err.code, 'E_CLICKHOUSE_ERROR');
          assert.match(err.message, new RegExp(`ClickHouse failed while streaming table default\\.${view}, window \\[2023-08-10 12:00:00\\+00, 2023-08-13 23:20:00\\+00\\) after \\d+ rows: .*throwIf`));
          assert.equal(err.context.table, `default.${view}`);
          const n = await client.query(`SELECT count(*)::int AS n FROM ${view}`);
          assert.equal(n.rows[0].n, 0);
        });
      }
    });

    test('a NUL in a String and invalid UTF-8 are named by row and column', async () => {
      await command('CREATE TABLE dirty (ts DateTime, a String, b String) ENGINE = MergeTree() ORDER BY ts');
      await command(`INSERT INTO dirty SELECT toDateTime(${T0} + number), 'ok', if(number = 41, 'x\\0y', 'fine') FROM system.numbers LIMIT 50`);
      await command(`INSERT INTO dirty SELECT toDateTime(${T0 + 1000} + number), if(number = 7, unhex('61FF62'), 'ok'), 'fine' FROM system.numbers LIMIT 50`);
      await command(`INSERT INTO dirty SELECT toDateTime(${T0 + 2000} + number), 'ok', '\\\\0 is not a NUL' FROM system.numbers LIMIT 50`);
      const info = await source.describe('dirty');
      await withPg(async (client) => {
        await client.query(ddl('dirty', info));
        const nul = await copyWindow(client, info, { start: BigInt(T0) * S, end: BigInt(T0 + 50) * S }, 'dirty').catch((e: HyperfillError) => e);
        assert.ok(nul instanceof HyperfillError);
        assert.equal(nul.code, 'E_CLICKHOUSE_NUL');
        assert.deepEqual([nul.context.row, nul.context.column], [42, 'b']);
        const utf8 = await copyWindow(client, info, { start: BigInt(T0 + 1000) * S, end: BigInt(T0 + 1050) * S }, 'dirty').catch((e: HyperfillError) => e);
        assert.ok(utf8 instanceof HyperfillError);
        assert.equal(utf8.code, 'E_CLICKHOUSE_UTF8');
        assert.deepEqual([utf8.context.row, utf8.context.column], [8, 'a']);
        assert.match(utf8.message, /row 8 column "a" is not valid UTF-8.*table default\.dirty, window \[/);
        // An escaped backslash before a 0 is just text.
        const ok = await copyWindow(client, info, { start: BigInt(T0 + 2000) * S, end: BigInt(T0 + 2050) * S }, 'dirty');
        assert.deepEqual(ok, { sent: 50, copied: 50 });
        const text = await client.query(`SELECT DISTINCT b FROM dirty`);
        assert.deepEqual(text.rows, [{ b: '\\0 is not a NUL' }]);
      });
    });

    test('time column: found in the sorting key, or a clear error', async () => {
      await command('CREATE TABLE no_time (id UInt64, created DateTime, maybe Nullable(DateTime)) ENGINE = MergeTree() ORDER BY id');
      await assert.rejects(source.describe('no_time'), (e: HyperfillError) =>
        e.code === 'E_TIME_COLUMN_REQUIRED' && /no Date or DateTime column in its sorting key/.test(e.message) && /one of: id, created\)/.test(e.hint ?? ''));
      assert.equal((await source.describe('no_time', 'created')).timeColumn, 'created');
      await assert.rejects(source.describe('no_time', 'maybe'), (e: HyperfillError) => e.code === 'E_TIME_COLUMN_TYPE' && /Nullable/.test(e.hint ?? ''));
      await assert.rejects(source.describe('no_time', 'nope'), (e: HyperfillError) => e.code === 'E_COLUMN_MISSING');
      await assert.rejects(source.describe('missing_table'), (e: HyperfillError) => e.code === 'E_TABLE_MISSING' && /default\.missing_table/.test(e.message));
      assert.deepEqual(await source.listTables('no_%'), ['no_time']);
      assert.deepEqual(await source.listTables('default.no_%'), ['default.no_time']);
    });

    test('connection errors say what is wrong and never show the password', async () => {
      const cases: Array<[string, string, RegExp]> = [
        [`clickhouse://default:hunter2@127.0.0.1:${await freePort()}/default`, 'E_SOURCE_UNREACHABLE', /cannot reach ClickHouse at clickhouse:\/\/default@127\.0\.0\.1/],
        [`clickhouse://default@127.0.0.1:${ch.httpPort}/nosuchdb`, 'E_DATABASE_MISSING', /nosuchdb/],
        [`clickhouse://nobody:hunter2@127.0.0.1:${ch.httpPort}/default`, 'E_AUTH', /refused the login/],
      ];
      for (const [url, code, message] of cases) {
        const err = await openSource(url, { parallel: 1 }).then(async (s) => { await s.close(); return undefined; }, (e: unknown) => e);
        assert.ok(err instanceof HyperfillError, `${url}: ${String(err)}`);
        assert.equal(err.code, code, `${url}: ${err.message}`);
        assert.match(err.message, message);
        assert.ok(!`${err.message} ${JSON.stringify(err.context)} ${err.hint}`.includes('hunter2'), 'no password');
      }
    });
  });

  // ---------------------------------------------------------------- end to end

  describe('hyperfill backfill from ClickHouse', () => {
    const START = 1_704_067_200; // 2024-01-01
    const ROWS = 216_000; // one every 4 s for 10 days
    const UNTIL = '2024-01-10T00:00:00Z';

    before(async () => {
      await command(`CREATE TABLE fleet (ts DateTime, host String, cpu Float64, mem Float64, n Int32)
        ENGINE = MergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (host, ts)`);
      await command(`INSERT INTO fleet SELECT toDateTime(${START} + number * 4), concat('host_', toString(number % 50)), number / 7, number * 0.001, toInt32(number)
        FROM system.numbers LIMIT ${ROWS}`);
    });

    async function freshTarget(name: string): Promise<string> {
      const url = await pgServer.createDatabase(name);
      // Dual-write began on Jan 9: the target already holds rows from then on.
      await pgServer.query(`CREATE TABLE fleet (ts timestamptz NOT NULL, host text, cpu float8, mem float8, n int);
        INSERT INTO fleet SELECT to_timestamp(${START} + i * 4), 'host_' || (i % 50), i::float8 / 7, i * 0.001, i FROM generate_series(${8 * 21600}, ${ROWS - 1}) i`, [], name);
      return url;
    }

    async function assertConverged(db: string): Promise<void> {
      const r = await pgServer.query(`SELECT count(*)::int AS c, count(DISTINCT n)::int AS d, min(n) AS lo, max(n) AS hi,
        count(*) FILTER (WHERE ts <> to_timestamp(${START} + n * 4) OR host <> 'host_' || (n % 50) OR cpu <> n::float8 / 7)::int AS bad FROM fleet`, [], db);
      assert.deepEqual(r.rows[0], { c: ROWS, d: ROWS, lo: 0, hi: ROWS - 1, bad: 0 });
    }

    const args = (target: string, ...extra: string[]) => ['backfill', '--source', sourceUrl, '--target', target, '--table', 'fleet',
      '--until', UNTIL, '--allow-plain-target', ...extra];

    test('copies [start, until) exactly once, and verify agrees', async () => {
      const target = await freshTarget('fleet_once');
      const dualWritten = (await pgServer.query(`SELECT count(*)::int AS n FROM fleet WHERE ts < $1`, [UNTIL], 'fleet_once')).rows[0].n;
      const run = await runCli(args(target, '--parallel', '2', '--window', '1d'));
      assert.equal(run.code, 0, run.stderr);
      // What the run should report, asked of ClickHouse and of the target beforehand.
      const inRange = await chClient.query({ query: `SELECT count() AS n FROM fleet WHERE ts < toDateTime('2024-01-10 00:00:00', 'UTC')`, format: 'JSONEachRow' });
      const copied = (await inRange.json<{ n: string | number }>())[0]?.n;
      assert.match(run.stdout, new RegExp(`public\\.fleet\\s+9\\s+${copied}\\s+${dualWritten}(\\s|$)`, 'm'), run.stdout);
      await assertConverged('fleet_once');
      const verify = await runCli(['verify', '--source', sourceUrl, '--target', target, '--table', 'fleet', '--time-column', 'ts', '--until', UNTIL]);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      assert.match(verify.stdout, /source and target match/);
    });

    test('SIGKILL mid-run, then a rerun: converges with no holes and no duplicates', async () => {
      const db = 'fleet_kill';
      const target = await freshTarget(db);
      const runArgs = args(target, '--parallel', '2', '--window', '6h');
      let watched: Promise<boolean> | undefined;
      const first = await runCli(runArgs, {
        onSpawn: (child) => {
          watched = watchChild(child, target, async (c) => (await c.query(`SELECT count(*)::int AS n FROM hyperfill.backfill_window WHERE state = 'done'`)).rows[0].n >= 3,
            () => child.kill('SIGKILL'));
        },
      });
      assert.equal(await watched, true, first.stderr);
      assert.equal(first.signal, 'SIGKILL');
      const done = (await pgServer.query(`SELECT count(*)::int AS n FROM hyperfill.backfill_window WHERE state = 'done'`, [], db)).rows[0].n;
      assert.ok(done >= 3 && done < 36, `killed mid-run after ${done} of 36 windows`);
      const again = await runCli(runArgs);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /resuming run bf-/);
      assert.equal(Number(/public\.fleet\s+(\d+)/.exec(again.stdout)?.[1]) + done, 36, 'the rerun did only the unfinished windows');
      await assertConverged(db);
    });
  });
});
