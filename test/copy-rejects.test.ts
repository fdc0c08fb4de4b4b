/**
 * `copy --on-error skip|reject` for rows the target rejects: bad rows of five kinds (a
 * value the type refuses, NOT NULL, unique, check, foreign key) scattered across batches
 * and workers; in text, binary and with a transform every good row loads once (the
 * expected table is the server's own COPY of the good lines), the rejects file holds the
 * bad records byte for byte, and FILE.reasons names each one's line, column and SQLSTATE.
 * Also: skip, stop, --max-rejects, and --import-id after a SIGKILL during isolation.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { killOnStderr, runCli } from './helpers/cli.js';
import { serverCopy } from './helpers/pg-copy.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';
import { tempDir } from './helpers/temp-dir.js';

let server: PostgresServer;
const dir = tempDir('rejects');

type Kind = 'type' | 'notnull' | 'unique' | 'check' | 'fk' | 'slow';
const SQLSTATE: Record<Kind, string> = { type: '22P02', notnull: '23502', unique: '23505', check: '23514', fk: '23503', slow: '23514' };

/** Row number (1-based) → what is wrong with it: first and last rows, neighbours, both ends of a batch. */
const BAD = new Map<number, Kind>([
  [1, 'type'], [500, 'notnull'], [501, 'check'], [1000, 'unique'], [1001, 'type'], [7777, 'check'],
  [12_345, 'fk'], [15_000, 'fk'], [20_001, 'notnull'], [22_222, 'unique'], [25_000, 'check'], [29_999, 'type'], [30_000, 'type'],
]);
const ROWS = 30_000;

interface Input {
  text: string;
  /** Input line where each row starts, by row number. */
  lineOf: Map<number, number>;
  /** Each row's record, line end included, by input line. */
  recordAt: Map<number, string>;
  badLines: Set<number>;
  kindAt: Map<number, Kind>;
  /** The good records, for the server's own COPY. */
  good: string;
}

/** `id,host,v,note,site`; every 7th note holds a quoted newline, so lines and rows differ. */
function makeInput(rows: number, bad: Map<number, Kind>): Input {
  const records: string[] = [];
  const lineOf = new Map<number, number>();
  const recordAt = new Map<number, string>();
  const badLines = new Set<number>();
  const kindAt = new Map<number, Kind>();
  const good: string[] = [];
  let line = 1;
  for (let i = 1; i <= rows; i++) {
    const note = i % 7 === 0 ? `"two\nlines ${i}"` : `"note ${i}"`;
    let id = String(i);
    let host = `h${i % 7}`;
    let v = String((i % 100) / 4);
    let site = String((i % 5) + 1);
    const kind = bad.get(i);
    if (kind === 'type') id = `x${i}`;
    else if (kind === 'notnull') host = '';
    else if (kind === 'unique') id = '-1';
    else if (kind === 'check') v = '-2';
    else if (kind === 'fk') site = '99';
    else if (kind === 'slow') host = 'slow-bad';
    const record = `${id},${host},${v},${note},${site}\n`;
    records.push(record);
    lineOf.set(i, line);
    recordAt.set(line, record);
    if (kind) {
      badLines.add(line);
      kindAt.set(line, kind);
    } else good.push(record);
    line += i % 7 === 0 ? 2 : 1;
  }
  return { text: records.join(''), lineOf, recordAt, badLines, kindAt, good: good.join('') };
}

const input = makeInput(ROWS, BAD);
const file = join(dir, 'metrics.csv');
const transform = join(dir, 'identity.mjs');

async function freshTable(name: string): Promise<void> {
  await server.query(`DROP TABLE IF EXISTS ${name};
    CREATE TABLE ${name} (id int PRIMARY KEY, host text NOT NULL, v float8 CHECK (v >= 0), note text, site int REFERENCES sites (id));
    INSERT INTO ${name} VALUES (-1, 'there before', 0, 'pre', 1)`);
}

