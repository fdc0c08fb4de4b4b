/**
 * timescaledb-parallel-copy's command lines run unchanged as `hyperfill copy ...`: the
 * same arguments given to the real tspc (v0.8.1, ../shared/tools) and to hyperfill load
 * the same rows (the expected table is tspc's, in a second table of one PostgreSQL 18);
 * Go's `-flag` spelling; tspc-only flags either mean what they mean there or are usage
 * errors that say what to use; --column-mapping and --auto-column-mapping read the
 * header, with unknown names and hostile names handled.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';
import { tempDir } from './helpers/temp-dir.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSPC = [join(ROOT, '../shared/tools/timescaledb-parallel-copy'), join(ROOT, '../../shared/tools/timescaledb-parallel-copy')].find(existsSync);

let server: PostgresServer;
const dir = tempDir('tspc-flags');

before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
});

/** libpq key=value form: tspc v0.8.1 appends " dbname=..." for --db-name to what it is given. */
function keyValue(): string {
  const url = new URL(server.url());
  return `host=${url.hostname} port=${url.port} user=${decodeURIComponent(url.username)} password=${decodeURIComponent(url.password)} sslmode=disable`;
}

const rowsOf = async (table: string) => (await server.query(`SELECT * FROM ${table} ORDER BY 1, 2`)).rows;

