/**
 * Backfill through the transform stage: a PostgreSQL source (epoch-ms time column,
 * JSON payload, awkward text) into a differently shaped target that keeps the time
 * column (the window's dual-written rows are deleted by it). With 1, 2 and 4
 * worker threads the target equals what the inline runner gives, and the built-in
 * mappings alone give exactly the rows computed here by hand.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';

const KEEPS_TIME = fileURLToPath(new URL('../../test/fixtures/transforms/keeps-time.mjs', import.meta.url));
const UNTIL = '1700003000000';
let server: PostgresServer;
let sourceUrl: string;

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
    '--until', UNTIL, '--window', '500000', '--parallel', '2', '--allow-plain-target', ...extra]);
  assert.equal(run.code, 0, run.stderr);
  return (await server.query('SELECT * FROM readings ORDER BY id, tag', [], db)).rows;
}

test('--transform with 1, 2 and 4 worker threads equals the inline run', async () => {
  const table = 'CREATE TABLE readings (id int, ts bigint, device text, temp float8, note text, tag text)';
  const inline = await backfillInto('t_inline', table, [...MAPPINGS, '--transform', KEEPS_TIME, '--transform-workers', '0']);
  assert.ok(inline.length > 2500, `rows: ${inline.length}`);
  assert.ok(inline.some((r) => (r as { id: number }).id < 0), 'fanned-out rows are there');
  for (const workers of [1, 2, 4]) {
    const threaded = await backfillInto(`t_w${workers}`, table, [...MAPPINGS, '--transform', KEEPS_TIME, '--transform-workers', String(workers)]);
    assert.deepEqual(threaded, inline, `${workers} workers`);
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
  assert.match(run.stderr, /transform\.mjs/);
  run = await runMain([...base, '--map', 'ts:time']);
  assert.match(run.stderr, /E_TRANSFORM_TIME_COLUMN: the transform's output for public\.readings has no column "ts"/);
  run = await runMain([...base, '--drop', 'note', '--on-error', 'reject', '--rejects', '/tmp/x']);
  assert.match(run.stderr, /--on-error reject` is not available for backfill/);
});
