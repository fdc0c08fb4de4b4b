/**
 * A counting semaphore: at most `count` callers run at once, the rest wait in order
 * (on promises, never by polling).
 */
export class Permits {
  private readonly waiting: Array<() => void> = [];

  constructor(private free: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await work();
    } finally {
      release();
    }
  }

  /** Waits for a permit; the function returned gives it back (calling it again does nothing). */
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      // Hand the permit straight to the next in line, or put it back.
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}
