/**
 * Where binary encoding steps aside: a value the encoder does not recognise sends its
 * batch as text (and only that batch); a value the server refuses is named by its input
 * line and column, as on the text path, whether the encoder declined it or the server
 * refused the binary form; what --encoding auto, binary and text choose for columns
 * without an encoder and for COPY options the encoder does not read.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { copyBytes } from '../src/pg/copy-bytes.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';
import pg from 'pg';

let server: PostgresServer;
let client: pg.Client;

before(async () => {
  server = await startPostgres();
  client = new pg.Client({ connectionString: server.url() });
  await client.connect();
});
after(async () => {
  await client?.end();
  await server?.stop();
});

/** Rows of (time, host, cpu, n), one line each; `odd` replaces the time of row `at`. */
function metrics(rows: number, at: number, odd: string): string {
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) {
    const time = i === at ? odd : new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString();
    lines.push(`${time},host_${i % 7},${(i * 0.37).toFixed(2)},${i}`);
  }
  return `${lines.join('\n')}\n`;
}

async function table(name: string): Promise<void> {
  await client.query(`DROP TABLE IF EXISTS ${name}; CREATE TABLE ${name} (time timestamptz, host text, cpu float8, n int)`);
}

async function contents(name: string): Promise<unknown[]> {
  return (await client.query(`SELECT n, time, host, float8send(cpu) AS cpu FROM ${name} ORDER BY n`)).rows;
}

test('an unrecognised value mid-batch sends that batch as text, the others as binary; the table equals COPY', async () => {
  // 'epoch' is a valid timestamptz the encoder leaves to the server.
  const input = metrics(10_000, 4321, 'epoch');
  await table('expected');
  await copyBytes(client, 'COPY expected FROM STDIN (FORMAT csv)', Buffer.from(input));
  for (const workers of [1, 2, 4]) {
    await table('actual');
    const run = await runMain(['copy', '--connection', server.url(), '--table', 'actual', '--encoding', 'binary',
      '--batch-size', '1000', '--workers', String(workers), '--json'], input);
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.equal(summary.encoding.binaryBatches, 9);
    assert.equal(summary.encoding.textBatches, 1);
    assert.match(summary.encoding.firstTextReason, /stdin lines 4001-5000: record 322 of the batch: column time: a value the encoder is not certain of/);
    assert.deepEqual(await contents('actual'), await contents('expected'), `workers ${workers}`);
  }
});

test('a bad value under --encoding binary: the error names its input line and column, and what is committed', async () => {
  await table('bad');
  const input = metrics(5000, 3210, 'not-a-time');
  const run = await runMain(['copy', '--connection', server.url(), '--table', 'bad', '--encoding', 'binary', '--batch-size', '500', '--workers', '2'], input);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^error E_BATCH_REJECTED: the target rejected line 3211 of stdin: invalid input syntax for type timestamp with time zone: "not-a-time"/);
  assert.match(run.stderr, /column=time/);
  assert.match(run.stderr, /the row reads: not-a-time,host_4,/);
  const committed = Number(/already committed: (\d+) rows/.exec(run.stderr)?.[1]);
  const count = await client.query('SELECT count(*)::int AS n FROM bad');
  assert.equal(count.rows[0].n, committed);
});

test('a binary batch the server refuses goes again as text, and the text error names the line', async () => {
  // varchar(4): the encoder sends the bytes, the server applies the length in binary as in text.
  await client.query('DROP TABLE IF EXISTS narrow; CREATE TABLE narrow (id int, v varchar(4) CHECK (v <> \'nope\'))');
  let run = await runMain(['copy', '--connection', server.url(), '--table', 'narrow', '--encoding', 'binary', '--log-batches'], '1,abcd\n2,"ab  "\n3,abcdef\n');
  assert.equal(run.code, 1);
  assert.doesNotMatch(run.stderr, /goes as text/, 'the encoder took the batch: the server refused its binary form');
  assert.match(run.stderr, /the target rejected line 3 of stdin: value too long for type character varying\(4\)/);
  assert.match(run.stderr, /column=v/);
  run = await runMain(['copy', '--connection', server.url(), '--table', 'narrow', '--encoding', 'binary'], '1,abcd\n2,nope\n');
  assert.match(run.stderr, /the target rejected line 2 of stdin: new row for relation "narrow" violates check constraint/);
  // Values the server takes in both forms: they land once, as binary.
  run = await runMain(['copy', '--connection', server.url(), '--table', 'narrow', '--encoding', 'binary', '--json'], '1,abcd\n2,"ab    "\n');
  assert.equal(run.code, 0, run.stderr);
  assert.equal(JSON.parse(run.stdout).encoding.binaryBatches, 1);
  const rows = await client.query('SELECT id, v FROM narrow ORDER BY id');
  assert.deepEqual(rows.rows, [{ id: 1, v: 'abcd' }, { id: 2, v: 'ab  ' }]);
});

