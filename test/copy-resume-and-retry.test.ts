/**
 * Exactly-once: an import SIGKILLed mid-run and rerun with the same --import-id ends
 * with exactly the input; a server restart mid-run is retried and ends exact too.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { metricsCsv } from '../src/demo/generate-csv.js';
import { runCli } from './helpers/cli.js';
import { serverCopy } from './helpers/pg-copy.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { tempDir } from './helpers/temp-dir.js';
import { watchChild } from './helpers/watch-child.js';

let server: PostgresServer;
const dir = tempDir('resume');
const ROWS = 600_000;
let csvFile: string;

before(async () => {
  server = await startPostgres();
  csvFile = join(dir, 'metrics.csv');
  writeFileSync(csvFile, [...metricsCsv({ rows: ROWS, hosts: 50, startMs: Date.UTC(2024, 0, 1), stepMs: 1000, header: true })].join(''));
});
after(async () => {
  await server?.stop();
});

async function freshTable(name: string): Promise<void> {
  await server.query(`DROP TABLE IF EXISTS ${name}; CREATE TABLE ${name} (time timestamptz, host text, cpu float8, mem float8, n int)`);
}

/** Exactly the input: every n once, and the content sums agree with the generator's. */
async function assertExactlyTheInput(table: string, rows = ROWS): Promise<void> {
  const r = await server.query(`SELECT count(*)::int AS c, count(DISTINCT n)::int AS d, min(n) AS lo, max(n) AS hi,
    md5(string_agg(n::text || host || cpu::text || mem::text || time::text, ',' ORDER BY n)) AS digest FROM ${table}`);
  const want = await server.query(`SELECT md5(string_agg(n::text || host || cpu::text || mem::text || time::text, ',' ORDER BY n)) AS digest FROM reference`);
  assert.deepEqual([r.rows[0].c, r.rows[0].d, r.rows[0].lo, r.rows[0].hi], [rows, rows, 0, rows - 1]);
  assert.equal(r.rows[0].digest, want.rows[0].digest, 'content equals PostgreSQL\'s own COPY of the same file');
}

/** Batches the import has committed, read on the watcher's one connection. */
async function committedBatches(client: pg.Client, importId: string): Promise<number> {
  const r = await client.query('SELECT count(*)::int AS n FROM hyperfill.copy_batch WHERE import_id = $1', [importId]);
  return r.rows[0].n;
}

test('reference table loaded by PostgreSQL\'s own COPY', async () => {
  await freshTable('reference');
  const rows = await serverCopy(server.url(), 'COPY reference FROM STDIN (FORMAT csv, HEADER true)', { file: csvFile });
  assert.equal(rows, ROWS);
});

for (const killAfter of [3, 40]) {
  test(`--import-id: SIGKILL after ${killAfter} committed batches, then a rerun loads exactly the rest`, async () => {
    const table = `killed_${killAfter}`;
    const importId = `kill-${killAfter}`;
    await freshTable(table);
    const args = ['copy', '--connection', server.url(), '--table', table, '--file', csvFile, '--skip-header',
      '--batch-size', '2000', '--workers', '4', '--import-id', importId];
    let watched: Promise<boolean> | undefined;
    const first = await runCli(args, {
      onSpawn: (child) => {
        watched = watchChild(child, server.url(), async (c) => (await committedBatches(c, importId)) >= killAfter, () => child.kill('SIGKILL'));
      },
    });
    assert.equal(await watched, true, first.stderr);
    assert.equal(first.signal, 'SIGKILL', 'the first run was killed mid-import');
    const partial = await server.query(`SELECT count(*)::int AS n FROM ${table}`);
    assert.ok(partial.rows[0].n > 0 && partial.rows[0].n < ROWS, `partial load: ${partial.rows[0].n}`);
    const again = await runCli(args);
    assert.equal(again.code, 0, again.stderr);
    const skipped = Number(/skipped (\d+) batches/.exec(again.stderr)?.[1]);
    assert.ok(skipped >= killAfter, again.stderr);
    assert.equal(Number(/^COPY (\d+)$/m.exec(again.stdout)?.[1]) + partial.rows[0].n, ROWS);
    await assertExactlyTheInput(table);
    // A third run finds everything committed and loads nothing.
    const third = await runCli(args);
    assert.equal(third.code, 0, third.stderr);
    assert.equal(third.stdout, 'COPY 0\n');
    await assertExactlyTheInput(table);
  });
}