async function digest(table: string): Promise<{ n: number; md5: string }> {
  const r = await server.query(`SELECT count(*)::int AS n, md5(string_agg(concat_ws('|', id, host, v, note, site), ',' ORDER BY id)) AS md5 FROM ${table}`);
  return r.rows[0];
}

before(async () => {
  server = await startPostgres();
  writeFileSync(file, input.text);
  writeFileSync(transform, 'export default function identity(row) { return row; }\n');
  await server.query('CREATE TABLE sites (id int PRIMARY KEY); INSERT INTO sites SELECT generate_series(1, 5)');
  await freshTable('reference');
  const loaded = await serverCopy(server.url(), 'COPY reference FROM STDIN (FORMAT csv)', input.good);
  assert.equal(loaded, ROWS - BAD.size);
});
after(async () => {
  await server?.stop();
});

/** The rejects file holds exactly the bad records, byte for byte, in the order FILE.reasons names their lines. */
function assertRejects(path: string, want: Input, inputName = file): void {
  const reasons = readFileSync(`${path}.reasons`, 'utf8').trimEnd().split('\n');
  const lines: number[] = [];
  for (const r of reasons) {
    const m = /^(.+):(\d+): row (\d+): (.*)$/.exec(r);
    assert.ok(m, `a reasons line: ${r}`);
    assert.equal(m[1], inputName);
    const line = Number(m[2]);
    const kind = want.kindAt.get(line);
    assert.ok(kind, `line ${line} is one of the bad ones: ${r}`);
    const row = [...want.lineOf.entries()].find(([, l]) => l === line)?.[0];
    assert.equal(Number(m[3]), row, r);
    assert.match(m[4]!, new RegExp(`\\(SQLSTATE ${SQLSTATE[kind]}\\)$`), r);
    if (kind === 'type') assert.match(m[4]!, /^column id: invalid input syntax for type integer: "x\d+"/, r);
    lines.push(line);
  }
  assert.deepEqual([...lines].sort((a, b) => a - b), [...want.badLines].sort((a, b) => a - b), 'each bad line once');
  assert.equal(readFileSync(path, 'utf8'), lines.map((l) => want.recordAt.get(l)).join(''), 'the rejects file is the bad records as they were');
}

const copyArgs = (table: string, extra: string[]) =>
  ['copy', '--connection', server.url(), '--table', table, '--file', file, '--batch-size', '1000', '--workers', '3', ...extra];

describe('--on-error reject: the good rows load once, the bad ones go to the rejects file', () => {
  const paths: Array<[string, string[]]> = [
    ['text', ['--encoding', 'text']],
    ['binary', ['--encoding', 'auto']],
    ['a transform', ['--transform', transform, '--columns', 'id,host,v,note,site', '--transform-workers', '2']],
  ];
  for (const [name, flags] of paths) {
    test(name, async () => {
      const table = `rej_${name.replace(/\W/g, '_')}`;
      await freshTable(table);
      const rejects = join(dir, `${table}.csv`);
      const run = await runMain(copyArgs(table, [...flags, '--on-error', 'reject', '--rejects', rejects]));
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, `COPY ${ROWS - BAD.size}\n`);
      assert.deepEqual(await digest(table), await digest('reference'));
      assertRejects(rejects, input);
      assert.match(run.stderr, new RegExp(`target: ${BAD.size} rows rejected to ${rejects.replace(/\W/g, '\\$&')}`));
      assert.match(run.stderr, new RegExp(`^input\\s+read\\s+loaded\\s+rejected\\s+seconds\\n[- ]+\\n.*metrics\\.csv\\s+${ROWS}\\s+${ROWS - BAD.size}\\s+${BAD.size}\\s+[\\d.]+\\n[- ]+\\ntotal\\s+${ROWS}\\s+${ROWS - BAD.size}\\s+${BAD.size}\\s+[\\d.]+$`, 'm'));
      if (name === 'binary') assert.match(run.stderr, /encoding: binary COPY for \d+ of/);
    });
  }

  test('--json has the per-input counts and the rejects', async () => {
    await freshTable('rej_json');
    const rejects = join(dir, 'rej_json.csv');
    const run = await runMain(copyArgs('rej_json', ['--on-error', 'reject', '--rejects', rejects, '--json']));
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.equal(summary.rows, ROWS - BAD.size);
    assert.equal(summary.rejected.rows, BAD.size);
    assert.equal(summary.rejected.rejectsFile, rejects);
    assert.deepEqual(summary.inputs.map((i: Record<string, unknown>) => [i.input, i.read, i.loaded, i.rejected]), [[file, ROWS, ROWS - BAD.size, BAD.size]]);
    assert.deepEqual([summary.total.read, summary.total.loaded, summary.total.rejected], [ROWS, ROWS - BAD.size, BAD.size]);
    assertRejects(rejects, input);
  });
});

