/**
 * A client program run as a child process: an argument array (no shell), its own
 * environment (the password is there, never in the arguments), the end of its stderr
 * kept for the error message, and its exit as a promise.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { HyperfillError } from '../errors.js';

const STDERR_TAIL = 16 * 1024;

export interface ToolRun {
  child: ChildProcess;
  /** Resolves when the process has exited and its streams are closed. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines the program wrote to stderr. */
  stderrTail(): string;
}

export function startTool(path: string, args: string[], env: NodeJS.ProcessEnv, stdin: 'pipe' | 'ignore', stdout: 'pipe' | 'ignore'): ToolRun {
  const child = spawn(path, args, { env, stdio: [stdin, stdout, 'pipe'] });
  let tail = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    tail = (tail + d).slice(-STDERR_TAIL);
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', (err) => reject(spawnError(path, err)));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  exit.catch(() => undefined);
  return { child, exit, stderrTail: () => tail.trim() };
}

/** Runs a program to its end and returns its stdout (for small outputs such as a roles dump). */
export async function captureTool(path: string, args: string[], env: NodeJS.ProcessEnv, limitBytes = 256 << 20): Promise<{ stdout: string; code: number | null; stderr: string }> {
  const run = startTool(path, args, env, 'ignore', 'pipe');
  const chunks: Buffer[] = [];
  let size = 0;
  run.child.stdout!.on('data', (d: Buffer) => {
    size += d.length;
    if (size > limitBytes) run.child.kill('SIGKILL');
    else chunks.push(d);
  });
  const { code } = await run.exit;
  if (size > limitBytes) {
    throw new HyperfillError('E_DUMP_TOO_LARGE', `${path} wrote more than ${limitBytes} bytes`, {}, 'this output is read into memory: it should be small');
  }
  return { stdout: Buffer.concat(chunks).toString('utf8'), code, stderr: run.stderrTail() };
}

function spawnError(path: string, err: Error & { code?: string }): HyperfillError {
  if (err.code === 'ENOENT' || err.code === 'EACCES') {
    return new HyperfillError('E_CLIENT_TOOL_MISSING', `cannot run ${path}: ${err.message}`, {}, 'check the folder given with --pg-bin, or install the PostgreSQL client tools', err);
  }
  return new HyperfillError('E_CLIENT_TOOL_FAILED', `cannot run ${path}: ${err.message}`, {}, undefined, err);
}

/** The last `n` lines of a program's stderr, indented for an error message. */
export function lastLines(text: string, n = 6): string {
  return text.split('\n').filter((l) => l.trim() !== '').slice(-n).join('\n    ');
}
