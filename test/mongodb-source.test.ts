/**
 * The MongoDB source, through the official driver, against the wire-protocol test
 * server (test/helpers/mongo-wire-server.ts: real query engine for the filters) or,
 * when MONGODB_URL is set, against that server instead; the suite names which ran.
 * Documents with every BSON type reach a real PostgreSQL through text COPY exactly;
 * counts per window agree with what each window sends; parallel windows; type conflicts
 * name the document's _id; numeric and ISO string time fields; `hyperfill backfill`.
 * The encoder (encodeDocuments) is also tested inline, without threads.
 */
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import { Binary, Decimal128, Double, Int32, Long, MongoClient, ObjectId, type Document } from 'mongodb';
import { serialize } from 'bson';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { openSource } from '../connectors/index.js';
import { parseMongoConfig } from '../connectors/mongodb/config.js';
import { type EncodePlan, encodeDocuments } from '../connectors/mongodb/document-encoding.js';
import { DocumentEncoder, encodedStream, type RawBatch } from '../connectors/mongodb/encoder-pool.js';
import type { MongoSource, MongoSourceOptions, MongoTableInfo } from '../connectors/mongodb/index.js';
import { formatIsoBound, isoLayoutOf } from '../connectors/mongodb/time-field.js';
import { HyperfillError } from '../src/errors.js';
import type { TimeRange } from '../src/source.js';
import { startMongoWireServer, type MongoWireServer } from './helpers/mongo-wire-server.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';

const REAL_URL = process.env.MONGODB_URL;
const BACKEND = REAL_URL ? 'a real MongoDB (MONGODB_URL)' : 'the wire-protocol test server';
const DB = `hyperfill_test_${process.pid}`;

let wire: MongoWireServer | undefined;
let baseUrl: string;
let client: MongoClient;
let pgServer: PostgresServer;
const sources: MongoSource[] = [];

const MS = 1000n;
const T0 = Date.UTC(2024, 0, 1);
const at = (ms: number): bigint => BigInt(ms) * MS;
const ALL: TimeRange = { start: at(Date.UTC(-1000, 0, 1)), end: at(Date.UTC(3000, 0, 1)) };

/** The base URL with `db` as its database and extra query parameters. */
function urlFor(db: string, params: Record<string, string> = {}): string {
  const m = /^(mongodb(?:\+srv)?:\/\/[^/?]*)(?:\/[^?]*)?(\?.*)?$/.exec(baseUrl)!;
  const extra = Object.entries(params).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  const query = [m[2]?.slice(1), ...extra].filter(Boolean).join('&');
  return `${m[1]}/${db}${query ? `?${query}` : ''}`;
}

async function open(options: Partial<MongoSourceOptions> = {}, params: Record<string, string> = {}): Promise<MongoSource> {
  const source = (await openSource(urlFor(DB, params), { parallel: 4, ...options } as { parallel: number })) as MongoSource;
  sources.push(source);
  return source;
}

async function insert(coll: string, docs: Document[]): Promise<void> {
  const c = client.db(DB).collection(coll);
  for (let i = 0; i < docs.length; i += 5000) await c.insertMany(docs.slice(i, i + 5000));
}

before(async () => {
  if (REAL_URL) {
    baseUrl = REAL_URL;
  } else {
    wire = await startMongoWireServer();
    baseUrl = wire.url;
  }
  client = new MongoClient(baseUrl);
  await client.connect();
  pgServer = await startPostgres();
});

after(async () => {
  for (const s of sources) await s.close().catch(() => undefined);
  if (REAL_URL) await client?.db(DB).dropDatabase().catch(() => undefined);
  await client?.close();
  await wire?.stop();
  await pgServer?.stop();
});

async function withPg<T>(use: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: pgServer.url() });
  await c.connect();
  try {
    await c.query(`SET TIME ZONE 'Asia/Kolkata'`); // the bytes must not depend on the session zone
    return await use(c);
  } finally {
    await c.end();
  }
}

/** What backfill does with a window: read it and COPY it into `table`. */
async function copyWindow(source: MongoSource, info: MongoTableInfo, window: TimeRange, table: string, columns: string[], targetTypes?: string[]) {
  const types = targetTypes ?? columns.map((n) => info.columns.find((c) => c.name === n)?.pgType ?? 'jsonb');
  const read = await source.read({ table: info, window, columns, targetTypes: types });
  assert.equal(read.format, 'text');
  return withPg(async (c) => {
    const sink = c.query(copyFrom(`COPY ${table} (${columns.map((n) => `"${n}"`).join(', ')}) FROM STDIN WITH (FORMAT text)`));
    await pipeline(read.stream, sink);
    return { copied: sink.rowCount, sent: await read.rowsSent?.() };
  });
}

/** A window's bytes. */
async function readText(source: MongoSource, info: MongoTableInfo, window: TimeRange, columns: string[], targetTypes?: string[]): Promise<string> {
  const types = targetTypes ?? columns.map((n) => info.columns.find((c) => c.name === n)?.pgType ?? 'jsonb');
  const read = await source.read({ table: info, window, columns, targetTypes: types });
  let text = '';
  for await (const chunk of read.stream) text += chunk;
  return text;
}

