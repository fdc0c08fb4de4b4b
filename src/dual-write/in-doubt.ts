/**
 * Writes whose statement reached the secondary but did not answer in time: spooled, yet
 * perhaps committed there after all. Each is watched until its answer comes; replay asks
 * before applying one, and waits (up to `waitMs` from its timeout) to know.
 */
export interface InDoubtEvents {
  /** The secondary answered: `committed` (replay must skip the record) or not (replay applies it). */
  settled(seq: number, committed: boolean): void;
  /** Replay stopped waiting and applies the record: the secondary may end up with it twice. */
  gaveUp(seq: number): void;
}

export class InDoubtWrites {
  private readonly pending = new Map<number, { settled: Promise<boolean>; since: number }>();
  private readonly committedLate = new Set<number>();

  constructor(private readonly waitMs: number, private readonly events: InDoubtEvents) {}

  /** Writes still waiting for their answer. */
  get size(): number {
    return this.pending.size;
  }

  watch(seq: number, late: Promise<unknown>): void {
    const settled = late.then(() => true, () => false);
    this.pending.set(seq, { settled, since: Date.now() });
    void settled.then((committed) => {
      this.pending.delete(seq);
      if (committed) this.committedLate.add(seq);
      this.events.settled(seq, committed);
    });
  }

  /**
   * True when the secondary committed record `seq` after all; waits for the answer within the
   * limit. Rejects when `signal` aborts first (the writer is closing: nothing is to be applied).
   */
  async committedAfterAll(seq: number, signal?: AbortSignal): Promise<boolean> {
    if (this.committedLate.has(seq)) return true;
    const pending = this.pending.get(seq);
    if (!pending) return false;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const verdict = await Promise.race([pending.settled, new Promise<undefined>((resolve, reject) => {
      timer = setTimeout(() => resolve(undefined), Math.max(0, this.waitMs - (Date.now() - pending.since)));
      onAbort = () => reject(new Error('closing'));
      signal?.addEventListener('abort', onAbort);
    })]).finally(() => {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    });
    if (verdict !== undefined) return verdict;
    this.events.gaveUp(seq);
    return false;
  }

  /** Replay is past `seq`: nothing up to it needs remembering. */
  forget(upTo: number): void {
    for (const seq of this.committedLate) if (seq <= upTo) this.committedLate.delete(seq);
  }
}
