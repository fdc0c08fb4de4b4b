/** A temp directory for one test file (or test), removed when it ends, pass or fail. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

export function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `hyperfill-${name}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