async function rejectsWith(p: Promise<unknown>, code: string, check?: (e: HyperfillError) => void): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof HyperfillError, `expected a HyperfillError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    check?.(e);
    return true;
  });
}

const UUID = '3b241101-e2bb-4255-8caf-4136c566a962';
const OID = '65a1b2c3d4e5f60718293a4b';
const HOSTILE = 'tab\there\nnew line\\back\\slash\r\ncr é 🚀 \u00a0 "quoted" \\N';

/** Every BSON type a time series carries, and then some. */
const EVERY_TYPE: Document[] = [
  {
    _id: new ObjectId(OID), t: new Date(T0), s: HOSTILE, i: new Int32(-42), l: Long.fromString('9007199254740993'), d: new Double(0.1),
    dec: Decimal128.fromString('12345.678901234567890123456789'), b: true,
    o: { k: 'v', when: new Date(T0), id: new ObjectId(OID), n: Long.fromString('-9007199254740993'), x: Decimal128.fromString('1.5'), deep: { list: [1, 2.5, 'three'] } },
    a: [1, 'two', { three: 3 }, null], bin: new Binary(Buffer.from([0, 1, 2, 255])), u: new Binary(Buffer.from(UUID.replace(/-/g, ''), 'hex'), 4),
    meta: { sensor: { id: new Int32(7) } }, nul: null,
  },
  { _id: new ObjectId('65a1b2c3d4e5f60718293a4c'), t: new Date(T0 + 1500), s: '', i: new Int32(2147483647), l: Long.fromNumber(-1), d: new Double(-0), b: false, meta: {} },
  {
    _id: new ObjectId('65a1b2c3d4e5f60718293a4d'), t: new Date(Date.UTC(1900, 0, 1, 12, 30, 15, 123)), s: 'x', i: new Int32(-2147483648),
    l: Long.fromString('-9223372036854775808'), d: new Double(Infinity), dec: Decimal128.fromString('-1E+3'), b: true, a: [], o: {}, meta: { sensor: { id: new Int32(8) } },
  },
  { _id: new ObjectId('65a1b2c3d4e5f60718293a4e'), t: new Date(Date.UTC(-43, 2, 15, 12)), s: 'forty-four BC', d: new Double(NaN), dec: Decimal128.fromString('0.000001') },
];

describe(`MongoDB source against ${BACKEND}`, () => {
  before(async () => {
    await insert('every_type', EVERY_TYPE);
  });

  test('describe: one column per field, types unified, missing fields nullable, dot paths mapped', async () => {
    const source = await open({ fields: { sensor_id: 'meta.sensor.id' } });
    const info = (await source.describe('every_type', 't')) as MongoTableInfo;
    assert.equal(info.name, `${DB}.every_type`);
    assert.equal(info.timeColumn, 't');
    assert.equal(info.timeType, 'timestamptz');
    const cols = Object.fromEntries(info.columns.map((c) => [c.name, `${c.pgType}${c.nullable ? '' : ' not null'}`]));
    assert.deepEqual(cols, {
      _id: 'text not null', t: 'timestamptz not null', s: 'text not null', i: 'integer', l: 'bigint', d: 'double precision not null',
      dec: 'numeric', b: 'boolean', o: 'jsonb', a: 'jsonb', bin: 'bytea', u: 'bytea', meta: 'jsonb', nul: 'jsonb', sensor_id: 'integer',
    });
    // The time column is found on its own when exactly one field holds dates.
    assert.equal((await source.describe(`${DB}.every_type`)).timeColumn, 't');
    // `columns` keeps a few (and the time column).
    const narrow = await open({ columns: ['s', 'sensor_id'], fields: ['sensor_id=meta.sensor.id'] });
    assert.deepEqual((await narrow.describe('every_type', 't')).columns.map((c) => c.name), ['t', 's', 'sensor_id']);
    await rejectsWith(narrow.describe('every_type', 'nope'), 'E_COLUMN_MISSING');
  });

  test('every type arrives in PostgreSQL exactly, through text COPY', async () => {
    const source = await open({ fields: { sensor_id: 'meta.sensor.id' } });
    const info = (await source.describe('every_type', 't')) as MongoTableInfo;
    await pgServer.query(`DROP TABLE IF EXISTS every_type; CREATE TABLE every_type (_id text, t timestamptz, s text, i integer, l bigint, d double precision,
      dec numeric, b boolean, o jsonb, a jsonb, bin bytea, u uuid, sensor_id integer, nul text, missing text)`);
    const columns = ['_id', 't', 's', 'i', 'l', 'd', 'dec', 'b', 'o', 'a', 'bin', 'u', 'sensor_id', 'nul', 'missing'];
    const targetTypes = ['text', 'timestamp with time zone', 'text', 'integer', 'bigint', 'double precision', 'numeric', 'boolean', 'jsonb', 'jsonb', 'bytea', 'uuid', 'integer', 'text', 'text'];
    const { copied, sent } = await copyWindow(source, info, ALL, 'every_type', columns, targetTypes);
    assert.equal(copied, 4);
    assert.equal(sent, 4);
    const { rows } = await pgServer.query(`SELECT _id, (extract(epoch FROM t) * 1000)::bigint::text AS t_ms, s, i::text, l::text, d::text, dec::text, b::text,
      o, a, encode(bin, 'hex') AS bin, u::text, sensor_id::text, nul, missing FROM every_type ORDER BY _id`);
    const o = { k: 'v', when: { $date: '2024-01-01T00:00:00.000Z' }, id: { $oid: OID }, n: -9007199254740993, x: { $numberDecimal: '1.5' }, deep: { list: [1, 2.5, 'three'] } };
    assert.deepEqual(rows[0], {
      _id: OID, t_ms: String(T0), s: HOSTILE, i: '-42', l: '9007199254740993', d: '0.1', dec: '12345.678901234567890123456789', b: 'true',
      o: JSON.parse(JSON.stringify(o)), a: [1, 'two', { three: 3 }, null], bin: '000102ff', u: UUID, sensor_id: '7', nul: null, missing: null,
    });
    // jsonb kept the exact long (JSON.parse above rounded it): compare in SQL.
    const exact = await pgServer.query(`SELECT o->>'n' AS n FROM every_type WHERE _id = $1`, [OID]);
    assert.equal(exact.rows[0].n, '-9007199254740993');
    assert.deepEqual(rows[1], {
      _id: '65a1b2c3d4e5f60718293a4c', t_ms: String(T0 + 1500), s: '', i: '2147483647', l: '-1', d: '-0', dec: null, b: 'false',
      o: null, a: null, bin: null, u: null, sensor_id: null, nul: null, missing: null,
    });
    assert.deepEqual(rows[2], {
      _id: '65a1b2c3d4e5f60718293a4d', t_ms: String(Date.UTC(1900, 0, 1, 12, 30, 15, 123)), s: 'x', i: '-2147483648', l: '-9223372036854775808',
      d: 'Infinity', dec: '-1000', b: 'true', o: {}, a: [], bin: null, u: null, sensor_id: '8', nul: null, missing: null,
    });
    assert.equal(rows[3].t_ms, String(Date.UTC(-43, 2, 15, 12)), '44 BC');
    assert.equal(rows[3].d, 'NaN');
    assert.equal(rows[3].dec, '0.000001');
  });

  test('counts per window equal the rows each window sends; extent and estimate', async () => {
    const docs = Array.from({ length: 3000 }, (_, n) => ({ time: new Date(T0 + n * 1000), host: `h${n % 3}`, n }));
    await insert('counted', docs);
    const source = await open({ batchSize: 250 });
    const info = (await source.describe('counted')) as MongoTableInfo;
    assert.equal(info.timeColumn, 'time');
    const edges = [T0 - 1, T0 + 1, T0 + 999_999, T0 + 1_000_500, T0 + 1_500_000, T0 + 3_000_000, T0 + 10_000_000].map(at);
    let total = 0;
    for (let i = 0; i + 1 < edges.length; i++) {
      const window = { start: edges[i]!, end: edges[i + 1]! };
      const count = await source.count(info, window);
      const text = await readText(source, info, window, ['time', 'host', 'n']);
      const lines = text ? text.trimEnd().split('\n') : [];
      assert.equal(lines.length, count, `window ${i}`);
      total += count;
    }
    assert.equal(total, 3000);
    // A bound inside a millisecond: dates hold ms, so [T0 + 0.5 ms, ...) starts at T0 + 1 ms.
    assert.equal(await source.count(info, { start: at(T0) + 500n, end: at(T0 + 2000) }), 1);
    assert.deepEqual(await source.extent(info, { start: at(T0 + 500), end: at(T0 + 5000) }), { start: at(T0 + 1000), end: at(T0 + 4000) });
    assert.equal(await source.extent(info, { start: at(T0 - 5000), end: at(T0) }), undefined);
    assert.equal(await source.estimateRows(info, { start: at(T0), end: at(T0 + 1_000_000) }), 1000);
  });

  test('extent is exact when insertion order is not time order, and when sampled documents are gone', async () => {
    await insert('unordered', [{ _id: 1, t: new Date(T0 + 5000) }, { _id: 2, t: new Date(T0 + 1000) }, { _id: 3, t: new Date(T0 + 7000) }, { _id: 4, t: new Date(T0 + 9000) }]);
    const source = await open({ sampleSize: 2 }); // samples _id 1 and 4
    const info = (await source.describe('unordered')) as MongoTableInfo;
    assert.deepEqual(info.sampleSpan, { start: at(T0 + 5000), end: at(T0 + 9000) + 1n });
    assert.deepEqual(await source.extent(info, ALL), { start: at(T0 + 1000), end: at(T0 + 9000) });
    await client.db(DB).collection('unordered').deleteMany({ _id: { $in: [1, 4] } as never });
    assert.deepEqual(await source.extent(info, ALL), { start: at(T0 + 1000), end: at(T0 + 7000) });
    assert.deepEqual(await source.extent(info, { start: at(T0 + 2000), end: at(T0 + 7000) }), undefined);
  });

  test('a filter narrows reads, counts and the sample', async () => {
    const source = await open({}, { 'hyperfill.filter': '{"host": "h1"}' });
    const info = (await source.describe('counted', 'time')) as MongoTableInfo;
    const window = { start: at(T0), end: at(T0 + 3_000_000) };
    assert.equal(await source.count(info, window), 1000);
    const text = await readText(source, info, window, ['host', 'n']);
    assert.equal(text.split('\n').filter((l) => l.startsWith('h1\t')).length, 1000);
    assert.equal(text.trimEnd().split('\n').length, 1000);
  });

  test('parallel windows, each with its own cursor, into PostgreSQL: every document once', async () => {
    const docs = Array.from({ length: 20_000 }, (_, n) => ({ time: new Date(T0 + n * 100), host: `h${n % 7}`, cpu: n / 8, n: new Int32(n) }));
    await insert('parallel', docs);
    const source = await open({ batchSize: 1000 });
    const info = (await source.describe('parallel')) as MongoTableInfo;
    await pgServer.query('DROP TABLE IF EXISTS parallel; CREATE TABLE parallel (_id text PRIMARY KEY, time timestamptz, host text, cpu float8, n int)');
    const windows = Array.from({ length: 8 }, (_, i) => ({ start: at(T0 + i * 250_000), end: at(T0 + (i + 1) * 250_000) }));
    const columns = ['_id', 'time', 'host', 'cpu', 'n'];
    const results = await Promise.all(windows.map(async (w) => ({ ...(await copyWindow(source, info, w, 'parallel', columns)), count: await source.count(info, w) })));
    for (const r of results) {
      assert.equal(r.copied, r.count);
      assert.equal(r.sent, r.count);
    }
    const { rows } = await pgServer.query(`SELECT count(*)::int AS c, sum(n)::bigint::text AS s, sum(cpu)::text AS cpu,
      bool_and(time = '2024-01-01 00:00:00+00'::timestamptz + n * interval '100 milliseconds') AS times, bool_and(host = 'h' || (n % 7)) AS hosts FROM parallel`);
    assert.deepEqual(rows[0], { c: 20_000, s: String((19_999 * 20_000) / 2), cpu: String((19_999 * 20_000) / 2 / 8), times: true, hosts: true });
  });

  test('a value whose type does not fit its column fails the window, naming the _id, field and both types', async () => {
    await insert('conflicts', [
      { _id: 'doc-1', t: new Date(T0), n: 1, big: Long.fromNumber(1) },
      { _id: 'doc-2', t: new Date(T0 + 1), n: 'two', big: Long.fromNumber(2) },
      { _id: 'doc-3', t: new Date(T0 + 2), n: 3, big: Long.fromString('4294967296') },
    ]);
    const source = await open({ sampleSize: 1 }); // the sample sees doc-1 only: n is an integer
    const info = (await source.describe('conflicts', 't')) as MongoTableInfo;
    assert.equal(info.columns.find((c) => c.name === 'n')?.pgType, 'integer');
    await pgServer.query('DROP TABLE IF EXISTS conflicts; CREATE TABLE conflicts (_id text, t timestamptz, n integer, big integer)');
    await rejectsWith(copyWindow(source, info, ALL, 'conflicts', ['_id', 't', 'n']), 'E_MONGO_TYPE_CONFLICT', (e) => {
      assert.match(e.message, /document _id "doc-2" has field "n" of BSON type string, which does not fit column "n" \(integer\)/);
      assert.equal(e.context._id, '"doc-2"');
      assert.equal(e.context.table, `${DB}.conflicts`);
    });
    assert.equal((await pgServer.query('SELECT count(*)::int AS n FROM conflicts')).rows[0].n, 0, 'the COPY was rolled back');
    // A long that fits the type but not the range: a value error.
    const window = { start: at(T0 + 2), end: at(T0 + 3) };
    await rejectsWith(readText(source, info, window, ['_id', 'big'], ['text', 'integer']), 'E_MONGO_VALUE', (e) => {
      assert.match(e.message, /"doc-3".*4294967296 is out of range/);
    });
    // jsonb takes anything.
    assert.equal(await readText(source, info, ALL, ['_id', 'n'], ['text', 'jsonb']), 'doc-1\t1\ndoc-2\t"two"\ndoc-3\t3\n');
  });

  test('numeric epoch time fields (long, int and whole doubles) are bigint windows', async () => {
    const base = 1_695_036_737_000;
    await insert('epoch', [
      { ts: Long.fromNumber(base), v: 1 }, { ts: new Double(base + 1), v: 2 }, { ts: Long.fromNumber(base + 2), v: 3 }, { v: 4 }, { ts: null, v: 5 },
    ]);
    const source = await open();
    const info = (await source.describe('epoch', 'ts')) as MongoTableInfo;
    assert.equal(info.timeType, 'bigint');
    assert.equal(info.columns.find((c) => c.name === 'ts')?.pgType, 'bigint');
    const window = { start: BigInt(base + 1), end: BigInt(base + 3) };
    assert.equal(await source.count(info, window), 2);
    assert.equal(await readText(source, info, window, ['ts', 'v'], ['bigint', 'integer']), `${base + 1}\t2\n${base + 2}\t3\n`);
    assert.deepEqual(await source.extent(info, { start: 0n, end: BigInt(base * 2) }), { start: BigInt(base), end: BigInt(base + 2) });
  });

  test('nanosecond epochs (Longs above 2^53, 1 ns apart): windows, counts and the extent are exact; backfill copies each value', async () => {
    const base = 1_700_000_000_000_000_000n; // 2023-11-14 in ns: neighbours 1 ns apart are one double
    const order = [3, 9, 0, 7, 1, 8, 2, 6, 4, 5]; // the sample (2 documents: 3 and 5) holds neither end
    await insert('nanos', order.map((d) => ({ _id: d, t: Long.fromBigInt(base + BigInt(d)), v: new Int32(d) })));
    const source = await open({ sampleSize: 2 });
    const info = (await source.describe('nanos', 't')) as MongoTableInfo;
    assert.equal(info.timeType, 'bigint');
    assert.deepEqual(await source.extent(info, { start: 0n, end: 2n ** 62n }), { start: base, end: base + 9n });
    assert.deepEqual(await source.extent(info, { start: base + 1n, end: base + 7n }), { start: base + 1n, end: base + 6n });
    assert.equal(await source.count(info, { start: base + 2n, end: base + 5n }), 3);
    const text = await readText(source, info, { start: base + 4n, end: base + 6n }, ['t', 'v'], ['bigint', 'integer']);
    assert.deepEqual(text.trimEnd().split('\n').sort(), [`${base + 4n}\t4`, `${base + 5n}\t5`]);

    const target = await pgServer.createDatabase('nanos_target');
    await pgServer.query('CREATE TABLE nanos (_id int, t bigint NOT NULL, v int)', [], 'nanos_target');
    const run = await runMain(['backfill', '--source', urlFor(DB), '--target', target, '--table', `${DB}.nanos:nanos`, '--time-column', 't',
      '--until', String(base + 8n), '--window', '3', '--parallel', '2', '--allow-plain-target']);
    assert.equal(run.code, 0, run.stderr);
    const { rows } = await pgServer.query('SELECT t::text AS t, v FROM nanos ORDER BY t', [], 'nanos_target');
    assert.deepEqual(rows, Array.from({ length: 8 }, (_, d) => ({ t: String(base + BigInt(d)), v: d })));
  });

  test('Decimal128 epoch time fields (whole numbers, in any exponent form) are bigint windows, compared exactly', async () => {
    const base = 1_700_000_000_000_000_000n;
    await insert('dec_time', [
      ...[3, 0, 4, 1, 2].map((d) => ({ _id: d, t: Decimal128.fromString(String(base + BigInt(d))), v: new Int32(d) })),
      { _id: 5, t: Decimal128.fromString('1.700000000000000005E+18'), v: new Int32(5) },
      { _id: 6, t: Decimal128.fromString('1700000000000000006.000'), v: new Int32(6) },
    ]);
    const source = await open();
    const info = (await source.describe('dec_time', 't')) as MongoTableInfo;
    assert.equal(info.timeType, 'bigint');
    assert.equal(info.columns.find((c) => c.name === 't')?.pgType, 'bigint');
    assert.deepEqual(await source.extent(info, { start: 0n, end: 2n ** 62n }), { start: base, end: base + 6n });
    assert.equal(await source.count(info, { start: base + 1n, end: base + 3n }), 2);
    const text = await readText(source, info, { start: base + 3n, end: base + 7n }, ['t', 'v'], ['bigint', 'integer']);
    assert.deepEqual(text.trimEnd().split('\n').sort(), [3, 4, 5, 6].map((d) => `${base + BigInt(d)}\t${d}`));
    // A fraction is not an epoch.
    await insert('dec_time_fraction', [{ t: Decimal128.fromString('1700000000000.5') }]);
    await rejectsWith(source.describe('dec_time_fraction', 't'), 'E_TIME_COLUMN_TYPE', (e) => assert.match(e.message, /fractional numbers \(e\.g\. 1700000000000\.5\)/));
  });

  test('ISO string time fields: windows compare strings in the sampled layout', async () => {
    const iso = (ms: number) => new Date(ms).toISOString();
    await insert('iso', Array.from({ length: 10 }, (_, n) => ({ when: iso(T0 + n * 1000), n })));
    const source = await open();
    const info = (await source.describe('iso', 'when')) as MongoTableInfo;
    assert.equal(info.timeType, 'timestamptz');
    assert.equal(info.columns.find((c) => c.name === 'when')?.pgType, 'timestamptz');
    // [T0 + 0.5 ms, T0 + 3 s): the layout holds ms, so the first bound rounds up to T0 + 1 ms.
    const window = { start: at(T0) + 500n, end: at(T0 + 3000) };
    assert.equal(await source.count(info, window), 2);
    await pgServer.query('DROP TABLE IF EXISTS iso; CREATE TABLE iso ("when" timestamptz, n int)');
    assert.equal((await copyWindow(source, info, window, 'iso', ['when', 'n'])).copied, 2);
    assert.deepEqual((await pgServer.query(`SELECT (extract(epoch FROM "when") * 1000)::bigint::text AS ms FROM iso ORDER BY 1`)).rows.map((r) => r.ms), [String(T0 + 1000), String(T0 + 2000)]);

    // One value in another layout: the sample shows mixed layouts...
    await insert('iso_mixed', [{ when: iso(T0), n: 0 }, { when: '2024-01-01T00:00:05Z', n: 1 }, { when: iso(T0 + 9000), n: 2 }]);
    await rejectsWith(source.describe('iso_mixed', 'when'), 'E_TIME_FORMAT', (e) => assert.match(e.message, /mixes string layouts/));
    // ...or, when the sample misses it, the read refuses it.
    const narrow = await open({ sampleSize: 2 });
    const mixed = (await narrow.describe('iso_mixed', 'when')) as MongoTableInfo;
    await rejectsWith(readText(narrow, mixed, { start: at(T0), end: at(T0 + 10_000) }, ['when', 'n']), 'E_TIME_FORMAT', (e) => {
      assert.match(e.message, /"2024-01-01T00:00:05Z", not in the layout/);
    });
    await insert('iso_zone', [{ when: '2024-01-01T00:00:00+02:00' }]);
    await rejectsWith(source.describe('iso_zone', 'when'), 'E_TIME_FORMAT', (e) => assert.match(e.message, /zone \+02:00/));
  });

  test('a time field of two kinds is refused; several date fields need --time-column', async () => {
    await insert('two_kinds', [{ t: new Date(T0), u: new Date(T0) }, { t: 'yesterday', u: new Date(T0) }]);
    const source = await open();
    await rejectsWith(source.describe('two_kinds', 't'), 'E_TIME_COLUMN_TYPE', (e) => assert.match(e.message, /date and string/));
    assert.equal((await source.describe('two_kinds')).timeColumn, 'u', 'the only field holding dates only');
    await insert('two_dates', [{ t: new Date(T0), u: new Date(T0) }]);
    await rejectsWith(source.describe('two_dates'), 'E_TIME_COLUMN_REQUIRED', (e) => assert.match(e.hint ?? '', /--time-column/));
  });

  test('reading a subset of fields (projection), and the driver cursor, give the same rows', async () => {
    const fast = await open({ columns: ['host'], batchSize: 700 });
    const slow = await open({ columns: ['host'], batchSize: 700, driverCursor: true });
    const window = { start: at(T0), end: at(T0 + 2_000_000) };
    const a = await readText(fast, (await fast.describe('parallel')) as MongoTableInfo, window, ['time', 'host']);
    const b = await readText(slow, (await slow.describe('parallel')) as MongoTableInfo, window, ['time', 'host']);
    assert.equal(a.split('\n').length - 1, 20_000);
    assert.equal(a, b);
    assert.match(a, /^2024-01-01 00:00:00\.000\+00\th0\n2024-01-01 00:00:00\.100\+00\th1\n/);
  });

  test('destroying a window stream closes its cursor', { skip: REAL_URL ? 'needs the test server to see cursors' : false, timeout: 60_000 }, async () => {
    const source = await open({ batchSize: 100 });
    const info = (await source.describe('parallel')) as MongoTableInfo;
    const read = await source.read({ table: info, window: ALL, columns: ['n'], targetTypes: ['integer'] });
    const it = read.stream[Symbol.asyncIterator]();
    await it.next();
    assert.equal(wire!.openCursors(), 1);
    read.stream.destroy();
    await wire!.cursorsClosed(); // resolves on the killCursors; the test's timeout says if it never comes
    assert.equal(wire!.openCursors(), 0);
  });

  const FAULTS = REAL_URL ? 'needs the test server to inject faults' : false;
  // Batches of 500 so each 5-minute window (3000 documents) needs getMores; a sample of 20
  // so describe() needs none, and an armed getMore failure lands in the first window.
  const backfillParallel = (target: string, params: Record<string, string> = {}) => runMain(['backfill', '--source',
    urlFor(DB, { 'hyperfill.batchSize': '500', 'hyperfill.sampleSize': '20', ...params }), '--target', target,
    '--table', `${DB}.parallel:metrics`, '--time-column', 'time', '--until', new Date(T0 + 1_500_000).toISOString(), '--from', new Date(T0).toISOString(),
    '--window', '5m', '--parallel', '1', '--allow-plain-target']);
  const parallelCopied = async (db: string) => (await pgServer.query(`SELECT count(*)::int AS c, count(DISTINCT _id)::int AS d, min(n) AS lo, max(n) AS hi FROM metrics`, [], db)).rows[0];

  test('a getMore answered with an error fails its window with the server\'s message; a rerun copies every document once', { skip: FAULTS, timeout: 120_000 }, async () => {
    const target = await pgServer.createDatabase('cursor_error');
    await pgServer.query('CREATE TABLE metrics (_id text, time timestamptz NOT NULL, host text, cpu float8, n int)', [], 'cursor_error');
    wire!.failGetMore({ ns: `${DB}.parallel`, error: { code: 175, codeName: 'QueryPlanKilled', errmsg: 'query plan killed :: caused by :: collection dropped' } });
    const failed = await backfillParallel(target);
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /^error E_WINDOW_FAILED: window 0 of public\.metrics failed: query plan killed :: caused by :: collection dropped\n/m);
    assert.match(failed.stderr, /\n {2}at: table=public\.metrics window=0 \[2024-01-01 00:00:00\+00, 2024-01-01 00:05:00\+00\)\n/);
    assert.match(failed.stderr, /rerun the same command to finish/);
    assert.doesNotMatch(failed.stderr, /\n\s+at .*\.js:\d+/, 'no stack trace');
    assert.equal((await pgServer.query('SELECT count(*)::int AS n FROM metrics', [], 'cursor_error')).rows[0].n, 0, 'the window was rolled back');
    await wire!.cursorsClosed();
    const rerun = await backfillParallel(target);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.deepEqual(await parallelCopied('cursor_error'), { c: 15_000, d: 15_000, lo: 0, hi: 14_999 });
  });

  test('a getMore failing while the collection is sampled: an error naming the collection and the source, not an internal one', { skip: FAULTS, timeout: 120_000 }, async () => {
    const target = await pgServer.createDatabase('sample_error');
    await pgServer.query('CREATE TABLE metrics (_id text, time timestamptz NOT NULL, host text, cpu float8, n int)', [], 'sample_error');
    wire!.failGetMore({ ns: `${DB}.parallel`, error: { code: 175, codeName: 'QueryPlanKilled', errmsg: 'query plan killed :: caused by :: collection dropped' } });
    const failed = await backfillParallel(target, { 'hyperfill.sampleSize': '1000' }); // 500 oldest documents: a first batch and a getMore
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, new RegExp(`^error E_SOURCE_READ: reading a sample of ${DB}\\.parallel from the MongoDB source mongodb://127\\.0\\.0\\.1:\\d+/${DB} failed: query plan killed :: caused by :: collection dropped\\n`));
    assert.match(failed.stderr, /hint: nothing was written for it: rerun the same command once the source answers again/);
    assert.doesNotMatch(failed.stderr, /E_INTERNAL|\n\s+at .*\.js:\d+/);
    await wire!.cursorsClosed();
  });

  test('a connection closed in the middle of a cursor: the window is retried on a new one and the run ends exact', { skip: FAULTS, timeout: 120_000 }, async () => {
    for (const driverCursor of ['false', 'true']) {
      const db = `cursor_closed_${driverCursor}`;
      const target = await pgServer.createDatabase(db);
      await pgServer.query('CREATE TABLE metrics (_id text, time timestamptz NOT NULL, host text, cpu float8, n int)', [], db);
      wire!.failGetMore({ ns: `${DB}.parallel`, close: true });
      const run = await backfillParallel(target, { 'hyperfill.driverCursor': driverCursor });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /\nbackfill: window 0 of public\.metrics: connection lost \(connection \d+ to 127\.0\.0\.1:\d+ closed\); retrying in /,
        `driverCursor=${driverCursor}: the window was retried`);
      assert.deepEqual(await parallelCopied(db), { c: 15_000, d: 15_000, lo: 0, hi: 14_999 }, `driverCursor=${driverCursor}`);
      await wire!.cursorsClosed();
    }
  });

  test('a missing collection is named; an empty one reads nothing', async () => {
    const source = await open();
    await rejectsWith(source.describe('no_such_collection', 't'), 'E_TABLE_MISSING', (e) => assert.match(e.message, /no collection hyperfill_test_\d+\.no_such_collection/));
    await client.db(DB).createCollection('empty');
    const info = (await source.describe('empty', 't')) as MongoTableInfo;
    assert.deepEqual([info.timeType, info.columns.map((c) => c.name)], ['timestamptz', ['t']]);
    assert.equal(await source.count(info, ALL), 0);
    assert.equal(await source.extent(info, ALL), undefined);
    assert.equal(await readText(source, info, ALL, ['t']), '');
  });

  test('listTables matches collections with LIKE patterns', async () => {
    const source = await open();
    await insert('lt_alpha', [{ t: new Date(T0) }]);
    await insert('lt_beta', [{ t: new Date(T0) }]);
    assert.deepEqual(await source.listTables!('lt_%'), [`${DB}.lt_alpha`, `${DB}.lt_beta`]);
    assert.deepEqual(await source.listTables!(`${DB}.lt_b%`), [`${DB}.lt_beta`]);
  });

  test('hyperfill backfill --source mongodb://... copies a collection into PostgreSQL', async () => {
    const target = await pgServer.createDatabase('backfill_target');
    await pgServer.query('CREATE TABLE metrics (_id text, time timestamptz NOT NULL, host text, cpu float8, n int)', [], 'backfill_target');
    const until = new Date(T0 + 1_500_000).toISOString();
    const run = await runMain(['backfill', '--source', urlFor(DB), '--target', target, '--table', `${DB}.parallel:metrics`,
      '--time-column', 'time', '--until', until, '--from', new Date(T0).toISOString(), '--window', '5m', '--parallel', '3', '--allow-plain-target']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /backfill complete/);
    const { rows } = await pgServer.query(`SELECT count(*)::int AS c, count(DISTINCT _id)::int AS d, min(n) AS lo, max(n) AS hi FROM metrics`, [], 'backfill_target');
    assert.deepEqual(rows[0], { c: 15_000, d: 15_000, lo: 0, hi: 14_999 });
    const verify = await runMain(['verify', '--source', urlFor(DB), '--target', target, '--table', `${DB}.parallel:metrics`, '--time-column', 'time',
      '--until', until, '--from', new Date(T0).toISOString()]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });
});

