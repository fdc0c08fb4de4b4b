/**
 * A full garbage collection before a memory reading, so a bound on growth measures what
 * is still referenced, not what the collector has not got to yet. `npm test` runs node
 * with --expose-gc; a file run on its own without it turns the flag on here.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export function collectGarbage(): void {
  let gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  // The first collection finds dead ArrayBuffers; their memory is swept concurrently, and
  // is only certainly released (and out of `external`) once a second collection has run.
  gc();
  gc();
}
