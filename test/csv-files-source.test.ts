/**
 * CSV files as a backfill source (connectors/csv-files): a glob over three files, one
 * gzipped, one with CRLF line ends, quoted delimiters, newlines, quotes, backslashes
 * and tabs, NULL versus '', times in several ISO spellings; backfill bounded by
 * --until into real PostgreSQL, exactly the rows before T, in one window or several;
 * verify; and the errors a user meets (a bad time value, a header that differs). What the
 * target should hold is what PostgreSQL's own COPY (FORMAT csv) makes of the same files.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { acceptsCsvUrl, parseCsvFilesUrl } from '../connectors/csv-files/config.js';
import { CsvFieldParser } from '../connectors/csv-files/csv-fields.js';
import { expandGlob } from '../connectors/csv-files/glob.js';
import { CsvFilesSource } from '../connectors/csv-files/source.js';
import { readIso } from '../connectors/csv-files/time-text.js';
import { serverCopy } from './helpers/pg-copy.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';

let server: PostgresServer;
let dir: string;
const UNTIL = '2024-01-04T00:00:00Z';
const START = Date.UTC(2024, 0, 1);
const ROWS = 1800;
const STEP_MS = 5 * 60_000;
const DDL = 'CREATE TABLE metrics (time timestamptz NOT NULL, host text, cpu double precision, note text, flag boolean, id bigint)';

interface Row {
  id: number;
  ms: number;
  time: string;
  host: string;
  cpu: number | null;
  note: string | null;
  flag: boolean | null;
}

/** Row i, with the time written in one of several ISO spellings of the same instant. */
function row(i: number): Row {
  const ms = START + i * STEP_MS;
  const iso = new Date(ms).toISOString();
  const spellings = [
    iso,
    iso.replace('T', ' ').replace('.000Z', '+00'),
    new Date(ms + 3_600_000).toISOString().replace('.000Z', '+01:00'),
    iso.replace('.000Z', '.000000Z'),
  ];
  const notes = [null, '', 'plain', 'a, "quoted" one', 'two\nlines', 'back\\slash and\ttab', 'ünïcödé ✓'];
  return {
    id: i, ms, time: spellings[i % spellings.length]!, host: `host_${i % 7}`,
    cpu: i % 11 === 0 ? null : Math.round(i * 37.5) / 100, note: notes[i % notes.length]!, flag: i % 5 === 0 ? null : i % 2 === 0,
  };
}

