/**
 * Failure paths of `hyperfill copy`: each ends in a clear error that names where,
 * exits non-zero without a stack trace, and leaves a state a rerun repairs.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';
import { tempDir } from './helpers/temp-dir.js';

let server: PostgresServer;
const dir = tempDir('fail');

before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
});

/** Rows `i,"text"`, every 10th one holding a quoted newline, so lines and rows diverge. */
function bigCsv(rows: number, badRow: number): { text: string; badLine: number } {
  const lines: string[] = ['id,v'];
  let line = 2;
  let badLine = 0;
  for (let i = 1; i <= rows; i++) {
    if (i === badRow) {
      badLine = line;
      lines.push(`not-a-number,"bad"`);
    } else lines.push(i % 10 === 0 ? `${i},"two\nlines"` : `${i},"v${i}"`);
    line += i % 10 === 0 && i !== badRow ? 2 : 1;
  }
  return { text: `${lines.join('\n')}\n`, badLine };
}

test('a bad row deep in a large file: the error names its exact line, column and the committed rows', async () => {
  await server.query('CREATE TABLE deep (id int, v text)');
  const { text, badLine } = bigCsv(200_000, 154_321);
  const file = join(dir, 'deep.csv');
  writeFileSync(file, text);
  const run = await runMain(['copy', '--connection', server.url(), '--table', 'deep', '--file', file, '--skip-header', '--batch-size', '5000', '--workers', '3']);
  assert.equal(run.code, 1);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, /^error E_BATCH_REJECTED: the target rejected line (\d+) of .*deep\.csv: invalid input syntax for type integer: "not-a-number"/);
  assert.equal(Number(/rejected line (\d+)/.exec(run.stderr)?.[1]), badLine);
  assert.match(run.stderr, new RegExp(`line=${badLine} row=154321 `));
  assert.match(run.stderr, /column=id/);
  assert.match(run.stderr, /the row reads: not-a-number,"bad"/);
  assert.doesNotMatch(run.stderr, /\n\s+at .*\.js:\d+/, 'no stack trace');
  const committedRows = Number(/already committed: (\d+) rows/.exec(run.stderr)?.[1]);
  const count = await server.query('SELECT count(*)::int AS n FROM deep');
  assert.equal(count.rows[0].n, committedRows, 'the message tells exactly how many rows are in the table');
  assert.ok(committedRows < 200_000);
});

test('usage errors name the flag and exit 2', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--table', 't', '--batch-size', '0'], /`--batch-size` must be greater than zero/],
    [['--table', 't', '--workers', 'x'], /`--workers` must be greater than zero/],
    [['--table', 't', '--copy-options', 'HEADER true'], /must not contain HEADER.*\n.*--skip-header/],
    [['--table', 't', '--split', ',,'], /`--split` must be one ASCII character/],
    [['--table', 't', '--format', 'json'], /`--format` must be csv or text/],
    [['--nope'], /unknown flag `--nope` for `hyperfill copy`/],
    [['--table', 't', '--skip-headr'], /unknown flag `--skip-headr` for `hyperfill copy`: did you mean `--skip-header`\?/],
    [[], /`--table` is required/],
  ];
  for (const [args, message] of cases) {
    const run = await runMain(['copy', '--connection', server.url(), ...args]);
    assert.equal(run.code, 2, args.join(' '));
    assert.match(run.stderr, message);
  }
});

test('a missing table or column is named before any input is read', async () => {
  await server.query('CREATE TABLE cols (id int, v text)');
  let run = await runMain(['copy', '--connection', server.url(), '--table', 'no_such'], '1,a\n');
  assert.equal(run.code, 1);
  assert.match(run.stderr, /E_TABLE_MISSING: table public\.no_such does not exist in postgres@127\.0\.0\.1:\d+\/postgres/);
  run = await runMain(['copy', '--connection', server.url(), '--table', 'cols', '--columns', 'id,nope'], '1,a\n');
  assert.match(run.stderr, /E_COLUMN_MISSING: table public\.cols has no column "nope"/);
});

test('an unreachable target is a clear error that never shows the password', async () => {
  const run = await runMain(['copy', '--connection', 'postgres://alice:s3cret-pw@127.0.0.1:1/db', '--table', 't', '--retry-timeout', '0s'], '1\n');
  assert.equal(run.code, 1);
  assert.match(run.stderr, /E_TARGET_UNREACHABLE: cannot connect to the target: .*ECONNREFUSED/);
  assert.match(run.stderr, /target=alice@127\.0\.0\.1:1\/db/);
  assert.doesNotMatch(run.stderr, /s3cret-pw/);
});

test('a missing input file and a damaged gzip are named', async () => {
  await server.query('CREATE TABLE g (id int)');
  let run = await runMain(['copy', '--connection', server.url(), '--table', 'g', '--file', join(dir, 'absent.csv')]);
  assert.match(run.stderr, /E_INPUT_MISSING: cannot open input: ENOENT/);
  const damaged = join(dir, 'damaged.gz');
  writeFileSync(damaged, Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5]));
  run = await runMain(['copy', '--connection', server.url(), '--table', 'g', '--file', damaged]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /E_GZIP_CORRUPT: the gzip stream is damaged/);
  assert.match(run.stderr, /file=.*damaged\.gz/);
});

