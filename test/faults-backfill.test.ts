/**
 * The fault suite for backfill and verify, on two native TimescaleDB clusters (source
 * and target, so each can fail alone). The target table has a compression policy, so
 * every run pauses a job and must put it back. At each moment (a window's COPY in
 * flight, between windows, during the final policy restore) the target or the source is
 * restarted (`pg_ctl restart -m fast`), crashed (`-m immediate`), or has hyperfill's
 * backends terminated (`pg_terminate_backend`). Every run must end complete and exact by
 * itself, or with a clear error after which a rerun is; never E_INTERNAL, never a hang,
 * never a paused policy left behind unsaid.
 *
 * Moments are made deterministic with locks the test holds (see helpers/faults.ts):
 * a lock on the source hypertable holds each window with its COPY open on both sides;
 * one on the progress table holds the copiers between windows, at their next claim; a
 * row lock on the policy job holds the final restore. synchronous_commit is on: a crash
 * must not lose what the server acknowledged.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type CliResult, runCli, runCliDuring } from './helpers/cli.js';
import { type Fault, injectFault, LockHolder, Watcher } from './helpers/faults.js';
import { DIGEST, fillSource, holdWindowsInFlight, jobScheduled, policyTarget, UNTIL } from './helpers/migration.js';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';

/** A guard against hangs, far beyond --retry-timeout (60 s) plus restarts: not a timing. */
const HANG_MS = 180_000;
const FAULTS: Fault[] = ['restart fast', 'restart immediate', 'terminate'];

type Side = 'target' | 'source';
type Moment = 'mid-window' | 'between windows' | 'policy restore';

