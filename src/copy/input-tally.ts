/**
 * The end-of-run table, one line per input as pgloader prints it: rows read, loaded,
 * rejected (by the transform or the server), dropped by the transform, committed by an
 * earlier run of the import, and the seconds from the input's first batch to its last commit.
 */
import type { EncodedBatch } from '../batch.js';

export interface InputSummary {
  input: string;
  read: number;
  loaded: number;
  rejected: number;
  dropped: number;
  /** Rows of batches an earlier run of the same --import-id had committed. */
  earlier: number;
  seconds: number;
}

interface Tally extends InputSummary {
  started: number;
  ended: number;
}

export class InputTally {
  private readonly inputs = new Map<number, Tally>();

  /** A batch cut from the input: `batch.rows` input records. */
  read(batch: EncodedBatch): void {
    const t = this.of(batch);
    t.read += batch.rows;
  }

  committed(batch: EncodedBatch, counts: { loaded: number; rejected: number; dropped: number }): void {
    const t = this.of(batch);
    t.loaded += counts.loaded;
    t.rejected += counts.rejected;
    t.dropped += counts.dropped;
    t.ended = performance.now();
  }

  skipped(batch: EncodedBatch, rows: number): void {
    const t = this.of(batch);
    t.earlier += rows;
    t.ended = performance.now();
  }

  /** In input order; the seconds measured now. */
  list(): InputSummary[] {
    return [...this.inputs.entries()].sort(([a], [b]) => a - b).map(([, t]) => ({
      input: t.input, read: t.read, loaded: t.loaded, rejected: t.rejected, dropped: t.dropped, earlier: t.earlier,
      seconds: Math.max(0, t.ended - t.started) / 1000,
    }));
  }

  private of(batch: EncodedBatch): Tally {
    let t = this.inputs.get(batch.inputIndex);
    if (!t) {
      const now = performance.now();
      t = { input: batch.inputName, read: 0, loaded: 0, rejected: 0, dropped: 0, earlier: 0, seconds: 0, started: now, ended: now };
      this.inputs.set(batch.inputIndex, t);
    }
    return t;
  }
}
