/**
 * The ClickHouse connector without a server: type strings → PostgreSQL types, the
 * SELECT expressions and window conditions, ClickHouse literals → JSON, the URL, and
 * the TabSeparated → COPY stream (error line, NUL, UTF-8, chunk boundaries).
 * DateTime64 and Map do not exist in ClickHouse 18.16, so they are tested here only.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { parseClickHouseUrl, redact } from '../connectors/clickhouse/config.js';
import { literalToJson } from '../connectors/clickhouse/literal.js';
import { columnExpression, timeCondition, timeValueExpression } from '../connectors/clickhouse/select.js';
import { parseChTableName, timeColumnFromSortingKey, type ClickHouseColumn } from '../connectors/clickhouse/source.js';
import { TsvToCopy, convertRows, findErrorLine, findNulEscape } from '../connectors/clickhouse/tsv-to-copy.js';
import { formatClickHouseType, mapClickHouseType, parseClickHouseType, timeTypeOfClickHouse } from '../connectors/clickhouse/types.js';
import { HyperfillError } from '../src/errors.js';

const MAPPING: Array<[string, string, boolean, 'text' | 'json']> = [
  ['Int8', 'smallint', false, 'text'],
  ['UInt8', 'smallint', false, 'text'],
  ['Int16', 'smallint', false, 'text'],
  ['UInt16', 'integer', false, 'text'],
  ['Int32', 'integer', false, 'text'],
  ['UInt32', 'bigint', false, 'text'],
  ['Int64', 'bigint', false, 'text'],
  ['UInt64', 'numeric(20,0)', false, 'text'],
  ['Int128', 'numeric(39,0)', false, 'text'],
  ['UInt256', 'numeric(78,0)', false, 'text'],
  ['Float32', 'real', false, 'text'],
  ['Float64', 'double precision', false, 'text'],
  ['Decimal(18, 4)', 'numeric(18,4)', false, 'text'],
  ['Decimal32(2)', 'numeric(9,2)', false, 'text'],
  ['Decimal64(6)', 'numeric(18,6)', false, 'text'],
  ['Decimal128(10)', 'numeric(38,10)', false, 'text'],
  ['String', 'text', false, 'text'],
  ['FixedString(16)', 'text', false, 'text'],
  ['UUID', 'uuid', false, 'text'],
  ['Bool', 'boolean', false, 'text'],
  ['IPv4', 'inet', false, 'text'],
  ['IPv6', 'inet', false, 'text'],
  ['Date', 'date', false, 'text'],
  ['Date32', 'date', false, 'text'],
  ['DateTime', 'timestamp with time zone', false, 'text'],
  ["DateTime('Asia/Tokyo')", 'timestamp with time zone', false, 'text'],
  ['DateTime64(3)', 'timestamp with time zone', false, 'text'],
  ["DateTime64(3, 'Europe/Berlin')", 'timestamp with time zone', false, 'text'],
  ["Enum8('a' = 1, 'b' = 2)", 'text', false, 'text'],
  ["Enum16('it\\'s' = -300, 'x = y, z' = 2)", 'text', false, 'text'],
  ['Nullable(Int32)', 'integer', true, 'text'],
  ['Nullable(Nothing)', 'text', true, 'text'],
  ['LowCardinality(String)', 'text', false, 'text'],
  ['LowCardinality(Nullable(String))', 'text', true, 'text'],
  ['Array(Int32)', 'integer[]', false, 'text'],
  ['Array(Nullable(String))', 'text[]', false, 'text'],
  ['Array(LowCardinality(String))', 'text[]', false, 'text'],
  ['Array(DateTime)', 'timestamp with time zone[]', false, 'text'],
  ['Array(Decimal(10, 2))', 'numeric(10,2)[]', false, 'text'],
  ['Array(UInt64)', 'numeric(20,0)[]', false, 'text'],
  ['Array(Array(Int32))', 'jsonb', false, 'json'],
  ['Array(Tuple(String, UInt64))', 'jsonb', false, 'json'],
  ['Tuple(Int32, String)', 'jsonb', false, 'json'],
  ['Tuple(a Int32, b Nullable(String))', 'jsonb', false, 'json'],
  ['Map(String, UInt64)', 'jsonb', false, 'json'],
  ['Map(LowCardinality(String), Array(Nullable(Float64)))', 'jsonb', false, 'json'],
  ['Nested(k String, v UInt64)', 'jsonb', false, 'json'],
];

test('every ClickHouse type maps to its PostgreSQL type, nullability and output kind', () => {
  for (const [ch, pg, nullable, output] of MAPPING) {
    assert.deepEqual(mapClickHouseType(parseClickHouseType(ch)), { pgType: pg, nullable, output }, ch);
  }
});

test('type strings parse into their structure and print back', () => {
  assert.deepEqual(parseClickHouseType("DateTime64(3, 'Europe/Berlin')"), { kind: 'datetime64', precision: 3, timezone: 'Europe/Berlin' });
  assert.deepEqual(parseClickHouseType('DateTime64(6)'), { kind: 'datetime64', precision: 6 });
  assert.deepEqual(parseClickHouseType('Decimal(18, 4)'), { kind: 'decimal', precision: 18, scale: 4 });
  assert.deepEqual(parseClickHouseType("Enum8('a' = 1, 'b\\'q' = -2)"), { kind: 'enum', values: [['a', 1], ["b'q", -2]] });
  assert.deepEqual(parseClickHouseType('Map(String, UInt64)'), {
    kind: 'map', key: { kind: 'string' }, value: { kind: 'int', bits: 64, signed: false },
  });
  assert.deepEqual(parseClickHouseType('LowCardinality(Nullable(String))'), { kind: 'lowcardinality', inner: { kind: 'nullable', inner: { kind: 'string' } } });
  assert.deepEqual(parseClickHouseType('Tuple(a Int32, `b c` Array(String))'), {
    kind: 'tuple', elements: [{ name: 'a', type: { kind: 'int', bits: 32, signed: true } }, { name: 'b c', type: { kind: 'array', inner: { kind: 'string' } } }],
  });
  for (const text of ['Array(Nullable(String))', 'Tuple(Int32, String)', 'Map(String, UInt64)', "DateTime64(3, 'Europe/Berlin')", 'Decimal(18, 4)',
    "DateTime('Asia/Tokyo')", 'LowCardinality(Nullable(String))', 'FixedString(3)', 'Array(Array(Nullable(Int8)))']) {
    assert.equal(formatClickHouseType(parseClickHouseType(text)), text);
  }
});

test('unknown or malformed types are clear errors', () => {
  assert.throws(() => parseClickHouseType('AggregateFunction(uniq, String)'), (e: HyperfillError) =>
    e.code === 'E_CLICKHOUSE_TYPE' && /AggregateFunction is not supported/.test(e.message));
  assert.throws(() => parseClickHouseType('Array(Int32'), /E_CLICKHOUSE_TYPE|cannot read/);
  assert.throws(() => parseClickHouseType("Enum8('a = 1)"), /unterminated quote/);
});

test('time columns: DateTime, DateTime64, Date and integer epochs', () => {
  const cases: Array<[string, string | undefined]> = [
    ['DateTime', 'timestamptz'], ["DateTime64(3, 'UTC')", 'timestamptz'], ['Date', 'date'], ['UInt64', 'bigint'], ['Int64', 'bigint'],
    ['UInt32', 'bigint'], ['Int32', 'integer'], ['UInt16', 'integer'], ['Int16', 'smallint'], ['String', undefined], ['Float64', undefined],
  ];
  for (const [ch, tt] of cases) assert.equal(timeTypeOfClickHouse(parseClickHouseType(ch)), tt, ch);
});

test('SELECT expressions make dates UTC text, cut FixedString padding, and build array literals', () => {
  const expr = (t: string) => columnExpression('c', parseClickHouseType(t));
  assert.equal(expr('Float64'), '`c`');
  assert.equal(expr('LowCardinality(Nullable(String))'), '`c`');
  assert.equal(expr('DateTime'), "formatDateTime(`c`, '%Y-%m-%d %H:%M:%S+00', 'UTC')");
  assert.equal(expr("Nullable(DateTime('Asia/Tokyo'))"), "formatDateTime(`c`, '%Y-%m-%d %H:%M:%S+00', 'UTC')");
  assert.equal(expr("DateTime64(3, 'Europe/Berlin')"), "concat(toString(`c`, 'UTC'), '+00')");
  assert.equal(expr('Date'), "formatDateTime(`c`, '%Y-%m-%d')");
  assert.equal(expr('FixedString(4)'), 'toStringCutToZero(`c`)');
  assert.equal(expr('Array(Int32)'), "concat('{', arrayStringConcat(arrayMap(_hf_x0 -> toString(_hf_x0), `c`), ','), '}')");
  assert.match(expr('Array(Nullable(String))'), /if\(isNull\(_hf_x0\), 'NULL', concat\('"', replaceAll\(replaceAll\(assumeNotNull\(_hf_x0\)/);
  assert.equal(expr('Tuple(Int32, DateTime)'), "tuple(tupleElement(`c`, 1), formatDateTime(tupleElement(`c`, 2), '%Y-%m-%d %H:%M:%S+00', 'UTC'))");
  assert.equal(expr('Map(String, UInt64)'), '`c`');
  assert.equal(expr("Map(String, DateTime64(3, 'UTC'))"),
    "mapApply((_hf_x0, _hf_x1) -> (_hf_x0, concat(toString(_hf_x1, 'UTC'), '+00')), `c`)");
  assert.equal(columnExpression('we`ird\\name', parseClickHouseType('Int8')), '`we\\`ird\\\\name`');
});

test('window conditions are half-open in the column\'s units, and clipped to its range', () => {
  const s = 1_000_000n;
  const dt = parseClickHouseType('DateTime');
  assert.equal(timeCondition('ts', dt, 'timestamptz', { start: 1691668800n * s, end: 1691672400n * s }),
    '`ts` >= toDateTime(1691668800) AND `ts` < toDateTime(1691672400)');
  // A fractional bound: t >= 10.5 s is t >= 11 s; t < 20.5 s is t < 21 s (whole seconds).
  assert.equal(timeCondition('ts', dt, 'timestamptz', { start: 10n * s + 500_000n, end: 20n * s + 500_000n }), '`ts` >= toDateTime(11) AND `ts` < toDateTime(21)');
  assert.equal(timeCondition('ts', dt, 'timestamptz', { start: -5n * s, end: 20n * s }), '`ts` < toDateTime(20)');
  assert.equal(timeCondition('ts', dt, 'timestamptz', { start: -5n * s, end: 10_000_000_000n * s }), '1');
  assert.equal(timeCondition('ts', dt, 'timestamptz', { start: -5n * s, end: 0n }), '0');
  const day = 86_400n * s;
  assert.equal(timeCondition('d', parseClickHouseType('Date'), 'date', { start: 19_000n * day, end: 19_031n * day }),
    "`d` >= toDate('2022-01-08') AND `d` < toDate('2022-02-08')");
  assert.equal(timeCondition('n', parseClickHouseType('UInt64'), 'bigint', { start: -10n, end: 1_695_036_737_000n }), '`n` < 1695036737000');
  assert.equal(timeCondition('n', parseClickHouseType('Int32'), 'integer', { start: 5n, end: 3_000_000_000n }), '`n` >= 5');
  assert.equal(timeCondition('t', parseClickHouseType("DateTime64(3, 'Europe/Berlin')"), 'timestamptz', { start: 1691668800123456n, end: 1691668801000000n }),
    "`t` >= toDateTime64('2023-08-10 12:00:00.123456', 6, 'UTC') AND `t` < toDateTime64('2023-08-10 12:00:01.000000', 6, 'UTC')");
  assert.equal(timeValueExpression('min(`t`)', parseClickHouseType('DateTime64(3)')), 'toString(toUnixTimestamp64Micro(min(`t`)))');
});

test('ClickHouse literals become JSON for jsonb', () => {
  const json = (text: string, type: string) => literalToJson(text, parseClickHouseType(type));
  assert.equal(json("(1,'a\\'b\\\\c\\td',NULL)", 'Tuple(Int32, String, Nullable(String))'), '[1,"a\'b\\\\c\\td",null]');
  assert.equal(json("(1,'x')", 'Tuple(a Int32, b String)'), '{"a":1,"b":"x"}');
  assert.equal(json('[[1,2],[],[3]]', 'Array(Array(Int32))'), '[[1,2],[],[3]]');
  assert.equal(json('[(1.5,nan),(-inf,inf)]', 'Array(Tuple(Float64, Float64))'), '[[1.5,"NaN"],["-Infinity","Infinity"]]');
  assert.equal(json("{'a':1,'b':18446744073709551615}", 'Map(String, UInt64)'), '{"a":1,"b":18446744073709551615}');
  assert.equal(json('{1:[1,NULL],2:[]}', 'Map(UInt8, Array(Nullable(Int32)))'), '{"1":[1,null],"2":[]}');
  assert.equal(json("{'k':'2023-08-10 12:00:00.123+00'}", "Map(String, DateTime64(3, 'UTC'))"), '{"k":"2023-08-10 12:00:00.123+00"}');
  assert.equal(json('{}', 'Map(String, String)'), '{}');
  assert.equal(json("('é€😀',1e300,-0)", 'Tuple(String, Float64, Float64)'), '["é€😀",1e300,-0]');
  assert.equal(json('\\N', 'Tuple(Int32)'), null);
  assert.throws(() => json("('a\\0b')", 'Tuple(String)'), /NUL byte/);
  assert.throws(() => json('(1,2', 'Tuple(Int32, Int32)'), /cannot read the ClickHouse value/);
});

test('ClickHouse URLs: schemes, defaults, errors, and no password in messages', () => {
  const c = parseClickHouseUrl('clickhouse://bob:s%40cret@db.example:8124/metrics?compression=gzip', {});
  assert.deepEqual({ ...c }, {
    url: 'http://db.example:8124', username: 'bob', password: 's@cret', database: 'metrics', requestTimeoutMs: 300_000, compression: true,
    display: 'clickhouse://bob@db.example:8124/metrics',
  });
  const d = parseClickHouseUrl('clickhouse+https://host', { CLICKHOUSE_PASSWORD: 'envpw' });
  assert.equal(d.url, 'https://host:8443');
  assert.equal(d.username, 'default');
  assert.equal(d.password, 'envpw');
  assert.equal(d.database, 'default');
  assert.equal(parseClickHouseUrl('clickhouse+http://[::1]:8123/x', {}).url, 'http://[::1]:8123');
  const bad: Array<[string, RegExp]> = [
    ['clickhouse://u:pw@host:9000/db', /native protocol/],
    ['clickhouse://u:pw@host:8123/a/b', /one database/],
    ['clickhouse://u:pw@host/db?foo=1', /unknown parameter "foo"/],
    ['clickhouse://u:pw@host/db?request_timeout=soon', /request_timeout/],
    ['clickhouse://u:pw@/db', /no host|not a URL/],
  ];
  for (const [url, message] of bad) {
    assert.throws(() => parseClickHouseUrl(url, {}), (e: HyperfillError) =>
      e.code === 'E_CONNECTION_STRING' && message.test(e.message) && !JSON.stringify(e.context).includes('pw@'), url);
  }
  assert.equal(redact('clickhouse://u:secret@h:1/d'), 'clickhouse://u:***@h:1/d');
});

test('table names and the time column from the sorting key', () => {
  assert.deepEqual(parseChTableName('metrics', 'default'), { database: 'default', table: 'metrics' });
  assert.deepEqual(parseChTableName('db.metrics', 'default'), { database: 'db', table: 'metrics' });
  assert.deepEqual(parseChTableName('`my.db`.`t``x`', 'default'), { database: 'my.db', table: 't`x' });
  const col = (name: string, type: string): ClickHouseColumn => {
    const t = parseClickHouseType(type);
    return { name, clickhouseType: type, type: t, ...mapClickHouseType(t) };
  };
  const columns = [col('host', 'String'), col('day', 'Date'), col('ts', 'DateTime'), col('maybe', 'Nullable(DateTime)')];
  assert.equal(timeColumnFromSortingKey('host, toStartOfHour(ts), day', columns), 'ts');
  assert.equal(timeColumnFromSortingKey('maybe, host', columns), undefined);
  assert.equal(timeColumnFromSortingKey('host', columns), undefined);
});

const ERROR_LINE = "Code: 395, e.displayText() = DB::Exception: Value passed to 'throwIf' function is non zero, e.what() = DB::Exception\n";

test('the error line and escaped NULs are found by native scans', () => {
  assert.equal(findErrorLine(Buffer.from(`1\ta\n2\tb\n${ERROR_LINE}`)), 8);
  assert.equal(findErrorLine(Buffer.from('Code: 62. DB::Exception: Syntax error\n')), 0);
  assert.equal(findErrorLine(Buffer.from('1\tCode: 395, e.displayText() = x\n')), -1, 'not at a line start');
  assert.equal(findErrorLine(Buffer.from('Code: soon\n')), -1);
  assert.equal(findNulEscape(Buffer.from('a\\\\0b')), -1, 'an escaped backslash, then 0');
  assert.equal(findNulEscape(Buffer.from('a\\\\\\0b')), 3);
  assert.equal(findNulEscape(Buffer.from('a\\0')), 1);
  assert.equal(findNulEscape(Buffer.from('\\t\\n\\\\')), -1);
});

async function run(chunks: Buffer[], options: Partial<ConstructorParameters<typeof TsvToCopy>[0]> = {}): Promise<{ out: string; rows: number }> {
  const t = new TsvToCopy({ context: { table: 'default.t', window: '[a, b)' }, columnNames: ['ts', 's'], firstColumnIsText: false, ...options });
  const parts: Buffer[] = [];
  Readable.from(chunks).pipe(t);
  for await (const c of t) parts.push(c as Buffer);
  return { out: Buffer.concat(parts).toString('utf8'), rows: t.rows };
}

test('TabSeparated passes through byte for byte, whatever the chunk boundaries', async () => {
  const text = '2023-08-10 12:00:00+00\ttab\\there é€\n1970-01-01 00:00:00+00\t\\N\n2023-08-10 12:00:01+00\t\n';
  const bytes = Buffer.from(text);
  for (const size of [1, 2, 3, 7, 1000]) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
    assert.deepEqual(await run(chunks), { out: text, rows: 3 }, `chunks of ${size}`);
  }
});

test('a mid-stream error line fails the stream with table, window and row, and never reaches COPY', async () => {
  const data = '1\ta\n2\tb\n';
  for (const size of [1, 5, 1000]) {
    const bytes = Buffer.from(data + ERROR_LINE);
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
    const t = new TsvToCopy({ context: { table: 'default.t', window: '[a, b)' }, columnNames: ['n', 's'], firstColumnIsText: false });
    let out = '';
    t.on('data', (c: Buffer) => { out += c.toString(); });
    Readable.from(chunks).pipe(t);
    const err = await new Promise<HyperfillError>((resolve) => t.on('error', resolve));
    assert.equal(err.code, 'E_CLICKHOUSE_ERROR');
    assert.match(err.message, /ClickHouse failed while streaming table default\.t, window \[a, b\) after 2 rows: Code: 395.*throwIf/);
    assert.equal(err.context.row, 3);
    assert.ok(!out.includes('Code:'), `chunks of ${size}: the error text stayed out of the COPY data`);
  }
});

test('a text first column may read "Code: ...": only a last line is the server\'s error', async () => {
  const looksLikeError = 'Code: 1, e.displayText() = not an error\tx\n';
  assert.deepEqual(await run([Buffer.from(looksLikeError), Buffer.from('b\ty\n')], { firstColumnIsText: true }), { out: `${looksLikeError}b\ty\n`, rows: 2 });
  await assert.rejects(run([Buffer.from(`a\tb\n${ERROR_LINE}`)], { firstColumnIsText: true }), /E_CLICKHOUSE_ERROR|ClickHouse failed/);
});

test('a response cut mid-row, a NUL and invalid UTF-8 are errors naming row and column', async () => {
  await assert.rejects(run([Buffer.from('1\ta\n2\tb')]), (e: HyperfillError) => e.code === 'E_CLICKHOUSE_TRUNCATED' && e.context.row === 2);
  await assert.rejects(run([Buffer.from('1\ta\n2\tb\\0c\n')]), (e: HyperfillError) =>
    e.code === 'E_CLICKHOUSE_NUL' && e.context.row === 2 && e.context.column === 's' && /row 2 column "s" holds a NUL byte/.test(e.message));
  await assert.rejects(run([Buffer.from('1\ta\n'), Buffer.from([0x32, 0x09, 0x61, 0xff, 0x0a])]), (e: HyperfillError) =>
    e.code === 'E_CLICKHOUSE_UTF8' && e.context.row === 2 && e.context.column === 's');
});

test('columns that need it are converted row by row, the others untouched', () => {
  const plan = { columnNames: ['n', 't', 's'], json: [{ index: 1, type: parseClickHouseType('Tuple(String, Nullable(Int32))') }] };
  assert.equal(convertRows("1\t('a\\tb',NULL)\tx\\ty\n2\t\\N\t\n", plan, 1), '1\t["a\\\\tb",null]\tx\\ty\n2\t\\N\t\n');
  assert.throws(() => convertRows("1\t('a\\0')\tx\n", plan, 7), (e: Error & { row?: number; column?: string }) => e.row === 7 && e.column === 't');
});
