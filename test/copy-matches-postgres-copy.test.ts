/**
 * For tricky CSV and text-format inputs, the table `hyperfill copy` fills equals the
 * table PostgreSQL's own single `COPY FROM STDIN` fills from the same bytes, for
 * 1, 2, 4 and 8 workers and tiny and huge batches; and again through an identity
 * mapping (`--map id:id`), which sends every row through the decoder and encoder of the
 * transform path, inline and in worker threads.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { random } from '../src/demo/generate-csv.js';
import { serverCopy } from './helpers/pg-copy.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';

interface Case {
  name: string;
  input: string;
  /** hyperfill flags besides --table, and the matching COPY options for the reference. */
  flags?: string[];
  copyOptions?: string;
}

function randomCsv(rows: number): string {
  const rand = random(7);
  const values = ['a', '', '"', ',', '\n', '\r\n', 'é✓日本😀', '\\', 'NULL', ' x '];
  const field = () => {
    if (rand() < 0.1) return '';
    const v = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => values[Math.floor(rand() * values.length)]).join('');
    return `"${v.replace(/"/g, '""')}"`;
  };
  return Array.from({ length: rows }, (_, i) => `${i},${field()}`).join('\n') + '\n';
}

const CASES: Case[] = [
  { name: 'quoted newlines', input: '1,"a\nb"\n2,"c\r\nd"\n3,"\n"\n' },
  { name: 'CRLF line ends', input: '1,a\r\n2,b\r\n3,"c"\r\n' },
  { name: 'escaped (doubled) quotes', input: '1,"he said ""hi"""\n2,""""\n3,"a""b""c"\n' },
  { name: 'empty string vs NULL', input: '1,""\n2,\n3," "\n' },
  { name: 'UTF-8', input: '1,héllo ✓ 日本\n2,"emoji 😀, with comma"\n3,Ω\n' },
  { name: 'header', input: 'id,v\n1,a\n2,b\n', flags: ['--skip-header'], copyOptions: 'HEADER true' },
  { name: 'no final newline', input: '1,a\n2,b\n3,"c\nd"' },
  { name: 'empty input', input: '' },
  { name: 'backslash escape', input: '1,"a\\"b"\n2,"c\\\\"\n', flags: ['--escape', '\\'], copyOptions: "ESCAPE '\\'" },
  { name: 'semicolon delimiter', input: '1;a,b\n2;"c;d"\n', flags: ['--split', ';'], copyOptions: "DELIMITER ';'" },
  { name: 'NULL marker via --copy-options', input: '1,NA\n2,"NA"\n3,x\n', flags: ['--copy-options', "NULL 'NA'"], copyOptions: "NULL 'NA'" },
  { name: 'text format', input: '1\ta\\nb\n2\t\\N\n3\ttab\\there\n4\t"q"\n', flags: ['--format', 'text'] },
  { name: 'random quoted content, 3000 rows', input: randomCsv(3000) },
];

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

async function reference(c: Case): Promise<unknown[]> {
  await client.query('DROP TABLE IF EXISTS expected; CREATE TABLE expected (id int, v text)');
  const text = c.flags?.includes('text');
  const options = [`FORMAT ${text ? 'text' : 'csv'}`, c.copyOptions].filter(Boolean).join(', ');
  await serverCopy(client, `COPY expected FROM STDIN WITH (${options})`, c.input);
  return (await client.query('SELECT id, v FROM expected ORDER BY id')).rows;
}

describe('hyperfill copy fills the table exactly as PostgreSQL COPY does', () => {
  for (const c of CASES) {
    test(c.name, async () => {
      const expected = await reference(c);
      if (c.input.trim() !== '') assert.ok(expected.length > 0, 'the reference loaded rows');
      for (const workers of [1, 2, 4, 8]) {
        for (const batchSize of [1, 2, 1_000_000]) {
          await client.query('DROP TABLE IF EXISTS actual; CREATE TABLE actual (id int, v text)');
          const run = await runMain(['copy', '--connection', server.url(), '--table', 'actual',
            '--workers', String(workers), '--batch-size', String(batchSize), ...(c.flags ?? [])], c.input);
          assert.equal(run.code, 0, run.stderr);
          assert.equal(run.stdout, `COPY ${expected.length}\n`);
          const actual = (await client.query('SELECT id, v FROM actual ORDER BY id')).rows;
          assert.deepEqual(actual, expected, `workers ${workers}, batch size ${batchSize}`);
        }
      }
      for (const threads of [0, 2]) {
        for (const batchSize of [1, 1_000_000]) {
          const how = `identity mapping, ${threads} transform threads, batch size ${batchSize}`;
          await client.query('DROP TABLE IF EXISTS actual; CREATE TABLE actual (id int, v text)');
          const run = await runMain(['copy', '--connection', server.url(), '--table', 'actual', '--workers', '2', '--batch-size', String(batchSize),
            '--map', 'id:id', '--transform-workers', String(threads), ...(c.flags ?? [])], c.input);
          assert.equal(run.code, 0, `${how}: ${run.stderr}`);
          assert.equal(run.stdout, `COPY ${expected.length}\n`, how);
          const actual = (await client.query('SELECT id, v FROM actual ORDER BY id')).rows;
          assert.deepEqual(actual, expected, how);
        }
      }
    });
  }
});
