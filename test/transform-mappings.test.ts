/**
 * The built-in mappings, each on its own: rename, drop, constant and derived columns,
 * epoch conversion in every unit, JSON path extraction; the same mappings from a
 * config file; their validation messages; and the decoders' NULL semantics. Pure
 * tests first, then each mapping end to end into PostgreSQL.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeTextRow } from '../src/copy-text.js';
import { HyperfillError } from '../src/errors.js';
import { decodeBatch, type InputDialect, RecordIndex } from '../src/transform/decode.js';
import { epochToTimestamp } from '../src/transform/epoch.js';
import { extractJson, parseJsonPath } from '../src/transform/json-path.js';
import { emptyMappings, type MappingSpec, parseMappingConfig, parseMappingFlags } from '../src/transform/mapping.js';
import { createPipeline, type Field, type TransformContext } from '../src/transform/pipeline.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';
import { tempDir } from './helpers/temp-dir.js';

const usageError = (m: string) => new HyperfillError('E_USAGE', m);
const ctx = (row = 1, line = 1): TransformContext => ({
  inputName: 'in.csv', inputIndex: 0, batch: 0, row, line, columns: [], types: {}, outputColumns: [],
});
const flags = (f: Parameters<typeof parseMappingFlags>[0]) => parseMappingFlags(f, usageError);
/** Runs the built-ins alone over one row. */
function apply(columns: string[], spec: MappingSpec, fields: Field[], position = ctx()): { columns: string[]; rows: Field[][] } {
  const p = createPipeline(columns, spec, undefined);
  let text = '';
  p.process([...fields], position, { add: (t) => { text += t; } });
  return { columns: p.outputColumns, rows: text.split('\n').slice(0, -1).map(decodeTextRow) };
}

describe('epoch to timestamp', () => {
  test('every unit, exact to the nanosecond', () => {
    assert.equal(epochToTimestamp('1695036737', 's'), '2023-09-18T11:32:17Z');
    assert.equal(epochToTimestamp('1695036737000', 'ms'), '2023-09-18T11:32:17Z');
    assert.equal(epochToTimestamp('1695036737123', 'ms'), '2023-09-18T11:32:17.123Z');
    assert.equal(epochToTimestamp('1695036737123456', 'us'), '2023-09-18T11:32:17.123456Z');
    assert.equal(epochToTimestamp('1695036737123456789', 'ns'), '2023-09-18T11:32:17.123456789Z');
    assert.equal(epochToTimestamp('1695036737.5', 's'), '2023-09-18T11:32:17.5Z');
    assert.equal(epochToTimestamp(' 0 ', 'ms'), '1970-01-01T00:00:00Z');
  });
  test('negative epochs count back from 1970', () => {
    assert.equal(epochToTimestamp('-1', 'ms'), '1969-12-31T23:59:59.999Z');
    assert.equal(epochToTimestamp('-1.5', 's'), '1969-12-31T23:59:58.5Z');
  });
  test('what is not an epoch number is refused with the value', () => {
    assert.throws(() => epochToTimestamp('2023-01-01', 's'), /"2023-01-01" is not an epoch number/);
    assert.throws(() => epochToTimestamp('1e12', 'ms'), /not an epoch number/);
    assert.throws(() => epochToTimestamp('999999999999999', 's'), /outside the years 1 to 9999/);
  });
});

describe('JSON paths', () => {
  test('keys, indexes and quoted keys', () => {
    const doc = { a: { b: [10, { c: 'x' }] }, 'k.dot': true, n: null, o: { p: 1 } };
    assert.equal(extractJson(doc, parseJsonPath('a.b[0]')), '10');
    assert.equal(extractJson(doc, parseJsonPath('a.b[1].c')), 'x');
    assert.equal(extractJson(doc, parseJsonPath('["k.dot"]')), 'true');
    assert.equal(extractJson(doc, parseJsonPath('n')), null);
    assert.equal(extractJson(doc, parseJsonPath('missing.deeper')), null);
    assert.equal(extractJson(doc, parseJsonPath('o')), '{"p":1}');
    assert.equal(extractJson(doc, parseJsonPath('a.b[9]')), null);
  });
  test('a malformed path names the character', () => {
    assert.throws(() => parseJsonPath('a..b'), /empty key/);
    assert.throws(() => parseJsonPath('a[x]'), /brackets hold an index/);
    assert.throws(() => parseJsonPath('a[0'), /without "\]"/);
  });
});

