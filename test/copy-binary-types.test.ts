/**
 * Binary COPY encoding stores exactly what PostgreSQL's own CSV COPY stores. A corpus
 * of values for every type with an encoder (edge values, NULL and empty, quoted and
 * unquoted, zone-less and offset timestamps, 7+ fractional digits, DST edges, custom
 * NULL string, CRLF) is loaded by the server's own `COPY ... FROM STDIN (FORMAT csv)`
 * and by `hyperfill copy --encoding binary|auto` with 1, 2 and 4 workers, under
 * several TimeZone and DateStyle settings, on PostgreSQL 18 (embedded) and 15 (native);
 * the two tables must be equal row for row (text form and, for floats, the bits).
 * With one row per batch the test also checks which values the encoder took itself
 * (binary) and which it left to the server (the batch went as text), so a corpus
 * that silently fell back everywhere would fail.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { copyBytes } from '../src/pg/copy-bytes.js';
import { describeNative, startNativePostgres } from './helpers/native-postgres.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';

/** A CSV field as written in the input, and whether the encoder takes it (false: the server parses it). */
interface Value {
  field: string;
  binary: boolean;
  /** Taken by the encoder only when the session zone is UTC (zone-less, outside the sampled years). */
  utcOnly?: boolean;
}
const b = (field: string): Value => ({ field, binary: true });
const t = (field: string): Value => ({ field, binary: false });
const utc = (field: string): Value => ({ field, binary: false, utcOnly: true });
const q = (text: string) => `"${text.replace(/"/g, '""')}"`;

const COLUMNS: Array<[string, string]> = [
  ['i2', 'smallint'], ['i4', 'integer'], ['i8', 'bigint'], ['f4', 'real'], ['f8', 'double precision'],
  ['num', 'numeric'], ['num52', 'numeric(5,2)'], ['bo', 'boolean'], ['tx', 'text'], ['vc', 'varchar(5)'],
  ['ch', 'char(3)'], ['nm', 'name'], ['u', 'uuid'], ['d', 'date'], ['ts', 'timestamp'], ['ts3', 'timestamp(3)'],
  ['tz', 'timestamptz'], ['js', 'json'], ['jb', 'jsonb'], ['by', 'bytea'], ['ai', 'integer[]'], ['at', 'text[]'],
  ['atz', 'timestamptz[]'], ['an', 'numeric[]'], ['ab', 'boolean[]'],
];

const ZONED = [
  b('2024-01-01T00:00:00.000Z'), b('2024-01-01 00:00:00+00'), b('2024-06-15 12:00:00+05:30'), b('2024-06-15 12:00:00-03'),
  b('2024-06-15T12:00:00+0530'), b('2024-06-15 12:00:00+05:30:15'), b('2024-06-15 12:00:00+14'), b('2024-06-15 12:00:00-15'),
  b('2024-01-01 12:00:00z'), b('1850-03-01 10:00:00+01'), b('0044-03-15 12:00:00+00 BC'), b('9999-12-31 23:59:59.999999+00'),
];
const LOCAL = [
  b('2024-01-01 00:00:00'), b('2024-01-01 00:00'), b('2024-01-01'), b('2024-02-29 23:59:59.999999'),
  b('2024-12-31 23:59:59.9999995'), b('2024-12-31 23:59:59.9999994'), b('2000-01-01 00:00:00.0000005'),
  b('2000-01-01 00:00:00.0000015'), b('2000-01-01 00:00:00.0000025'), b('1999-12-31 23:59:59.123456789'),
  b('2024-06-15T08:30:00.5'), b('1970-01-01 00:00:00'), b('1900-01-03 00:00:00'), b('2099-12-29 23:00:00'),
  // DST edges: New York (2 a.m. gap in March, 1 a.m. twice in November), Lord Howe (half-hour
  // shifts), Moscow 2014 (standard time to standard time), Kolkata (no DST since 1945).
  b('2024-03-10 01:59:59.999999'), b('2024-03-10 02:00:00'), b('2024-03-10 02:30:00'), b('2024-03-10 03:00:00'),
  b('2024-11-03 00:59:59'), b('2024-11-03 01:00:00'), b('2024-11-03 01:30:00'), b('2024-11-03 01:59:59.999999'), b('2024-11-03 02:00:00'),
  b('2024-04-07 01:45:00'), b('2024-10-06 02:15:00'), b('2014-10-26 01:30:00'), b('1942-09-01 00:00:00'), b('1918-03-31 02:30:00'),
  utc('1899-12-31 12:00:00'), utc('2150-06-01 00:00:00'), utc('0001-01-01 00:00:00 BC'),
];
const TIME_SPECIALS = [b('infinity'), b('-infinity'), b('Infinity'), t('epoch'), t('2024-06-15 12:00:00 +05'), t('Jan 1 2024'),
  t('2024-01-01 24:00:00'), t('01/02/03 10:00'), t('2024-01-01 12:00:00 America/New_York'), t(' 2024-01-01')];

