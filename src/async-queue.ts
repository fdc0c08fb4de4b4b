/**
 * A bounded FIFO between one producer and several consumers. Both sides wait on
 * promises, never by polling: on two shared cores every client CPU second is taken
 * from the database.
 */
export class AsyncQueue<T> {
  private readonly items: T[] = [];
  private readonly takers: Array<(item: T | undefined) => void> = [];
  private readonly putters: Array<{ item: T; resolve: () => void; reject: (e: unknown) => void }> = [];
  private closed = false;
  private failure: unknown;

  constructor(private readonly capacity: number) {
    if (!(capacity >= 1)) throw new Error('queue capacity must be at least 1');
  }

  /** Resolves once the item is queued: the producer's backpressure. */
  put(item: T): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('put on a closed queue'));
    const taker = this.takers.shift();
    if (taker) {
      taker(item);
      return Promise.resolve();
    }
    if (this.items.length < this.capacity) {
      this.items.push(item);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.putters.push({ item, resolve, reject }));
  }

  /** The next item, or undefined once the queue is closed and empty (or failed). */
  take(): Promise<T | undefined> {
    if (this.failure !== undefined) return Promise.resolve(undefined);
    const item = this.items.shift();
    if (item !== undefined) {
      const putter = this.putters.shift();
      if (putter) {
        this.items.push(putter.item);
        putter.resolve();
      }
      return Promise.resolve(item);
    }
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.takers.push(resolve));
  }

  /** No more puts: consumers drain what is left, then get undefined. */
  close(): void {
    this.closed = true;
    for (const taker of this.takers.splice(0)) taker(undefined);
  }

  /** Stops both sides: waiting producers reject with `err`, consumers get undefined. */
  fail(err: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.items.length = 0;
    for (const putter of this.putters.splice(0)) putter.reject(err);
    for (const taker of this.takers.splice(0)) taker(undefined);
  }

  get size(): number {
    return this.items.length;
  }
}