describe('built-in mappings over rows', () => {
  test('--map renames in place, keeping the column order', () => {
    const r = apply(['a', 'b', 'c'], flags({ map: ['b:beta'] }), ['1', '2', '3']);
    assert.deepEqual(r, { columns: ['a', 'beta', 'c'], rows: [['1', '2', '3']] });
  });
  test('--drop removes columns; a rename may take a dropped name', () => {
    const r = apply(['time', 'time_ms', 'v'], flags({ drop: ['time'], map: ['time_ms:time'] }), ['x', '5', 'v']);
    assert.deepEqual(r, { columns: ['time', 'v'], rows: [['5', 'v']] });
    assert.deepEqual(apply(['a', 'b', 'c'], flags({ drop: ['a,c'] }), ['1', '2', '3']).rows, [['2']]);
  });
  test('--set adds a constant, a template, NULL, and position references', () => {
    const spec = flags({ set: ['src=sensor-a', 'key={site}-{dev}', 'gone=\\N', 'lit={{x}}', 'pos={$file}:{$line}:{$row}', 'site=S{site}'] });
    const r = apply(['site', 'dev'], spec, ['eu', 'd7'], ctx(12, 14));
    assert.deepEqual(r.columns, ['site', 'dev', 'src', 'key', 'gone', 'lit', 'pos']);
    assert.deepEqual(r.rows, [['Seu', 'd7', 'sensor-a', 'eu-d7', null, '{x}', 'in.csv:14:12']]);
    // A NULL reference makes a composed value NULL; a lone reference copies NULL as it is.
    const n = apply(['a', 'b'], flags({ set: ['c={a}-{b}', 'd={b}'] }), ['1', null]);
    assert.deepEqual(n.rows, [['1', null, null, null]]);
  });
  test('--epoch converts in place; NULL stays NULL', () => {
    const spec = flags({ epoch: ['t:ms'] });
    assert.deepEqual(apply(['t'], spec, ['1000']).rows, [['1970-01-01T00:00:01Z']]);
    assert.deepEqual(apply(['t'], spec, [null]).rows, [[null]]);
    assert.throws(() => apply(['t'], spec, ['soon']), /--epoch t:ms: "soon" is not an epoch number/);
  });
  test('--json-path extracts nested fields; bad JSON is a row error naming the column', () => {
    const spec = flags({ jsonPath: ['temp=payload.sensor.temp', 'tags=payload.tags', 'first=payload.tags[0]'] });
    const r = apply(['payload'], spec, ['{"sensor":{"temp":21.5},"tags":["a","b"]}']);
    assert.deepEqual(r, { columns: ['payload', 'temp', 'tags', 'first'], rows: [['{"sensor":{"temp":21.5},"tags":["a","b"]}', '21.5', '["a","b"]', 'a']] });
    assert.deepEqual(apply(['payload'], spec, [null]).rows, [[null, null, null, null]]);
    assert.throws(() => apply(['payload'], spec, ['{oops']), /column "payload" is not valid JSON/);
  });
  test('steps apply in the order json-path, epoch, set, drop, map', () => {
    const spec = flags({ jsonPath: ['ts=doc.ts'], epoch: ['ts:s'], set: ['label={ts}'], drop: ['doc'], map: ['ts:time'] });
    const r = apply(['doc'], spec, ['{"ts": 60}']);
    assert.deepEqual(r, { columns: ['time', 'label'], rows: [['1970-01-01T00:01:00Z', '1970-01-01T00:01:00Z']] });
  });
  test('a wrong field count is a row error', () => {
    assert.throws(() => apply(['a', 'b'], emptyMappings(), ['1']), /the row has 1 field, expected 2 \(a, b\)/);
  });
});

