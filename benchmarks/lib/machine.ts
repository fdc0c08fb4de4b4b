/**
 * What a benchmark on a shared machine needs to know about the machine: CPU seconds of
 * a PostgreSQL server and of everything else (from /proc), whether the machine is
 * quiet, child processes timed by GNU time (CPU and peak RSS), and pinning a server and
 * its backends to cores with taskset (the "split" topology: server on one core, loader
 * on the other, as when the loader runs on another machine).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const TIME = '/usr/bin/time';
export const hasTime = existsSync(TIME);
export const hasTaskset = existsSync('/usr/bin/taskset');

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Fields of /proc/PID/stat after the command name: [0] is field 3 (state). */
function statFields(pid: number | string): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The live children of a process. */
export function childrenOf(parent: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (Number(statFields(entry)?.[1]) === parent) out.push(Number(entry));
  }
  return out;
}

/**
 * CPU seconds of the postmaster and its live children, plus the reaped children it has
 * accounted (cutime/cstime), so backends that exited still count. Repeated until the
 * reaped total held still across the scan (a backend reaped mid-scan would count twice or not at all).
 */
export function serverCpuSeconds(postmaster: number): number {
  const reaped = () => {
    const f = statFields(postmaster);
    return f ? Number(f[13]) + Number(f[14]) : 0;
  };
  let ticks = 0;
  for (let attempt = 1; attempt <= 5; attempt++) {
    const before = reaped();
    const own = statFields(postmaster);
    ticks = own ? Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]) : 0;
    for (const child of childrenOf(postmaster)) {
      const f = statFields(child);
      if (f) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    }
    if (reaped() === before) break;
  }
  return ticks / CLK_TCK;
}

export interface MachineCpu { total: number; idle: number; iowait: number }

export function machineCpu(): MachineCpu {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const n = line.trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: n.reduce((a, b) => a + b, 0), idle: (n[3] ?? 0) + (n[4] ?? 0), iowait: n[4] ?? 0 };
}

/** Busy CPU seconds (all cores) between two readings. */
export function busySeconds(a: MachineCpu, b: MachineCpu): number {
  return ((b.total - a.total) - (b.idle - a.idle)) / CLK_TCK;
}

export const QUIET_BUSY = 0.15;
export const QUIET_WAIT_PER_RUN_S = 15;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until the machine is quiet (under 15% busy over half a second), at most 15 s and
 * within what is left of the run's budget: other work on the cores would be timed too.
 */
export async function waitForQuiet(budget: { seconds: number }): Promise<boolean> {
  const started = performance.now();
  const deadline = started + Math.min(QUIET_WAIT_PER_RUN_S, budget.seconds) * 1000;
  try {
    do {
      const a = machineCpu();
      await sleep(500);
      const b = machineCpu();
      if (1 - (b.idle - a.idle) / (b.total - a.total || 1) < QUIET_BUSY) return true;
    } while (performance.now() < deadline);
    return false;
  } finally {
    budget.seconds = Math.max(0, budget.seconds - (performance.now() - started) / 1000);
  }
}

/** Sets the CPU affinity of a process and every thread of it (taskset -a -cp). */
function pin(pid: number, cores: string): void {
  try {
    execFileSync('taskset', ['-a', '-cp', cores, String(pid)], { stdio: 'ignore' });
  } catch {
    // The process exited meanwhile.
  }
}

/**
 * Pins a PostgreSQL server to `cores`: the postmaster, so backends it forks later
 * inherit it, and the processes it runs now (checkpointer, WAL writer, open backends).
 */
export function pinServer(postmaster: number, cores: string): void {
  pin(postmaster, cores);
  for (const child of childrenOf(postmaster)) pin(child, cores);
}

export interface ClientUsage {
  cpuSeconds: number | undefined;
  peakRssKb: number | undefined;
}

export interface ChildResult { code: number; stdout: string; stderr: string; usage: ClientUsage | undefined }

/** Runs a command (under GNU time when installed, and taskset -c `cores` when given). */
export function runChild(command: string, args: string[], env: NodeJS.ProcessEnv, scratch: string, cores?: string): Promise<ChildResult> {
  const timeFile = join(scratch, 'time.out');
  let argv = [command, ...args];
  if (cores !== undefined) argv = ['taskset', '-c', cores, ...argv];
  if (hasTime) argv = [TIME, '-o', timeFile, '-f', '%U %S %M', ...argv];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      let usage: ClientUsage | undefined;
      if (hasTime && existsSync(timeFile)) {
        const last = readFileSync(timeFile, 'utf8').trim().split('\n').pop() ?? '';
        const [user, sys, rss] = last.split(' ').map(Number);
        if (user !== undefined && sys !== undefined && rss !== undefined && !Number.isNaN(rss)) usage = { cpuSeconds: user + sys, peakRssKb: rss };
        rmSync(timeFile, { force: true });
      }
      resolve({ code: code ?? 1, stdout, stderr, usage });
    });
  });
}

/** The child's own words when it fails: its last stderr lines. */
export function childFailure(what: string, r: ChildResult): Error {
  const tail = r.stderr.trim().split('\n').filter((l) => !l.startsWith('Command exited')).slice(-5).join('\n  ');
  return new Error(`${what} exited with ${r.code}${tail ? `:\n  ${tail}` : ''}`);
}
