/**
 * When a transform fails: the error names the input position and the transform;
 * --on-error skip and reject set rows aside (reject writes them, in the input format,
 * to --rejects FILE with reasons beside); a worker that exits or a module that fails
 * to load ends the run with a clear error and no hang. Also: TypeScript transforms,
 * setup(ctx), and a row the target rejects after the transform.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from './helpers/cli.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';
import { tempDir } from './helpers/temp-dir.js';

let server: PostgresServer;
const dir = tempDir('tx');

function module(name: string, source: string): string {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
}

/** `i,"v<i>"` rows; every 10th value holds a quoted newline, so lines and rows differ. */
function csv(rows: number): { text: string; lineOf: (row: number) => number; record: (row: number) => string } {
  const records: string[] = [];
  const lines: number[] = [];
  let line = 1;
  for (let i = 1; i <= rows; i++) {
    const r = i % 10 === 0 ? `${i},"two\nlines ${i}"\n` : `${i},"v${i}"\n`;
    records.push(r);
    lines.push(line);
    line += i % 10 === 0 ? 2 : 1;
  }
  return { text: records.join(''), lineOf: (row) => lines[row - 1] as number, record: (row) => records[row - 1] as string };
}

before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
});

const copy = (table: string, args: string[], input: string | Buffer) =>
  runMain(['copy', '--connection', server.url(), '--table', table, ...args], input);

async function count(table: string): Promise<number> {
  return (await server.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n;
}

describe('a row the transform fails on', () => {
  const failAt = module('fail-at.mjs', `
export default function failAt(row) {
  if (row.id === '4321') throw new RangeError('no sensor ' + row.id);
  return row;
}`);

  test('stops the run with the input line, row, transform and the row itself', async () => {
    await server.query('CREATE TABLE stop1 (id int, v text)');
    const input = csv(6000);
    const run = await copy('stop1', ['--transform', failAt, '--batch-size', '500', '--transform-workers', '2'], input.text);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    const line = input.lineOf(4321);
    assert.ok(line > 4321, 'lines run ahead of rows');
    assert.match(run.stderr, new RegExp(`^error E_TRANSFORM_FAILED: line ${line} of stdin: the transform .*fail-at\\.mjs threw RangeError: no sensor 4321 \\(at fail-at\\.mjs:3:\\d+\\)`));
    assert.match(run.stderr, new RegExp(`at: file=stdin line=${line} row=4321 batch=8 transform=.*fail-at\\.mjs`));
    assert.match(run.stderr, /the row reads: 4321,"v4321"/);
    assert.doesNotMatch(run.stderr, /\n\s+at .*\.js:\d+/, 'no stack trace');
    const committed = Number(/already committed: (\d+) rows/.exec(run.stderr)?.[1]);
    assert.equal(await count('stop1'), committed, 'the message tells exactly how many rows are in the table');
    assert.equal((await server.query('SELECT count(*)::int AS n FROM stop1 WHERE id BETWEEN 4001 AND 4500')).rows[0].n, 0, 'nothing of the failing batch');
  });

  test('bad return values are named', async () => {
    await server.query('CREATE TABLE bad1 (id int, v text)');
    const cases: Array<[string, RegExp]> = [
      ['return undefined;', /the transform returned undefined: return the row, an array of rows, or null to drop it/],
      ['return 42;', /the transform returned a number \(42\) where a row object belongs/],
      ['return [row, "x"];', /the transform returned a string \(x\) where a row object belongs/],
      ['return { ...row, extra: 1 };', /the transform returned column "extra", not among the output columns \(id, v\); export `columns`/],
      ['return { ...row, v: () => 1 };', /column "v" got a function, which has no COPY text form/],
      ['return { ...row, v: "nul\\u0000byte" };', /a NUL byte cannot be stored/],
    ];
    for (const [body, message] of cases) {
      const file = module('bad.mjs', `export default function (row) { ${body} }`);
      const run = await copy('bad1', ['--transform', file, '--transform-workers', '1'], '1,a\n2,b\n');
      assert.equal(run.code, 1, body);
      assert.match(run.stderr, /^error E_TRANSFORM_FAILED: line 1 of stdin: /, body);
      assert.match(run.stderr, message, body);
    }
    assert.equal(await count('bad1'), 0);
  });

  test('--on-error skip loads the other rows and says what it skipped', async () => {
    await server.query('CREATE TABLE skip1 (id int, v text)');
    const picky = module('picky.mjs', `export default (row) => { if (Number(row.id) % 100 === 7) throw new Error('odd one'); return row; };`);
    const input = csv(1000);
    const run = await copy('skip1', ['--transform', picky, '--on-error', 'skip', '--batch-size', '64'], input.text);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'COPY 990\n');
    assert.match(run.stderr, /transform: 1000 rows in, 990 out, 10 skipped/);
    assert.match(run.stderr, new RegExp(`first skipped: stdin:${input.lineOf(7)}: row 7: the transform .*picky\\.mjs threw Error: odd one`));
    assert.equal(await count('skip1'), 990);
  });

  test('--on-error reject writes the rows as they were, with reasons beside', async () => {
    await server.query('CREATE TABLE rej1 (id int, v text)');
    const picky = module('picky2.mjs', `export default (row) => { if (Number(row.id) % 100 === 30 || row.id === '7') throw new Error('bad ' + row.id); return row; };`);
    const input = csv(1000);
    const rejects = join(dir, 'rejects.csv');
    const run = await copy('rej1', ['--transform', picky, '--on-error', 'reject', '--rejects', rejects, '--batch-size', '64', '--json'], input.text);
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.equal(summary.rows, 989);
    assert.equal(summary.transform.setAside, 11);
    assert.equal(summary.transform.rejectsFile, rejects);
    const rejectedIds = [7, 30, 130, 230, 330, 430, 530, 630, 730, 830, 930];
    // Batches commit in any order: compare as sets of records.
    const written = readFileSync(rejects, 'utf8');
    const expected = rejectedIds.map((id) => input.record(id));
    assert.equal(written.length, expected.join('').length);
    for (const r of expected) assert.ok(written.includes(r), `rejects holds ${JSON.stringify(r)}`);
    const reasons = readFileSync(`${rejects}.reasons`, 'utf8').trim().split('\n').sort();
    const expectedReasons = rejectedIds.map((id) => `stdin:${input.lineOf(id)}: row ${id}: the transform ${picky} threw Error: bad ${id} (at picky2.mjs:1:`).sort();
    assert.equal(reasons.length, expectedReasons.length);
    reasons.forEach((line, i) => assert.ok(line.startsWith(expectedReasons[i] as string), line));
    // The rejects file loads with the same input flags (here without the picky transform).
    await server.query('TRUNCATE rej1');
    const fixed = await runMain(['copy', '--connection', server.url(), '--table', 'rej1', '--file', rejects, '--set', 'v={v}']);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.deepEqual((await server.query('SELECT id FROM rej1 ORDER BY id')).rows.map((r) => r.id), rejectedIds);
  });

  test('text-format rejects stay in text format; decode errors are rejects too', async () => {
    await server.query('CREATE TABLE rej2 (id int, v text)');
    const rejects = join(dir, 'rejects.txt');
    const input = '1\ta\\tb\n2\tonly\textra\n3\t\\N\n';
    const run = await copy('rej2', ['--format', 'text', '--set', 'v={v}', '--on-error', 'reject', '--rejects', rejects], input);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(readFileSync(rejects, 'utf8'), '2\tonly\textra\n');
    assert.equal(readFileSync(`${rejects}.reasons`, 'utf8'), 'stdin:2: row 2: the row has 3 fields, expected 2 (id, v)\n');
    assert.deepEqual((await server.query('SELECT * FROM rej2 ORDER BY id')).rows, [{ id: 1, v: 'a\tb' }, { id: 3, v: null }]);
  });
});