const CORPUS: Record<string, Value[]> = {
  i2: [b('0'), b('-0'), b('+7'), b('32767'), b('-32768'), b('000123'), b(q('42')), t(' 12'), t('12 ')],
  i4: [b('2147483647'), b('-2147483648'), b('1'), b(q('-5')), t(' 7')],
  i8: [b('9223372036854775807'), b('-9223372036854775808'), b('123456789012345'), b('1234567890123456'), b('-9007199254740993'), b('0')],
  f4: [b('0'), b('-0'), b('1.5'), b('0.1'), b('3.4028235e38'), b('1.17549435e-38'), b('16777217'), t('1.00000005960464477539062500001'),
    t('1.000000059604644775390625'), t('1e-45'), b('NaN'), b('Infinity'), b('-inf'), b('123456789'), b('.5'), b('5.'), t(' 1')],
  f8: [b('0'), b('-0'), b('1.5'), b('0.1'), b('1e308'), b('1.7976931348623157e308'), b('2.2250738585072014e-308'), t('4.9e-324'),
    b('nan'), b('NaN'), b('Infinity'), b('-Infinity'), b('inf'), b('+inf'), b('+Infinity'), b('-INF'),
    b('123456789012345678901234567890'), b('1.00000000000000011102230246251565404236316680908203125'), b('9007199254740993'),
    b('.5'), b('5.'), b('+3'), b('-.5e-3'), b('1E5'), b('12.34'), b('59.73'), b(q('2.5')), t(' 1.5'), t('0x10'), t('-nan')],
  num: [b('0'), b('-0'), b('0.000'), b('123.4500'), b('1e3'), b('1.5e-3'), b('-12345678901234567890.123456789'), b('.5'), b('5.'),
    b('1E+2'), b('1e-20'), b('9999.9999'), b('00012.340'), b('1.23e2'), b('-0.0001'), b('10000'), b('100000000'), t('NaN'), t('Infinity'), t(' 1')],
  num52: [b('123.456'), b('-0.005'), b('1'), b('999.994'), b('0.015')],
  bo: [b('t'), b('f'), b('true'), b('false'), b('TRUE'), b('y'), b('yes'), b('n'), b('no'), b('on'), b('off'), b('of'), b('1'), b('0'),
    b('tr'), b('fals'), b('Yes'), b('oN'), t(' t'), t('t ')],
  tx: [b(q('')), b('plain'), b(q('a,b')), b(q('he said "hi"')), b('héllo ✓ 日本'), b(q('two\nlines')), b(q('crlf\r\ninside')), b(q('tab\there')),
    b('back\\slash'), b('NULL'), b(q('NULL')), b(q('x')), b('a""b'), b('ab"cd"ef'), b(q('😀'))],
  vc: [b('abcde'), b('ab✓de'), b(q('abc  ')), b(q('abcde  ')), b('')],
  ch: [b('a'), b('abc'), b(q('ab   ')), b(q(''))],
  nm: [b('x'), b('n'.repeat(63)), t('n'.repeat(64)), t('é'.repeat(40))],
  u: [b('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'), b('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'), b('{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'),
    b('a0eebc999c0b4ef8bb6d6bb9bd380a11'), b('a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11'), b('{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}')],
  d: [b('2024-02-29'), b('0001-01-01'), b('0001-01-01 BC'), b('4713-01-01 BC'), b('9999-12-31'), b('2000-01-01'), b('1999-12-31'),
    b('infinity'), b('-infinity'), t('epoch'), t('5874897-12-31'), t('2024-01-01 10:00'), t('01/02/03')],
  ts: [...ZONED, ...LOCAL.map((v) => ({ ...v, binary: v.binary || v.utcOnly === true, utcOnly: false })), ...TIME_SPECIALS],
  ts3: [b('2024-01-01 00:00:00.1234'), b('2024-01-01 00:00:00.9995'), b('2024-01-01 00:00:00.0005'), b('2024-01-01 23:59:59.9999')],
  tz: [...ZONED, ...LOCAL, ...TIME_SPECIALS],
  js: [b(q('{"a": 1, "a": 2}')), b(q('[1, 2,  3]')), b(q('"x"')), b('1'), b('null'), b(q('{"é": "✓"}'))],
  jb: [b(q('{"b": 2, "a": 1}')), b(q('[1, {"x": null}]')), b(q('"s"')), b('3.140'), b(q('{"a": 1, "a": 2}'))],
  by: [b('\\x'), b('\\x00ff'), b('\\xDEADbeef'), b('abc'), b('a\\\\b'), b('\\001\\002\\377'), b(q('\\x41')), b('✓')],
  ai: [b('{}'), b(q('{1,2,3}')), b(q('{ 1 , 2 }')), b(q('{NULL,1}')), b('{null}'), b(q('{"1"}')), b('{-5}'), b(' {7} '), t(q('{{1,2},{3,4}}')), t(q('[0:1]={1,2}'))],
  at: [b(q('{a,b}')), b(q('{"a b","c,d"}')), b(q('{"\\"q\\""}')), b(q('{ a b }')), b(q('{"NULL",NULL}')), b(q('{"",x}')), b(q('{a\\,b}')),
    b(q('{é,✓}')), b(q('{"",""}'))],
  atz: [b(q('{"2024-01-01 00:00:00+00","2024-06-01 12:00:00"}')), b(q('{2024-03-10T02:30:00,NULL}')), b('{}'), t(q('{epoch}'))],
  an: [b(q('{1.50,2e3}')), b(q('{-0,NULL,.5}')), t(q('{NaN}'))],
  ab: [b(q('{t,f,yes,off}')), b('{TRUE}')],
};

