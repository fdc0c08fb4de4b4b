/**
 * Every command releases every connection on every error path and exits by itself: run
 * as a child process, each one meets a source or target that cannot be reached, and one
 * lost in the middle of the run for longer than --retry-timeout (the server halted while
 * hyperfill waits on a lock the test holds). Each must print a clear error (never
 * E_INTERNAL, never a stack) and exit 1 on its own. `verify` once printed the error and
 * then never exited: the source connection, opened first, kept the process alive.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type CliResult, runCli, runCliDuring } from './helpers/cli.js';
import { LockHolder, Watcher } from './helpers/faults.js';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';
import { freePort } from './helpers/postgres.js';

/** A guard against hangs (the defect under test), not a timing: every case ends in a few seconds. */
const HANG_MS = 60_000;
const UNTIL = '2024-01-03T00:00:00Z';
const DDL = 'CREATE TABLE metrics (time timestamptz NOT NULL, host text, v int)';

describeNative('every command exits by itself after a connection fault', {}, () => {
  let src: NativeServer;
  let tgt: NativeServer;
  let source: string;
  let target: string;
  let nowhere: string;
  const outcomes: string[] = [];

  before(async () => {
    [src, tgt] = await Promise.all([startNativePostgres(), startNativePostgres()]);
    source = await src.createDatabase('source');
    target = await tgt.createDatabase('target');
    await src.query(`${DDL}; INSERT INTO metrics SELECT '2024-01-01'::timestamptz + i * interval '10 seconds', 'h' || (i % 5), i FROM generate_series(0, 25919) i; ANALYZE metrics`, [], 'source');
    await tgt.query(DDL, [], 'target');
    nowhere = `postgres://postgres@127.0.0.1:${await freePort()}/nothing`;
  });
  after(async () => {
    if (outcomes.length > 0) console.log(`command exits:\n${outcomes.join('\n')}`);
    await Promise.all([src?.stop(), tgt?.stop()]);
  });

  const range = (s: string, t: string) => ['--source', s, '--target', t, '--table', 'metrics', '--time-column', 'time'];
  const commands: Record<string, (s: string, t: string) => string[]> = {
    copy: (_s, t) => ['copy', '--connection', t, '--table', 'metrics', '--batch-size', '500', '--workers', '2'],
    backfill: (s, t) => ['backfill', ...range(s, t), '--until', UNTIL, '--allow-plain-target', '--window', '6h'],
    verify: (s, t) => ['verify', ...range(s, t), '--until', UNTIL, '--window', '6h'],
    plan: (s, t) => ['plan', ...range(s, t)],
    schema: (s, t) => ['schema', ...range(s, t), '--allow-plain-target'],
    'bench --target': (_s, t) => ['bench', '--target', t, '--workers', '1', '--batch-size', '1000', '--rows', '2000'],
    'bench --source': (s) => ['bench', '--source', s, '--table', 'metrics', '--workers', '1,2', '--rows', '5000'],
    'restore-policies': (_s, t) => ['restore-policies', '--target', t],
  };
  const csv = Array.from({ length: 20_000 }, (_, i) => `2024-02-01T00:00:${String(i % 60).padStart(2, '0')}Z,h,${i}`).join('\n');

  function expectClearExit(run: CliResult, code: RegExp, label: string): void {
    assert.equal(run.hung, false, `${label}: did not exit by itself:\n${run.stderr}`);
    assert.equal(run.code, 1, `${label}: ${run.stderr}`);
    assert.match(run.stderr, code, label);
    assert.doesNotMatch(run.stderr, /E_INTERNAL|\n\s+at .*\.js:\d+/, label);
    outcomes.push(`| ${label} | exit 1, ${/error (E_[A-Z_]+: .{0,70})/.exec(run.stderr)?.[1]} |`);
  }

  for (const [name, args] of Object.entries(commands)) {
    if (name !== 'bench --source') test(`${name}: the target cannot be reached`, async () => {
      const run = await runCli([...args(source, nowhere), '--retry-timeout', '1s'], { stdin: csv, hangAfterMs: HANG_MS });
      expectClearExit(run, /error E_TARGET_UNREACHABLE: cannot connect to the target/, `${name}: target unreachable`);
    });
    if (['backfill', 'verify', 'plan', 'schema', 'bench --source'].includes(name)) {
      test(`${name}: the source cannot be reached`, async () => {
        const run = await runCli([...args(nowhere, target), '--retry-timeout', '1s'], { hangAfterMs: HANG_MS });
        expectClearExit(run, /error E_SOURCE_UNREACHABLE: cannot connect to the source/, `${name}: source unreachable`);
      });
    }
  }

  /**
   * Mid-run: the test locks `table` (before the run with `lockFirst`), waits until hyperfill
   * waits on that lock (`waiting`, a pg_stat_activity condition), halts `halted` and keeps it
   * down until the command has ended.
   */
  async function lostMidRun(label: string, args: string[], lockOn: { server: NativeServer; db: string; table: string; waiting: string; mode?: string },
    halted: NativeServer, code: RegExp, options: { stdin?: string; lockFirst?: boolean } = {}): Promise<void> {
    // Commands that reach the table at once find it locked already.
    const early = options.lockFirst ? await LockHolder.take(lockOn.server, lockOn.db, `LOCK TABLE ${lockOn.table} IN ${lockOn.mode ?? 'ACCESS EXCLUSIVE'} MODE`) : undefined;
    await early?.acquired;
    const run = await runCliDuring([...args, '--retry-timeout', '1s'], async (alive) => {
      const w = new Watcher(lockOn.server, lockOn.db);
      const lock = early ?? await LockHolder.take(lockOn.server, lockOn.db, `LOCK TABLE ${lockOn.table} IN ${lockOn.mode ?? 'ACCESS EXCLUSIVE'} MODE`);
      try {
        await w.untilBackends(label, lockOn.waiting, 1, alive);
        await w.close();
        await halted.halt('fast');
      } finally {
        await lock.release();
        await w.close();
      }
    }, { stdin: options.stdin, hangAfterMs: HANG_MS }).finally(() => halted.resume());
    expectClearExit(run, code, label);
  }

  const LOST = /error E_CONNECTION_LOST: lost the connection to the target/;
  const LOST_SOURCE = /error E_CONNECTION_LOST: lost the connection to the source/;
  const on = (server: NativeServer, db: string, waiting: string) => ({ server, db, table: 'metrics', waiting });
  test('copy: the target lost mid-run', () => lostMidRun('copy: target lost mid-run', commands.copy!(source, target),
    on(tgt, 'target', `wait_event_type = 'Lock' AND query LIKE 'COPY%'`), tgt, LOST, { stdin: csv }));
  for (const [side, halted] of [['target', () => tgt], ['source', () => src]] as const) {
    // The windows wait at their DELETE on a target table the test holds; then a server goes away.
    test(`backfill: the ${side} lost mid-run`, async () => {
      await tgt.query('DROP SCHEMA IF EXISTS hyperfill CASCADE; TRUNCATE metrics', [], 'target');
      await lostMidRun(`backfill: ${side} lost mid-run`, commands.backfill!(source, target),
        { server: tgt, db: 'target', table: 'metrics', waiting: `wait_event_type = 'Lock' AND query LIKE 'DELETE%'`, mode: 'SHARE' }, halted(),
        side === 'target' ? LOST : LOST_SOURCE, { lockFirst: true });
    });
    test(`verify: the ${side} lost mid-run`, () => lostMidRun(`verify: ${side} lost mid-run`, commands.verify!(source, target),
      on(halted(), side === 'target' ? 'target' : 'source', `wait_event_type = 'Lock' AND query LIKE '%count(*)%'`), halted(), side === 'target' ? LOST : LOST_SOURCE));
  }
  test('plan: the target lost mid-run', () => lostMidRun('plan: target lost mid-run', commands.plan!(source, target),
    on(tgt, 'target', `wait_event_type = 'Lock' AND query LIKE '%min(%'`), tgt, LOST, { lockFirst: true }));
  // Without a target: the hypertable DDL, whose chunk interval needs the source's time range.
  test('schema: the source lost mid-run', () => lostMidRun('schema: source lost mid-run', ['schema', '--source', source, '--table', 'metrics', '--time-column', 'time'],
    on(src, 'source', `wait_event_type = 'Lock' AND query LIKE '%min(%'`), src, LOST_SOURCE, { lockFirst: true }));
  test('bench --source: the source lost mid-run', () => lostMidRun('bench --source: source lost mid-run', commands['bench --source']!(source, target),
    on(src, 'source', `wait_event_type = 'Lock'`), src, /error E_(SOURCE_READ|CONNECTION_LOST): /, { lockFirst: true }));
});
