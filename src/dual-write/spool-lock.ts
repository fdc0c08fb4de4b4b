/**
 * One process per spool directory: a lock file naming the owner's pid and host. A lock left
 * by a process that is gone is taken over; a live owner, on this host or another, is refused.
 */
import { readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { HyperfillError } from '../errors.js';
import { ioError } from './spool-io.js';

/** Spools this process holds open: a lock naming our pid is ours only if listed here (else a previous life's, e.g. pid 1 in a container). */
const openHere = new Set<string>();

export async function takeLock(dir: string): Promise<void> {
  const path = join(dir, 'lock');
  if (openHere.has(resolve(dir))) {
    throw new HyperfillError('E_SPOOL_LOCKED', 'the spool is already open in this process', { file: dir }, 'one writer per spool directory: close the other first');
  }
  const mine = JSON.stringify({ pid: process.pid, host: hostname() });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(path, mine, { flag: 'wx' });
      openHere.add(resolve(dir));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(err, 'create the lock file', path);
    }
    let owner: { pid?: number; host?: string } = {};
    try {
      owner = JSON.parse(await readFile(path, 'utf8'));
    } catch {
      // A lock file cut short by a crash: nobody holds it.
    }
    if (owner.pid !== undefined && owner.host === hostname() && owner.pid !== process.pid && processAlive(owner.pid)) {
      throw new HyperfillError('E_SPOOL_LOCKED', `the spool is in use by process ${owner.pid}`, { file: dir },
        'one writer (or one `hyperfill replay`) per spool directory: stop the other, or give each writer its own spool');
    }
    if (owner.pid !== undefined && owner.host !== undefined && owner.host !== hostname()) {
      throw new HyperfillError('E_SPOOL_LOCKED', `the spool is locked by process ${owner.pid} on host ${owner.host}`, { file: dir },
        'if that process is gone, delete the lock file');
    }
    await rm(path, { force: true });
  }
  throw new HyperfillError('E_SPOOL_LOCKED', 'could not take the spool lock', { file: dir });
}

export async function releaseLock(dir: string): Promise<void> {
  const path = join(dir, 'lock');
  openHere.delete(resolve(dir));
  try {
    const owner = JSON.parse(await readFile(path, 'utf8')) as { pid?: number };
    if (owner.pid === process.pid) await unlink(path);
  } catch {
    // not ours, or gone
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