test('--encoding auto sends bytes when a column has no encoder; binary refuses with the reason; text never asks', async () => {
  await client.query('DROP TABLE IF EXISTS spans; CREATE TABLE spans (id int, d interval)');
  const input = '1,1 day\n2,02:00:00\n';
  let run = await runMain(['copy', '--connection', server.url(), '--table', 'spans', '--json'], input);
  assert.equal(run.code, 0, run.stderr);
  assert.match(JSON.parse(run.stdout).encoding.reason, /column "d" has type interval, which has no binary encoder/);
  run = await runMain(['copy', '--connection', server.url(), '--table', 'spans', '--encoding', 'binary'], input);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^error E_BINARY_UNAVAILABLE: --encoding binary cannot be used: column "d" has type interval, which has no binary encoder/);
  assert.match(run.stderr, /hint: --encoding auto sends binary where it can/);
  await client.query('TRUNCATE spans');
  run = await runMain(['copy', '--connection', server.url(), '--table', 'spans', '--columns', 'id', '--encoding', 'binary', '--json'], '5\n6\n');
  assert.equal(run.code, 0, run.stderr);
  assert.equal(JSON.parse(run.stdout).encoding.binaryBatches, 1, 'only the COPY columns need encoders');
  run = await runMain(['copy', '--connection', server.url(), '--table', 'spans', '--encoding', 'text', '--json'], input);
  assert.equal(JSON.parse(run.stdout).encoding.reason, '--encoding text');
  const count = await client.query('SELECT count(*)::int AS n FROM spans');
  assert.equal(count.rows[0].n, 4);
});

test('COPY options the encoder does not read: auto sends bytes, binary refuses', async () => {
  await table('forced');
  const input = '2024-01-01T00:00:00Z,h,,1\n';
  let run = await runMain(['copy', '--connection', server.url(), '--table', 'forced', '--copy-options', 'FORCE_NOT_NULL (host)', '--json'], input);
  assert.equal(run.code, 0, run.stderr);
  assert.match(JSON.parse(run.stdout).encoding.reason, /--copy-options sets FORCE_NOT_NULL \(host\), which binary encoding does not read/);
  run = await runMain(['copy', '--connection', server.url(), '--table', 'forced', '--copy-options', 'FORCE_NOT_NULL (host)', '--encoding', 'binary'], input);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /E_BINARY_UNAVAILABLE/);
  run = await runMain(['copy', '--connection', server.url(), '--table', 'forced', '--encoding', 'nope'], input);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /`--encoding` must be auto, binary or text, got "nope"/);
  run = await runMain(['copy', '--connection', server.url(), '--table', 'forced', '--encoding', 'binary', '--map', 'n:m'], input);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /`--encoding binary` does not go with a transform/);
});

test('generated columns: binary rows leave them out as COPY does, and the server computes them', async () => {
  await client.query('DROP TABLE IF EXISTS gen; CREATE TABLE gen (id int, v text, twice int GENERATED ALWAYS AS (id * 2) STORED, t timestamptz)');
  const run = await runMain(['copy', '--connection', server.url(), '--table', 'gen', '--encoding', 'binary', '--json'], '1,a,2024-01-01T00:00:00Z\n2,,\n');
  assert.equal(run.code, 0, run.stderr);
  assert.equal(JSON.parse(run.stdout).encoding.binaryBatches, 1);
  const rows = await client.query(`SELECT id, v, twice, to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS t FROM gen ORDER BY id`);
  assert.deepEqual(rows.rows, [{ id: 1, v: 'a', twice: 2, t: '2024-01-01 00:00' }, { id: 2, v: null, twice: 4, t: null }]);
});
