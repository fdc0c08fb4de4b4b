/**
 * A counting semaphore: at most `count` callers run at once, the rest wait in order
 * (on promises, never by polling).
 */
export class Permits {
  private readonly waiting: Array<{ resolve: () => void; reject: (reason: unknown) => void }> = [];
  private closed: { reason: unknown } | undefined;

  constructor(private free: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await work();
    } finally {
      release();
    }
  }

  /**
   * Waits for a permit; the function returned gives it back (calling it again does nothing).
   * Rejects with the reason given to close(), whether closed before or while waiting.
   */
  async acquire(): Promise<() => void> {
    if (this.closed) throw this.closed.reason;
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      // Hand the permit straight to the next in line, or put it back.
      const next = this.waiting.shift();
      if (next) next.resolve();
      else this.free++;
    };
  }

  /** Gives no permit any more: those waiting, and later callers, get `reason`. */
  close(reason: unknown): void {
    this.closed ??= { reason };
    for (const w of this.waiting.splice(0)) w.reject(reason);
  }
}
