/** What the one-run comparison benchmarks share: timing a child process, and the report. */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
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