describeNative('fault suite: backfill and verify', { timescale: true }, () => {
  let source: NativeServer;
  let target: NativeServer;
  let sourceUrl: string;
  let targets = 0;
  const matrix: string[] = [];

  before(async () => {
    const settings = { synchronous_commit: 'on' };
    [source, target] = await Promise.all([startNativePostgres({ timescale: true, settings }), startNativePostgres({ timescale: true, settings })]);
    sourceUrl = await fillSource(source);
  });
  after(async () => {
    if (matrix.length > 0) console.log(`fault matrix (backfill, verify):\n${matrix.join('\n')}`);
    await Promise.all([source?.stop(), target?.stop()]);
  });

  /** A target where dual-write began on Jan 8, with a compression policy to pause. */
  const freshTarget = () => policyTarget(target, `target_${++targets}`, { source, from: '2024-01-08' });

  const backfillArgs = (url: string, ...extra: string[]) => ['backfill', '--source', sourceUrl, '--target', url, '--table', 'metrics',
    '--until', UNTIL, '--parallel', '2', ...extra];

  async function assertExact(db: string, jobId: number): Promise<void> {
    const [s, t] = [await source.query(DIGEST, [], 'source'), await target.query(DIGEST, [], db)];
    assert.equal(t.rows[0].c, t.rows[0].d, 'no row twice');
    assert.deepEqual(t.rows[0], s.rows[0], 'the target holds exactly the source rows before --until');
    assert.equal(await jobScheduled(target, db, jobId), true, 'the compression policy is scheduled again');
  }

  /** A run that did not finish must have said why, clearly, and said so if it left the policy paused. */
  async function assertClearFailure(run: CliResult, db: string, jobId: number): Promise<void> {
    assert.match(run.stderr, /error E_[A-Z_]+: /);
    if ((await jobScheduled(target, db, jobId)) === false) assert.match(run.stderr, /STILL PAUSED|policies stay paused/, 'a paused policy is said');
  }

  function checkRun(run: CliResult): void {
    assert.equal(run.hung, false, `the run did not end by itself:\n${run.stderr}`);
    assert.doesNotMatch(run.stderr, /E_INTERNAL/);
    assert.doesNotMatch(run.stderr, /\n\s+at .*\.js:\d+/, 'no stack trace');
  }

  /** Holds the run at `moment`, then injects `fault` on `side`. */
  async function holdAndFault(moment: Moment, side: Side, fault: Fault, db: string, jobId: number, alive: () => boolean): Promise<void> {
    const tw = new Watcher(target, db);
    const sw = new Watcher(source);
    let lock: LockHolder | undefined;
    try {
      if (moment === 'policy restore') {
        await tw.until('the policy was paused', 'SELECT scheduled FROM timescaledb_information.jobs WHERE job_id = $1', [jobId], (r: { scheduled: boolean }) => !r.scheduled, alive);
        lock = await LockHolder.take(target, db, 'SELECT 1 FROM _timescaledb_config.bgw_job WHERE id = $1 FOR UPDATE', [jobId]);
        await tw.untilBackends('the restore waited on the job', `wait_event_type = 'Lock' AND query ILIKE '%alter_job%'`, 1, alive);
      } else {
        await tw.until('two windows were done', `SELECT count(*) FILTER (WHERE state = 'done')::int AS n FROM hyperfill.backfill_window`, [], (r: { n: number }) => r.n >= 2, alive);
        if (moment === 'mid-window') {
          lock = await holdWindowsInFlight(source, target, db, alive);
        } else {
          lock = await LockHolder.take(target, db, 'LOCK TABLE hyperfill.backfill_window IN EXCLUSIVE MODE');
          await tw.untilBackends('both copiers waited for their next window', `wait_event_type = 'Lock' AND query LIKE '%SKIP LOCKED%'`, 2, alive);
        }
      }
      await injectFault(side === 'target' ? target : source, fault, side === 'target' ? tw : sw);
    } finally {
      await lock?.release();
      await Promise.all([tw.close(), sw.close()]);
    }
  }

  for (const moment of ['mid-window', 'between windows', 'policy restore'] as Moment[]) {
    for (const side of ['target', 'source'] as Side[]) {
      for (const fault of FAULTS) {
        test(`backfill: ${fault} of the ${side} ${moment === 'policy restore' ? 'during the final policy restore' : moment}`, async () => {
          const { db, url, jobId } = await freshTarget();
          const run = await runCliDuring(backfillArgs(url), (alive) => holdAndFault(moment, side, fault, db, jobId, alive), { hangAfterMs: HANG_MS });
          checkRun(run);
          let outcome = 'complete and exact by itself';
          if (run.code !== 0) {
            await assertClearFailure(run, db, jobId);
            const again = await runCli(backfillArgs(url), { hangAfterMs: HANG_MS });
            checkRun(again);
            assert.equal(again.code, 0, again.stderr);
            outcome = `${/error (E_[A-Z_]+)/.exec(run.stderr)?.[1]}, then a rerun complete and exact`;
          }
          if (side === 'source' && moment === 'mid-window') assert.match(run.stderr, /snapshot \S+ was lost/, 'the lost snapshot is said');
          await assertExact(db, jobId);
          matrix.push(`| backfill | ${side} | ${fault} | ${moment} | ${outcome} |`);
        });
      }
    }
  }

  test('backfill: the target down longer than --retry-timeout: a clear error, the policy said to be paused, a rerun completes', async () => {
    const { db, url, jobId } = await freshTarget();
    const run = await runCliDuring(backfillArgs(url, '--retry-timeout', '2s'), async (alive) => {
      const lock = await holdWindowsInFlight(source, target, db, alive);
      await target.halt('fast');
      await lock.release();
    }, { hangAfterMs: HANG_MS }).finally(() => target.resume());
    checkRun(run);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /error E_CONNECTION_LOST: lost the connection to the target/);
    assert.match(run.stderr, /policy jobs? .*STILL PAUSED|paused policy jobs are STILL PAUSED/);
    const again = await runCli(backfillArgs(url), { hangAfterMs: HANG_MS });
    checkRun(again);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /policy jobs restored/);
    await assertExact(db, jobId);
    matrix.push('| backfill | target | halted beyond --retry-timeout 2s | mid-window | E_CONNECTION_LOST naming the paused job, then a rerun complete and exact |');
  });

  for (const side of ['target', 'source'] as Side[]) {
    for (const fault of FAULTS) {
      test(`verify: ${fault} of the ${side} while it counts`, async () => {
        const { db, url, jobId } = await freshTarget();
        const done = await runCli(backfillArgs(url), { hangAfterMs: HANG_MS });
        assert.equal(done.code, 0, done.stderr);
        await assertExact(db, jobId);
        const args = ['verify', '--source', sourceUrl, '--target', url, '--table', 'metrics', '--until', UNTIL, '--parallel', '2', '--checksum'];
        const server = side === 'target' ? target : source;
        const run = await runCliDuring(args, async (alive) => {
          const w = new Watcher(server, side === 'target' ? db : 'postgres');
          const lock = await LockHolder.take(server, side === 'target' ? db : 'source', 'LOCK TABLE metrics IN ACCESS EXCLUSIVE MODE');
          try {
            await w.untilBackends('verify waited to count', `wait_event_type = 'Lock' AND query LIKE '%count(*)%'`, 1, alive);
            await injectFault(server, fault, w);
          } finally {
            await lock.release();
            await w.close();
          }
        }, { hangAfterMs: HANG_MS });
        checkRun(run);
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stdout, /source and target match/);
        matrix.push(`| verify --checksum | ${side} | ${fault} | counting a window | complete and matching by itself |`);
      });
    }
  }
});