function csvField(v: string | null): string {
  if (v === null) return '';
  return /[",\n\r]/.test(v) || v === '' ? `"${v.replace(/"/g, '""')}"` : v;
}

function csv(rows: Row[], eol = '\n'): string {
  const lines = ['time,host,cpu,note,flag,id'];
  for (const r of rows) lines.push([r.time, r.host, r.cpu === null ? null : String(r.cpu), r.note, r.flag === null ? null : String(r.flag), String(r.id)].map(csvField).join(','));
  return lines.join(eol) + eol;
}

const all = Array.from({ length: ROWS }, (_, i) => row(i));
let glob: string;

before(async () => {
  server = await startPostgres();
  dir = mkdtempSync(join(tmpdir(), 'hyperfill-csv-files-'));
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'data', 'metrics-1.csv'), csv(all.slice(0, 600)));
  writeFileSync(join(dir, 'data', 'metrics-2.csv'), csv(all.slice(600, 1200), '\r\n'));
  writeFileSync(join(dir, 'data', 'metrics-3.csv.gz'), gzipSync(csv(all.slice(1200))));
  writeFileSync(join(dir, 'data', 'other-1.csv'), 'time,x\n2024-01-01T00:00:00Z,1\n');
  glob = `csv://${join(dir, 'data')}/metrics-*.csv*`;
  // The same bytes through PostgreSQL's own CSV COPY: the rows a backfill must produce.
  await server.query(DDL.replace('metrics', 'staged'));
  for (const file of ['metrics-1.csv', 'metrics-2.csv', 'metrics-3.csv.gz']) {
    const bytes = readFileSync(join(dir, 'data', file));
    await serverCopy(server.url(), 'COPY staged FROM STDIN (FORMAT csv, HEADER true)', file.endsWith('.gz') ? gunzipSync(bytes) : bytes);
  }
});

const COLUMNS = `(extract(epoch FROM time) * 1000)::bigint::text AS ms, host, cpu, note, flag, id::int AS id`;

/** Rows before T as PostgreSQL's COPY read them from the fixture files. */
async function stagedBeforeT(): Promise<unknown[]> {
  return (await server.query(`SELECT ${COLUMNS} FROM staged WHERE time < $1 ORDER BY id`, [UNTIL])).rows;
}
after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function target(name: string): Promise<string> {
  const url = await server.createDatabase(name);
  await server.query(DDL, [], name);
  return url;
}

const backfill = (source: string, url: string, ...extra: string[]) => runMain(['backfill', '--source', source, '--target', url, '--table', 'metrics',
  '--time-column', 'time', '--until', UNTIL, '--allow-plain-target', ...extra]);

/** The target holds exactly the rows before T that PostgreSQL's COPY reads from the files (and what dual-write put at or after T). */
async function assertExactlyBeforeT(db: string): Promise<void> {
  const expected = await stagedBeforeT();
  assert.equal(expected.length, all.filter((r) => r.ms < Date.parse(UNTIL)).length, 'the staged reference holds the rows the files were written with');
  const got = await server.query(`SELECT ${COLUMNS} FROM metrics WHERE time < $1 ORDER BY id`, [UNTIL], db);
  assert.deepEqual(got.rows, expected, 'every row before T, once, as PostgreSQL reads it');
  const late = await server.query(`SELECT count(*)::int AS n FROM metrics WHERE time >= $1 AND id <> -1`, [UNTIL], db);
  assert.equal(late.rows[0].n, 0, 'no row at or after T was copied');
}

test('the parser keeps PostgreSQL CSV rules: quoted delimiters and newlines, "" versus NULL, CRLF, escapes', () => {
  const p = new CsvFieldParser({ delimiter: ',', quote: '"', escape: '"', nullString: '' }, 'x.csv');
  const text = 'a,b,c\r\n1,"x,\n""y""",\n\n2,"",z\n3,4';
  const records = [];
  // Byte by byte: a record split anywhere across chunks comes out whole.
  for (const byte of Buffer.from(text)) records.push(...p.push(Buffer.from([byte])));
  records.push(...p.end());
  assert.deepEqual(records.map((r) => [r.fields, r.line]), [
    [['a', 'b', 'c'], 1], [['1', 'x,\n"y"', null], 2], [['2', '', 'z'], 5], [['3', '4'], 6],
  ]);
  const backslash = new CsvFieldParser({ delimiter: ';', quote: "'", escape: '\\', nullString: 'NA' }, 'y.csv');
  assert.deepEqual(backslash.push(Buffer.from("'it\\'s';NA;'NA'\n"))[0]?.fields, ["it's", null, 'NA']);
  assert.throws(() => {
    const q = new CsvFieldParser({ delimiter: ',', quote: '"', escape: '"', nullString: '' }, 'z.csv');
    q.push(Buffer.from('a,b\n1,"open\n'));
    q.end();
  }, (err: Error & { code?: string; context?: { line?: number } }) => err.code === 'E_CSV_UNTERMINATED_QUOTE' && err.context?.line === 2);
  // Bytes that are not UTF-8 would reach PostgreSQL altered: an error, not U+FFFD.
  const latin1 = new CsvFieldParser({ delimiter: ',', quote: '"', escape: '"', nullString: '' }, 'l.csv');
  latin1.push(Buffer.from('a,b\n'));
  assert.throws(() => latin1.push(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2c, 0x31, 0x0a])), /E_CSV_ENCODING|not UTF-8/);
});

test('times: ISO spellings of one instant read alike; zoneless timestamptz refused; epoch numbers exact', () => {
  const micros = BigInt(Date.UTC(2024, 0, 1, 12)) * 1000n;
  for (const t of ['2024-01-01T12:00:00Z', '2024-01-01 12:00:00+00', '2024-01-01T13:00:00+01:00', '2024-01-01T13:00+0100', '2024-01-01 12:00:00.000000Z']) {
    assert.equal(readIso(t, 'zoned'), micros, t);
  }
  assert.equal(readIso('2024-01-01T12:00:00.1234565Z', 'zoned'), micros + 123457n, 'fraction rounded to microseconds');
  assert.equal(readIso('2024-01-01 12:00:00', 'zoned'), undefined);
  assert.equal(readIso('2024-01-01 12:00:00-05', 'local'), micros, 'a timestamp ignores a written zone, as PostgreSQL does');
  assert.equal(readIso('2023-02-29', 'instant'), undefined);
});

