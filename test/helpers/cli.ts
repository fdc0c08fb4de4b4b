/** Runs the built `hyperfill` binary as a child process, as a user would. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  stdin?: Buffer | string;
  env?: NodeJS.ProcessEnv;
  /** Called once the child is running, e.g. to kill it. */
  onSpawn?: (child: ChildProcess) => void;
}

export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, DATABASE_URL: '', ...options.env }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin.on('error', () => undefined);
    if (options.stdin !== undefined) child.stdin.end(options.stdin);
    else child.stdin.end();
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
