/**
 * A counting semaphore: at most `count` callers run at once, the rest wait in order
 * (on promises, never by polling).
 */
export class Permits {
  private readonly waiting: Array<() => void> = [];

  constructor(private free: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await work();
    } finally {
      // Hand the permit straight to the next in line, or put it back.
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}
