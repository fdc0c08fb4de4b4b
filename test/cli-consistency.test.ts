/**
 * What a new user meets before any database: every command's help in one layout that
 * describes every flag the command takes; `hyperfill help <command>` and `--version`;
 * unknown flags and commands answered with the nearest one; usage errors (a garbage
 * connection string, an unreadable table name) exiting 2 as the README says; no target
 * named at all saying so and what was tried; and a clone that runs `npx hyperfill` after
 * `npm install` without a separate build (the `prepare` script).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BACKFILL_FLAGS, RESTORE_FLAGS } from '../src/cli/backfill.js';
import { BENCH_FLAGS } from '../src/cli/bench.js';
import { CLONE_FLAGS } from '../src/cli/clone.js';
import { COMPARE_FLAGS } from '../src/cli/compare.js';
import { COPY_FLAGS } from '../src/cli/copy.js';
import { editDistance, type FlagSpec } from '../src/cli/flags.js';
import { FLAG_COLUMN, HELP_WIDTH } from '../src/cli/help.js';
import { PLAN_FLAGS } from '../src/cli/plan.js';
import { REPLAY_FLAGS } from '../src/cli/replay.js';
import { SCHEMA_FLAGS } from '../src/cli/schema.js';
import { STATUS_FLAGS } from '../src/cli/status.js';
import { VERIFY_FLAGS } from '../src/cli/verify.js';
import { runCli } from './helpers/cli.js';
import { runMain } from './helpers/run-main.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const COMMANDS: Record<string, FlagSpec> = {
  copy: COPY_FLAGS, backfill: BACKFILL_FLAGS, verify: VERIFY_FLAGS, plan: PLAN_FLAGS, schema: SCHEMA_FLAGS, bench: BENCH_FLAGS,
  clone: CLONE_FLAGS, status: STATUS_FLAGS, replay: REPLAY_FLAGS, compare: COMPARE_FLAGS, 'restore-policies': RESTORE_FLAGS,
};

/** Every command that takes a target, with the flags it needs to get as far as reading it. */
const TARGET_COMMANDS: Record<string, string[]> = {
  copy: ['--table', 't'],
  backfill: ['--source', 'postgres://localhost/s', '--table', 't', '--until', '2024-01-01T00:00:00Z'],
  verify: ['--source', 'postgres://localhost/s', '--table', 't', '--until', '2024-01-01T00:00:00Z'],
  plan: ['--source', 'postgres://localhost/s', '--table', 't'],
  schema: ['--source', 'postgres://localhost/s', '--table', 't'],
  bench: [],
  clone: ['--source', 'postgres://localhost/s'],
  status: ['--source', 'postgres://localhost/s'],
  replay: ['--spool', '/nonexistent/spool'],
  compare: ['--source', 'postgres://localhost/s', '--queries', 'q.sql'],
  'restore-policies': [],
};

test('every command lists every flag it takes in its help, in the same columns', async () => {
  for (const [name, spec] of Object.entries(COMMANDS)) {
    const run = await runMain([name, '--help']);
    assert.equal(run.code, 0, name);
    const help = run.stdout;
    assert.match(help, new RegExp(`^Usage: hyperfill ${name} `), name);
    const flagLines = help.split('\n').filter((l) => /^ {2}(-\w, | {4})--/.test(l));
    for (const flag of Object.keys(spec)) {
      assert.ok(flagLines.some((l) => new RegExp(`^ {2}(-\\w, | {4})--${flag}( |$)`).test(l)), `${name} --help describes --${flag}`);
    }
    for (const line of help.split('\n')) {
      assert.ok(line.length <= HELP_WIDTH || !line.trim().includes(' '), `${name}: a help line longer than ${HELP_WIDTH}: ${line}`);
    }
    // A flag's description starts at FLAG_COLUMN on its line, or on the next line when the flag is too long.
    const lines = help.split('\n');
    lines.forEach((line, i) => {
      if (!/^ {2}(-\w, | {4})--/.test(line)) return;
      const alone = !/\S {2,}\S/.test(line.trim());
      const described = alone ? lines[i + 1] ?? '' : line;
      assert.match(described.slice(0, FLAG_COLUMN), alone ? /^ {30}$/ : /^.{28} {2}$/, `${name}: ${line}`);
      assert.match(described.slice(FLAG_COLUMN), /^\S/, `${name}: ${line}`);
    });
    const viaHelp = await runMain(['help', name]);
    assert.equal(viaHelp.code, 0);
    assert.equal(viaHelp.stdout, help, `hyperfill help ${name} prints what ${name} --help prints`);
  }
});

test('plan --help says what its flags are and what the defaults mean', async () => {
  const { stdout } = await runMain(['plan', '--help']);
  assert.match(stdout, /--source URL +the source the backfill will read/);
  assert.match(stdout, /--target URL +the TimescaleDB/);
  assert.match(stdout, /--table SRC\[:DST\] +a table, repeatable/);
  assert.match(stdout, /--max-lateness SIZE[^]*Default: 1h for timestamp and date\s+columns, 0 for integer ones/);
  assert.match(stdout, /--align SIZE[^]*Default: 1h for timestamp\s+and date columns, 1 for integer ones/);
});