test('URLs: csv:, tsv:, file: and bare paths; options; `?` as a glob character; a glob with **', async () => {
  assert.ok(acceptsCsvUrl('csv:///data/*.csv.gz') && acceptsCsvUrl('file:///d/a.csv') && acceptsCsvUrl('./a.tsv.gz') && acceptsCsvUrl('tsv:x'));
  assert.ok(!acceptsCsvUrl('file:///d/a.json') && !acceptsCsvUrl('postgres://h/db'));
  const c = parseCsvFilesUrl('csv:///data/m-?.csv?header=false&columns=t,v&delimiter=%3B&null=NA&time_format=epoch_ms&sample=0&types=v:real');
  assert.equal(c.pattern, '/data/m-?.csv');
  assert.deepEqual([c.header, c.columns, c.dialect.delimiter, c.dialect.nullString, c.timeFormat, c.sample, c.types.get('v')],
    [false, ['t', 'v'], ';', 'NA', { kind: 'epoch', unit: 'ms' }, Infinity, 'real']);
  assert.equal(parseCsvFilesUrl('tsv:rel/x.tsv').dialect.delimiter, '\t');
  assert.throws(() => parseCsvFilesUrl('csv:///d/*.csv?colour=red'), /unknown CSV source option "colour"/);
  assert.throws(() => parseCsvFilesUrl('csv:///d/*.csv?types=v:int);drop table x'), /column:type pairs/);
  const found = await expandGlob(join(dir, '**', 'metrics-?.csv*'));
  assert.deepEqual(found.map((f) => f.slice(dir.length)), ['/data/metrics-1.csv', '/data/metrics-2.csv', '/data/metrics-3.csv.gz']);
});

test('describe infers types and the time column; count and extent scan the files', async () => {
  const source = new CsvFilesSource(parseCsvFilesUrl(glob));
  try {
    const info = await source.describe('metrics');
    assert.deepEqual(info.columns.map((c) => [c.name, c.pgType]), [
      ['time', 'timestamp with time zone'], ['host', 'text'], ['cpu', 'double precision'], ['note', 'text'], ['flag', 'boolean'], ['id', 'bigint'],
    ]);
    assert.equal(info.timeColumn, 'time');
    assert.equal(info.files.length, 3);
    assert.match(info.notes.join('\n'), /time column "time".*first column holding timestamps/);
    const wide = { start: 0n, end: BigInt(Date.parse('2030-01-01')) * 1000n };
    assert.deepEqual(await source.extent(info, wide), { start: BigInt(START) * 1000n, end: BigInt(START + (ROWS - 1) * STEP_MS) * 1000n });
    assert.equal(await source.count(info, { start: 0n, end: BigInt(Date.parse(UNTIL)) * 1000n }), 864);
    assert.equal(await source.estimateRows(info, wide), ROWS, 'exact once the files were scanned');
    assert.deepEqual(await source.sampleDistinct(info, 'host', 100_000), { rows: 1000, distinct: 7 });

    // Once scanned, files outside a window are skipped and files inside it are counted without reading.
    const scanned: string[] = [];
    const self = source as unknown as { scan: (info: unknown, file: string) => AsyncGenerator<unknown> };
    const scan = self.scan.bind(source);
    self.scan = (i, file) => {
      scanned.push(file.slice(dir.length));
      return scan(i, file);
    };
    const firstFile = { start: 0n, end: BigInt(START + 600 * STEP_MS) * 1000n };
    assert.equal(await source.count(info, firstFile), 600);
    assert.deepEqual(scanned, [], 'counted from what the first scan remembered');
    const read = await source.read({ table: info, window: { start: 0n, end: BigInt(START + 10 * STEP_MS) * 1000n }, columns: ['id'], targetTypes: ['bigint'] });
    let text = '';
    for await (const chunk of read.stream) text += chunk;
    assert.equal(text, Array.from({ length: 10 }, (_, i) => `${i}\n`).join(''));
    assert.deepEqual(scanned, ['/data/metrics-1.csv'], 'only the file the window overlaps is read');
  } finally {
    await source.close();
  }
});

