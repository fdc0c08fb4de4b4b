/**
 * The demo's child processes (the hyperfill commands it runs, the example application), so
 * that a Ctrl-C stops them in order. Each runs in a process group of its own: the terminal's
 * SIGINT reaches only the demo, which forwards it once to each child (a second SIGINT would
 * make a hyperfill command quit without rolling back), waits for them to finish rolling back,
 * and only then stops the servers and removes its files.
 */
import { type ChildProcess, spawn, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';

/** Each running child, with what it is for the user ("hyperfill copy"). */
const running = new Map<ChildProcess, string>();

export function spawnChild(label: string, command: string, args: string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, { ...options, detached: true });
  running.set(child, label);
  child.once('exit', () => running.delete(child));
  return child;
}

export function runningChildren(): string[] {
  return [...running.values()];
}

/**
 * Sends `signal` to every running child and waits for all to exit; any still running after
 * `graceMs` is killed (SIGKILL).
 */
export async function stopChildren(signal: NodeJS.Signals, graceMs: number): Promise<void> {
  const children = [...running.keys()];
  const exits = children.map((c) => (c.exitCode === null && c.signalCode === null ? once(c, 'exit').then(() => undefined) : Promise.resolve()));
  for (const c of children) c.kill(signal);
  const timer = setTimeout(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }, graceMs);
  await Promise.all(exits);
  clearTimeout(timer);
}

/** Kills every child at once (a second Ctrl-C). */
export function killChildren(): void {
  for (const c of running.keys()) c.kill('SIGKILL');
}
