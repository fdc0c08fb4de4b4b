/**
 * The unit that moves through the pipeline. An encoded batch is COPY-ready bytes:
 * the fast path never decodes them. Positions say where the rows came from, for
 * error messages and for exactly-once resume.
 */
export interface EncodedBatch {
  /** 0-based position of this batch within its input. */
  seq: number;
  /** Which input (0-based) and its printable name ('stdin' or a path). */
  inputIndex: number;
  inputName: string;
  /** The records as COPY text (csv or text format): the input's own bytes unless transformed. */
  data: Buffer;
  /**
   * The same records as binary COPY, when the encoder was certain of every value: sent
   * instead of `data`. `data` stays: it is what the server reads when it refuses the
   * binary form (its error then names the input line), what the import ledger checks,
   * and what a batch is split or re-encoded from.
   */
  binary?: Buffer | undefined;
  rows: number;
  /** 1-based physical lines of the batch's first and last rows in its input. */
  firstLine: number;
  lastLine: number;
  /** 1-based number of the batch's first row among the input's loaded rows. */
  firstRow: number;
  /**
   * CRC-32 of the input bytes this batch was made from, when `data` is not those bytes
   * (a transformed batch): the import ledger checks a resumed input against it.
   */
  sourceCrc?: number | undefined;
  /** With --on-conflict-*: what the INSERT ... ON CONFLICT of the batch's committed transaction did. */
  applied?: { inserted: number; updated: number } | undefined;
  /** With key routing (--on-conflict-update): the worker that must apply this batch (0-based). */
  lane?: number | undefined;
  /** With key routing: each record's first input line (its records are not one run of lines). */
  recordLines?: number[] | undefined;
}

/** "lines 10-19" for messages. */
export function describeLines(batch: Pick<EncodedBatch, 'firstLine' | 'lastLine'>): string {
  return batch.lastLine > batch.firstLine ? `lines ${batch.firstLine}-${batch.lastLine}` : `line ${batch.firstLine}`;
}