interface Row { id: number; column: string; value: Value }

function corpusRows(): Row[] {
  const rows: Row[] = [];
  for (const [column, values] of Object.entries(CORPUS)) for (const value of values) rows.push({ id: rows.length + 1, column, value });
  // NULL (the unquoted empty field) in every column.
  for (const [column] of COLUMNS) rows.push({ id: rows.length + 1, column, value: b('') });
  return rows;
}

/** One record per corpus value: its id, the value in its column, every other field NULL. */
function corpusCsv(rows: Row[], lineEnd = '\n', nullField = ''): string {
  return rows.map((r) => [String(r.id), ...COLUMNS.map(([name]) => (name === r.column ? r.value.field : nullField))].join(',')).join(lineEnd) + lineEnd;
}

/** The input line each corpus record starts on (quoted line ends make records span lines). */
function firstLines(rows: Row[]): number[] {
  let line = 1;
  return rows.map((r) => {
    const at = line;
    line += 1 + (r.value.field.match(/\n/g)?.length ?? 0);
    return at;
  });
}

const TABLE_DDL = (name: string) => `DROP TABLE IF EXISTS ${name}; CREATE TABLE ${name} (id int, ${COLUMNS.map(([n, type]) => `${n} ${type}`).join(', ')})`;

/** Every row in text form, and the float columns' bits (NaN payloads, -0). */
async function snapshot(client: pg.Client, table: string): Promise<unknown[]> {
  const r = await client.query(`SELECT id, x::text AS row, float4send(f4) AS f4, float8send(f8) AS f8 FROM ${table} x ORDER BY id`);
  return r.rows;
}

interface Session {
  name: string;
  settings: Record<string, string>;
  utc: boolean;
}

