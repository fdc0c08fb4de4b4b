/**
 * Finds a record of a batch again, to show it in an error: by the line PostgreSQL's
 * COPY context reports ("line N" counts physical lines, quoted newlines included), or by
 * its index among the batch's rows (the first row a short COPY did not take).
 */
import type { EncodedBatch } from '../batch.js';
import { previewOf } from '../preview.js';
import { RecordScanner, type ScanDialect } from './record-scanner.js';

export interface LocatedRecord {
  line: number;
  row: number;
  /** The record's text, cut to a readable length, non-text bytes escaped (preview.ts). */
  preview: string;
  /** The record's bytes as they were in the input. */
  data: Buffer;
}

/** `copyLine` is 1-based within the batch, as PostgreSQL reports it. */
export function locateRecord(batch: EncodedBatch, copyLine: number, dialect: ScanDialect): LocatedRecord | undefined {
  const records = recordsOf(batch, dialect);
  const index = records.findIndex((r) => r.firstLine <= copyLine && copyLine <= r.lastLine);
  return located(batch, records, index, copyLine);
}

/** `index` is 0-based among the batch's rows. */
export function locateRow(batch: EncodedBatch, index: number, dialect: ScanDialect): LocatedRecord | undefined {
  const records = recordsOf(batch, dialect);
  return located(batch, records, index, records[index]?.firstLine ?? 0);
}

function recordsOf(batch: EncodedBatch, dialect: ScanDialect): EncodedBatch[] {
  const scanner = new RecordScanner(dialect, {
    batchRows: 1, batchBytes: Infinity, skipLines: 0, skipRecords: 0, limit: Infinity, maxRecordBytes: Infinity,
  }, batch.inputIndex, batch.inputName);
  return [...scanner.push(batch.data), ...scanner.end()];
}

/** `line` is 1-based within the batch. */
function located(batch: EncodedBatch, records: EncodedBatch[], index: number, line: number): LocatedRecord | undefined {
  const found = records[index];
  if (!found) return undefined;
  // A routed batch's records are not one run of lines: each knows its own.
  const start = batch.recordLines?.[index];
  const at = start !== undefined ? start + line - found.firstLine : batch.firstLine + line - 1;
  return { line: at, row: batch.firstRow + index, preview: previewOf(found.data), data: found.data };
}
