/** Finds the n-th record of a batch again, to name its input line in an error. */
import type { EncodedBatch } from '../../src/batch.js';
import { RecordScanner, type ScanDialect } from './record-scanner.js';

export interface LocatedRecord {
  line: number;
  row: number;
  /** The record's text, cut to a readable length. */
  preview: string;
}

const PREVIEW_CHARS = 120;

export function locateRecord(batch: EncodedBatch, record: number, dialect: ScanDialect): LocatedRecord | undefined {
  const scanner = new RecordScanner(dialect, {
    batchRows: 1, batchBytes: Infinity, skipLines: 0, skipRecords: record - 1, limit: 1, maxRecordBytes: Infinity,
  }, batch.inputIndex, batch.inputName);
  const found = [...scanner.push(batch.data), ...scanner.end()][0];
  if (!found) return undefined;
  const text = found.data.toString('utf8').replace(/\r?\n$/, '');
  return {
    line: batch.firstLine + found.firstLine - 1,
    row: batch.firstRow + record - 1,
    preview: text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}...` : text,
  };
}
