/** File work for the spool: errors that name the file, a full write, a directory sync. */
import { type FileHandle, open } from 'node:fs/promises';
import { HyperfillError } from '../errors.js';

export async function io<T>(work: () => Promise<T>, what: string, path: string): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw ioError(err, what, path);
  }
}

export function ioError(err: unknown, what: string, path: string): HyperfillError {
  if (err instanceof HyperfillError) return err;
  return new HyperfillError('E_SPOOL_IO', `cannot ${what} ${path}: ${(err as Error).message}`, { file: path },
    'check the spool directory exists and this process may write to it', err);
}

export async function writeFully(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/** Makes a created, renamed or removed file's directory entry durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
