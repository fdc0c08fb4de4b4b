/** What the one-run comparison benchmarks share: timing a child process, and the report. */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const BIN = join(ROOT, 'dist/src/cli/bin.js');

/** Wall seconds of one command run to exit; its stderr tail becomes the error when it fails. */
export function timeCommand(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve((performance.now() - started) / 1000)
      : reject(new Error(`${command === process.execPath ? `hyperfill ${args[1] ?? ''}` : command} failed: ${stderr.slice(-600)}`))));
  });
}

/** Wall seconds of one `hyperfill` run. */
export const timeHyperfill = (args: string[], env: NodeJS.ProcessEnv) => timeCommand(process.execPath, [BIN, ...args], env);

/** A Markdown table of runs, with rows/s and a ratio against the first. */
export function ratioTable(runs: Array<{ name: string; seconds: number; note?: string }>, rows: number, against: string): string {
  const base = runs[0]?.seconds ?? 1;
  const notes = runs.some((r) => r.note);
  return [`| contender | seconds | rows/s | vs ${against} |${notes ? ' note |' : ''}`, `|---|---:|---:|---:|${notes ? '---|' : ''}`,
    ...runs.map((r) => `| ${r.name} | ${r.seconds.toFixed(2)} | ${Math.round(rows / r.seconds).toLocaleString('en')} | ${(base / r.seconds).toFixed(2)}x |${notes ? ` ${r.note ?? ''} |` : ''}`)].join('\n');
}

/** Prints the report and keeps it under benchmarks/results/. */
export function writeReport(name: string, report: string): void {
  const out = join(ROOT, 'benchmarks/results', `${name}.md`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, report);
  process.stdout.write(report);
}

/**
 * Copies the built CLI aside, so every run times the same build even when the tree is
 * rebuilt meanwhile; node_modules is linked, not copied. Returns the copy's bin.js.
 */
export function snapshotCli(scratch: string): string {
  const app = join(scratch, 'app');
  for (const dir of ['dist/src', 'dist/connectors']) cpSync(join(ROOT, dir), join(app, dir), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(app, 'node_modules'), 'dir');
  return join(app, 'dist/src/cli/bin.js');
}

/** The commit measured, and whether the tree had changes on top of it. */
export function revision(): string {
  try {
    const head = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} with uncommitted changes` : head;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}
