/**
 * The table `hyperfill copy --transform` fills with 1, 2 or 4 worker threads (and
 * with --transform-workers 0) equals the table the same transform gives when applied
 * by hand, row by row, in this process: for CSV input with tricky quoting, and for
 * PostgreSQL text format from `COPY (SELECT ...) TO STDOUT`. Built-in mappings run
 * before the transform; the transform drops rows, fans rows out and reads ctx.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { random } from '../src/demo/generate-csv.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';

const SAMPLE = fileURLToPath(new URL('../../test/fixtures/transforms/sample.mjs', import.meta.url));

interface SourceRow {
  id: number;
  ts: string;
  device: string | null;
  payload: string | null;
  note: string | null;
}

const NOTES = ['plain', '', 'a,b', 'say "hi"', 'two\nlines', 'crlf\r\nend', 'tab\there', 'back\\slash', 'é✓日本😀', ' spaced ', 'NULL', '\\N'];

function sourceRows(n: number): SourceRow[] {
  const rand = random(11);
  return Array.from({ length: n }, (_, i) => {
    const ms = 1_700_000_000_000 + i * 1500 + Math.floor(rand() * 999);
    const temp = rand() < 0.1 ? null : Math.round(rand() * 4000) / 100;
    const payload = rand() < 0.05 ? null : JSON.stringify({ sensor: { temp, unit: 'C' }, seq: i });
    return {
      id: i + 1, ts: String(ms), device: rand() < 0.05 ? null : `dev-${i % 13}`, payload,
      note: rand() < 0.1 ? null : (NOTES[Math.floor(rand() * NOTES.length)] as string),
    };
  });
}

/** CSV with every text quoted (so '' stays empty and NULL is an empty unquoted field). */
function toCsv(rows: SourceRow[]): { text: string; lines: number[] } {
  const q = (v: string | null) => (v === null ? '' : `"${v.replace(/"/g, '""')}"`);
  let line = 1;
  const lines: number[] = [];
  const text = rows.map((r) => {
    const record = `${r.id},${r.ts},${q(r.device)},${q(r.payload)},${q(r.note)}\n`;
    lines.push(line);
    line += record.split('\n').length - 1;
    return record;
  }).join('');
  return { text, lines };
}

type Out = Record<string, unknown>;

/** The reference: the built-ins and the sample transform applied here, by hand. */
async function expectedRows(rows: SourceRow[], lineOf: (i: number) => number): Promise<Out[]> {
  const { default: sample } = (await import(SAMPLE)) as { default: (row: Out, ctx: object) => Out | Out[] | null };
  const out: Out[] = [];
  rows.forEach((r, i) => {
    const temp = r.payload === null ? null : (JSON.parse(r.payload) as { sensor: { temp: number | null } }).sensor.temp;
    const row = { id: String(r.id), time: new Date(Number(r.ts)).toISOString(), device: r.device, note: r.note, temp: temp === null ? null : String(temp) };
    const result = sample(row, { row: i + 1, line: lineOf(i) });
    if (result === null) return;
    out.push(...(Array.isArray(result) ? result : [result]));
  });
  return out;
}

const MAPPING_FLAGS = ['--columns', 'id,ts,device,payload,note', '--epoch', 'ts:ms', '--map', 'ts:time',
  '--json-path', 'temp=payload.sensor.temp', '--drop', 'payload'];
const TABLE = '(id int, time timestamptz, device text, temp float8, note text, tag text)';
const SELECT = 'SELECT id, time, device, temp, note, tag FROM %s ORDER BY id, tag';

let server: PostgresServer;
let client: pg.Client;
const rows = sourceRows(1500);

before(async () => {
  server = await startPostgres();
  client = new pg.Client({ connectionString: server.url() });
  await client.connect();
  await client.query(`CREATE TABLE src (id int, ts bigint, device text, payload text, note text)`);
  await client.query(`INSERT INTO src SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[], $4::text[], $5::text[])`,
    [rows.map((r) => r.id), rows.map((r) => r.ts), rows.map((r) => r.device), rows.map((r) => r.payload), rows.map((r) => r.note)]);
});

after(async () => {
  await client?.end();
  await server?.stop();
});

async function loadExpected(out: Out[]): Promise<unknown[]> {
  await client.query(`DROP TABLE IF EXISTS expected; CREATE TABLE expected ${TABLE}`);
  const col = (k: string) => out.map((r) => (r[k] === null || r[k] === undefined ? null : String(r[k])));
  await client.query(`INSERT INTO expected SELECT * FROM unnest($1::int[], $2::timestamptz[], $3::text[], $4::float8[], $5::text[], $6::text[])`,
    ['id', 'time', 'device', 'temp', 'note', 'tag'].map(col));
  return (await client.query(SELECT.replace('%s', 'expected'))).rows;
}

async function pgTextExport(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const stream = client.query(copyTo('COPY (SELECT id, ts, device, payload, note FROM src ORDER BY id) TO STDOUT'));
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function runTransformed(input: Buffer | string, extra: string[], workers: number): Promise<unknown[]> {
  await client.query(`DROP TABLE IF EXISTS actual; CREATE TABLE actual ${TABLE}`);
  const run = await runMain(['copy', '--connection', server.url(), '--table', 'actual', ...MAPPING_FLAGS, '--transform', SAMPLE,
    '--transform-workers', String(workers), '--batch-size', '37', '--workers', '3', ...extra], input);
  assert.equal(run.code, 0, run.stderr);
  const actual = (await client.query(SELECT.replace('%s', 'actual'))).rows;
  assert.equal(run.stdout, `COPY ${actual.length}\n`);
  return actual;
}

describe('a transform on worker threads gives what the transform applied inline gives', () => {
  test('CSV input', async () => {
    const { text, lines } = toCsv(rows);
    const expected = await loadExpected(await expectedRows(rows, (i) => lines[i] as number));
    assert.ok(expected.length > rows.length, 'fan-out outweighs the drops');
    for (const workers of [1, 2, 4, 0]) {
      assert.deepEqual(await runTransformed(text, [], workers), expected, `${workers} workers`);
    }
  });

  test('PostgreSQL text format from COPY TO STDOUT', async () => {
    const input = await pgTextExport();
    const expected = await loadExpected(await expectedRows(rows, (i) => i + 1));
    for (const workers of [1, 2, 4, 0]) {
      assert.deepEqual(await runTransformed(input, ['--format', 'text'], workers), expected, `${workers} workers`);
    }
  });

  test('the same CSV from a file, gzip-free and with a header, and --limit counts input rows', async () => {
    const { text, lines } = toCsv(rows.slice(0, 400));
    const expected = await loadExpected(await expectedRows(rows.slice(0, 400), (i) => (lines[i] as number) + 1));
    const actual = await runTransformed(`id,ts,device,payload,note\n${text}`, ['--skip-header'], 2);
    assert.deepEqual(actual, expected);
    const limited = await runTransformed(text, ['--limit', '100'], 2);
    assert.deepEqual(limited, await loadExpected(await expectedRows(rows.slice(0, 100), (i) => lines[i] as number)));
  });
});
