/**
 * Backfill through the transform stage: a PostgreSQL source (epoch-ms time column,
 * JSON payload, awkward text) into a differently shaped target that keeps the time
 * column (the window's dual-written rows are deleted by it). Inline and with 1, 2 and 4
 * worker threads the target holds exactly what the test makes of the source rows with
 * the fixture transform, and the built-in mappings alone give exactly the rows computed
 * here in SQL.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runCli } from './helpers/cli.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';
import { tempDir } from './helpers/temp-dir.js';
import { watchChild } from './helpers/watch-child.js';

const KEEPS_TIME = fileURLToPath(new URL('../../test/fixtures/transforms/keeps-time.mjs', import.meta.url));
const UNTIL = '1700003000000';
const WINDOW = 500_000n;
let server: PostgresServer;
let sourceUrl: string;
const dir = tempDir('bft');

before(async () => {
  server = await startPostgres();
  sourceUrl = await server.createDatabase('source');
  await server.query(`CREATE TABLE readings (id int, ts bigint NOT NULL, device text, payload text, note text);
    INSERT INTO readings SELECT i, 1700000000000 + i * 1000, CASE WHEN i % 17 = 0 THEN NULL ELSE 'dev-' || (i % 13) END,
      CASE WHEN i % 19 = 0 THEN NULL ELSE json_build_object('sensor', json_build_object('temp', (i % 400) / 10.0))::text END,
      (ARRAY['plain', '', 'tab' || chr(9) || 'x', 'two' || chr(10) || 'lines', 'back\\slash', 'é✓日本😀', NULL])[1 + i % 7]
    FROM generate_series(1, 4000) i`, [], 'source');
});
after(async () => {
  await server?.stop();
});

const MAPPINGS = ['--json-path', 'temp=payload.sensor.temp', '--drop', 'payload'];

async function backfillInto(db: string, table: string, extra: string[]): Promise<unknown[]> {
  const target = await server.createDatabase(db);
  await server.query(table, [], db);
  const run = await runMain(['backfill', '--source', sourceUrl, '--target', target, '--table', 'readings', '--time-column', 'ts',
    '--until', UNTIL, '--window', String(WINDOW), '--parallel', '2', '--allow-plain-target', ...extra]);
  assert.equal(run.code, 0, run.stderr);
  return (await server.query('SELECT * FROM readings ORDER BY id, tag', [], db)).rows;
}

/**
 * What the target should hold, computed here: the source rows before --until, the built-in
 * mappings done by hand, then the fixture transform itself called on each row with the
 * position it has in its window's input. Windows are --window wide and aligned to
 * multiples of it; a window's rows arrive in the order a sequential scan reads them (heap
 * order, ctid: not id order, since rows of different sizes fill pages out of order); one
 * row a line, so a row's line is its row number.
 */
async function expectedThroughTransform(): Promise<unknown[]> {
  const keepsTime = (await import(pathToFileURL(KEEPS_TIME).href)).default as (row: Record<string, unknown>, ctx: { row: number; line: number }) => unknown;
  const source = (await server.query('SELECT id, ts, device, payload, note FROM readings WHERE ts < $1 ORDER BY ctid', [UNTIL], 'source')).rows;
  const out: Array<Record<string, unknown>> = [];
  const positions = new Map<bigint, number>();
  for (const r of source) {
    const window = BigInt(r.ts) / WINDOW;
    const position = (positions.get(window) ?? 0) + 1;
    positions.set(window, position);
    const temp = r.payload === null ? undefined : JSON.parse(r.payload).sensor?.temp;
    const row = { id: String(r.id), ts: r.ts, device: r.device, temp: temp === undefined ? null : String(temp), note: r.note };
    const result = keepsTime(row, { row: position, line: position });
    for (const o of result === null ? [] : Array.isArray(result) ? result : [result]) out.push({ ...o, ts: String(o.ts) });
  }
  const byIdThenTag = (a: Record<string, unknown>, b: Record<string, unknown>) =>
    (a.id as number) - (b.id as number) || (String(a.tag) < String(b.tag) ? -1 : String(a.tag) > String(b.tag) ? 1 : 0);
  return out.sort(byIdThenTag);
}

test('--transform, inline and with 1, 2 and 4 worker threads, gives exactly the rows the transform makes of the source', async () => {
  const table = 'CREATE TABLE readings (id int, ts bigint, device text, temp float8, note text, tag text)';
  const expected = await expectedThroughTransform();
  assert.ok(expected.length > 2500 && expected.some((r) => (r as { id: number }).id < 0), 'rows dropped and fanned out');
  for (const workers of [0, 1, 2, 4]) {
    const actual = await backfillInto(`t_w${workers}`, table, [...MAPPINGS, '--transform', KEEPS_TIME, '--transform-workers', String(workers)]);
    assert.deepEqual(actual, expected, `${workers} workers`);
  }
});

