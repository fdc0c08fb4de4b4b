/**
 * SIGTERM ends a run by itself: orchestrators send it, then SIGKILL after a grace period
 * (30 s by default in Kubernetes). The work in flight is rolled back (its statement
 * cancelled, even one waiting on a lock the test never releases), what the run changed
 * is put back, and the command exits non-zero with a line that says what is committed;
 * a rerun finishes the job exactly. A second signal quits at once.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type CliResult, runCli, runCliDuring } from './helpers/cli.js';
import { LockHolder, Watcher } from './helpers/faults.js';
import { DIGEST, fillSource, holdWindowsInFlight, jobScheduled, policyTarget, UNTIL, WINDOWS } from './helpers/migration.js';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';

/** Kubernetes' default grace period: a run still alive this long after SIGTERM would be SIGKILLed. */
const GRACE_MS = 30_000;

interface Terminated extends CliResult {
  /** Still running GRACE_MS after the (first) SIGTERM: killed. */
  overGrace: boolean;
}

/**
 * Runs hyperfill; `moment` resolves once the run is where the test wants it, then
 * SIGTERM is sent (`signals` times, the next once `between` resolves).
 */
async function terminateAt(args: string[], moment: (alive: () => boolean) => Promise<void>, options: { stdin?: string; signals?: number } = {}): Promise<Terminated> {
  let overGrace = false;
  let guard: NodeJS.Timeout | undefined;
  const run = await runCliDuring(args, async (alive, child) => {
    let said = '';
    const heard: Array<() => void> = [];
    child.stderr?.on('data', (d) => {
      said += d;
      if (/SIGTERM: stopping/.test(said)) heard.splice(0).forEach((resolve) => resolve());
    });
    child.on('close', () => clearTimeout(guard));
    await moment(alive);
    child.kill('SIGTERM');
    guard = setTimeout(() => {
      overGrace = true;
      child.kill('SIGKILL');
    }, GRACE_MS);
    for (let n = 1; n < (options.signals ?? 1); n++) {
      // The next signal once the first was heard (two at once may arrive as one).
      await new Promise<void>((resolve) => (/SIGTERM: stopping/.test(said) ? resolve() : heard.push(resolve)));
      child.kill('SIGTERM');
    }
  }, { stdin: options.stdin, hangAfterMs: 300_000 });
  return { ...run, overGrace };
}

function checkTerminated(run: Terminated): void {
  assert.equal(run.overGrace, false, `still running ${GRACE_MS / 1000} s after SIGTERM:\n${run.stderr}`);
  assert.equal(run.hung, false);
  assert.doesNotMatch(run.stderr, /E_INTERNAL|\n\s+at .*\.js:\d+/);
  assert.match(run.stderr, /SIGTERM: stopping: rolling back the work in flight/);
}