test('--on-error skip loads the same rows and writes no file', async () => {
  await freshTable('skipped');
  const run = await runMain(copyArgs('skipped', ['--on-error', 'skip']));
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, `COPY ${ROWS - BAD.size}\n`);
  assert.deepEqual(await digest('skipped'), await digest('reference'));
  assert.match(run.stderr, new RegExp(`target: ${BAD.size} rows skipped\\n  first skipped: .*metrics\\.csv:\\d+: `));
  assert.match(run.stderr, /^input\s+read\s+loaded\s+skipped\s+seconds$/m);
});

test('--on-error stop (the default) stops at a bad row and names what is committed', async () => {
  await freshTable('stopped');
  const run = await runMain(copyArgs('stopped', []));
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^error E_BATCH_REJECTED: the target rejected line (\d+) of /);
  assert.ok(input.badLines.has(Number(/rejected line (\d+)/.exec(run.stderr)?.[1])), run.stderr);
  const committed = Number(/already committed: (\d+) rows/.exec(run.stderr)?.[1]);
  assert.equal((await digest('stopped')).n, committed + 1, 'the message tells exactly how many rows are in the table (beside the one there before)');
});

describe('--max-rejects', () => {
  test('more rejected rows than allowed: E_TOO_MANY_REJECTS, and the committed rows are named', async () => {
    await freshTable('capped');
    const rejects = join(dir, 'capped.csv');
    const run = await runMain(copyArgs('capped', ['--on-error', 'reject', '--rejects', rejects, '--max-rejects', '5']));
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error E_TOO_MANY_REJECTS: more than 5 rows were rejected \(--max-rejects 5\); the last one: .*metrics\.csv:\d+: /);
    const committed = Number(/already committed: (\d+) rows/.exec(run.stderr)?.[1]);
    assert.equal((await digest('capped')).n, committed + 1, run.stderr);
    // The rejects file holds the rejects of exactly the committed batches: at most the limit.
    const written = readFileSync(`${rejects}.reasons`, 'utf8').split('\n').filter(Boolean).length;
    assert.ok(written <= 5, `${written} rows in the rejects file`);
    assert.doesNotMatch(run.stderr, /\n\s+at .*\.js:\d+/, 'no stack trace');
  });

  test('as many rejected rows as allowed: the run completes', async () => {
    await freshTable('capped_ok');
    const run = await runMain(copyArgs('capped_ok', ['--on-error', 'skip', '--max-rejects', String(BAD.size)]));
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await digest('capped_ok'), await digest('reference'));
  });

  test('a run that is all bad stops at the limit, not after every row', async () => {
    await freshTable('all_bad');
    const allBad = join(dir, 'all-bad.csv');
    writeFileSync(allBad, Array.from({ length: 5000 }, (_, i) => `x${i},h,1,n,1\n`).join(''));
    const run = await runMain(['copy', '--connection', server.url(), '--table', 'all_bad', '--file', allBad, '--on-error', 'skip', '--max-rejects', '10']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error E_TOO_MANY_REJECTS: more than 10 rows/);
    assert.match(run.stderr, /already committed: 0 rows/);
    assert.equal((await digest('all_bad')).n, 1);
  });

  test('flags are checked', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--max-rejects', '3'], /`--max-rejects` goes with `--on-error skip` or `--on-error reject`/],
      [['--on-error', 'skip', '--max-rejects', 'many'], /`--max-rejects` must be zero or more/],
      [['--on-error', 'reject'], /`--on-error reject` needs `--rejects FILE`/],
      [['--rejects', 'x.csv'], /`--rejects` goes with `--on-error reject`/],
      [['--on-error', 'maybe'], /`--on-error` must be stop, skip or reject/],
      [['--on-error', 'skip', '--on-conflict-do-nothing'], /`--on-error skip\|reject` does not go with `--on-conflict-\*` yet/],
    ];
    for (const [flags, message] of cases) {
      const run = await runMain(['copy', '--table', 't', ...flags]);
      assert.equal(run.code, 2, flags.join(' '));
      assert.match(run.stderr, message);
    }
  });
});

