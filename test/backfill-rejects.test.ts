/**
 * `backfill --on-error skip|reject`: source rows the target refuses (a CHECK, NOT NULL, a
 * unique key a dual-written row already holds, a value out of a smallint's range) in
 * several windows; every window still commits once, the target holds exactly the good
 * rows (computed here in SQL on the source), the rejects file holds the bad rows as the
 * source's own COPY writes them, its reasons name the source table and the window, and a
 * rerun of the same run writes the same rejects again; also after a SIGKILL while a window
 * is being isolated.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { killOnStderr, runCli } from './helpers/cli.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';
import { tempDir } from './helpers/temp-dir.js';

const UNTIL = '1700020000';
const WINDOW = '3000';
/** A dual-written row past --until whose id a source row repeats. */
const TAKEN_ID = 7777;
let server: PostgresServer;
let sourceUrl: string;
const dir = tempDir('bfrej');

/** The rows the target must refuse, as SQL over the source. */
const BAD = `(v < 0 OR tag IS NULL OR id = ${TAKEN_ID} OR code > 32767)`;

before(async () => {
  server = await startPostgres();
  sourceUrl = await server.createDatabase('source');
  await server.query(`CREATE TABLE events (id int, ts bigint NOT NULL, v int, tag text, code int);
    INSERT INTO events SELECT i, 1700000000 + i, CASE WHEN i % 2500 = 17 THEN -i ELSE i END,
      CASE WHEN i % 3100 = 5 THEN NULL ELSE 'tag ' || i END, CASE WHEN i % 4999 = 1 THEN 100000 + i ELSE i % 1000 END
    FROM generate_series(1, 20000) i`, [], 'source');
  const bad = await server.query(`SELECT count(*)::int AS n FROM events WHERE ts < ${UNTIL} AND ${BAD}`, [], 'source');
  assert.ok(bad.rows[0].n >= 15, `bad rows in several windows: ${bad.rows[0].n}`);
});
after(async () => {
  await server?.stop();
});

async function freshTarget(db: string): Promise<string> {
  const url = await server.createDatabase(db);
  await server.query(`CREATE TABLE events (id int PRIMARY KEY, ts bigint NOT NULL, v int CHECK (v >= 0), tag text NOT NULL, code smallint);
    INSERT INTO events VALUES (${TAKEN_ID}, ${UNTIL} + 5, 1, 'dual-written after T', 1)`, [], db);
  return url;
}

async function digest(sql: string, db: string): Promise<{ n: number; md5: string }> {
  return (await server.query(`SELECT count(*)::int AS n, md5(string_agg(concat_ws('|', id, ts, v, tag, code), ',' ORDER BY id)) AS md5 FROM (${sql}) x`, [], db)).rows[0];
}

/** The bad rows as the source's own COPY writes them (text format), one string each. */
async function badLines(): Promise<string[]> {
  const client = new pg.Client({ connectionString: sourceUrl });
  await client.connect();
  try {
    const r = await client.query(`SELECT id::text, ts::text, coalesce(v::text, '\\N') AS v, coalesce(tag, '\\N') AS tag, coalesce(code::text, '\\N') AS code
      FROM events WHERE ts < ${UNTIL} AND ${BAD}`);
    return r.rows.map((x) => `${x.id}\t${x.ts}\t${x.v}\t${x.tag}\t${x.code}\n`).sort();
  } finally {
    await client.end();
  }
}

const backfill = (target: string, extra: string[]) => runMain(['backfill', '--source', sourceUrl, '--target', target, '--table', 'events', '--time-column', 'ts',
  '--until', UNTIL, '--window', WINDOW, '--parallel', '2', '--allow-plain-target', ...extra]);

