/**
 * A batch seen as rows, to copy it again in pieces when the server rejects some of
 * them (isolate-rows.ts): the COPY data of rows [lo, hi), the row a COPY error's
 * "line N" falls on, and a rejected row as it was in the input. Built only for a
 * batch that failed: the clean path never looks at rows.
 */
import type { EncodedBatch } from '../batch.js';
import { RecordIndex } from '../csv/record-index.js';
import type { ScanDialect } from '../csv/record-scanner.js';
import type { RowProblem } from '../transform/batch-transform.js';

export interface BatchRows {
  /** Rows in the batch's COPY data. */
  readonly count: number;
  /** COPY data (the batch's text or csv) for rows [lo, hi). */
  text(lo: number, hi: number): Buffer;
  /** The row that line `line` (1-based, as PostgreSQL counts in a COPY of rows [lo, hi)) falls on. */
  rowAtLine(lo: number, hi: number, line: number): number | undefined;
  /** Row `index` as it was in the input, with its line and row number there. */
  problem(index: number, reason: string): RowProblem;
}

/**
 * Rows of text COPY data. `starts` holds each row's first byte and, last, the end of
 * the data; `lines` each row's first line within the data (1-based) and, last, the line
 * after the data.
 */
export class TextRows implements BatchRows {
  constructor(
    private readonly data: Buffer,
    private readonly starts: ArrayLike<number>,
    private readonly lines: ArrayLike<number>,
    private readonly describe: (index: number, reason: string) => RowProblem,
  ) {}

  get count(): number {
    return this.starts.length - 1;
  }

  text(lo: number, hi: number): Buffer {
    return this.data.subarray(this.starts[lo], this.starts[hi]);
  }

  rowAtLine(lo: number, hi: number, line: number): number | undefined {
    const target = (this.lines[lo] as number) + line - 1;
    // The last row in [lo, hi) that starts at or before `target` (a row may span lines).
    let a = lo;
    let b = hi - 1;
    if (target < (this.lines[lo] as number) || target >= (this.lines[hi] as number)) return undefined;
    while (a < b) {
      const mid = (a + b + 1) >>> 1;
      if ((this.lines[mid] as number) <= target) a = mid;
      else b = mid - 1;
    }
    return a;
  }

  problem(index: number, reason: string): RowProblem {
    return this.describe(index, reason);
  }
}

/** Rows of one output line each (PostgreSQL text format escapes newlines): a transform's output. */
export function lineRows(data: Buffer, describe: (index: number, reason: string) => RowProblem): TextRows {
  const starts = [0];
  for (let at = data.indexOf(0x0a); at !== -1; at = data.indexOf(0x0a, at + 1)) starts.push(at + 1);
  if (starts[starts.length - 1] !== data.length) starts.push(data.length);
  return new TextRows(data, starts, starts.map((_, i) => i + 1), describe);
}

const BINARY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const BINARY_TRAILER = Buffer.from([0xff, 0xff]);

/**
 * Tuples of a binary COPY stream: rows [lo, hi) as a binary COPY of their own. In
 * binary, PostgreSQL's "line N" is the N-th tuple of the COPY.
 */
export class BinaryRows {
  private readonly header: Buffer;
  private readonly starts: number[] = [];

  constructor(private readonly data: Buffer) {
    if (!data.subarray(0, BINARY_SIGNATURE.length).equals(BINARY_SIGNATURE)) throw new Error('not a binary COPY stream');
    let at = BINARY_SIGNATURE.length + 4;
    at += 4 + data.readUInt32BE(at);
    this.header = data.subarray(0, at);
    for (;;) {
      const fields = data.readInt16BE(at);
      if (fields === -1) break;
      this.starts.push(at);
      at += 2;
      for (let f = 0; f < fields; f++) {
        const length = data.readInt32BE(at);
        at += 4 + Math.max(0, length);
      }
    }
    this.starts.push(at);
  }

  get count(): number {
    return this.starts.length - 1;
  }

  binary(lo: number, hi: number): Buffer {
    return Buffer.concat([this.header, this.data.subarray(this.starts[lo], this.starts[hi]), BINARY_TRAILER]);
  }

  rowAtLine(lo: number, hi: number, line: number): number | undefined {
    const row = lo + line - 1;
    return row >= lo && row < hi ? row : undefined;
  }
}

/** Rows of a batch that holds the input's own bytes: each record as it was in the input. */
export function inputRows(batch: EncodedBatch, dialect: ScanDialect): TextRows {
  const index = RecordIndex.build(batch.data, dialect);
  return new TextRows(batch.data, [...index.starts, index.ends[index.count - 1] ?? 0], [...index.lines, Number.MAX_SAFE_INTEGER],
    (i, reason) => ({ line: batch.firstLine + (index.lines[i] ?? 1) - 1, row: batch.firstRow + i, reason, raw: index.raw(i) }));
}