const SESSIONS: Session[] = [
  { name: 'UTC, ISO', settings: { timezone: 'UTC' }, utc: true },
  { name: 'America/New_York, SQL DMY', settings: { timezone: 'America/New_York', datestyle: 'SQL, DMY' }, utc: false },
  { name: 'Australia/Lord_Howe, German', settings: { timezone: 'Australia/Lord_Howe', datestyle: 'German' }, utc: false },
  { name: 'Europe/Moscow, Postgres MDY', settings: { timezone: 'Europe/Moscow', datestyle: 'Postgres, MDY' }, utc: false },
  { name: 'Asia/Kolkata, ISO YMD', settings: { timezone: 'Asia/Kolkata', datestyle: 'ISO, YMD' }, utc: false },
];

function corpusSuite(start: () => Promise<PostgresServer>): void {
  let server: PostgresServer;
  const rows = corpusRows();

  before(async () => {
    server = await start();
  });
  after(async () => {
    await server?.stop();
  });

  for (const session of SESSIONS) {
    test(`the corpus under ${session.name}`, async () => {
      const db = `corpus_${session.name.replace(/[^a-z]/gi, '_').toLowerCase()}`;
      await server.query(`DROP DATABASE IF EXISTS ${db}`);
      const url = await server.createDatabase(db);
      for (const [k, v] of Object.entries(session.settings)) await server.query(`ALTER DATABASE ${db} SET ${k} = '${v}'`);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const csv = corpusCsv(rows);
        await client.query(TABLE_DDL('expected'));
        await copyBytes(client, 'COPY expected FROM STDIN (FORMAT csv)', Buffer.from(csv));
        const expected = await snapshot(client, 'expected');
        assert.equal(expected.length, rows.length, 'the reference loaded every row');

        // One row per batch: which values did the encoder take?
        await client.query(TABLE_DDL('actual'));
        const single = await runMain(['copy', '--connection', url, '--table', 'actual', '--encoding', 'binary', '--batch-size', '1', '--workers', '2', '--json', '--log-batches'], csv);
        assert.equal(single.code, 0, single.stderr);
        assert.deepEqual(await snapshot(client, 'actual'), expected);
        const textLines = new Set([...single.stderr.matchAll(/batch \d+ stdin lines? (\d+)(?:-\d+)? goes as text/g)].map((m) => Number(m[1])));
        const lines = firstLines(rows);
        const wrong = rows.filter((r, i) => textLines.has(lines[i] as number) === (r.value.binary || (session.utc && r.value.utcOnly === true)));
        assert.deepEqual(wrong.map((r, i) => `${r.column}: ${r.value.field} (${textLines.has(lines[i] as number) ? 'went as text' : 'went as binary'})`), []);
        const summary = JSON.parse(single.stdout);
        assert.equal(summary.encoding.binaryBatches + summary.encoding.textBatches, rows.length);

        for (const [encoding, workers, batchSize] of [['binary', 1, 1000], ['auto', 2, 7], ['binary', 4, 3]] as const) {
          await client.query(TABLE_DDL('actual'));
          const run = await runMain(['copy', '--connection', url, '--table', 'actual', '--encoding', encoding,
            '--workers', String(workers), '--batch-size', String(batchSize)], csv);
          assert.equal(run.code, 0, run.stderr);
          assert.deepEqual(await snapshot(client, 'actual'), expected, `--encoding ${encoding} --workers ${workers} --batch-size ${batchSize}`);
        }
      } finally {
        await client.end();
      }
    });
  }

  test('text format input: escapes, \\N, and what is left to the server', async () => {
    const client = new pg.Client({ connectionString: server.url() });
    await client.connect();
    try {
      // [record, taken by the encoder]: columns id, tx text, i4 integer, f8 float8, tz timestamptz, at text[]
      const records: Array<[string, boolean]> = [
        ['1\tplain\t7\t1.5\t2024-01-01 00:00:00+00\t{a,b}', true],
        ['2\t\\N\t\\N\t\\N\t\\N\t\\N', true],
        ['3\t\\\\N\t-1\t-0\t2024-06-01T12:00:00Z\t{}', true],
        ['4\ta\\tb\\nc\\rd\\\\e\\bf\\fg\\vh\t1\t0.1\tinfinity\t{"x y",NULL}', true],
        ['5\t\\x41\\101\\q\\x\\xg\\7\t2\t\\61.5\t2024-01-01 00:00:00+05:30\t{\\\\\\\\}', true],
        ['6\tescaped\\\tdelimiter and \\\nnewline\t3\t3\t2024-02-29\t{"a\\\\"b"}', true],
        ['7\t\\xc3\\xa9 from escapes\t4\t4\t2024-01-01 00:00:00+00\t{é}', false],
        ['8\t\\303\\251 octal\t5\t5\t2024-01-01 00:00:00+00\t{}', false],
        ['9\tcafé\t6\t6\t2024-01-01 00:00:00+00\t{ü}', true],
      ];
      const input = `${records.map(([r]) => r).join('\n')}\n`;
      const ddl = (name: string) => `DROP TABLE IF EXISTS ${name}; CREATE TABLE ${name} (id int, tx text, i4 int, f8 float8, tz timestamptz, at text[])`;
      const rowsOf = async (table: string) => (await client.query(`SELECT id, x::text AS row, float8send(f8) AS f8 FROM ${table} x ORDER BY id`)).rows;
      await client.query(ddl('expected'));
      await copyBytes(client, 'COPY expected FROM STDIN (FORMAT text)', Buffer.from(input));
      const expected = await rowsOf('expected');
      assert.equal(expected.length, records.length);
      await client.query(ddl('actual'));
      const single = await runMain(['copy', '--connection', server.url(), '--table', 'actual', '--format', 'text', '--encoding', 'binary',
        '--batch-size', '1', '--log-batches'], input);
      assert.equal(single.code, 0, single.stderr);
      assert.deepEqual(await rowsOf('actual'), expected);
      const text = [...single.stderr.matchAll(/stdin lines? (\d+)(?:-\d+)? goes as text/g)].map((m) => Number(m[1]));
      const lineOf = (i: number) => 1 + records.slice(0, i).reduce((n, [r]) => n + (r.match(/\n/g)?.length ?? 0) + 1, 0);
      assert.deepEqual(text, records.flatMap(([, binary], i) => (binary ? [] : [lineOf(i)])));
      for (const workers of [1, 2, 4]) {
        await client.query(ddl('actual'));
        const run = await runMain(['copy', '--connection', server.url(), '--table', 'actual', '--format', 'text', '--encoding', 'binary',
          '--workers', String(workers), '--batch-size', '4'], input);
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(await rowsOf('actual'), expected, `workers ${workers}`);
      }
    } finally {
      await client.end();
    }
  });

  test('CRLF line ends and a custom NULL string', async () => {
    const client = new pg.Client({ connectionString: server.url() });
    await client.connect();
    try {
      // NULL 'NA': an unquoted NA is NULL, a quoted "NA" and an unquoted empty field are not.
      const simple = rows.filter((r) => r.value.binary && !r.value.field.includes('\n') && !r.value.field.includes('\r') && r.value.field !== '');
      const last = COLUMNS.map(([name]) => (name === 'tx' ? '"NA"' : name === 'vc' ? '' : 'NA'));
      const csv = `${corpusCsv(simple, '\r\n', 'NA')}9001,${last.join(',')}\r\n`;
      const options = "NULL 'NA'";
      await client.query(TABLE_DDL('expected'));
      await copyBytes(client, `COPY expected FROM STDIN (FORMAT csv, ${options})`, Buffer.from(csv));
      const expected = await snapshot(client, 'expected');
      for (const workers of [1, 2, 4]) {
        await client.query(TABLE_DDL('actual'));
        const run = await runMain(['copy', '--connection', server.url(), '--table', 'actual', '--encoding', 'binary', '--copy-options', options,
          '--workers', String(workers), '--batch-size', '50', '--json'], csv);
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(await snapshot(client, 'actual'), expected, `workers ${workers}`);
        assert.equal(JSON.parse(run.stdout).encoding.textBatches, 0, 'every batch went as binary');
      }
    } finally {
      await client.end();
    }
  });
}

describe('binary encoding equals CSV COPY [embedded PostgreSQL 18]', () => corpusSuite(() => startPostgres()));
describeNative('binary encoding equals CSV COPY', {}, () => corpusSuite(() => startNativePostgres()));
