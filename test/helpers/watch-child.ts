/**
 * Acts on a running child once the database shows it got far enough (to kill it mid-run,
 * restart a server under it...). One connection for the whole watch, a check every 25 ms
 * or more: on a shared 2-core machine a new connection every few ms competes with the
 * run being watched.
 */
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';

export const WATCH_INTERVAL_MS = 25;

/**
 * Runs `check` on one connection until it is true, then `act` once; gives up when the
 * child exits first. A failing check (a table not created yet) counts as false. Resolves
 * when the watch is over and its connection closed, with whether `act` ran.
 */
export async function watchChild(child: ChildProcess, connectionString: string, check: (client: pg.Client) => Promise<boolean>,
  act: () => unknown, intervalMs = WATCH_INTERVAL_MS): Promise<boolean> {
  if (intervalMs < WATCH_INTERVAL_MS) throw new Error(`poll every ${WATCH_INTERVAL_MS} ms or more, not ${intervalMs}`);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  let over = false;
  void exited.then(() => { over = true; });
  const client = new pg.Client({ connectionString });
  client.on('error', () => undefined);
  let open = true;
  const close = async () => {
    if (open) await client.end().catch(() => undefined);
    open = false;
  };
  try {
    await client.connect();
    while (!over) {
      if (await check(client).catch(() => false)) {
        if (over) return false;
        await close();
        await act();
        return true;
      }
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, intervalMs))]);
    }
    return false;
  } finally {
    await close();
  }
}