test('backfill copies exactly the rows before T from a glob of CSV files (one gzipped); verify matches', async () => {
  const url = await target('target_one');
  await server.query(`INSERT INTO metrics VALUES ($1, 'dual-write', 1, 'after T', true, -1)`, [UNTIL], 'target_one');
  const run = await backfill(glob, url);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /public\.metrics\s+1\s+864\s+0/, 'one window, 864 rows, nothing replaced');
  assert.match(run.stderr, /CSV files have no snapshot/);
  await assertExactlyBeforeT('target_one');
  const kept = await server.query(`SELECT count(*)::int AS n FROM metrics WHERE id = -1`, [], 'target_one');
  assert.equal(kept.rows[0].n, 1, 'the dual-written row at T is untouched');
  const verify = await runMain(['verify', '--source', glob, '--target', url, '--table', 'metrics', '--time-column', 'time', '--until', UNTIL]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.match(verify.stdout, /source and target match; source 864 rows, target 864 rows/);
  // A rerun is a no-op (the window is done); a rerun with another run id replaces the rows, not duplicates them.
  const again = await backfill(glob, url, '--run-id', 'second');
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /public\.metrics\s+1\s+864\s+864/);
  await assertExactlyBeforeT('target_one');
});

test('--window 1d: several windows in parallel, the same rows', async () => {
  const url = await target('target_windows');
  const run = await backfill(glob, url, '--window', '1d', '--parallel', '2', '--from', '2024-01-01T00:00:00Z');
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /public\.metrics\s+3\s+864\s+0/);
  await assertExactlyBeforeT('target_windows');
  const verify = await runMain(['verify', '--source', glob, '--target', url, '--table', 'metrics', '--time-column', 'time', '--until', UNTIL,
    '--window', '1d', '--from', '2024-01-01T00:00:00Z']);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});

test('epoch milliseconds with time_format=epoch_ms become timestamptz', async () => {
  const epochDir = join(dir, 'epoch');
  mkdirSync(epochDir);
  const lines = ['ts;host;id', ...all.slice(0, 900).map((r) => `${r.ms};${r.host};${r.id}`)];
  writeFileSync(join(epochDir, 'm.csv'), lines.join('\n'));
  const url = await server.createDatabase('target_epoch');
  await server.query('CREATE TABLE metrics (ts timestamptz NOT NULL, host text, id bigint)', [], 'target_epoch');
  const source = `csv://${epochDir}/*.csv?delimiter=%3B&time_format=epoch_ms`;
  const run = await runMain(['backfill', '--source', source, '--target', url, '--table', 'metrics', '--time-column', 'ts', '--until', UNTIL, '--allow-plain-target']);
  assert.equal(run.code, 0, run.stderr);
  await server.query('CREATE TABLE staged_epoch (ms bigint, host text, id bigint)');
  await serverCopy(server.url(), `COPY staged_epoch FROM STDIN (FORMAT csv, HEADER true, DELIMITER ';')`, { file: join(epochDir, 'm.csv') });
  const expected = await server.query(`SELECT to_timestamp(ms / 1000.0) AS ts, host, id FROM staged_epoch WHERE to_timestamp(ms / 1000.0) < $1 ORDER BY id`, [UNTIL]);
  const got = await server.query('SELECT ts, host, id FROM metrics ORDER BY id', [], 'target_epoch');
  assert.equal(expected.rowCount, 864);
  assert.deepEqual(got.rows, expected.rows);
});

