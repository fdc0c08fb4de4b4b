/**
 * `--max-rejects N`: the rows set aside so far, by the transform or by the server,
 * across every worker. A batch takes its rejected rows before it commits and gives
 * them back when it rolls back, so the count is of rows in committed (or committing)
 * batches; the row that goes over N stops the run.
 */
import { HyperfillError } from '../errors.js';

export class RejectLimit {
  private taken = 0;

  /** `max`: Infinity for no limit. */
  constructor(readonly max: number) {}

  get count(): number {
    return this.taken;
  }

  /** Takes `n` rows; throws E_TOO_MANY_REJECTS (and takes nothing) once the total would pass the limit. */
  take(n: number, where: { file: string; line: number | undefined; batch: number; reason: string }): void {
    if (n === 0) return;
    if (this.taken + n > this.max) {
      throw new HyperfillError('E_TOO_MANY_REJECTS',
        `more than ${this.max} rows were rejected (--max-rejects ${this.max}); the last one: ${where.file}:${where.line ?? '?'}: ${where.reason}`,
        { file: where.file, line: where.line, batch: where.batch },
        'the batch or window it was in was not loaded; look at the rejected rows (--on-error reject --rejects FILE keeps them), fix the input or the flags, or raise --max-rejects');
    }
    this.taken += n;
  }

  give(n: number): void {
    this.taken -= n;
  }
}
