/**
 * Ctrl-C during `npm run demo`: the demo stops what it started, in order, and leaves
 * nothing behind. The terminal's SIGINT reaches the demo's whole process group (its
 * embedded servers too); an orchestrator's SIGTERM only the demo. Either way the running
 * hyperfill command or example application gets the signal once and rolls back, the
 * servers stop, every file (the CSV, the spool, the servers' data) is removed, and no
 * process of the demo is left. TMPDIR points at a directory of the test's own, and every
 * process the demo starts inherits a marker in its environment, to find any left over.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const DEMO = fileURLToPath(new URL('../src/demo/main.js', import.meta.url));
/** A guard against hangs, not a timing. */
const HANG_MS = 120_000;

/** Pids of live processes whose environment holds `mark`. */
function processesMarked(mark: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').includes(mark)) found.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

async function interruptDemo(moment: RegExp, deliver: (pid: number) => void): Promise<{ code: number | null; stderr: string; left: string[]; alive: number[] }> {
  const tmp = mkdtempSync(join(tmpdir(), 'hyperfill-demo-interrupt-'));
  chmodSync(tmp, 0o1777); // as /tmp: the servers run as the postgres user
  const mark = `HYPERFILL_DEMO_MARK=${randomUUID()}`;
  try {
    const child = spawn(process.execPath, [DEMO], {
      env: { ...process.env, TMPDIR: tmp, DEMO_ROWS: '1000000', HYPERFILL_DEMO_MARK: mark.split('=')[1] }, stdio: ['ignore', 'ignore', 'pipe'], detached: true,
    });
    let stderr = '';
    let delivered = false;
    const guard = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), HANG_MS);
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!delivered && moment.test(stderr)) {
        delivered = true;
        setTimeout(() => deliver(child.pid!), 500);
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    clearTimeout(guard);
    assert.ok(delivered, `the moment ${moment} never came:\n${stderr.slice(-2000)}`);
    return { code, stderr, left: readdirSync(tmp), alive: processesMarked(mark) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

test('Ctrl-C (SIGINT to the whole group) during the first copy: the copy rolls back, servers stop, nothing is left', async () => {
  const run = await interruptDemo(/\$ hyperfill copy /, (pid) => process.kill(-pid, 'SIGINT'));
  assert.equal(run.code, 130, run.stderr.slice(-3000));
  assert.match(run.stderr, /== SIGINT: stopping the demo: hyperfill copy first \(rolling back what is in flight\), then the servers/);
  assert.match(run.stderr, /SIGINT: stopping: rolling back the work in flight/, 'the copy got the signal once');
  assert.doesNotMatch(run.stderr, /SIGINT again: quitting now/, 'and only once');
  assert.match(run.stderr, /error E_INTERRUPTED: interrupted by SIGINT: the batches in flight were rolled back/);
  assert.doesNotMatch(run.stderr, /E_BATCH_REJECTED|E_INTERNAL|demo failed/);
  assert.match(run.stderr, /demo stopped: nothing is left running, .*hyperfill-demo-\w+ and the servers' data are removed/);
  assert.deepEqual(run.left, [], 'the temp directory is empty');
  assert.deepEqual(run.alive, [], 'no process of the demo is left');
});

test('SIGTERM to the demo alone while the application dual-writes: the application stops first, then the servers', async () => {
  const run = await interruptDemo(/the example application listens on/, (pid) => process.kill(pid, 'SIGTERM'));
  assert.equal(run.code, 143, run.stderr.slice(-3000));
  assert.match(run.stderr, /== SIGTERM: stopping the demo: the example application first/);
  assert.doesNotMatch(run.stderr, /E_INTERNAL|demo failed/);
  assert.deepEqual(run.left, []);
  assert.deepEqual(run.alive, []);
});