test('the command list aligns every command, restore-policies too', async () => {
  const { stdout, code } = await runMain(['--help']);
  assert.equal(code, 0);
  const rows = stdout.split('\n').filter((l) => /^ {2}[a-z-]+ {2,}\S/.test(l));
  assert.equal(rows.length, 11);
  const column = new Set(rows.map((l) => /^ {2}[a-z-]+ +/.exec(l)![0].length));
  assert.deepEqual([...column], [20], stdout);
});

test('--version prints the version of package.json', async () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const run = await runMain([flag]);
    assert.equal(run.code, 0);
    assert.equal(run.stdout, `hyperfill ${pkg.version}\n`);
  }
});

test('an unknown flag or command is answered with the nearest one', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['copy', '--table', 't', '--skip-headr'], /unknown flag `--skip-headr` for `hyperfill copy`: did you mean `--skip-header`\?/],
    [['copy', '--table', 't', '--conection', 'x'], /did you mean `--connection`\?/],
    [['backfill', '--untill', 'x'], /did you mean `--until`\?/],
    [['plan', '--max-latenes', '1h'], /did you mean `--max-lateness`\?/],
    [['copy', '--zzzzzz'], /unknown flag `--zzzzzz` for `hyperfill copy`\n/],
    [['bakfill'], /unknown command "bakfill": did you mean `backfill`\?/],
  ];
  for (const [args, message] of cases) {
    const run = await runMain(args);
    assert.equal(run.code, 2, args.join(' '));
    assert.match(run.stderr, message);
  }
  assert.equal(editDistance('skip-headr', 'skip-header'), 1);
  assert.equal(editDistance('tabel', 'table'), 1, 'two letters swapped are one edit');
});

test('a garbage connection string is a usage error (exit 2) on every command that takes a target', async () => {
  for (const [name, args] of Object.entries(TARGET_COMMANDS)) {
    for (const flag of ['--target', '--connection']) {
      const run = await runMain([name, ...args, flag, 'not a connection string']);
      assert.equal(run.code, 2, `${name} ${flag}: ${run.stderr}`);
      assert.match(run.stderr, /E_CONNECTION_STRING: the target connection is neither a postgres:\/\/ URL nor a key=value string/, name);
    }
  }
  const badTable = await runMain(['copy', '--table', 'a.b.c', '--target', 'postgres://localhost/x']);
  assert.equal(badTable.code, 2, badTable.stderr);
  assert.match(badTable.stderr, /E_TABLE_NAME: cannot read "a.b.c" as a table name/);
  const twoSchemas = await runMain(['copy', '--table', 'public.metrics', '--schema', 'other']);
  assert.equal(twoSchemas.code, 2);
  assert.match(twoSchemas.stderr, /`--table public.metrics` names schema "public" and `--schema` says "other": give the schema once/);
});

test('no target named anywhere: the error says so and what was tried', async () => {
  // No flag, no DATABASE_URL, no PG* variable; USER unset as under cron: libpq's defaults are the OS user.
  const env: NodeJS.ProcessEnv = { DATABASE_URL: '', USER: '' };
  for (const k of Object.keys(process.env)) if (k.startsWith('PG')) env[k] = '';
  const user = execFileSync('id', ['-un'], { encoding: 'utf8' }).trim();
  const run = await runCli(['copy', '--table', 'metrics', '--retry-timeout', '0s'], { env, stdin: '2024-01-01T00:00:00Z,1\n' });
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, new RegExp(`no target was named \\(no --target or --connection, no DATABASE_URL, no PG\\* variable\\), so hyperfill tried libpq's defaults, ${user}@localhost:5432/${user}, and that failed: `));
  assert.match(run.stderr, /hint: name the target: --target postgres:\/\/user@host:5432\/db, or set DATABASE_URL/);
  assert.doesNotMatch(run.stderr, /no PostgreSQL user name specified/);
});

test('after npm install in a clone, npx hyperfill runs: prepare builds it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hyperfill-clone-'));
  try {
    // A clone as git makes it (no dist), with the dependencies npm install would put there.
    for (const part of ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'connectors', 'test', 'benchmarks']) {
      cpSync(join(ROOT, part), join(dir, part), { recursive: true });
    }
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    assert.equal(existsSync(join(dir, 'dist')), false);
    // npm install runs `prepare` once the dependencies are in.
    execFileSync('npm', ['run', 'prepare', '--silent'], { cwd: dir, stdio: 'pipe' });
    const out = execFileSync('npx', ['--no-install', 'hyperfill', '--version'], { cwd: dir, encoding: 'utf8' });
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
    assert.equal(out, `hyperfill ${pkg.version}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