test('--import-id refuses a changed input instead of leaving a hole', async () => {
  await freshTable('changed');
  const small = join(dir, 'small.csv');
  writeFileSync(small, 'time,host,cpu,mem,n\n2024-01-01T00:00:00Z,a,1,1,0\n2024-01-01T00:00:01Z,a,1,1,1\n');
  const args = ['copy', '--connection', server.url(), '--table', 'changed', '--file', small, '--skip-header', '--import-id', 'changed'];
  assert.equal((await runCli(args)).code, 0);
  writeFileSync(small, 'time,host,cpu,mem,n\n2024-01-01T00:00:00Z,b,1,1,0\n2024-01-01T00:00:01Z,a,1,1,1\n');
  const rerun = await runCli(args);
  assert.equal(rerun.code, 1);
  assert.match(rerun.stderr, /E_IMPORT_INPUT_CHANGED: the input differs from what import "changed" committed earlier/);
  const other = await runCli([...args, '--batch-size', '1']);
  assert.match(other.stderr, /E_IMPORT_SETTINGS_CHANGED: import "changed" was started with other settings \(batchRows: 20000 then, 1 now\)/);
});

test('stdin, gzip on stdin, and several files (gzip among them) load the same rows', async () => {
  const text = [...metricsCsv({ rows: 30_000, hosts: 5, startMs: Date.UTC(2024, 0, 1), stepMs: 1000 })].join('');
  const gz = gzipSync(text);
  const lines = text.split('\n');
  const half = lines.slice(0, 15_000).join('\n') + '\n';
  const rest = lines.slice(15_000).join('\n');
  writeFileSync(join(dir, 'part1.csv'), half);
  writeFileSync(join(dir, 'part2.csv.gz'), gzipSync(rest));
  const variants: Array<[string, string[], Buffer | string | undefined]> = [
    ['plain stdin', [], text],
    ['gzip on stdin', ['--file', '-'], gz],
    ['two files', ['--file', join(dir, 'part1.csv'), '--file', join(dir, 'part2.csv.gz')], undefined],
  ];
  for (const [name, flags, stdin] of variants) {
    await freshTable('piped');
    const run = await runCli(['copy', '--connection', server.url(), '--table', 'piped', '--batch-size', '999', ...flags], stdin === undefined ? {} : { stdin });
    assert.equal(run.code, 0, `${name}: ${run.stderr}`);
    assert.equal(run.stdout, 'COPY 30000\n', name);
    const r = await server.query('SELECT count(DISTINCT n)::int AS d, sum(n)::bigint AS s FROM piped');
    assert.deepEqual([r.rows[0].d, Number(r.rows[0].s)], [30_000, (29_999 * 30_000) / 2], name);
  }
});

test('the server restarted mid-run: workers retry and the import ends exact', async () => {
  await freshTable('restarted');
  let restarted: Promise<boolean> | undefined;
  const run = await runCli(['copy', '--connection', server.url(), '--table', 'restarted', '--file', csvFile, '--skip-header',
    '--batch-size', '2000', '--workers', '4', '--import-id', 'restart', '--retry-timeout', '60s'], {
    onSpawn: (child) => {
      restarted = watchChild(child, server.url(), async (c) => (await committedBatches(c, 'restart')) >= 10, () => server.restart());
    },
  });
  assert.equal(await restarted, true, 'the server was restarted during the run');
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /connection lost .*; retry 1 in/);
  await assertExactlyTheInput('restarted');
});
