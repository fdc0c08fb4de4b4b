/** Runs the built `hyperfill` binary as a child process, as a user would. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withTestEncoding } from './copy-encoding.js';

export const BIN = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The child did not exit by itself within `hangAfterMs` and was killed. */
  hung: boolean;
}

export interface CliOptions {
  /** What stdin holds; 'open': left open for the caller to write to (child.stdin) and end. */
  stdin?: Buffer | string | 'open';
  env?: NodeJS.ProcessEnv;
  /** Called once the child is running, e.g. to kill it. */
  onSpawn?: (child: ChildProcess) => void;
  /**
   * A guard against hangs, not a timing: a child still running this long after it started
   * (or after `hangClockFrom` was called) is killed and reported `hung`.
   */
  hangAfterMs?: number;
}

export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...withTestEncoding(args)], {
      env: { ...process.env, DATABASE_URL: '', ...options.env }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let hung = false;
    const guard = options.hangAfterMs === undefined ? undefined : setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, options.hangAfterMs);
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr, hung });
    });
    child.stdin.on('error', () => undefined);
    if (options.stdin === undefined) child.stdin.end();
    else if (options.stdin !== 'open') child.stdin.end(options.stdin);
    options.onSpawn?.(child);
  });
}

/**
 * An `onSpawn` that polls `condition` every 5 ms and SIGKILLs the child once it holds,
 * e.g. once some windows are done.
 */
export function killWhen(condition: () => Promise<boolean>): (child: ChildProcess) => void {
  return (child) => {
    const timer = setInterval(async () => {
      if (await condition().catch(() => false)) {
        clearInterval(timer);
        child.kill('SIGKILL');
      }
    }, 5);
    child.on('close', () => clearInterval(timer));
  };
}

/** An `onSpawn` that SIGKILLs the child as soon as its stderr so far matches `pattern`. */
export function killOnStderr(pattern: RegExp): (child: ChildProcess) => void {
  return (child) => {
    let stderr = '';
    let killed = false;
    child.stderr?.on('data', (d) => {
      stderr += d;
      if (!killed && pattern.test(stderr)) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
  };
}

/**
 * Runs hyperfill while `during` acts on the servers (waits for a moment, injects a fault);
 * `alive()` tells `during` whether the run is still going. Resolves once both are done;
 * a failure of `during` is reported with what the run printed.
 */
export async function runCliDuring(args: string[], during: (alive: () => boolean, child: ChildProcess) => Promise<void>, options: CliOptions = {}): Promise<CliResult> {
  let running = true;
  let acting: Promise<void> = Promise.resolve();
  const run = await runCli(args, {
    ...options,
    onSpawn: (child) => {
      child.on('close', () => { running = false; });
      acting = during(() => running, child);
      options.onSpawn?.(child);
    },
  });
  await acting.catch((err: Error) => {
    throw new Error(`${err.message}; the run said (exit ${run.code}): ${run.stderr}`);
  });
  return run;
}