test(`tspc's own command line, given to tspc and to hyperfill copy, loads the same rows${TSPC ? '' : ' [SKIPPED: no tspc binary in ../shared/tools]'}`, { skip: TSPC ? false : 'no tspc binary' }, async () => {
  await server.query('CREATE DATABASE tspcdb');
  const create = 'CREATE TABLE sample (time timestamptz, device text, value double precision)';
  await server.query(`${create.replace('sample', 'from_tspc')}; ${create}`, [], 'tspcdb');
  const file = join(dir, 'foo.csv');
  const lines = ['# exported 2024-01-01', 'time,device,value'];
  for (let i = 0; i < 2500; i++) lines.push(`2024-01-01 00:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}+00,"dev ""${i % 7}""",${i / 4}`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  // As tspc's README and --help write them: Go's single-dash flags, a URL-less connection, --db-name.
  const args = (table: string) => ['-connection', keyValue(), '-db-name', 'tspcdb', '-table', table, '-schema', 'public', '-file', file,
    '-workers', '3', '-batch-size', '400', '-copy-options', 'CSV', '-split', ',', '-quote', '"', '-escape', '"', '-header-line-count', '1',
    '--skip-header', '-limit', '2000', '-reporting-period', '0s', '-truncate', '-verbose'];
  // tspc v0.8.1 has no --skip-lines: it gets the file without the comment line.
  const plain = join(dir, 'plain.csv');
  writeFileSync(plain, `${lines.slice(1).join('\n')}\n`);
  const withFile = (a: string[]) => a.map((x) => (x === file ? plain : x));
  const tspc = await promisify(execFile)(TSPC!, withFile(args('from_tspc')));
  assert.match(tspc.stdout, /^COPY 2000, took /);
  const ours = await runMain(['copy', ...withFile(args('sample'))]);
  assert.equal(ours.code, 0, ours.stderr);
  assert.match(ours.stdout, /^COPY 2000, took [\d.]+s with 3 worker\(s\) \(mean rate [\d.]+\/sec\)\n$/);
  const expected = (await server.query('SELECT * FROM from_tspc ORDER BY 1, 2', [], 'tspcdb')).rows;
  assert.equal(expected.length, 2000);
  assert.deepEqual((await server.query('SELECT * FROM sample ORDER BY 1, 2', [], 'tspcdb')).rows, expected);
  // v0.13's flags on the same file: --skip-lines, --import-id, the byte sizes, the no-op Windows-1252 switch, --no-retry.
  const again = await runMain(['copy', '-connection', keyValue(), '-db-name', 'tspcdb', '-table', 'sample', '-file', file, '-skip-lines', '1', '-skip-header',
    '-import-id', 'tspc-1', '-batch-byte-size', '4194304', '-buffer-byte-size', '2097152', '-disable-windows-1252-handling', '-no-retry',
    '-disable-direct-compress', '-log-batches=false', '-truncate=true', '-on-conflict-do-nothing']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, 'COPY 2500\n');
  const count = await server.query('SELECT count(*)::int AS n FROM sample', [], 'tspcdb');
  assert.equal(count.rows[0].n, 2500);
});

test('tspc flags with no hyperfill meaning are usage errors that say what to use; --version prints the version', async () => {
  const base = ['copy', '--connection', server.url(), '--table', 'nowhere'];
  const cases: Array<[string[], RegExp]> = [
    [['--header-line-count', '3'], /--skip-lines N/],
    [['--skip-batch-errors', '--on-error', 'reject'], /give one of `--skip-batch-errors` \(= --on-error skip\) and `--on-error reject`/],
    [['-enable-client-side-sorting'], /cannot check/],
    [['--buffer-byte-size', 'lots'], /`--buffer-byte-size` must be a size/],
    [['--disable-direct-compress', '--direct-compress', 'on'], /give one of/],
    [['--no-retry', '--retry-timeout', '5s'], /give one of/],
    [['--column-mapping', 'a:b', '--columns', 'b'], /give one/],
    [['--column-mapping', 'a:b:c'], /pair 1 \("a:b:c"\) is not csv_column:table_column/],
    [['--column-mapping', '{"a": 1}'], /object of strings/],
    [['--column-mapping', 'a:b,a:c'], /maps the header "a" twice/],
  ];
  for (const [flags, message] of cases) {
    const run = await runMain([...base, ...flags], '1\n');
    assert.equal(run.code, 2, `${flags.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, message, flags.join(' '));
  }
  // --db-name replaces the database a URL names too.
  await server.query('CREATE DATABASE urldb');
  await server.query('CREATE TABLE t (a int)', [], 'urldb');
  const db = await runMain(['copy', '--connection', server.url(), '--db-name', 'urldb', '--table', 't'], '1\n2\n');
  assert.equal(db.code, 0, db.stderr);
  assert.equal((await server.query('SELECT sum(a)::int AS s FROM t', [], 'urldb')).rows[0].s, 3);
  const version = await runMain(['copy', '-version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^hyperfill \d+\.\d+\.\d+/);
});

test('--column-mapping and --auto-column-mapping: the header names the columns, in either syntax, whatever the names hold', async () => {
  await server.query(`CREATE TABLE mapped (id int, "we""ird,col.x" text, v double precision DEFAULT -1)`);
  const file = join(dir, 'mapped.csv');
  writeFileSync(file, '\uFEFFValue,"Name: ""full""",ID\r\n1.5,a,1\r\n2.5,"b,c",2\r\n');
  let run = await runMain(['copy', '--connection', server.url(), '--table', 'mapped', '--file', file,
    '--column-mapping', 'ID:id,Value:v,"Name: ""full""":"we""ird,col.x"']);
  assert.equal(run.code, 0, run.stderr);
  const expected = [{ id: 1, 'we"ird,col.x': 'a', v: 1.5 }, { id: 2, 'we"ird,col.x': 'b,c', v: 2.5 }];
  assert.deepEqual(await rowsOf('mapped'), expected);
  run = await runMain(['copy', '--connection', server.url(), '--table', 'mapped', '--file', file, '--truncate',
    '--column-mapping', JSON.stringify({ ID: 'id', Value: 'v', 'Name: "full"': 'we"ird,col.x' }), '--on-conflict-do-nothing']);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(await rowsOf('mapped'), expected);
  // The same from stdin, with auto mapping: the header's names are the columns.
  run = await runMain(['copy', '--connection', server.url(), '--table', 'mapped', '--truncate', '--auto-column-mapping', '--batch-size', '1'],
    '"we""ird,col.x",id\nx,7\ny,8\n');
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(await rowsOf('mapped'), [{ id: 7, 'we"ird,col.x': 'x', v: -1 }, { id: 8, 'we"ird,col.x': 'y', v: -1 }]);
  assert.equal(run.stdout, 'COPY 2\n');
});

test('a header field the mapping does not know, or that is not a column, is a usage error naming it and the columns', async () => {
  await server.query('CREATE TABLE strict_t (id int, v text)');
  let run = await runMain(['copy', '--connection', server.url(), '--table', 'strict_t', '--auto-column-mapping'], 'id,colour\n1,red\n');
  assert.equal(run.code, 2);
  assert.match(run.stderr, /the header field "colour" is not a column of public\.strict_t/);
  assert.match(run.stderr, /its columns are: id, v/);
  run = await runMain(['copy', '--connection', server.url(), '--table', 'strict_t', '--column-mapping', 'id:id'], 'id,colour\n1,red\n');
  assert.equal(run.code, 2);
  assert.match(run.stderr, /the header of stdin has a field "colour" that --column-mapping does not map/);
  run = await runMain(['copy', '--connection', server.url(), '--table', 'strict_t', '--column-mapping', 'id:id,colour:color'], 'id,colour\n1,red\n');
  assert.equal(run.code, 2);
  assert.match(run.stderr, /the header field "colour" \(mapped to "color"\) is not a column of public\.strict_t/);
  const other = join(dir, 'other.csv');
  const first = join(dir, 'first.csv');
  writeFileSync(first, 'id,v\n1,a\n');
  writeFileSync(other, 'v,id\nb,2\n');
  run = await runMain(['copy', '--connection', server.url(), '--table', 'strict_t', '--auto-column-mapping', '--file', first, '--file', other]);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /the header of .*other\.csv maps to columns \(v, id\), not to \(id, v\)/);
  assert.equal((await server.query('SELECT count(*)::int AS n FROM strict_t')).rows[0].n, 0);
});

test('--skip-batch-errors leaves out the rows the target rejects, not their batch', async () => {
  await server.query('CREATE TABLE skipped (n int CHECK (n <> 13))', [], 'tspcdb');
  const input = Array.from({ length: 30 }, (_, i) => `${i}\n`).join('');
  const run = await runMain(['copy', '--connection', server.url('tspcdb'), '--table', 'skipped', '--batch-size', '10', '-skip-batch-errors'], input);
  assert.equal(run.code, 0, run.stderr);
  const rows = await server.query('SELECT array_agg(n ORDER BY n) AS a FROM skipped', [], 'tspcdb');
  assert.deepEqual(rows.rows[0].a, Array.from({ length: 30 }, (_, i) => i).filter((n) => n !== 13));
});