test('--on-error reject: each window commits once with its good rows; the bad ones go to the rejects file, named by table and window', async () => {
  const target = await freshTarget('reject_target');
  const rejects = join(dir, 'rejects.txt');
  const run = await backfill(target, ['--on-error', 'reject', '--rejects', rejects]);
  assert.equal(run.code, 0, run.stderr);
  const want = await digest(`SELECT * FROM events WHERE ts < ${UNTIL} AND NOT ${BAD} UNION ALL SELECT ${TAKEN_ID}, ${UNTIL} + 5, 1, 'dual-written after T', 1`, 'source');
  assert.deepEqual(await digest('SELECT * FROM events', 'reject_target'), want);
  const lines = await badLines();
  const written = readFileSync(rejects, 'utf8');
  assert.deepEqual(written.split(/(?<=\n)/).sort(), lines, 'the rejects file is the bad rows as the source writes them');
  const reasons = readFileSync(`${rejects}.reasons`, 'utf8').trimEnd().split('\n');
  assert.equal(reasons.length, lines.length);
  for (const r of reasons) assert.match(r, /^public\.events window \d+:\d+: row \d+: .*\(SQLSTATE (22003|23502|23505|23514)\)$/, r);
  // Each reason's row is the row at that position in its window: the rejects file lines in the same order say which.
  const windows = new Set(reasons.map((r) => /window (\d+)/.exec(r)?.[1]));
  assert.ok(windows.size >= 3, `bad rows in several windows: ${[...windows].join(', ')}`);
  written.split(/(?<=\n)/).forEach((line, i) => {
    const window = Number(/window (\d+)/.exec(reasons[i] ?? '')?.[1]);
    const ts = BigInt(line.split('\t')[1] ?? '0');
    assert.equal(ts / BigInt(WINDOW) - 1700000001n / BigInt(WINDOW), BigInt(window), `${line.trim()} is in window ${window}`);
  });
  assert.match(run.stdout, new RegExp(`${lines.length} rows the target rejected were written to `));
  const done = await server.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE state = 'done')::int AS d FROM hyperfill.backfill_window`, [], 'reject_target');
  assert.equal(done.rows[0].n, done.rows[0].d, 'every window done');

  // A rerun of the same run copies nothing and writes the same rejects again.
  const again = await backfill(target, ['--on-error', 'reject', '--rejects', rejects]);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(readFileSync(rejects, 'utf8').split(/(?<=\n)/).sort(), lines);
  assert.deepEqual(await digest('SELECT * FROM events', 'reject_target'), want);
});

test('--on-error skip loads the same rows; stop (the default) stops at the first refused row', async () => {
  const target = await freshTarget('skip_target');
  const run = await backfill(target, ['--on-error', 'skip']);
  assert.equal(run.code, 0, run.stderr);
  const want = await digest(`SELECT * FROM events WHERE ts < ${UNTIL} AND NOT ${BAD} UNION ALL SELECT ${TAKEN_ID}, ${UNTIL} + 5, 1, 'dual-written after T', 1`, 'source');
  assert.deepEqual(await digest('SELECT * FROM events', 'skip_target'), want);
  assert.match(run.stdout, /rows the target rejected were skipped/);

  const stopped = await freshTarget('stop_target');
  const stop = await backfill(stopped, []);
  assert.equal(stop.code, 1);
  assert.match(stop.stderr, /SQLSTATE (22003|23502|23505|23514)/);
});

test('--max-rejects stops the run with E_TOO_MANY_REJECTS; the window that went over is rolled back', async () => {
  const target = await freshTarget('capped_target');
  const run = await backfill(target, ['--on-error', 'skip', '--max-rejects', '2', '--parallel', '1']);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /E_TOO_MANY_REJECTS: more than 2 rows were rejected \(--max-rejects 2\); the last one: public\.events window \d+:\d+: /);
  const done = await server.query(`SELECT coalesce(sum(rows), 0)::int AS rows FROM hyperfill.backfill_window WHERE state = 'done'`, [], 'capped_target');
  const inTable = await server.query('SELECT count(*)::int AS n FROM events', [], 'capped_target');
  assert.equal(inTable.rows[0].n, done.rows[0].rows + 1, 'the rows of done windows, and the dual-written one');
});

test('a SIGKILL while a window is being isolated, then a rerun: every good row once, every bad row once in the rejects file', async () => {
  const target = await freshTarget('killed_target');
  // A row the trigger refuses only after a second's sleep, so the kill lands while its window is copied in pieces.
  const slowId = 14_321;
  await server.query(`CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.id = ${slowId} THEN
        PERFORM pg_sleep(1);
        RAISE EXCEPTION 'slow and bad' USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER slow BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION slow()`, [], 'killed_target');
  const rejects = join(dir, 'killed.txt');
  const args = ['backfill', '--source', sourceUrl, '--target', target, '--table', 'events', '--time-column', 'ts', '--until', UNTIL, '--window', WINDOW,
    '--parallel', '2', '--allow-plain-target', '--on-error', 'reject', '--rejects', rejects];
  const slowWindow = 1700000000n + BigInt(slowId);
  const windowIndex = slowWindow / BigInt(WINDOW) - 1700000001n / BigInt(WINDOW);
  const isolating = new RegExp(`window ${windowIndex} of public\\.events: the target rejected a row \\(slow and bad`);
  const first = await runCli(args, { hangAfterMs: 120_000, onSpawn: killOnStderr(isolating) });
  assert.equal(first.signal, 'SIGKILL', first.stderr);
  assert.match(first.stderr, isolating, 'killed while the window was being isolated');
  const state = await server.query(`SELECT state FROM hyperfill.backfill_window WHERE idx = $1`, [Number(windowIndex)], 'killed_target');
  assert.equal(state.rows[0].state, 'pending', 'the window being isolated was not committed');

  const again = await runCli(args, { hangAfterMs: 120_000 });
  assert.equal(again.code, 0, again.stderr);
  const bad = `(${BAD.slice(1, -1)} OR id = ${slowId})`;
  const want = await digest(`SELECT * FROM events WHERE ts < ${UNTIL} AND NOT ${bad} UNION ALL SELECT ${TAKEN_ID}, ${UNTIL} + 5, 1, 'dual-written after T', 1`, 'source');
  assert.deepEqual(await digest('SELECT * FROM events', 'killed_target'), want, 'every good row once');
  const slowLine = (await server.query(`SELECT id, ts, v, tag, code FROM events WHERE id = ${slowId}`, [], 'source')).rows[0];
  const lines = [...await badLines(), `${slowLine.id}\t${slowLine.ts}\t${slowLine.v}\t${slowLine.tag}\t${slowLine.code}\n`].sort();
  assert.deepEqual(readFileSync(rejects, 'utf8').split(/(?<=\n)/).sort(), lines, 'every bad row once in the rejects file');
  assert.match(readFileSync(`${rejects}.reasons`, 'utf8'), new RegExp(`^public\\.events window ${windowIndex}:\\d+: row \\d+: slow and bad \\(SQLSTATE 23514\\)$`, 'm'));
});