describe('mapping validation', () => {
  test('unknown columns are named with the columns there are', () => {
    assert.throws(() => apply(['a', 'b'], flags({ map: ['x:y'] }), ['1', '2']), /--map x:y: there is no column "x"; the columns are: a, b/);
    assert.throws(() => apply(['a'], flags({ drop: ['z'] }), ['1']), /--drop z: there is no column "z"/);
    assert.throws(() => apply(['a'], flags({ set: ['b={nope}'] }), ['1']), /--set b=\{nope\}: there is no column "nope"/);
    assert.throws(() => apply(['a', 'b'], flags({ map: ['a:b'] }), ['1', '2']), /there is a column "b" already; add --drop b/);
    assert.throws(() => apply(['a'], flags({ drop: ['a'] }), ['1']), /leave no column/);
  });
  test('flag syntax errors say what the flag looks like', () => {
    assert.throws(() => flags({ map: ['ab'] }), /`--map` must be SOURCE:TARGET/);
    assert.throws(() => flags({ epoch: ['t:minutes'] }), /UNIT one of s, ms, us, ns/);
    assert.throws(() => flags({ set: ['novalue'] }), /`--set` must be COLUMN=VALUE/);
    assert.throws(() => flags({ set: ['x={a'] }), /never closed/);
    assert.throws(() => flags({ set: ['x={$nope}'] }), /unknown reference \{\$nope\}/);
    assert.throws(() => flags({ jsonPath: ['x=payload'] }), /COLUMN=SOURCE.PATH/);
  });
  test('a config file holds the same mappings as the flags', () => {
    const fromFile = parseMappingConfig(JSON.stringify({
      jsonPath: { temp: 'payload.sensor.temp' }, epoch: { ts: 'ms' }, set: { src: 'a', nothing: null, n: 5 }, drop: ['payload'], map: { ts: 'time' },
    }), 'm.json');
    const fromFlags = flags({ jsonPath: ['temp=payload.sensor.temp'], epoch: ['ts:ms'], set: ['src=a', 'nothing=\\N', 'n=5'], drop: ['payload'], map: ['ts:time'] });
    assert.deepEqual(fromFile, fromFlags);
  });
  test('config file mistakes name the file and the key', () => {
    assert.throws(() => parseMappingConfig('{"rename": {}}', 'm.json'), /m\.json: unknown key "rename"; the keys are map, drop, set, epoch, jsonPath/);
    assert.throws(() => parseMappingConfig('{"epoch": {"ts": "minutes"}}', 'm.json'), /`epoch.ts` must be one of s, ms, us, ns/);
    assert.throws(() => parseMappingConfig('{"drop": "a"}', 'm.json'), /`drop` must be an array/);
    assert.throws(() => parseMappingConfig('{nope', 'm.json'), /not valid JSON/);
    assert.throws(() => parseMappingConfig('[]', 'm.json'), /must hold a JSON object/);
  });
});

describe('decoding keeps COPY semantics', () => {
  const csv: InputDialect = { format: 'csv', delimiter: ',', quote: '"', escape: '"', nullString: '' };
  const decode = (text: string, dialect: InputDialect) => {
    const bytes = Buffer.from(text);
    return decodeBatch(bytes, dialect, () => RecordIndex.build(bytes, dialect)).records;
  };
  test('CSV: an unquoted empty field is NULL, a quoted one is an empty string', () => {
    assert.deepEqual(decode('1,,x\n2,"",y\n', csv), [['1', null, 'x'], ['2', '', 'y']]);
    assert.deepEqual(decode('1,,x\n2,"a""b",\n', csv), [['1', null, 'x'], ['2', 'a"b', null]]);
  });
  test('CSV without any quote: split on line ends and delimiters, CRLF, an empty line, no final newline', () => {
    assert.deepEqual(decode('1,,x\r\n2,a,\n\n3', csv), [['1', null, 'x'], ['2', 'a', null], [null], ['3']]);
    assert.deepEqual(decode('NA;b;\n', { ...csv, delimiter: ';', nullString: 'NA' }), [[null, 'b', '']]);
  });
  test('CSV with --escape \\ and another delimiter', () => {
    const dialect = { ...csv, escape: '\\', delimiter: ';' };
    assert.deepEqual(decode('1;"a\\"b;c";""\n2;;"x\\\\"\n', dialect), [['1', 'a"b;c', ''], ['2', null, 'x\\']]);
  });
  test("CSV with NULL 'NA': only an unquoted NA is NULL", () => {
    assert.deepEqual(decode('NA,"NA",\n', { ...csv, nullString: 'NA' }), [[null, 'NA', '']]);
  });
  test('CSV: a malformed record is a row error, the others decode', () => {
    const bytes = Buffer.from('1,ok\n2,"a"b\n3,"fine"\n');
    const d = decodeBatch(bytes, csv, () => RecordIndex.build(bytes, csv));
    assert.deepEqual(d.records[0], ['1', 'ok']);
    assert.deepEqual(d.records[2], ['3', 'fine']);
    assert.match(d.errors.get(1) ?? '', /not valid CSV/);
  });
  test('text format: \\N, escapes, another delimiter, an escaped delimiter, backslash-newline', () => {
    const text: InputDialect = { format: 'text', delimiter: '\t', quote: '"', escape: '"', nullString: '\\N' };
    assert.deepEqual(decode('1\t\\N\ta\\tb\\\\c\n2\t\t\\x41\\101\n', text), [['1', null, 'a\tb\\c'], ['2', '', 'AA']]);
    assert.deepEqual(decode('1|a\\|b|\\N\r\n', { ...text, delimiter: '|' }), [['1', 'a|b', null]]);
    assert.deepEqual(decode('1\tline\\\nnext\n2\tx\n', text), [['1', 'line\nnext'], ['2', 'x']]);
  });
});

