import { RecordScanner, type ScanDialect } from './record-scanner.js';

/** Where each record of a batch sits: bytes and lines, found by the same scanner that cut the batch. */
export class RecordIndex {
  private constructor(
    private readonly bytes: Buffer,
    readonly starts: number[],
    readonly ends: number[],
    /** 1-based line within the batch where each record starts. */
    readonly lines: number[],
  ) {}

  static build(bytes: Buffer, dialect: ScanDialect | { format: 'csv' | 'text'; quote: string; escape: string }): RecordIndex {
    const scan: ScanDialect = typeof dialect.quote === 'number' ? dialect as ScanDialect
      : { format: dialect.format, quote: (dialect.quote as string).charCodeAt(0), escape: (dialect.escape as string).charCodeAt(0) };
    const scanner = new RecordScanner(scan, { batchRows: 1, batchBytes: Infinity, skipLines: 0, skipRecords: 0, limit: Infinity, maxRecordBytes: Infinity }, 0, '');
    const starts: number[] = [];
    const ends: number[] = [];
    const lines: number[] = [];
    let at = 0;
    const add = (records: ReturnType<RecordScanner['end']>) => {
      for (const r of records) {
        starts.push(at);
        at += r.data.length;
        ends.push(at);
        lines.push(r.firstLine);
      }
    };
    try {
      add(scanner.push(bytes));
      add(scanner.end());
    } catch {
      // An unterminated quote: the records before it are still placed.
    }
    return new RecordIndex(bytes, starts, ends, lines);
  }

  get count(): number {
    return this.starts.length;
  }

  /** The record's bytes as they were in the input, line end included. */
  raw(i: number): Buffer {
    return this.bytes.subarray(this.starts[i] ?? 0, this.ends[i] ?? 0);
  }

  text(i: number): string {
    return this.raw(i).toString('utf8');
  }
}