test('a text-format end-of-data marker cannot silently drop rows: the error names its line', async () => {
  await server.query('CREATE TABLE marker (id int)');
  const input = '1\n2\n\\.\n3\n4\n';
  // One batch: the target takes rows 1-2, stops at the marker on line 3; the batch is rolled back.
  let run = await runMain(['copy', '--connection', server.url(), '--table', 'marker', '--format', 'text', '--workers', '1'], input);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^error E_ROW_COUNT_MISMATCH: the target stopped reading at line 3 of stdin: it took 2 of the batch's 5 rows, and the batch was rolled back\n/);
  assert.match(run.stderr, /\n {2}at: file=stdin line=3 row=3 batch=0\n/);
  assert.match(run.stderr, /\n {2}hint: the line reads: \\\.\n/);
  assert.match(run.stderr, /already committed: 0 rows \(nothing\)/);
  let count = await server.query('SELECT count(*)::int AS n FROM marker');
  assert.equal(count.rows[0].n, 0, 'the short batch was rolled back');
  // One row a batch: the rows before the marker are committed, and the message says which
  // (rows after it too when the second connection had already taken them: one commits while one copies).
  run = await runMain(['copy', '--connection', server.url(), '--table', 'marker', '--format', 'text', '--workers', '1', '--batch-size', '1'], input);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^error E_ROW_COUNT_MISMATCH: the target stopped reading at line 3 of stdin: it took 0 of the batch's 1 rows/);
  assert.match(run.stderr, /\n {2}at: file=stdin line=3 row=3 batch=2\n/);
  const said = /already committed: (\d+) rows \(stdin lines 1-2(?:, (line 4|lines 4-5|line 5))?\)/.exec(run.stderr);
  assert.ok(said, run.stderr);
  // Input lines 4 and 5 hold ids 3 and 4.
  const after = { 'line 4': [3], 'lines 4-5': [3, 4], 'line 5': [4] }[said[2] ?? ''] ?? [];
  count = await server.query('SELECT array_agg(id ORDER BY id) AS ids FROM marker');
  assert.deepEqual(count.rows[0].ids, [1, 2, ...after]);
  assert.equal(count.rows[0].ids.length, Number(said[1]));
});

test('a rejected first row that looks like a header says --skip-header; other rejected rows do not', async () => {
  await server.query('CREATE TABLE headed (time timestamptz, host text, v int)');
  const header = await runMain(['copy', '--connection', server.url(), '--table', 'headed'], 'time,host,v\n2024-01-01T00:00:00Z,h1,1\n');
  assert.equal(header.code, 1);
  assert.match(header.stderr, /E_BATCH_REJECTED: the target rejected line 1 of stdin: invalid input syntax for type timestamp with time zone: "time"/);
  assert.match(header.stderr, /hint: the row reads: time,host,v\n {2}hint: the first row looks like a header: --skip-header skips the first record of each input/);
  const quoted = await runMain(['copy', '--connection', server.url(), '--table', 'headed', '--split', ';'], '"time";"host";"v"\n');
  assert.match(quoted.stderr, /the first row looks like a header/);
  const notFirst = await runMain(['copy', '--connection', server.url(), '--table', 'headed'], '2024-01-01T00:00:00Z,h1,1\ntime,host,v\n');
  assert.equal(notFirst.code, 1);
  assert.match(notFirst.stderr, /the row reads: time,host,v/);
  assert.doesNotMatch(notFirst.stderr, /looks like a header/);
  const data = await runMain(['copy', '--connection', server.url(), '--table', 'headed'], '2024-01-01T00:00:00Z,h1,one\n');
  assert.equal(data.code, 1);
  assert.doesNotMatch(data.stderr, /looks like a header/, 'a row with a time in it is data');
  const skipped = await runMain(['copy', '--connection', server.url(), '--table', 'headed', '--skip-header'], 'time,host,v\n2024-01-01T00:00:00Z,h1,1\n');
  assert.equal(skipped.code, 0, skipped.stderr);
});

test('the row a rejection shows has NUL bytes and invalid UTF-8 escaped, never raw', async () => {
  await server.query('CREATE TABLE bytes (id int, v text)');
  const cases: Array<[Buffer, string]> = [
    [Buffer.concat([Buffer.from('1,abc'), Buffer.from([0]), Buffer.from('def\n')]), '1,abc\\x00def'],
    [Buffer.concat([Buffer.from('2,ab'), Buffer.from([0xff]), Buffer.from('cd é\n')]), '2,ab\\xffcd é'],
    [Buffer.concat([Buffer.from('3,x'), Buffer.from([0xc0, 0xaf, 0xed, 0xa0, 0x80]), Buffer.from('\n')]), '3,x\\xc0\\xaf\\xed\\xa0\\x80'],
  ];
  for (const [input, shown] of cases) {
    const run = await runMain(['copy', '--connection', server.url(), '--table', 'bytes'], input);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /E_BATCH_REJECTED: the target rejected line 1 of stdin: invalid byte sequence for encoding "UTF8"/);
    assert.ok(run.stderr.includes(`hint: the row reads: ${shown}\n`), run.stderr);
    assert.doesNotMatch(run.stderr, /[\x00\ufffd]/, 'no raw NUL, no replacement character');
  }
});