test('read(): a stream with backpressure, rowsSent, an error mid-stream, and destroy closing the files', async () => {
  const source = new CsvFilesSource(parseCsvFilesUrl(glob));
  try {
    const info = await source.describe('metrics', 'time');
    const window = { start: BigInt(Date.UTC(2024, 0, 2)) * 1000n, end: BigInt(Date.UTC(2024, 0, 3)) * 1000n };
    const read = await source.read({ table: info, window, columns: ['id', 'time', 'note'], targetTypes: ['bigint', 'timestamptz', 'text'] });
    assert.equal(read.format, 'text');
    let text = '';
    for await (const chunk of read.stream) text += chunk;
    const lines = text.split('\n').filter(Boolean);
    assert.equal(lines.length, 288, 'one day of 5-minute rows');
    assert.equal(await read.rowsSent?.(), 288);
    assert.match(lines[3]!, /^291\t\S+\ttwo\\nlines$/, 'a newline in a value is escaped for text COPY');
    assert.equal(lines[4]!.split('\t')[2], 'back\\\\slash and\\ttab', 'so are a backslash and a tab');

    const partial = await source.read({ table: info, window: { start: 0n, end: window.end }, columns: ['id'], targetTypes: ['bigint'] });
    await new Promise<void>((resolve) => partial.stream.once('readable', resolve));
    partial.stream.destroy();
    await new Promise((resolve) => partial.stream.once('close', resolve));
    assert.equal(await partial.rowsSent?.(), undefined, 'a destroyed read reports no row count');
  } finally {
    await source.close();
  }
  // A file that went bad after planning: the stream fails, naming file and line.
  const lateDir = mkdtempSync(join(tmpdir(), 'hyperfill-csv-late-'));
  try {
    writeFileSync(join(lateDir, 'a.csv'), csv(all.slice(0, 10)));
    const late = new CsvFilesSource(parseCsvFilesUrl(`csv://${lateDir}/*.csv`));
    const info = await late.describe('metrics');
    const rows = all.slice(0, 10).map((r) => ({ ...r, note: 'x' }));
    rows[7]!.time = 'yesterday';
    writeFileSync(join(lateDir, 'a.csv'), csv(rows));
    const read = await late.read({ table: info, window: { start: 0n, end: 2n ** 62n }, columns: ['id'], targetTypes: ['bigint'] });
    await assert.rejects(async () => { for await (const _ of read.stream) { /* drain */ } },
      (err: Error & { code?: string; context?: Record<string, unknown> }) =>
        err.code === 'E_CSV_TIME_VALUE' && err.context?.file === join(lateDir, 'a.csv') && err.context?.line === 9 && /"yesterday"/.test(err.message));
  } finally {
    rmSync(lateDir, { recursive: true, force: true });
  }
});

test('a bad time value names the file, the line and the value; a differing header names the file', async () => {
  const badDir = join(dir, 'bad');
  mkdirSync(badDir);
  writeFileSync(join(badDir, 'a.csv'), csv(all.slice(0, 1500)));
  const rows = all.slice(1500, 1510).map((r) => ({ ...r }));
  rows[3]!.time = '2024-01-07 25:00:00Z';
  // The header is line 1; a note with a newline takes two lines.
  const line = 2 + rows.slice(0, 3).reduce((n, r) => n + (r.note?.split('\n').length ?? 1), 0);
  writeFileSync(join(badDir, 'b.csv'), csv(rows));
  const url = await target('target_bad');
  const run = await backfill(`csv://${badDir}/*.csv`, url);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /error E_CSV_TIME_VALUE: time value "2024-01-07 25:00:00Z" in column "time" is not an ISO timestamp with a time zone/);
  assert.ok(run.stderr.includes(`file=${join(badDir, 'b.csv')} line=${line}`), run.stderr);
  assert.doesNotMatch(run.stderr, /\n\s+at .*\.js:\d+/, 'no stack trace');
  const none = await server.query('SELECT count(*)::int AS n FROM metrics', [], 'target_bad');
  assert.equal(none.rows[0].n, 0, 'the window rolled back');

  // In the sample, the same mistake is caught by describe(), with the file and line too.
  writeFileSync(join(badDir, 'a.csv'), csv(rows));
  const early = await backfill(`csv://${badDir}/a.csv`, url);
  assert.equal(early.code, 1);
  assert.match(early.stderr, /E_TIME_COLUMN_TYPE: time column "time" looks like text; the sample has "2024-01-07 25:00:00Z"/);
  assert.ok(early.stderr.includes(`file=${join(badDir, 'a.csv')} line=${line}`), early.stderr);

  writeFileSync(join(badDir, 'b.csv'), csv(all.slice(0, 3)).replace('time,host', 'time,hostname'));
  writeFileSync(join(badDir, 'a.csv'), csv(all.slice(0, 3)));
  const header = await backfill(`csv://${badDir}/*.csv`, url);
  assert.equal(header.code, 1);
  assert.match(header.stderr, /E_CSV_HEADER_MISMATCH/);
  assert.ok(header.stderr.includes(`file=${join(badDir, 'b.csv')} line=1`), header.stderr);

  const missing = await backfill(`csv://${badDir}/nothing-*.csv`, url);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /E_INPUT_MISSING: no file matches .*nothing-\*\.csv/);
});
