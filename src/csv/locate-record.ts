/**
 * Finds the record holding a given line of a batch again, to show it in an error.
 * PostgreSQL's COPY context ("line N") counts physical lines, quoted newlines included.
 */
import type { EncodedBatch } from '../batch.js';
import { RecordScanner, type ScanDialect } from './record-scanner.js';

export interface LocatedRecord {
  line: number;
  row: number;
  /** The record's text, cut to a readable length. */
  preview: string;
}

const PREVIEW_CHARS = 120;

/** `copyLine` is 1-based within the batch, as PostgreSQL reports it. */
export function locateRecord(batch: EncodedBatch, copyLine: number, dialect: ScanDialect): LocatedRecord | undefined {
  const scanner = new RecordScanner(dialect, {
    batchRows: 1, batchBytes: Infinity, skipLines: 0, skipRecords: 0, limit: Infinity, maxRecordBytes: Infinity,
  }, batch.inputIndex, batch.inputName);
  const records = [...scanner.push(batch.data), ...scanner.end()];
  const index = records.findIndex((r) => r.firstLine <= copyLine && copyLine <= r.lastLine);
  const found = records[index];
  if (!found) return undefined;
  const text = found.data.toString('utf8').replace(/\r?\n$/, '');
  return {
    line: batch.firstLine + copyLine - 1,
    row: batch.firstRow + index,
    preview: text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}...` : text,
  };
}