test('--import-id: a SIGKILL while a batch is being isolated, then a rerun: every good row once, every bad row once in the rejects file', async () => {
  // A row the trigger refuses only after a second's sleep, so the kill lands while its batch is copied in pieces.
  const slowRow = 18_500;
  const bad = new Map(BAD);
  bad.set(slowRow, 'slow');
  const slow = makeInput(ROWS, bad);
  const slowFile = join(dir, 'slow.csv');
  writeFileSync(slowFile, slow.text);
  for (const table of ['slow_ref', 'killed']) {
    await freshTable(table);
    await server.query(`CREATE FUNCTION ${table}_slow() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.host = 'slow-bad' THEN
          PERFORM pg_sleep(1);
          RAISE EXCEPTION 'slow and bad' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER slow BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ${table}_slow()`);
  }
  await serverCopy(server.url(), 'COPY slow_ref FROM STDIN (FORMAT csv)', slow.good);
  const rejects = join(dir, 'killed.csv');
  const args = ['copy', '--connection', server.url(), '--table', 'killed', '--file', slowFile, '--batch-size', '1000', '--workers', '3',
    '--on-error', 'reject', '--rejects', rejects, '--import-id', 'killed-1', '--log-batches'];
  const slowBatch = Math.floor((slowRow - 1) / 1000);
  const isolating = new RegExp(`batch ${slowBatch} .*slow and bad.*copying the batch again in pieces`);
  const first = await runCli(args, { hangAfterMs: 120_000, onSpawn: killOnStderr(isolating) });
  assert.equal(first.signal, 'SIGKILL', first.stderr);
  assert.match(first.stderr, isolating, 'killed while the batch was being isolated');
  const ledger = async () => (await server.query(`SELECT batch FROM hyperfill.copy_batch WHERE import_id = 'killed-1'`)).rows.map((r) => r.batch as number);
  const before = await ledger();
  assert.ok(!before.includes(slowBatch), 'the batch being isolated was not committed');
  const partial = (await server.query('SELECT count(*)::int AS n FROM killed')).rows[0].n;
  assert.ok(partial < ROWS - bad.size + 1, `a partial load: ${partial}`);
  assert.equal((await server.query(`SELECT count(*)::int AS n FROM killed WHERE id BETWEEN ${slowBatch * 1000 + 1} AND ${slowBatch * 1000 + 1000}`)).rows[0].n, 0,
    'nothing of the batch being isolated');

  const again = await runCli(args, { hangAfterMs: 120_000 });
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(await digest('killed'), await digest('slow_ref'), 'every good row once');
  assertRejects(rejects, slow, slowFile);
  const complete = await server.query(`SELECT completed_at IS NOT NULL AS done FROM hyperfill.copy_import WHERE import_id = 'killed-1'`);
  assert.equal(complete.rows[0].done, true);
  assert.equal(existsSync(`${rejects}.reasons`), true);
});
