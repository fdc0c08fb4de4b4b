/**
 * `--on-error reject --rejects FILE`: rejected rows go to FILE exactly as they were in
 * the input (same format and dialect, so the file can be fixed and loaded with the
 * same flags), and one line per row to `FILE.reasons`:
 *   data.csv:12: row 11: --epoch ts:ms: "abc" is not an epoch number
 * Rows are written once their batch is committed, so after a failed run the file
 * holds the rejects of exactly the committed part. Both files are truncated at start;
 * with --import-id, a rerun first writes what its earlier runs rejected (import-ledger.ts).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { HyperfillError } from '../errors.js';
import type { RowProblem } from './batch-transform.js';

export class RejectsFile {
  rows = 0;
  private closed = false;

  private constructor(readonly path: string, private data: number, private reasons: number) {}

  static open(path: string): RejectsFile {
    let data: number | undefined;
    try {
      data = openSync(path, 'w');
      return new RejectsFile(path, data, openSync(reasonsPath(path), 'w'));
    } catch (err) {
      if (data !== undefined) closeSync(data);
      throw new HyperfillError('E_REJECTS_UNWRITABLE', `cannot write the rejects file: ${(err as Error).message}`, { file: path },
        'give --rejects a path in a writable directory');
    }
  }

  add(inputName: string, problems: readonly RowProblem[]): void {
    for (const p of problems) {
      if (p.raw && p.raw.length > 0) {
        writeSync(this.data, p.raw);
        if (p.raw[p.raw.length - 1] !== 0x0a) writeSync(this.data, '\n');
      }
      const reason = p.raw ? p.reason : `${p.reason} (the record could not be cut out of its batch)`;
      writeSync(this.reasons, `${inputName}:${p.line ?? '?'}: row ${p.row}: ${reason.replace(/\r?\n/g, ' ')}\n`);
      this.rows++;
    }
  }

  /** Empties both files (before writing an earlier run's rejects again, on a retry). */
  truncate(): void {
    closeSync(this.data);
    closeSync(this.reasons);
    this.data = openSync(this.path, 'w');
    this.reasons = openSync(reasonsPath(this.path), 'w');
    this.rows = 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.data);
    closeSync(this.reasons);
  }
}

export function reasonsPath(path: string): string {
  return `${path}.reasons`;
}