describe('MongoDB source options', () => {
  test('hyperfill.* URL parameters are options, removed before the driver sees the URL', () => {
    const c = parseMongoConfig('mongodb://u:secret@h1:27017,h2/app?replicaSet=rs&hyperfill.field.sensor_id=meta.sensor.id&hyperfill.filter=%7B%22a%22%3A1%7D'
      + '&hyperfill.batchSize=500&hyperfill.columns=t,sensor_id', { parallel: 2, threads: 0 });
    assert.equal(c.driverUrl, 'mongodb://u:secret@h1:27017,h2/app?replicaSet=rs');
    assert.equal(c.display, 'mongodb://u@h1:27017,h2/app');
    assert.equal(c.database, 'app');
    assert.deepEqual(c.fields, { sensor_id: 'meta.sensor.id' });
    assert.deepEqual(c.filter, { a: 1 });
    assert.equal(c.batchSize, 500);
    assert.deepEqual(c.columns, ['t', 'sensor_id']);
    assert.equal(c.threads, 0);
    assert.throws(() => parseMongoConfig('mongodb://h/db?hyperfill.frob=1', { parallel: 1 }), /unknown MongoDB source option "hyperfill.frob"/);
    assert.throws(() => parseMongoConfig('mongodb://h/db', { parallel: 1, batchSize: 0 }), /`batchSize` must be an integer greater than zero/);
    assert.throws(() => parseMongoConfig('mongodb://h/db', { parallel: 1, fields: ['nopath'] }), /column=path/);
    assert.throws(() => parseMongoConfig('mongodb://h/db', { parallel: 1, filter: '{nope' }), /Extended JSON/);
  });

  test('ISO bounds are written in the values\' layout, rounded up to its precision', () => {
    const t = at(T0) + 1n; // 1 µs past midnight
    assert.equal(formatIsoBound(isoLayoutOf('2024-01-01T00:00:00.000Z')!, t), '2024-01-01T00:00:00.001Z');
    assert.equal(formatIsoBound(isoLayoutOf('2024-01-01T00:00:00.000000Z')!, t), '2024-01-01T00:00:00.000001Z');
    assert.equal(formatIsoBound(isoLayoutOf('2024-01-01 00:00:00+00:00')!, t), '2024-01-01 00:00:01+00:00');
    assert.equal(formatIsoBound(isoLayoutOf('2024-01-01T00:00')!, at(T0)), '2024-01-01T00:00');
    assert.equal(formatIsoBound(isoLayoutOf('2024-01-01')!, t), '2024-01-02');
  });
});