describe('a transform that crashes or cannot load ends the run, with no hang', () => {
  const cli = async (args: string[], input: string) => {
    const started = Date.now();
    const r = await runCli(['copy', '--connection', server.url(), ...args], { stdin: input });
    return { ...r, ms: Date.now() - started };
  };

  test('process.exit() inside the transform', async () => {
    await server.query('CREATE TABLE crash1 (id int, v text)');
    const exits = module('exits.mjs', `export default (row, ctx) => { if (ctx.row === 250) process.exit(3); return row; };`);
    const r = await cli(['--table', 'crash1', '--transform', exits, '--batch-size', '100', '--transform-workers', '2'], csv(1000).text);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error E_TRANSFORM_CRASHED: a transform worker thread exited \(code 3\) while transforming lines \d+-\d+ of stdin \(batch 2\); the transform is .*exits\.mjs/);
    assert.match(r.stderr, /transform=.*exits\.mjs file=stdin line=\d+ batch=2/);
    assert.match(r.stderr, /must not call process\.exit/);
    assert.ok(r.ms < 30_000, `ended in ${r.ms} ms`);
  });

  test('a module that throws while loading', async () => {
    await server.query('CREATE TABLE crash2 (id int, v text)');
    const throws = module('throws-at-load.mjs', `throw new Error('lookup table missing');\nexport default (row) => row;`);
    const r = await cli(['--table', 'crash2', '--transform', throws], '1,a\n');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error E_TRANSFORM_LOAD: the transform .*throws-at-load\.mjs failed to load: lookup table missing/);
    assert.ok(r.ms < 30_000);
  });

  test('a module that calls process.exit() while loading', async () => {
    await server.query('CREATE TABLE crash3 (id int, v text)');
    const exits = module('exits-at-load.mjs', `process.exit(0);\nexport default (row) => row;`);
    const r = await cli(['--table', 'crash3', '--transform', exits], '1,a\n');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error E_TRANSFORM_CRASHED: a transform worker thread exited \(code 0\) while loading; the transform is .*exits-at-load\.mjs/);
    assert.ok(r.ms < 30_000);
  });

  test('a module with no transform function, a missing file, a failing setup', async () => {
    await server.query('CREATE TABLE crash4 (id int, v text)');
    const none = module('none.mjs', `export const x = 1;`);
    const setupFails = module('setup-fails.mjs', `export function setup() { throw new Error('no config'); }\nexport function transform(row) { return row; }`);
    const cases: Array<[string, RegExp]> = [
      [none, /E_TRANSFORM_LOAD: the transform .*none\.mjs exports no transform function/],
      [join(dir, 'missing.mjs'), /E_TRANSFORM_LOAD: the transform .*missing\.mjs does not exist/],
      [setupFails, /E_TRANSFORM_SETUP: setup\(\) of the transform .*setup-fails\.mjs failed: no config/],
    ];
    for (const [file, message] of cases) {
      const r = await copy('crash4', ['--transform', file], '1,a\n');
      assert.equal(r.code, 1, file);
      assert.match(r.stderr, message);
    }
  });
});