test('built-in mappings alone: exactly the rows computed by hand, rows at --until left out', async () => {
  const rows = await backfillInto('t_mapped', 'CREATE TABLE readings (id int, ts bigint, sensor text, temp float8, note text, site text, tag text)',
    [...MAPPINGS, '--map', 'device:sensor', '--set', 'site=eu-{device}']);
  const expected = (await server.query(`SELECT id, ts, device AS sensor, (payload::json -> 'sensor' ->> 'temp')::float8 AS temp, note,
      'eu-' || device AS site, NULL AS tag FROM readings WHERE ts < $1 ORDER BY id`, [UNTIL], 'source')).rows;
  assert.equal(rows.length, 2999);
  assert.deepEqual(rows, expected);
});

test('a transform is refused before copying when it cannot load, and --on-error reject is refused for backfill', async () => {
  const target = await server.createDatabase('t_bad');
  await server.query('CREATE TABLE readings (id int, ts bigint)', [], 't_bad');
  const base = ['backfill', '--source', sourceUrl, '--target', target, '--table', 'readings', '--time-column', 'ts', '--until', UNTIL, '--allow-plain-target'];
  let run = await runMain([...base, '--transform', '/nonexistent/transform.mjs']);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^error E_TRANSFORM_LOAD: the transform \/nonexistent\/transform\.mjs does not exist\n/);
  run = await runMain([...base, '--map', 'ts:time']);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^error E_TRANSFORM_TIME_COLUMN: the transform's output for public\.readings has no column "ts"\n/);
  run = await runMain([...base, '--drop', 'note', '--on-error', 'reject', '--rejects', '/tmp/x']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /^error E_USAGE: `--on-error reject` is not available for backfill\n/);
  assert.equal((await server.query('SELECT count(*)::int AS n FROM readings', [], 't_bad')).rows[0].n, 0, 'nothing was copied');
});

test('a transform whose output has a column the target lacks is refused before copying, without a stack trace', async () => {
  const target = await server.createDatabase('t_narrow');
  await server.query('CREATE TABLE readings (id int, ts bigint, device text)', [], 't_narrow');
  for (const workers of ['0', '2']) {
    const run = await runMain(['backfill', '--source', sourceUrl, '--target', target, '--table', 'readings', '--time-column', 'ts', '--until', UNTIL,
      '--allow-plain-target', ...MAPPINGS, '--transform', KEEPS_TIME, '--transform-workers', workers]);
    assert.equal(run.code, 1, `${workers} workers`);
    assert.match(run.stderr, /^error E_COLUMN_MISSING: table public\.readings has no column "temp", "note", "tag", which the transform writes\n/);
    assert.doesNotMatch(run.stderr, /\n\s+at .*\.js:\d+/, 'no stack trace');
  }
  assert.equal((await server.query('SELECT count(*)::int AS n FROM readings', [], 't_narrow')).rows[0].n, 0, 'nothing was copied');
});

test('the target refusing a window while its next batch is still in the transform: a clear error, not a crash', async () => {
  // 10,005 rows in one window: two transform batches (10,000 rows each). The target refuses
  // row 2, in the first; the gated transform holds row 10,003, in the second, until the test
  // has seen the target abort the COPY.
  await server.query(`CREATE TABLE gated (id int, ts bigint NOT NULL); INSERT INTO gated SELECT i, 1700000000000 + i FROM generate_series(1, 10005) i`, [], 'source');
  const target = await server.createDatabase('t_refused');
  await server.query('CREATE TABLE gated (id int CHECK (id <> 2), ts bigint)', [], 't_refused');
  const gate = join(dir, 'gate-open');
  const transform = join(dir, 'gated.mjs');
  writeFileSync(transform, `import { existsSync } from 'node:fs';
const nap = new Int32Array(new SharedArrayBuffer(4));
export default function (row) {
  while (row.id === '10003' && !existsSync(${JSON.stringify(gate)})) Atomics.wait(nap, 0, 0, 10);
  return row;
}`);
  let opened: Promise<boolean> | undefined;
  const run = await runCli(['backfill', '--source', sourceUrl, '--target', target, '--table', 'gated', '--time-column', 'ts', '--until', '1700000020000',
    '--window', '1000000', '--allow-plain-target', '--transform', transform, '--transform-workers', '1'], {
    onSpawn: (child) => {
      opened = watchChild(child, target, async (c) => (await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = 't_refused' AND application_name LIKE 'hyperfill%' AND state = 'idle in transaction (aborted)'`)).rows[0].n > 0,
      () => writeFileSync(gate, ''));
    },
  });
  assert.equal(await opened, true, run.stderr);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /^error E_WINDOW_FAILED: window 0 of public\.gated failed: new row for relation "gated" violates check constraint "gated_id_check"/m);
  assert.doesNotMatch(run.stderr, /\n\s+at .*\.js:\d+/, 'no stack trace');
  assert.equal((await server.query('SELECT count(*)::int AS n FROM gated', [], 't_refused')).rows[0].n, 0, 'the window was rolled back');
});
