/**
 * Up to `capacity` items in flight through an asynchronous step (a worker thread's
 * transform or encoding, then the hand-over to the sink), finishing in any order.
 * `push` waits on promises while the stage is full, so a slow step or a slow sink slows
 * the reader. The first failure stops the stage: waiting pushes reject with it.
 */
export class BatchStage<T> {
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly running = new Set<Promise<void>>();
  private failure: unknown;

  constructor(private readonly step: (item: T) => Promise<void>, private readonly capacity: number) {}

  /** Takes one item; resolves once there is room for it. Rejects with the first failure. */
  async push(item: T): Promise<void> {
    while (this.inFlight >= this.capacity && this.failure === undefined) await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.failure !== undefined) throw this.failure;
    this.inFlight++;
    const task = this.run(item).finally(() => {
      this.inFlight--;
      this.running.delete(task);
      this.waiting.shift()?.();
    });
    this.running.add(task);
  }

  /** End of input: waits for every item in flight. Throws the first failure. */
  async flush(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
    if (this.failure !== undefined) throw this.failure;
  }

  /** Stops taking items; waiting pushes reject with `err`. */
  fail(err: unknown): void {
    this.failure ??= err;
    for (const wake of this.waiting.splice(0)) wake();
  }

  /** True once the stage has failed: a step may stop early. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  private async run(item: T): Promise<void> {
    try {
      await this.step(item);
    } catch (err) {
      this.fail(err);
    }
  }
}
