/**
 * The JSON file source: JSON arrays, NDJSON and concatenated JSON, mongoexport output
 * in relaxed and canonical Extended JSON (fixtures in test/fixtures/json), files, globs,
 * a directory of tables, gzip and stdin. Rows reach a real PostgreSQL through text COPY
 * exactly; counts per window come from the time index; a malformed document fails with
 * its file, line and column; a type conflict names the document's line and _id.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { openSource } from '../connectors/index.js';
import { acceptsJsonUrl, parseJsonConfig } from '../connectors/json/config.js';
import type { JsonSource, JsonSourceOptions, JsonTableInfo } from '../connectors/json/index.js';
import { HyperfillError } from '../src/errors.js';
import type { TimeRange } from '../src/source.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/json/', import.meta.url));
const RELAXED = join(FIXTURES, 'metrics-relaxed.ndjson');
const CANONICAL = join(FIXTURES, 'metrics-canonical.json');

const T0 = Date.UTC(2024, 0, 1);
const at = (ms: number): bigint => BigInt(ms) * 1000n;
const ALL: TimeRange = { start: at(Date.UTC(1900, 0, 1)), end: at(Date.UTC(2100, 0, 1)) };

let pgServer: PostgresServer;
let dir: string;
const sources: JsonSource[] = [];

before(async () => {
  pgServer = await startPostgres();
  dir = mkdtempSync(join(tmpdir(), 'hyperfill-json-test-'));
});

after(async () => {
  for (const s of sources) await s.close().catch(() => undefined);
  await pgServer?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function open(url: string, options: Partial<JsonSourceOptions> = {}): Promise<JsonSource> {
  const source = (await openSource(url, { parallel: 2, ...options } as { parallel: number })) as JsonSource;
  sources.push(source);
  return source;
}

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function readText(source: JsonSource, info: JsonTableInfo, window: TimeRange, columns: string[], targetTypes?: string[]): Promise<string> {
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

const COLUMNS = ['_id', 'time', 'host', 'cpu', 'n', 'big', 'price', 'tags', 'meta', 'note'];
const TYPES = ['text', 'timestamptz', 'text', 'double precision', 'integer', 'bigint', 'numeric', 'jsonb', 'jsonb', 'text'];

describe('JSON file source', () => {
  test('URL forms', () => {
    for (const url of ['json:-', 'ndjson:-', 'jsonl:data.ndjson', 'json:///abs/x/*.json', 'file:///abs/a.jsonl', './a.ndjson', '/abs/b.json.gz', 'x/*.jsonl']) {
      assert.ok(acceptsJsonUrl(url), url);
    }
    for (const url of ['file:///abs/a.csv', 'postgres://h/db', 'mongodb://h/db', 'data.csv', 'host=h sslrootcert=/ca.json']) assert.ok(!acceptsJsonUrl(url), url);
    assert.deepEqual(parseJsonConfig('json:-', { parallel: 1 }).input, { kind: 'stdin' });
    assert.deepEqual(parseJsonConfig('json:///var/x%20y/*.json', { parallel: 1 }).input, { kind: 'path', path: '/var/x y/*.json' });
    assert.deepEqual(parseJsonConfig('ndjson:rel/a.ndjson', { parallel: 1 }).input, { kind: 'path', path: 'rel/a.ndjson' });
    assert.deepEqual(parseJsonConfig('file:///a/b.json', { parallel: 1 }).input, { kind: 'path', path: '/a/b.json' });
    const q = parseJsonConfig('json:/a/*.ndjson?field.sid=meta.sensor.id&columns=t,sid&sampleSize=5&threads=0', { parallel: 1 });
    assert.deepEqual(q.input, { kind: 'path', path: '/a/*.ndjson' });
    assert.deepEqual([q.fields, q.columns, q.sampleSize, q.threads], [{ sid: 'meta.sensor.id' }, ['t', 'sid'], 5, 0]);
    assert.deepEqual(parseJsonConfig('json:/a/x?.json', { parallel: 1 }).input, { kind: 'path', path: '/a/x?.json' }, 'a ? without key=value is a glob');
    assert.ok(acceptsJsonUrl('/a/b.ndjson?columns=a'));
    assert.throws(() => parseJsonConfig('json:/a.json?frob=1', { parallel: 1 }), /unknown JSON source option "frob"/);
    assert.throws(() => parseJsonConfig('json:', { parallel: 1 }), /names no file/);
    assert.throws(() => parseJsonConfig('json:a.json', { parallel: 1, sampleSize: -1 }), /`sampleSize` must be an integer greater than zero/);
  });

  test('mongoexport NDJSON in relaxed Extended JSON: describe, and every value into PostgreSQL exactly', async () => {
    const source = await open(`json:${RELAXED}`);
    const info = (await source.describe('metrics')) as JsonTableInfo;
    assert.equal(info.timeColumn, 'time');
    assert.equal(info.timeType, 'timestamptz');
    assert.deepEqual(Object.fromEntries(info.columns.map((c) => [c.name, `${c.pgType}${c.nullable ? '' : ' not null'}`])), {
      _id: 'text not null', time: 'timestamptz not null', host: 'text not null', cpu: 'double precision not null', n: 'integer not null',
      big: 'bigint not null', price: 'numeric', tags: 'jsonb', meta: 'jsonb not null', note: 'text',
    });
    await pgServer.query(`DROP TABLE IF EXISTS metrics; CREATE TABLE metrics (_id text, time timestamptz, host text, cpu float8, n int, big bigint,
      price numeric, tags jsonb, meta jsonb, note text)`);
    const read = await source.read({ table: info, window: ALL, columns: COLUMNS, targetTypes: TYPES });
    const c = new pg.Client({ connectionString: pgServer.url() });
    await c.connect();
    const sink = c.query(copyFrom(`COPY metrics (${COLUMNS.join(', ')}) FROM STDIN`));
    await pipeline(read.stream, sink);
    await c.end();
    assert.equal(sink.rowCount, 4);
    assert.equal(await read.rowsSent?.(), 4);
    const { rows } = await pgServer.query(`SELECT _id, (extract(epoch FROM time) * 1000)::bigint::text AS ms, host, cpu::text, n, big::text, price::text,
      tags, meta, note FROM metrics ORDER BY _id`);
    assert.deepEqual(rows[0], {
      _id: '65a1b2c3d4e5f60718293a01', ms: String(T0), host: 'web-1', cpu: '1', n: 5, big: '9007199254740993', price: '19.99', tags: ['a', 'b'],
      meta: { dc: 'eu', since: { $date: '2023-06-01T12:00:00.500Z' } }, note: 'tab\there "quoted" back\\slash\nnext é 🚀',
    });
    assert.deepEqual(rows[1], { _id: '65a1b2c3d4e5f60718293a02', ms: String(T0 + 1250), host: 'web-2', cpu: '2.5', n: -6, big: '-1', price: '-0.01', tags: [], meta: { dc: 'us' }, note: null });
    assert.deepEqual(rows[2], { _id: '65a1b2c3d4e5f60718293a03', ms: String(T0 + 2000), host: 'db-1', cpu: '97.75', n: 2147483647, big: '-9223372036854775808', price: null, tags: null, meta: {}, note: null });
    assert.deepEqual(rows[3], {
      _id: '65a1b2c3d4e5f60718293a04', ms: String(T0 + 3_600_000), host: 'db-2', cpu: 'NaN', n: 0, big: '0', price: '1000', tags: [1, { k: { $oid: '65a1b2c3d4e5f60718293a99' } }],
      meta: { dc: 'eu' }, note: '',
    });
  });

  test('the same export as a canonical Extended JSON array gives the same bytes', async () => {
    const relaxed = await open(`json:${RELAXED}`);
    const canonical = await open(`file://${CANONICAL}`);
    const a = await readText(relaxed, (await relaxed.describe('m')) as JsonTableInfo, ALL, COLUMNS, TYPES);
    const b = await readText(canonical, (await canonical.describe('m')) as JsonTableInfo, ALL, COLUMNS, TYPES);
    assert.equal(b, a);
    assert.equal(a.split('\n').length - 1, 4);
    assert.equal(((await canonical.describe('m')) as JsonTableInfo).columns.find((c) => c.name === 'n')?.pgType, 'integer');
  });

  test('windows scan the files; counts and extent come from the time index', async () => {
    const lines = Array.from({ length: 1000 }, (_, n) => JSON.stringify({ t: { $date: new Date(T0 + n * 1000).toISOString() }, n }));
    lines.splice(500, 0, '{"n": -1}', '', '{"t": null, "n": -2}'); // no time: in no window; a blank line
    const path = file('windowed.ndjson', `\ufeff${lines.join('\r\n')}\r\n`);
    const source = await open(path, { batchSize: 64 });
    const info = (await source.describe('w')) as JsonTableInfo;
    const edges = [T0 - 1, T0 + 1, T0 + 250_500, T0 + 999_000, T0 + 999_001, T0 + 5_000_000].map(at);
    let total = 0;
    for (let i = 0; i + 1 < edges.length; i++) {
      const window = { start: edges[i]!, end: edges[i + 1]! };
      const text = await readText(source, info, window, ['n']);
      const count = await source.count(info, window);
      assert.equal(text ? text.trimEnd().split('\n').length : 0, count, `window ${i}`);
      assert.equal(await source.estimateRows(info, window), count);
      total += count;
    }
    assert.equal(total, 1000);
    assert.deepEqual(await source.extent(info, { start: at(T0 + 500), end: at(T0 + 3500) }), { start: at(T0 + 1000), end: at(T0 + 3000) });
    assert.equal(await source.extent(info, { start: at(T0 - 10), end: at(T0) }), undefined);
  });

  test('numeric epochs and ISO strings in any layout (each value is parsed)', async () => {
    const epoch = file('epoch.ndjson', '{"ts": 1695036737000, "v": 1}\n{"ts": {"$numberLong": "1695036737001"}, "v": 2}\n{"ts": 1695036737002.0, "v": 3}\n');
    const e = await open(epoch);
    const ei = (await e.describe('e', 'ts')) as JsonTableInfo;
    assert.equal(ei.timeType, 'bigint');
    assert.equal(await readText(e, ei, { start: 1695036737001n, end: 1695036737003n }, ['ts', 'v']), '1695036737001\t2\n1695036737002\t3\n');
    const iso = file('iso.ndjson', '{"at": "2024-01-01T00:00:00Z"}\n{"at": "2024-01-01T01:00:00.5+01:00"}\n{"at": "2024-01-01 00:00:01"}\n');
    const s = await open(iso);
    const si = (await s.describe('s', 'at')) as JsonTableInfo;
    assert.equal(si.timeType, 'timestamptz');
    assert.equal(await s.count(si, { start: at(T0), end: at(T0 + 1000) }), 2);
    const wrong = file('wrong-time.ndjson', '{"t": {"$date": "2024-01-01T00:00:00Z"}}\n{"t": {"$date": "2024-01-01T00:00:01Z"}}\n{"t": 5}\n');
    const w = await open(wrong, { sampleSize: 2 });
    const wi = (await w.describe('w')) as JsonTableInfo;
    await rejectsWith(w.count(wi, ALL), 'E_TIME_COLUMN_TYPE', (err) => {
      assert.match(err.message, /document 3 \(line 3\) of .*wrong-time\.ndjson has an int value in time field "t", whose sampled values are dates/);
      assert.equal(err.context.line, 3);
    });
  });

  test('a malformed document fails with its file, line and column', async () => {
    const badLine = '{"t": {"$date": "2024-01-01T00:00:02Z"}, "a": 3,}';
    const ndjson = file('bad.ndjson', `{"t": {"$date": "2024-01-01T00:00:00Z"}, "a": 1}\n{"t": {"$date": "2024-01-01T00:00:01Z"}, "a": 2}\n${badLine}\n{"a": 4}\n`);
    const column = badLine.indexOf(',}') + 2; // the '}', 1-based
    const source = await open(ndjson, { sampleSize: 2 });
    const info = (await source.describe('bad')) as JsonTableInfo;
    await rejectsWith(readText(source, info, ALL, ['a']), 'E_JSON_MALFORMED', (e) => {
      assert.match(e.message, new RegExp(`malformed JSON in .*bad\\.ndjson at line 3, column ${column} \\(document 3\\): .*unexpected token '}'`));
      assert.equal(e.context.line, 3);
      assert.equal(e.context.col, column);
      assert.equal(e.context.file, ndjson);
    });
    const array = file('bad-array.json', '[\n  {"t": {"$date": "2024-01-01T00:00:00Z"}},\n  {"t": {"$date": "2024-01-01T00:00:01Z"}}\n  {"t": 3}\n]\n');
    await rejectsWith((await open(array)).describe('bad'), 'E_JSON_MALFORMED', (e) => assert.match(e.message, /line 4, column 3 \(document 3\)/));
    const truncated = file('truncated.ndjson', '{"t": {"$date": "2024-01-01T00:00:00Z"}}\n{"t": {"$da');
    await rejectsWith((await open(truncated)).describe('t'), 'E_JSON_MALFORMED', (e) => assert.equal(e.context.line, 2));
    const notDoc = file('not-doc.ndjson', '{"t": {"$date": "2024-01-01T00:00:00Z"}}\n42\n');
    await rejectsWith((await open(notDoc)).describe('n'), 'E_JSON_NOT_A_DOCUMENT', (e) => assert.match(e.message, /value 2 of .* \(line 2\) is an int, not a document/));
    const notDocInArray = file('not-doc.json', '[{"t": {"$date": "2024-01-01T00:00:00Z"}},\n "x"]');
    await rejectsWith((await open(notDocInArray)).describe('n'), 'E_JSON_NOT_A_DOCUMENT', (e) => assert.match(e.message, /value 2 of .* \(line 2\) is a string/));
    const badOid = file('bad-oid.ndjson', '{"t": {"$date": "2024-01-01T00:00:00Z"}}\n\n{"_id": {"$oid": "xyz"}}\n');
    await rejectsWith((await open(badOid)).describe('o'), 'E_JSON_EXTENDED_JSON', (e) => {
      assert.match(e.message, /line 3: \$oid "xyz" is not 24 hex digits/);
    });
  });

  test('a type conflict names the file, line and _id', async () => {
    const path = file('conflict.ndjson', '{"_id": 1, "t": {"$date": "2024-01-01T00:00:00Z"}, "v": 1}\n{"_id": 2, "t": {"$date": "2024-01-01T00:00:01Z"}, "v": "x"}\n');
    const source = await open(path, { sampleSize: 1 });
    const info = (await source.describe('c')) as JsonTableInfo;
    await rejectsWith(readText(source, info, ALL, ['v']), 'E_JSON_TYPE_CONFLICT', (e) => {
      assert.match(e.message, /document _id 2 \(line 2 of .*conflict\.ndjson\) has field "v" of BSON type string, which does not fit column "v" \(integer\)/);
      assert.equal(e.context.line, 2);
      assert.equal(e.context.row, 2);
    });
  });

  test('concatenated pretty-printed documents, gzip, globs, and a directory of tables', async () => {
    const pretty = '{\n  "t": {"$date": "2024-01-01T00:00:00Z"},\n  "k": "a"\n}\n{\n  "t": {"$date": "2024-01-01T00:00:01Z"},\n  "k": "b"\n}\n';
    const sub = join(dir, 'tables');
    mkdirSync(sub);
    writeFileSync(join(sub, 'alpha.ndjson.gz'), gzipSync(pretty));
    writeFileSync(join(sub, 'alpha.json'), '[{"t": {"$date": "2024-01-01T00:00:02Z"}, "k": "c"}]');
    writeFileSync(join(sub, 'beta.jsonl'), '{"t": {"$date": "2024-01-01T00:00:03Z"}, "k": "d"}\n');
    const source = await open(`json://${sub}/`);
    assert.deepEqual(await source.listTables!('%'), ['alpha', 'beta']);
    const alpha = (await source.describe('alpha')) as JsonTableInfo;
    assert.deepEqual(alpha.files.map((f) => f.slice(sub.length + 1)), ['alpha.json', 'alpha.ndjson.gz']);
    assert.equal(await readText(source, alpha, ALL, ['k']), 'c\na\nb\n');
    await rejectsWith(source.describe('gamma'), 'E_JSON_NO_FILES');
    const glob = await open(`json:${sub}/*`);
    const gi = (await glob.describe('g')) as JsonTableInfo;
    assert.equal(await readText(glob, gi, ALL, ['k']), 'c\na\nb\nd\n');
    await rejectsWith((await open(`${sub}/nothing-*.json`)).describe('x'), 'E_JSON_NO_FILES');
    const perTable = await open(`json:${sub}/{table}.jsonl?columns=k`);
    const beta = (await perTable.describe('beta')) as JsonTableInfo;
    assert.deepEqual(beta.columns.map((c) => c.name), ['t', 'k']);
    assert.equal(await readText(perTable, beta, ALL, ['k']), 'd\n');
  });

  test('stdin is spooled once and read by every window', async () => {
    const text = Array.from({ length: 100 }, (_, n) => JSON.stringify({ t: { $date: new Date(T0 + n * 1000).toISOString() }, n })).join('\n');
    const source = await open('json:-', { stdin: Readable.from([Buffer.from(text)]) });
    const info = (await source.describe('events')) as JsonTableInfo;
    assert.equal(info.name, 'events');
    assert.equal(await source.count(info, { start: at(T0), end: at(T0 + 50_000) }), 50);
    const first = await readText(source, info, { start: at(T0), end: at(T0 + 50_000) }, ['n']);
    const second = await readText(source, info, { start: at(T0 + 50_000), end: at(T0 + 100_000) }, ['n']);
    assert.equal(first + second, Array.from({ length: 100 }, (_, n) => `${n}\n`).join(''));
  });

  test('dot paths map nested fields to columns', async () => {
    const path = file('nested.ndjson', '{"t": {"$date": "2024-01-01T00:00:00Z"}, "meta": {"sensor": {"id": 7, "tags": ["x", "y"]}}}\n{"t": {"$date": "2024-01-01T00:00:01Z"}, "meta": {}}\n');
    const source = await open(path, { fields: ['sensor_id=meta.sensor.id', 'first_tag=meta.sensor.tags.0'] });
    const info = (await source.describe('n')) as JsonTableInfo;
    assert.equal(info.columns.find((c) => c.name === 'sensor_id')?.pgType, 'integer');
    assert.equal(await readText(source, info, ALL, ['sensor_id', 'first_tag']), '7\tx\n\\N\t\\N\n');
  });

  test('hyperfill backfill --source json:... copies a file into PostgreSQL', async () => {
    const target = await pgServer.createDatabase('json_backfill');
    await pgServer.query('CREATE TABLE metrics (_id text, time timestamptz NOT NULL, host text, cpu float8, n int, big bigint, price numeric, tags jsonb, meta jsonb, note text)', [], 'json_backfill');
    const run = await runMain(['backfill', '--source', `json:${RELAXED}`, '--target', target, '--table', 'metrics', '--time-column', 'time',
      '--until', '2024-01-01T01:00:00Z', '--from', '2024-01-01T00:00:00Z', '--allow-plain-target']);
    assert.equal(run.code, 0, run.stderr);
    const { rows } = await pgServer.query('SELECT _id, host FROM metrics ORDER BY _id', [], 'json_backfill');
    assert.deepEqual(rows.map((r) => r.host), ['web-1', 'web-2', 'db-1'], 'the document at exactly --until is not copied');
  });
});
