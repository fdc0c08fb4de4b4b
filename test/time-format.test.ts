/**
 * `time_format` for the sources whose times are text or numbers: CSV files, JSON files and
 * MongoDB read strftime-like patterns (vega's flights data writes "2001/01/01 06:55") and
 * epoch units, with the same exactness rules (every field in range, nothing left over,
 * fractions exact to the microsecond). Rows go through `hyperfill schema --apply` and
 * `hyperfill backfill` into a real PostgreSQL; the expected times are PostgreSQL's own
 * reading of the same text (to_timestamp) or numbers. MongoDB is the wire-protocol test
 * server (test/helpers/mongo-wire-server.ts), whose range queries compare strings and
 * numbers as MongoDB does.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Decimal128, Double, Int32, Long } from 'bson';
import pg from 'pg';
import { HyperfillError } from '../src/errors.js';
import { epochMicros, parseTimeFormat, scaledDecimal, timeFormatParam } from '../src/time-format.js';
import { compileTimePattern } from '../src/time-pattern.js';
import { startMongoWireServer, type MongoWireServer } from './helpers/mongo-wire-server.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';

const us = (iso: string) => BigInt(Date.parse(iso)) * 1000n;

describe('patterns read exactly', () => {
  test('fields, widths, 12-hour clocks, month names, zones and fractions', () => {
    const p = compileTimePattern('%Y/%m/%d %H:%M');
    assert.deepEqual(p.parse('2001/01/01 06:55'), { micros: us('2001-01-01T06:55:00Z'), local: us('2001-01-01T06:55:00Z') });
    assert.equal(p.parse('2001/1/1 6:55')?.micros, us('2001-01-01T06:55:00Z'), 'one digit is a field too');
    assert.equal(compileTimePattern('%Y%m%d%H%M').parse('200101010655')?.micros, us('2001-01-01T06:55:00Z'), 'adjacent fields take two digits');
    assert.equal(compileTimePattern('%d %b %Y %I:%M %p').parse('07 Mar 2024 12:05 AM')?.micros, us('2024-03-07T00:05:00Z'));
    assert.equal(compileTimePattern('%d %B %Y %I:%M %p').parse('7 march 2024 1:05 pm')?.micros, us('2024-03-07T13:05:00Z'));
    const zoned = compileTimePattern('%FT%T%z');
    assert.equal(zoned.parse('2024-03-07T10:00:00+05:30')?.micros, us('2024-03-07T04:30:00Z'));
    assert.equal(zoned.parse('2024-03-07T10:00:00+0530')?.local, us('2024-03-07T10:00:00Z'), 'local: the wall clock as written');
    assert.equal(zoned.parse('2024-03-07T10:00:00Z')?.micros, us('2024-03-07T10:00:00Z'));
    const f = compileTimePattern('%Y-%m-%d %H:%M:%S.%f');
    assert.equal(f.parse('2024-01-01 00:00:00.5')?.micros, us('2024-01-01T00:00:00Z') + 500_000n);
    assert.equal(f.parse('2024-01-01 00:00:00.1234565')?.micros, us('2024-01-01T00:00:00Z') + 123_457n, 'rounded half up to microseconds');
    assert.equal(f.parse('2024-01-01 00:00:00.123456789')?.micros, us('2024-01-01T00:00:00Z') + 123_457n);
    assert.equal(compileTimePattern('%Y-%m-%d').parse('2024-02-29')?.micros, us('2024-02-29T00:00:00Z'));
  });

  test('a value out of range or with anything left over is refused, never moved', () => {
    const p = compileTimePattern('%Y/%m/%d %H:%M');
    for (const bad of ['2001/06/31 06:55', '2023/02/29 00:00', '2001/13/01 00:00', '2001/01/01 24:00', '2001/01/01 06:60', '2001/01/01 06:55 ', '2001/01/01 06:55:00',
      '01/01/2001 06:55', '2001-01-01 06:55', '2001/01/01', '']) {
      assert.equal(p.parse(bad), undefined, bad);
    }
    assert.equal(compileTimePattern('%Y-%m-%dT%H:%M%z').parse('2024-01-01T00:00+16:00'), undefined, 'no zone beyond 15 hours');
    assert.equal(compileTimePattern('%d %b %Y').parse('01 Foo 2024'), undefined);
    assert.equal(compileTimePattern('%I:%M %p %Y-%m-%d').parse('13:00 PM 2024-01-01'), undefined);
  });

  test('unusable patterns and unknown names are usage errors', () => {
    const refused = (text: string, why: RegExp) => assert.throws(() => parseTimeFormat(text, '`time_format`'),
      (e: HyperfillError) => e.code === 'E_USAGE' && why.test(e.message));
    refused('%Y/%m %H:%M', /needs a year \(%Y\), a month \(%m, %b or %B\) and a day \(%d\)/);
    refused('%Y-%m-%d %Q', /%Q is not a directive it knows/);
    refused('%Y-%m-%d %H:%M:%S.%f %', /ends in a lone %/);
    refused('%Y-%m-%d %I:%M', /%I \(hour 1-12\) and %p \(AM\/PM\) go together/);
    refused('%Y-%m-%d %Y', /%Y appears twice/);
    refused('epoch_minutes', /must be one of auto, iso, epoch_s, epoch_ms, epoch_us or a pattern/);
    assert.deepEqual(parseTimeFormat('EPOCH_MS', 'x'), { kind: 'epoch', unit: 'ms' });
    assert.deepEqual(parseTimeFormat(undefined, 'x'), { kind: 'auto' });
  });

  test('patterns that sort as text, and their bounds in full width', () => {
    assert.equal(compileTimePattern('%Y-%m-%d %H:%M').sortable, true);
    assert.equal(compileTimePattern('%Y%m%dT%H%M%S.%f').sortable, true);
    assert.equal(compileTimePattern('%d/%m/%Y %H:%M').sortable, false);
    assert.equal(compileTimePattern('%Y-%m-%d %H:%M%z').sortable, false);
    const p = compileTimePattern('%Y/%m/%d %H:%M:%S.%f');
    assert.equal(p.format(us('2001-02-03T04:05:06Z') + 7_000n, 3), '2001/02/03 04:05:06.007');
    assert.match('2001/02/03 04:05:06.007', new RegExp(p.fullWidth(3)));
    assert.doesNotMatch('2001/2/03 04:05:06.007', new RegExp(p.fullWidth(3)));
    assert.equal(p.grid(3), 1000n);
    assert.equal(compileTimePattern('%Y-%m-%d %H:%M').grid(0), 60_000_000n);
  });

  test('epoch numbers are exact: fractions of seconds and milliseconds, exponents, whole microseconds', () => {
    assert.equal(epochMicros('1700000000', 's'), 1_700_000_000_000_000n);
    assert.equal(epochMicros('1700000000.5', 's'), 1_700_000_000_500_000n);
    assert.equal(epochMicros('1700000000.0000005', 's'), 1_700_000_000_000_001n, 'half a microsecond rounds up');
    assert.equal(epochMicros('1700000000123.25', 'ms'), 1_700_000_000_123_250n);
    assert.equal(epochMicros('1.7E+12', 'ms'), 1_700_000_000_000_000n, 'Decimal128 prints exponents');
    assert.equal(epochMicros('-1.5', 's'), -1_500_000n);
    assert.equal(epochMicros('1700000000000000', 'us'), 1_700_000_000_000_000n);
    assert.equal(epochMicros('1.5', 'us'), undefined, 'microseconds are whole');
    assert.equal(epochMicros('12abc', 'ms'), undefined);
    assert.equal(scaledDecimal('0.000001', 6), 1n);
  });

  test('in a URL a pattern is taken as written, an encoded one decoded', () => {
    assert.equal(timeFormatParam('%Y/%m/%d %H:%M'), '%Y/%m/%d %H:%M');
    assert.equal(timeFormatParam(encodeURIComponent('%Y/%m/%d %H:%M')), '%Y/%m/%d %H:%M');
    assert.equal(timeFormatParam('epoch_ms'), 'epoch_ms');
  });
});

describe('sources with time_format into PostgreSQL', () => {
  let pgServer: PostgresServer;
  let wire: MongoWireServer;
  let dir: string;

  before(async () => {
    [pgServer, wire] = await Promise.all([startPostgres(), startMongoWireServer()]);
    dir = mkdtempSync(join(tmpdir(), 'hyperfill-time-format-'));
  });
  after(async () => {
    await Promise.all([pgServer?.stop(), wire?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs SQL on `database` in a UTC session, every value as the text PostgreSQL prints. */
  async function sql(database: string, text: string, params: unknown[] = []): Promise<Array<Record<string, string>>> {
    const client = new pg.Client({ connectionString: pgServer.url(database), options: '-c TimeZone=UTC' });
    await client.connect();
    try {
      return (await client.query({ text, values: params, types: { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig })).rows;
    } finally {
      await client.end();
    }
  }

  /** schema --apply, then backfill everything before `until`; the target's rows as text in UTC. `time`: --time-column. */
  async function load(database: string, source: string, table: string, until: string, time: string[] = [], extra: string[] = []): Promise<Array<Record<string, string>>> {
    const target = await pgServer.createDatabase(database);
    const ddl = await runMain(['schema', '--source', source, '--table', table, '--target', target, '--apply', '--plain', ...time]);
    assert.equal(ddl.code, 0, ddl.stderr);
    const run = await runMain(['backfill', '--source', source, '--table', table, '--target', target, '--until', until, '--allow-plain-target', ...time, ...extra]);
    assert.equal(run.code, 0, run.stderr);
    const name = table.includes('.') ? table.split('.').pop()! : table;
    return sql(database, `SELECT * FROM "${name}" ORDER BY 1`);
  }

  /** PostgreSQL's own reading of `texts` with `format` (to_timestamp), at UTC, as text. */
  async function postgresReads(texts: string[], format: string): Promise<string[]> {
    return (await sql('postgres', `SELECT to_timestamp(t, $$${format}$$)::text AS t FROM unnest($1::text[]) t ORDER BY 1`, [texts])).map((row) => row.t!);
  }

  const FLIGHTS = [
    { date: '2001/01/01 06:55', delay: -3, origin: 'SAN' },
    { date: '2001/01/01 07:05', delay: 5, origin: 'LAX' },
    { date: '2001/01/02 18:30', delay: 0, origin: 'SFO' },
    { date: '2001/02/28 23:59', delay: 12, origin: 'SEA' },
  ];

  test('JSON: vega flights times ("2001/01/01 06:55") with time_format=%Y/%m/%d %H:%M', async () => {
    const file = join(dir, 'flights.json');
    writeFileSync(file, JSON.stringify(FLIGHTS));
    const refused = await runMain(['schema', '--source', `json:${file}`, '--table', 'flights']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /E_TIME_COLUMN_REQUIRED: the time field of flights is not known/);
    assert.match(refused.stderr, /time_format says how the times are written \(epoch_ms for numbers, a pattern like %Y\/%m\/%d %H:%M for strings\)/);
    const source = `json:${file}?time_format=%Y/%m/%d %H:%M`;
    const rows = await load('json_flights', source, 'flights', '2002-01-01T00:00:00Z');
    assert.deepEqual(rows.map((r) => String(r.date)), await postgresReads(FLIGHTS.map((f) => f.date), 'YYYY/MM/DD HH24:MI'));
    assert.deepEqual(rows.map((r) => r.origin), ['SAN', 'LAX', 'SFO', 'SEA']);
    // The same, with the pattern percent-encoded as a URL library writes it.
    const encoded = await load('json_flights_encoded', `json:${file}?time_format=${encodeURIComponent('%Y/%m/%d %H:%M')}`, 'flights', '2002-01-01T00:00:00Z');
    assert.deepEqual(encoded, rows);
  });

  test('JSON: a value the pattern does not read stops the run, naming its line', async () => {
    const file = join(dir, 'ragged.ndjson');
    writeFileSync(file, `${JSON.stringify(FLIGHTS[0])}\n${JSON.stringify({ ...FLIGHTS[1], date: '2001/02/30 07:05' })}\n`);
    const target = await pgServer.createDatabase('json_ragged');
    await pgServer.query('CREATE TABLE flights (date timestamptz NOT NULL, delay int, origin text)', [], 'json_ragged');
    const run = await runMain(['backfill', '--source', `json:${file}?time_format=%Y/%m/%d %H:%M&sampleSize=1`, '--table', 'flights', '--target', target,
      '--until', '2002-01-01T00:00:00Z', '--allow-plain-target']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /E_TIME_COLUMN_TYPE: document 2 \(line 2\) of .*ragged\.ndjson has "2001\/02\/30 07:05" in time field "date", which time_format=%Y\/%m\/%d %H:%M does not read/);
  });

  test('JSON: epoch_ms and epoch_s numbers become timestamptz, fractions exact', async () => {
    const file = join(dir, 'ticks.ndjson');
    const ticks = [{ t: 1700000000000, v: 1 }, { t: 1700000000500.25, v: 2 }, { t: 1700000060000, v: 3 }];
    writeFileSync(file, ticks.map((d) => JSON.stringify(d)).join('\n'));
    const rows = await load('json_ticks', `json:${file}?time_format=epoch_ms`, 'ticks', '2024-01-01T00:00:00Z', ['--time-column', 't']);
    const expected = await sql('postgres', `SELECT (timestamptz 'epoch' + v * interval '1 millisecond')::text AS t FROM unnest($1::numeric[]) v ORDER BY 1`,
      [ticks.map((d) => String(d.t))]);
    assert.deepEqual(rows.map((r) => String(r.t)), expected.map((r) => r.t));
    assert.match(String(rows[1]!.t), /\.50025\+00$/);
    const seconds = join(dir, 'seconds.ndjson');
    writeFileSync(seconds, [{ t: 1700000000.5, v: 1 }, { t: 1700000001, v: 2 }].map((d) => JSON.stringify(d)).join('\n'));
    const s = await load('json_seconds', `json:${seconds}?time_format=epoch_s`, 'seconds', '2024-01-01T00:00:00Z', ['--time-column', 't']);
    assert.deepEqual(s.map((r) => String(r.t)), ['2023-11-14 22:13:20.5+00', '2023-11-14 22:13:21+00']);
  });

  test('MongoDB: string times in a pattern that sorts as text; windows are string ranges on the server', async () => {
    const docs = Array.from({ length: 48 }, (_, i) => {
      const d = new Date(Date.UTC(2024, 0, 1, i));
      const text = `${d.getUTCFullYear()}/${String(d.getUTCMonth() + 1).padStart(2, '0')}/${String(d.getUTCDate()).padStart(2, '0')} ${String(d.getUTCHours()).padStart(2, '0')}:00`;
      return { when: text, n: i };
    });
    wire.insert('app', 'hourly', docs);
    const base = `${wire.url.replace('/?', '/app?')}&hyperfill.time_format=%Y/%m/%d %H:%M`;
    const rows = await load('mongo_hourly', base, 'hourly', '2024-01-02T12:00:00Z', [], ['--window', '6h']);
    assert.equal(rows.length, 36, 'every hour before --until, each once');
    assert.deepEqual(rows.map((r) => String(r.when)), await postgresReads(docs.slice(0, 36).map((d) => d.when), 'YYYY/MM/DD HH24:MI'));
    const verify = await runMain(['verify', '--source', base, '--table', 'hourly', '--target', pgServer.url('mongo_hourly'), '--until', '2024-01-02T12:00:00Z', '--window', '6h']);
    assert.equal(verify.code, 0, verify.stderr);
    // A pattern that does not sort as text cannot select windows on the server.
    wire.insert('app', 'european', [{ when: '31/01/2024 10:00', n: 1 }]);
    const unsorted = await runMain(['schema', '--source', `${wire.url.replace('/?', '/app?')}&hyperfill.time_format=%d/%m/%Y %H:%M`, '--table', 'european', '--time-column', 'when']);
    assert.equal(unsorted.code, 1);
    assert.match(unsorted.stderr, /E_TIME_FORMAT: time_format=%d\/%m\/%Y %H:%M does not sort as text, and the server compares time field "when" of app\.european as strings/);
    // Nor can values written in varying widths.
    wire.insert('app', 'ragged', [{ when: '2024/01/01 10:00', n: 1 }, { when: '2024/1/2 10:00', n: 2 }]);
    const ragged = await runMain(['schema', '--source', base, '--table', 'ragged', '--time-column', 'when']);
    assert.equal(ragged.code, 1);
    assert.match(ragged.stderr, /E_TIME_FORMAT: time field "when" of app\.ragged holds "2024\/01\/01 10:00" and "2024\/1\/2 10:00": not all written in the same full width/);
  });

  test('MongoDB: epoch_s numbers of every BSON kind, windows bounded exactly between whole seconds', async () => {
    const t0 = 1_700_000_000; // 2023-11-14 22:13:20 UTC
    wire.insert('app', 'epochs', [
      { t: new Double(t0 - 0.5), v: 'before' }, { t: new Int32(t0), v: 'int' }, { t: Long.fromNumber(t0 + 1), v: 'long' },
      { t: new Double(t0 + 1.25), v: 'double' }, { t: Decimal128.fromString(`${t0 + 2}.75`), v: 'decimal' }, { t: new Double(t0 + 3600), v: 'later' },
    ]);
    const source = `${wire.url.replace('/?', '/app?')}&hyperfill.time_format=epoch_s`;
    // --from a quarter second before t0 and windows of 10 minutes: bounds between whole seconds.
    const rows = await load('mongo_epochs', source, 'epochs', '2023-11-14T22:43:20Z', ['--time-column', 't'], ['--window', '10m', '--from', '2023-11-14T22:13:19.75Z']);
    assert.deepEqual(rows.map((r) => [String(r.t), r.v]), [
      ['2023-11-14 22:13:20+00', 'int'], ['2023-11-14 22:13:21+00', 'long'], ['2023-11-14 22:13:21.25+00', 'double'], ['2023-11-14 22:13:22.75+00', 'decimal'],
    ], '--from leaves out the document half a second before t0; --until the one an hour later');
  });

  test('CSV: a pattern of its own, zones, and the type it gives the column', async () => {
    const csv = join(dir, 'readings.csv');
    writeFileSync(csv, 'at,site,v\n07.03.2024 10:00,a,1\n07.03.2024 11:30,b,2\n08.03.2024 00:15,a,3\n');
    const rows = await load('csv_pattern', `csv://${csv}?time_format=%d.%m.%Y %H:%M`, 'readings', '2025-01-01T00:00:00', ['--time-column', 'at']);
    const expected = await postgresReads(['07.03.2024 10:00', '07.03.2024 11:30', '08.03.2024 00:15'], 'DD.MM.YYYY HH24:MI');
    assert.deepEqual(rows.map((r) => String(r.at)), expected.map((t) => t.replace(/\+00$/, '')), 'read at UTC, stored as the wall clock');
    const columns = await sql('csv_pattern', `SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'readings'::regclass AND attname = 'at'`);
    assert.equal(columns[0]?.t, 'timestamp without time zone', 'no %z: the wall clock, as for ISO text without a zone');
    const zoned = join(dir, 'zoned.csv');
    writeFileSync(zoned, 'at,v\n07.03.2024 10:00 +0530,1\n07.03.2024 10:00 Z,2\n');
    const z = await load('csv_zoned', `csv://${zoned}?time_format=%d.%m.%Y %H:%M %z`, 'zoned', '2025-01-01T00:00:00Z', ['--time-column', 'at']);
    assert.deepEqual(z.map((r) => String(r.at)), ['2024-03-07 04:30:00+00', '2024-03-07 10:00:00+00']);
    const typed = await runMain(['schema', '--source', `csv://${csv}?time_format=%d.%m.%Y %H:%M&types=at:timestamptz`, '--table', 'readings', '--time-column', 'at']);
    assert.equal(typed.code, 1);
    assert.match(typed.stderr, /E_TIME_COLUMN_TYPE: time column "at" is typed timestamptz, but time_format=%d\.%m\.%Y %H:%M has no zone \(%z\)/);
    const wrong = await runMain(['schema', '--source', `csv://${csv}?time_format=%Y-%m-%d %H:%M`, '--table', 'readings', '--time-column', 'at']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /E_TIME_COLUMN_TYPE: time column "at" holds "07\.03\.2024 10:00", which time_format=%Y-%m-%d %H:%M does not read/);
  });

  test('the --time-column hint lists only the columns that can be the time column', async () => {
    await pgServer.createDatabase('hints');
    await pgServer.query('CREATE TABLE plain (host text, created timestamptz, day date, n bigint, note text, ratio float8)', [], 'hints');
    const postgres = await runMain(['schema', '--source', pgServer.url('hints'), '--table', 'plain']);
    assert.equal(postgres.code, 1);
    assert.match(postgres.stderr, /E_TIME_COLUMN_REQUIRED: source table public\.plain is not a hypertable[^]*hint: name it with --time-column \(one of: created, day, n\)\n/);
    await pgServer.query('CREATE TABLE words (host text, note text)', [], 'hints');
    const none = await runMain(['schema', '--source', pgServer.url('hints'), '--table', 'words']);
    assert.match(none.stderr, /hint: it has no timestamp, date or integer column to be the time column/);
    const csv = join(dir, 'hosts.csv');
    writeFileSync(csv, 'host,at,n\na,07.03.2024 10:00,1\nb,07.03.2024 11:00,2\n');
    const files = await runMain(['schema', '--source', `csv://${csv}`, '--table', 'hosts']);
    assert.equal(files.code, 1);
    assert.match(files.stderr, /no column of the CSV files holds ISO timestamps in the sample[^]*hint: name it with --time-column \(one of: n\)/);
    const docs = join(dir, 'docs.ndjson');
    writeFileSync(docs, `${JSON.stringify({ host: 'a', at: '2024-03-07T10:00:00Z', seen: { $date: '2024-03-07T10:00:00Z' }, n: 1, ratio: 0.5 })}\n` +
      `${JSON.stringify({ host: 'b', at: '2024-03-07T11:00:00Z', seen: { $date: '2024-03-07T11:00:00Z' }, n: 2, ratio: 1.5 })}\n`);
    wire.insert('app', 'docs', [{ host: 'a', at: '2024-03-07T10:00:00Z', seen: new Date(), n: 1, ratio: 0.5 }, { host: 'b', at: '2024-03-07T11:00:00Z', seen: new Date(), n: 2, ratio: 1.5 }]);
    for (const source of [`json:${docs}?time_format=iso`, `${wire.url.replace('/?', '/app?')}&hyperfill.time_format=iso`]) {
      const run = await runMain(['schema', '--source', source, '--table', 'docs']);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /hint: name it with --time-column \(one of: at, seen\)/, source);
    }
  });
});
