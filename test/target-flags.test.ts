/**
 * Every command that takes a target takes the same target flags (`--target`,
 * `--allow-plain-target`, `--retry-timeout`): `verify` refused `--allow-plain-target`,
 * which `backfill` requires for the same plain PostgreSQL target.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';

let server: PostgresServer;
let source: string;
let target: string;
const UNTIL = '2024-01-02T00:00:00Z';
const DDL = 'CREATE TABLE metrics (time timestamptz NOT NULL, v int)';

before(async () => {
  server = await startPostgres();
  source = await server.createDatabase('flags_source');
  target = await server.createDatabase('flags_target');
  await server.query(`${DDL}; INSERT INTO metrics SELECT '2024-01-01'::timestamptz + i * interval '1 minute', i FROM generate_series(0, 2879) i`, [], 'flags_source');
  await server.query(DDL, [], 'flags_target');
});
after(async () => {
  await server?.stop();
});

const TARGET_FLAGS = ['--allow-plain-target', '--retry-timeout', '5s'];
const range = ['--source', () => source, '--table', 'metrics', '--time-column', 'time'] as const;

test('every command that takes a target accepts the target flags', async () => {
  const resolve = (args: ReadonlyArray<string | (() => string)>) => args.map((a) => (typeof a === 'function' ? a() : a));
  const commands: Array<[string, string[], string]> = [
    ['backfill', resolve(['backfill', ...range, '--until', UNTIL, '--target', target, ...TARGET_FLAGS]), ''],
    ['verify', resolve(['verify', ...range, '--until', UNTIL, '--target', target, ...TARGET_FLAGS]), ''],
    ['plan', resolve(['plan', ...range, '--target', target, ...TARGET_FLAGS]), ''],
    ['schema', resolve(['schema', ...range, '--target', target, ...TARGET_FLAGS]), ''],
    ['bench', ['bench', '--target', target, '--workers', '1', '--batch-size', '1000', '--rows', '2000', ...TARGET_FLAGS], ''],
    ['copy', ['copy', '--target', target, '--table', 'metrics', ...TARGET_FLAGS], '2024-03-01T00:00:00Z,1\n'],
    ['restore-policies', ['restore-policies', '--target', target, ...TARGET_FLAGS], ''],
  ];
  for (const [name, args, stdin] of commands) {
    const run = await runMain(args, stdin);
    assert.equal(run.code, 0, `${name}: ${run.stderr}`);
  }
  const rows = await server.query<{ n: number }>('SELECT count(*)::int AS n FROM metrics', [], 'flags_target');
  assert.equal(rows.rows[0]?.n, 1440 + 1, 'backfill copied the day before --until and copy its one row');
});

test('schema with --allow-plain-target on a plain target prints and applies plain tables', async () => {
  const run = await runMain(['schema', '--source', source, '--table', 'metrics:plain_copy', '--time-column', 'time', '--target', target, '--apply', '--allow-plain-target']);
  assert.equal(run.code, 0, run.stderr);
  assert.doesNotMatch(run.stdout, /create_hypertable/);
  assert.match(run.stderr, /plain tables/);
  const made = await server.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'plain_copy'`, [], 'flags_target');
  assert.equal(made.rows[0]?.n, 1);
});

test('copy refuses both --connection and --target', async () => {
  const run = await runMain(['copy', '--connection', target, '--target', target, '--table', 'metrics']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /E_USAGE: give the target once: `--target` and `--connection` are the same flag/);
});