describe('encodeDocuments (inline, no threads)', () => {
  const plan = (cols: Array<[string, string]>): EncodePlan => ({ columns: cols.map(([path, pgType]) => ({ name: path, path: path.split('.'), pgType })) });
  const enc = (docs: Document[], cols: Array<[string, string]>) => {
    const bytes = Buffer.concat(docs.map((d) => serialize(d)));
    const r = encodeDocuments(bytes, plan(cols));
    return { text: Buffer.from(r.bytes).toString(), rows: r.rows, conflict: r.conflict };
  };

  test('timestamps: UTC with +00, BC years, timestamp without zone, date only at midnight', () => {
    const dates = [new Date(T0 + 7), new Date(Date.UTC(-43, 2, 15)), new Date(Date.UTC(12345, 0, 1)), new Date(Date.UTC(1969, 11, 31, 23, 59, 59, 999))];
    const r = enc(dates.map((t) => ({ t })), [['t', 'timestamptz'], ['t', 'timestamp']]);
    assert.equal(r.text, '2024-01-01 00:00:00.007+00\t2024-01-01 00:00:00.007\n0044-03-15 00:00:00.000+00 BC\t0044-03-15 00:00:00.000 BC\n'
      + '12345-01-01 00:00:00.000+00\t12345-01-01 00:00:00.000\n1969-12-31 23:59:59.999+00\t1969-12-31 23:59:59.999\n');
    assert.equal(enc([{ d: new Date(T0) }], [['d', 'date']]).text, '2024-01-01\n');
    assert.equal(enc([{ d: new Date(T0 + 1) }], [['d', 'date']]).conflict?.kind, 'value');
  });

  test('numbers into each numeric type; integral doubles into integers; ranges checked', () => {
    const doc = { i: new Int32(5), l: Long.fromString('-9223372036854775808'), d: new Double(3), f: new Double(2.5), dec: Decimal128.fromString('1.10') };
    assert.equal(enc([doc], [['i', 'smallint'], ['d', 'bigint'], ['l', 'bigint'], ['f', 'real'], ['dec', 'numeric(10,2)'], ['i', 'double precision']]).text,
      '5\t3\t-9223372036854775808\t2.5\t1.10\t5\n');
    assert.equal(enc([doc], [['f', 'integer']]).conflict?.detail, '2.5 is not an integer');
    assert.equal(enc([{ i: new Int32(40000) }], [['i', 'smallint']]).conflict?.detail, '40000 is out of range');
    // A Decimal128 goes into an integer column when it is a whole number in range.
    assert.deepEqual(enc([doc], [['dec', 'integer']]).conflict, { kind: 'value', index: 0, column: 'dec', path: 'dec', bsonType: 'decimal', pgType: 'integer', detail: '1.10 is not an integer' });
    const decimals = ['12.000', '-1E+3', '2147483647', '9223372036854775807', '1.7E+18'].map((d) => ({ d: Decimal128.fromString(d) }));
    assert.equal(enc(decimals, [['d', 'bigint']]).text, '12\n-1000\n2147483647\n9223372036854775807\n1700000000000000000\n');
    assert.equal(enc([{ d: Decimal128.fromString('2147483648') }], [['d', 'integer']]).conflict?.detail, '2147483648 is out of range');
    assert.equal(enc([{ d: Decimal128.fromString('9223372036854775808') }], [['d', 'bigint']]).conflict?.detail, '9223372036854775808 is out of range');
  });

  test('strings: COPY escapes, NUL refused, ObjectId as hex into text, strings passed to other types', () => {
    assert.equal(enc([{ s: 'a\tb\nc\rd\\e' }], [['s', 'text']]).text, 'a\\tb\\nc\\rd\\\\e\n');
    const nul = enc([{ _id: 9, s: 'a\0b' }], [['s', 'text']]).conflict!;
    assert.equal(nul.kind, 'value');
    assert.equal(nul.id, '9');
    assert.equal(enc([{ o: new ObjectId(OID) }], [['o', 'varchar(24)']]).text, `${OID}\n`);
    assert.equal(enc([{ s: '10.0.0.1' }], [['s', 'inet'], ['s', 'uuid'], ['s', 'timestamptz']]).text, '10.0.0.1\t10.0.0.1\t10.0.0.1\n');
    assert.equal(enc([{ n: 1 }], [['n', 'inet']]).conflict?.bsonType, 'int');
  });

  test('jsonb: relaxed Extended JSON, backslashes escaped for COPY, NUL refused', () => {
    const r = enc([{ o: { s: 'q"\\\n', d: new Date(0), neg: new Date(-1), l: Long.fromString('12345678901234567'), nan: new Double(NaN), t: ['x'] } }], [['o', 'jsonb']]);
    assert.equal(r.text, '{"s":"q\\\\"\\\\\\\\\\\\n","d":{"$date":"1970-01-01T00:00:00.000Z"},"neg":{"$date":{"$numberLong":"-1"}},"l":12345678901234567,"nan":{"$numberDouble":"NaN"},"t":["x"]}\n');
    assert.equal(enc([{ o: { s: 'a\0' } }], [['o', 'jsonb']]).conflict?.kind, 'value');
  });

  test('dot paths reach into documents and arrays; a conflict stops the batch and reports its position', () => {
    const docs = [{ _id: 1, m: { a: [10, { b: 'x' }] } }, { _id: 2, m: { a: [11] } }, { _id: 3, m: 'flat' }, { _id: 4, m: { a: [12, { b: 5 }] } }];
    const r = enc(docs, [['m.a.0', 'integer'], ['m.a.1.b', 'text']]);
    assert.equal(r.text, '10\tx\n11\t\\N\n\\N\t\\N\n');
    assert.equal(r.rows, 3);
    assert.deepEqual(r.conflict, { kind: 'type', index: 3, id: '4', column: 'm.a.1.b', path: 'm.a.1.b', bsonType: 'int', pgType: 'text' });
  });

  test('the array layout (a cursor reply\'s batch) gives the same rows', () => {
    const docs = [{ a: 1 }, { a: 2 }];
    const array = serialize({ 0: docs[0], 1: docs[1] } as Document);
    const r = encodeDocuments(array, plan([['a', 'integer']]), 'array');
    assert.equal(Buffer.from(r.bytes).toString(), '1\n2\n');
  });

  test('worker threads give the bytes the inline encoder gives, transferred', async () => {
    const docs = Array.from({ length: 5000 }, (_, n) => serialize({ t: new Date(T0 + n), s: `s${n}\t`, n }));
    const input = Buffer.concat(docs);
    const p = plan([['t', 'timestamptz'], ['s', 'text'], ['n', 'bigint']]);
    const inline = Buffer.from(encodeDocuments(input, p).bytes).toString();
    const encoder = new DocumentEncoder(2);
    try {
      const copy = new Uint8Array(new ArrayBuffer(input.length));
      copy.set(input);
      const r = await encoder.encode(copy, p);
      assert.equal(copy.byteLength, 0, 'the input was transferred, not cloned');
      assert.equal(r.rows, 5000);
      assert.equal(Buffer.from(r.bytes).toString(), inline);
    } finally {
      await encoder.close();
    }
  });

  test('a window stream asks for batches only as fast as they are consumed', async () => {
    let asked = 0;
    const pad = 'x'.repeat(20_000); // a batch's bytes exceed the stream's buffer, as real batches do
    const batch = (): RawBatch => ({ docs: Uint8Array.from(serialize({ n: asked, pad })) });
    const { stream } = encodedStream({ next: async () => (++asked <= 1000 ? batch() : undefined), close: async () => undefined }, {
      encoder: new DocumentEncoder(0), plan: plan([['n', 'integer'], ['pad', 'text']]), maxInFlight: 3, onConflict: () => new Error('conflict'),
    });
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    // Nothing here waits on I/O or timers: once a turn of the event loop passes without a
    // new request, the stream has stopped asking until more is consumed.
    for (let before = -1; before !== asked; ) {
      before = asked;
      await setImmediate();
    }
    assert.ok(asked <= 6, `asked for ${asked} batches while one was consumed`);
    let n = 1;
    await pipeline(Readable.from(it as AsyncIterable<Buffer>), new Writable({ write(_c, _e, cb) { n++; cb(); } }));
    assert.equal(n, 1000);
  });
});