describeNative('SIGTERM', { timescale: true }, () => {
  let source: NativeServer;
  let target: NativeServer;
  let sourceUrl: string;
  let targets = 0;

  before(async () => {
    [source, target] = await Promise.all([startNativePostgres({ timescale: true }), startNativePostgres({ timescale: true })]);
    sourceUrl = await fillSource(source);
  });
  after(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
  });

  const freshTarget = () => policyTarget(target, `target_${++targets}`);

  const backfillArgs = (url: string) => ['backfill', '--source', sourceUrl, '--target', url, '--table', 'metrics', '--until', UNTIL, '--parallel', '2'];

  const scheduled = (db: string, jobId: number) => jobScheduled(target, db, jobId);

  async function doneWindows(db: string): Promise<number> {
    const r = await target.query<{ n: number }>(`SELECT count(*) FILTER (WHERE state = 'done')::int AS n FROM hyperfill.backfill_window`, [], db);
    return r.rows[0]!.n;
  }

  async function rerunExact(db: string, url: string, jobId: number): Promise<void> {
    const again = await runCli(backfillArgs(url), { hangAfterMs: 300_000 });
    assert.equal(again.code, 0, again.stderr);
    const [s, t] = [await source.query(DIGEST, [], 'source'), await target.query(DIGEST, [], db)];
    assert.deepEqual(t.rows[0], s.rows[0], 'after a rerun the target holds exactly the source rows');
    assert.equal(await scheduled(db, jobId), true);
  }

  const windowsInFlight = (db: string) => (alive: () => boolean) => holdWindowsInFlight(source, target, db, alive);

  test('backfill: SIGTERM with two windows in flight rolls them back, restores the policy and says what is committed', async () => {
    const { db, url, jobId } = await freshTarget();
    let lock: LockHolder | undefined;
    const run = await terminateAt(backfillArgs(url), async (alive) => { lock = await windowsInFlight(db)(alive); });
    await lock?.release();
    checkTerminated(run);
    assert.equal(run.code, 1);
    const done = await doneWindows(db);
    assert.match(run.stderr, new RegExp(`error E_INTERRUPTED: interrupted by SIGTERM: ${done} of ${WINDOWS} windows are committed; windows in flight were rolled back`));
    assert.match(run.stderr, /policy jobs restored: \d+ \(scheduled=true\)/);
    assert.equal(await scheduled(db, jobId), true, 'the policy was put back before exiting');
    await rerunExact(db, url, jobId);
  });

  test('backfill: SIGTERM while a window waits on a lock that is never released: its statement is cancelled', async () => {
    const { db, url, jobId } = await freshTarget();
    // The test holds the target table until the run has ended: the first DELETE waits on it.
    const lock = await LockHolder.take(target, db, 'LOCK TABLE metrics IN SHARE MODE');
    await lock.acquired;
    const run = await terminateAt(backfillArgs(url), async (alive) => {
      const w = new Watcher(target, db);
      try {
        await w.untilBackends('a window waited to delete', `wait_event_type = 'Lock' AND query LIKE 'DELETE%'`, 1, alive);
      } finally {
        await w.close();
      }
    });
    await lock.release();
    checkTerminated(run);
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`error E_INTERRUPTED: interrupted by SIGTERM: 0 of ${WINDOWS} windows are committed`));
    assert.equal(await scheduled(db, jobId), true);
    await rerunExact(db, url, jobId);
  });

  test('backfill: SIGTERM while the target is down: exits in time, says the policy is still paused; a rerun restores it', async () => {
    const { db, url, jobId } = await freshTarget();
    let lock: LockHolder | undefined;
    const run = await terminateAt(backfillArgs(url), async (alive) => {
      lock = await windowsInFlight(db)(alive);
      await target.halt('fast');
      await lock.release();
    });
    await target.resume();
    checkTerminated(run);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /error E_INTERRUPTED: interrupted by SIGTERM/);
    assert.match(run.stderr, /policy jobs? .*STILL PAUSED|the paused policy jobs are STILL PAUSED/);
    assert.equal(await scheduled(db, jobId), false, 'the policy could not be restored while the target was down');
    await rerunExact(db, url, jobId);
  });

  test('backfill: a second SIGTERM quits at once', async () => {
    const { db, url, jobId } = await freshTarget();
    const run = await terminateAt(backfillArgs(url), async (alive) => {
      const lock = await windowsInFlight(db)(alive);
      await target.halt('fast');
      await lock.release();
    }, { signals: 2 });
    await target.resume();
    assert.equal(run.overGrace, false);
    assert.equal(run.code, 143, run.stderr);
    assert.match(run.stderr, /SIGTERM again: quitting now; rerun the same command to finish \(and `hyperfill restore-policies`/);
    await rerunExact(db, url, jobId);
  });

  test('copy: SIGTERM with every worker waiting at its COPY rolls the batches back and says what is committed', async () => {
    const url = target.url(`target_${targets}`);
    const db = `target_${targets}`;
    await target.query('CREATE TABLE loaded (time timestamptz, host text, n int)', [], db);
    const csv = Array.from({ length: 40_000 }, (_, i) => `2024-01-01T00:00:00Z,h${i % 7},${i}`).join('\n');
    const args = ['copy', '--connection', url, '--table', 'loaded', '--batch-size', '1000', '--workers', '2', '--import-id', 'sigterm'];
    let lock: LockHolder | undefined;
    const run = await terminateAt(args, async (alive) => {
      const w = new Watcher(target, db);
      try {
        await w.until('10 batches were committed', 'SELECT count(*)::int AS n FROM loaded', [], (r: { n: number }) => r.n >= 10_000, alive);
        lock = await LockHolder.take(target, db, 'LOCK TABLE loaded IN SHARE MODE');
        await w.untilBackends('both workers waited at their COPY', `wait_event_type = 'Lock' AND query LIKE 'COPY%'`, 2, alive);
      } finally {
        await w.close();
      }
    }, { stdin: csv });
    await lock?.release();
    checkTerminated(run);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /error E_INTERRUPTED: interrupted by SIGTERM: the batches in flight were rolled back/);
    const loaded = await target.query<{ n: number }>('SELECT count(*)::int AS n FROM loaded', [], db);
    assert.equal(Number(/already committed: (\d+) rows/.exec(run.stderr)?.[1]), loaded.rows[0]?.n, 'the line says exactly what is committed');
    const again = await runCli(args, { stdin: csv, hangAfterMs: 300_000 });
    assert.equal(again.code, 0, again.stderr);
    const all = await target.query<{ n: number; d: number }>('SELECT count(*)::int AS n, count(DISTINCT n)::int AS d FROM loaded', [], db);
    assert.deepEqual(all.rows[0], { n: 40_000, d: 40_000 });
  });

  for (const command of ['verify', 'plan', 'schema', 'bench']) {
    test(`${command}: SIGTERM while it waits on a lock ends it`, async () => {
      const { db, url } = await freshTarget();
      // plan reads the source after the target's first dual-written row.
      await target.query(`INSERT INTO metrics VALUES ('2024-01-08', 'h', 1, 1)`, [], db);
      const argsOf: Record<string, string[]> = {
        verify: ['verify', '--source', sourceUrl, '--target', url, '--table', 'metrics', '--until', UNTIL],
        plan: ['plan', '--source', sourceUrl, '--target', url, '--table', 'metrics'],
        schema: ['schema', '--source', sourceUrl, '--table', 'metrics:copied', '--target', url, '--apply'],
        bench: ['bench', '--source', sourceUrl, '--table', 'metrics', '--workers', '1,2', '--rows', '5000'],
      };
      // Each waits on the source table, locked by the test until the run has ended.
      const lock = await LockHolder.take(source, 'source', 'LOCK TABLE metrics IN ACCESS EXCLUSIVE MODE');
      await lock.acquired;
      const run = await terminateAt(argsOf[command]!, async (alive) => {
        const w = new Watcher(source);
        try {
          await w.untilBackends(`${command} waited on the source`, `wait_event_type = 'Lock'`, 1, alive);
        } finally {
          await w.close();
        }
      });
      await lock.release();
      checkTerminated(run);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /error E_INTERRUPTED: interrupted by SIGTERM/);
      if (command === 'schema') {
        const made = await target.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'copied'`, [], db);
        assert.equal(made.rows[0]?.n, 0, 'nothing was created');
      }
    });
  }
});