describe('transform modules', () => {
  test('TypeScript is compiled once and cleaned up; setup(ctx) sees columns and types', async () => {
    await server.query('CREATE TABLE ts1 (id int, v text, kind text)');
    const sub = mkdtempSync(join(dir, 'ts-'));
    writeFileSync(join(sub, 'helper.ts'), `export const shout = (s: string): string => s.toUpperCase();\n`);
    writeFileSync(join(sub, 'tx.ts'), `
import { shout } from './helper.js';
interface Row { id: string | null; v: string | null; kind?: string }
let kind = '';
export const columns: string[] = ['id', 'v', 'kind'];
export function setup(ctx: { columns: readonly string[]; types: Record<string, string> }): void {
  kind = ctx.columns.join('+') + ':' + ctx.types.id;
}
export function transform(row: Row): Row {
  return { ...row, v: shout(row.v ?? ''), kind };
}
`);
    const run = await copy('ts1', ['--columns', 'id,v', '--transform', join(sub, 'tx.ts'), '--transform-workers', '2'], '1,a\n2,b\n');
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((await server.query('SELECT * FROM ts1 ORDER BY id')).rows, [
      { id: 1, v: 'A', kind: 'id+v:integer' }, { id: 2, v: 'B', kind: 'id+v:integer' },
    ]);
    assert.deepEqual(readdirSync(sub).sort(), ['helper.ts', 'tx.ts'], 'the compiled output is removed');

    writeFileSync(join(sub, 'broken.ts'), 'export default (row: any) => { return row;\n');
    const broken = await copy('ts1', ['--columns', 'id,v', '--transform', join(sub, 'broken.ts')], '1,a\n');
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /E_TRANSFORM_LOAD: the transform .*broken\.ts does not compile:\n\s+.*broken\.ts\(2,1\): error TS1005: '\}' expected/);
  });

  test('async transforms and CommonJS modules work', async () => {
    await server.query('CREATE TABLE js1 (id int, v text)');
    const asyncTx = module('async.mjs', `export default async (row) => { await new Promise((r) => setTimeout(r, 1)); return { ...row, v: row.v + '!' }; };`);
    const cjs = module('cjs.cjs', `module.exports = { transform(row) { return { ...row, v: row.v + '?' }; } };`);
    for (const file of [asyncTx, cjs]) {
      const run = await copy('js1', ['--transform', file], '1,a\n');
      assert.equal(run.code, 0, run.stderr);
    }
    assert.deepEqual((await server.query('SELECT v FROM js1 ORDER BY v')).rows, [{ v: 'a!' }, { v: 'a?' }]);
  });

  test('a row the target rejects after the transform is named by its input line', async () => {
    await server.query('CREATE TABLE tgt1 (id int, v int)');
    const doubler = module('doubler.mjs', `export default (row) => [row, { ...row, v: row.id === '55' ? 'not a number' : row.v }];`);
    const input = csv(100).text.replace(/"[^"]*"/g, '1');
    const run = await copy('tgt1', ['--transform', doubler, '--batch-size', '20', '--workers', '1'], input);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error E_BATCH_REJECTED: the target rejected line 55 of stdin after the transform: invalid input syntax for type integer: "not a number"/);
    assert.match(run.stderr, /line=55 row=55 /);
    assert.match(run.stderr, /the row reads: 55,1\n\s+hint: after the transform \(.*doubler\.mjs\) it reads: 55\tnot a number/);
  });
});
