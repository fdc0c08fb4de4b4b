/**
 * Every command that takes a target takes the same target flags (`--target`, its
 * timescaledb-parallel-copy spelling `--connection`, `--allow-plain-target`,
 * `--retry-timeout`): `verify` refused `--allow-plain-target`, which `backfill` requires for
 * the same plain PostgreSQL target; `copy` took only `--connection` and every other command
 * only `--target`; clone, status, replay and compare took neither `--retry-timeout` nor
 * `--allow-plain-target`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';

let server: PostgresServer;
let source: string;
let target: string;
const UNTIL = '2024-01-02T00:00:00Z';
const DDL = 'CREATE TABLE metrics (time timestamptz NOT NULL, v int)';

let dir: string;
let queries: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hyperfill-flags-'));
  queries = join(dir, 'queries.sql');
  writeFileSync(queries, 'SELECT count(*) FROM metrics WHERE time < \'2024-01-02\';\n');
  server = await startPostgres();
  source = await server.createDatabase('flags_source');
  target = await server.createDatabase('flags_target');
  await server.query(`${DDL}; INSERT INTO metrics SELECT '2024-01-01'::timestamptz + i * interval '1 minute', i FROM generate_series(0, 2879) i`, [], 'flags_source');
  await server.query(DDL, [], 'flags_target');
});
after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const TARGET_FLAGS = ['--allow-plain-target', '--retry-timeout', '5s'];
const range = ['--source', () => source, '--table', 'metrics', '--time-column', 'time'] as const;

/** Every command that takes a target, with the flags it needs besides; `flag` names the target. */
function everyCommand(flag: '--target' | '--connection'): Array<[string, string[], string]> {
  const resolve = (args: ReadonlyArray<string | (() => string)>) => args.map((a) => (typeof a === 'function' ? a() : a));
  return [
    ['backfill', resolve(['backfill', ...range, '--until', UNTIL, flag, target, ...TARGET_FLAGS]), ''],
    ['verify', resolve(['verify', ...range, '--until', UNTIL, flag, target, ...TARGET_FLAGS]), ''],
    ['plan', resolve(['plan', ...range, flag, target, ...TARGET_FLAGS]), ''],
    ['schema', resolve(['schema', ...range, flag, target, ...TARGET_FLAGS]), ''],
    ['bench', ['bench', flag, target, '--workers', '1', '--batch-size', '1000', '--rows', '2000', ...TARGET_FLAGS], ''],
    ['copy', ['copy', flag, target, '--table', 'metrics', ...TARGET_FLAGS], `2024-03-0${flag === '--target' ? 1 : 2}T00:00:00Z,1\n`],
    ['restore-policies', ['restore-policies', flag, target, ...TARGET_FLAGS], ''],
    ['status', resolve(['status', ...range, flag, target, ...TARGET_FLAGS]), ''],
    ['clone --suggest', resolve(['clone', '--source', source, '--suggest', flag, target, ...TARGET_FLAGS]), ''],
    ['compare', resolve(['compare', '--source', source, '--queries', queries, flag, target, '--repeat', '1', ...TARGET_FLAGS]), ''],
    ['replay', resolve(['replay', '--spool', () => join(dir, `spool-${flag.slice(2)}`), flag, target, ...TARGET_FLAGS]), ''],
  ];
}

test('every command that takes a target accepts the target flags, with the target as --target', async () => {
  for (const [name, args, stdin] of everyCommand('--target')) {
    const run = await runMain(args, stdin);
    assert.equal(run.code, 0, `${name}: ${run.stderr}`);
  }
  const rows = await server.query<{ n: number }>('SELECT count(*)::int AS n FROM metrics', [], 'flags_target');
  assert.equal(rows.rows[0]?.n, 1440 + 1, 'backfill copied the day before --until and copy its one row');
});

test('... and with the target as --connection, as timescaledb-parallel-copy names it', async () => {
  for (const [name, args, stdin] of everyCommand('--connection')) {
    const run = await runMain(args, stdin);
    assert.equal(run.code, 0, `${name}: ${run.stderr}`);
  }
  const rows = await server.query<{ n: number }>(`SELECT count(*)::int AS n FROM metrics WHERE time >= '2024-03-01'`, [], 'flags_target');
  assert.equal(rows.rows[0]?.n, 2, 'copy loaded one row under each name of the flag');
});

test('schema with --allow-plain-target on a plain target prints and applies plain tables', async () => {
  const run = await runMain(['schema', '--source', source, '--table', 'metrics:plain_copy', '--time-column', 'time', '--target', target, '--apply', '--allow-plain-target']);
  assert.equal(run.code, 0, run.stderr);
  assert.doesNotMatch(run.stdout, /create_hypertable/);
  assert.match(run.stderr, /plain tables/);
  const made = await server.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'plain_copy'`, [], 'flags_target');
  assert.equal(made.rows[0]?.n, 1);
});

test('every command refuses both --connection and --target', async () => {
  for (const [name, args] of everyCommand('--target')) {
    const run = await runMain([...args, '--connection', target]);
    assert.equal(run.code, 2, `${name}: ${run.stderr}`);
    assert.match(run.stderr, /E_USAGE: give the target once: `--target` and `--connection` are the same flag/, name);
  }
});