describe('each mapping end to end into PostgreSQL', () => {
  let server: PostgresServer;
  const dir = tempDir('map');
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await server?.stop();
  });

  const copy = (table: string, args: string[], input: string) =>
    runMain(['copy', '--connection', server.url(), '--table', table, '--transform-workers', '1', ...args], input);

  test('epoch units land as the same instant; nanoseconds are rounded by PostgreSQL', async () => {
    await server.query('CREATE TABLE e (unit text, t timestamptz)');
    for (const [unit, value] of [['s', '1695036737'], ['ms', '1695036737123'], ['us', '1695036737123456'], ['ns', '1695036737123456789']]) {
      const run = await copy('e', ['--columns', 'unit,t', '--epoch', `t:${unit}`], `${unit},${value}\n`);
      assert.equal(run.code, 0, run.stderr);
    }
    const r = await server.query("SELECT unit, to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS t FROM e ORDER BY unit");
    assert.deepEqual(r.rows, [
      { unit: 'ms', t: '2023-09-18 11:32:17.123000' },
      { unit: 'ns', t: '2023-09-18 11:32:17.123457' },
      { unit: 's', t: '2023-09-18 11:32:17.000000' },
      { unit: 'us', t: '2023-09-18 11:32:17.123456' },
    ]);
  });

  test('map, drop, set and json-path into typed columns, from flags and from a config file alike', async () => {
    await server.query('CREATE TABLE m (time timestamptz, device text, temp float8, meta jsonb, source text, key text)');
    const input = '1700000000000,d1,"{""s"":{""t"":21.5,""tags"":[1,2]},""junk"":1}",x\n1700000001000,d2,,y\n';
    const args = ['--columns', 'ts,device,payload,junk', '--json-path', 'temp=payload.s.t', '--json-path', 'meta=payload.s',
      '--epoch', 'ts:ms', '--set', 'source=test', '--set', 'key={device}/{$line}', '--drop', 'payload', '--drop', 'junk', '--map', 'ts:time'];
    const run = await copy('m', args, input);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'COPY 2\n');
    const rows = (await server.query('SELECT * FROM m ORDER BY time')).rows;
    assert.deepEqual(rows, [
      { time: new Date(1_700_000_000_000), device: 'd1', temp: 21.5, meta: { t: 21.5, tags: [1, 2] }, source: 'test', key: 'd1/1' },
      { time: new Date(1_700_000_001_000), device: 'd2', temp: null, meta: null, source: 'test', key: 'd2/2' },
    ]);

    const config = join(dir, 'mapping.json');
    writeFileSync(config, JSON.stringify({
      jsonPath: { temp: 'payload.s.t', meta: 'payload.s' }, epoch: { ts: 'ms' }, set: { source: 'test', key: '{device}/{$line}' },
      drop: ['payload', 'junk'], map: { ts: 'time' },
    }));
    await server.query('TRUNCATE m');
    const fromFile = await copy('m', ['--columns', 'ts,device,payload,junk', '--mapping', config], input);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.deepEqual((await server.query('SELECT * FROM m ORDER BY time')).rows, rows);
  });

  test('a mapping naming a column the table lacks fails before any row moves', async () => {
    await server.query('CREATE TABLE n (a int, b text)');
    const run = await copy('n', ['--set', 'c=1'], '1,x\n');
    assert.equal(run.code, 1);
    assert.match(run.stderr, /E_COLUMN_MISSING: table public\.n has no column "c"/);
    const bad = await copy('n', ['--map', 'zz:b'], '1,x\n');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /E_MAPPING_INVALID: --map zz:b: there is no column "zz"; the columns are: a, b/);
  });

  // --on-error and --rejects without a transform apply to rows the target rejects: copy-rejects.test.ts.
  test('usage: transform flags are validated', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--rejects', 'r.csv'], /`--rejects` goes with `--on-error reject`/],
      [['--drop', 'a', '--on-error', 'later'], /`--on-error` must be stop, skip or reject/],
      [['--drop', 'a', '--on-error', 'reject'], /needs `--rejects FILE`/],
      [['--drop', 'a', '--transform-workers', 'x'], /`--transform-workers` must be zero or more/],
      [['--epoch', 'a:hours'], /UNIT one of s, ms, us, ns/],
      [['--drop', 'a', '--copy-options', 'FORCE_NULL (a)'], /may only set NULL/],
    ];
    for (const [args, message] of cases) {
      const run = await runMain(['copy', '--connection', server.url(), '--table', 'n', ...args], '1,x\n');
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
    }
  });

  test("--copy-options NULL '...' decides which input fields are NULL", async () => {
    await server.query('CREATE TABLE nn (a text, b text)');
    const run = await copy('nn', ['--set', 'b={b}', '--copy-options', "NULL 'NA'"], 'NA,"NA"\n,x\n');
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((await server.query('SELECT a, b FROM nn ORDER BY b')).rows, [{ a: null, b: 'NA' }, { a: '', b: 'x' }]);
  });
});
