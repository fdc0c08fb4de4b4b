/**
 * Key routing for --on-conflict-update: each record goes to the worker chosen by a hash
 * of its conflict key, so all rows of one key are applied by one worker, in input order,
 * and the last one wins, with any number of workers. A batch becomes up to one batch per
 * worker, holding that worker's records in input order.
 *
 * The key is hashed as text, as the input spells it, except integers (01 and 1 are one
 * key). Two spellings of one value of another type (a timestamp with and without its
 * "T") are two keys to the router: such rows may be applied in either order.
 */
import type { EncodedBatch } from '../batch.js';
import type { BufferPool } from '../buffer-pool.js';
import { decodeRecords, type InputDialect, RecordIndex } from '../transform/decode.js';
import type { Field } from '../transform/pipeline.js';

const INTEGER = /^\s*([+-]?)0*(\d+)\s*$/;

export class KeyRouter {
  /**
   * `keyFields`: the key's positions among the input's fields; `integer`: which of them
   * are of an integer type; `lanes`: the workers.
   */
  constructor(private readonly dialect: InputDialect, private readonly keyFields: readonly number[],
    private readonly integer: readonly boolean[], private readonly lanes: number, private readonly buffers?: BufferPool) {}

  /** The batch's records as one batch per lane that has any, each numbered `seq × lanes + lane`. */
  route(batch: EncodedBatch): EncodedBatch[] {
    const index = RecordIndex.build(batch.data, this.dialect);
    const cursor = decodeRecords(batch.data, this.dialect, () => index);
    // csv-parse may split a malformed batch otherwise than the scanner: then record by record.
    const aligned = cursor.count === undefined || cursor.count === index.count;
    const members: number[][] = Array.from({ length: this.lanes }, () => []);
    for (let i = 0; i < index.count; i++) {
      const fields = aligned ? cursor.next() : decodeRecords(index.raw(i), this.dialect, () => RecordIndex.build(index.raw(i), this.dialect)).next();
      members[this.laneOf(fields ?? [])]!.push(i);
    }
    const out: EncodedBatch[] = [];
    for (const [lane, records] of members.entries()) {
      if (records.length === 0) continue;
      const bytes = records.reduce((n, i) => n + index.raw(i).length, 0);
      const data = this.buffers ? Buffer.from(this.buffers.take(bytes), 0, bytes) : Buffer.allocUnsafeSlow(bytes);
      let at = 0;
      for (const i of records) at += index.raw(i).copy(data, at);
      const lines = records.map((i) => batch.firstLine + (index.lines[i] ?? 1) - 1);
      out.push({
        seq: batch.seq * this.lanes + lane, inputIndex: batch.inputIndex, inputName: batch.inputName, data, rows: records.length,
        firstLine: lines[0]!, lastLine: lines[lines.length - 1]!, firstRow: batch.firstRow + records[0]!, lane, recordLines: lines,
      });
    }
    return out;
  }

  private laneOf(fields: readonly Field[]): number {
    let hash = 0x811c9dc5;
    for (const [k, at] of this.keyFields.entries()) {
      const field = fields[at];
      const text = field === null || field === undefined ? '\u0000' : this.integer[k] ? canonicalInteger(field) : field;
      for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
      hash = Math.imul(hash ^ 0x1f, 0x01000193);
    }
    return (hash >>> 0) % this.lanes;
  }
}

function canonicalInteger(text: string): string {
  const m = INTEGER.exec(text);
  if (!m) return text;
  return m[2] === '0' || m[2] === '' ? '0' : `${m[1] === '-' ? '-' : ''}${m[2]}`;
}
