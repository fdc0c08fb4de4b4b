/**
 * The few large buffers a copy run moves over and over (batch bytes, their binary
 * form), handed out and given back once a batch is committed. Fresh buffers per batch
 * would leave their dead predecessors to V8, which frees outside-the-heap memory only
 * after tens of megabytes have piled up: peak memory would grow with the batch rate
 * instead of staying at the batches in flight.
 *
 * Every buffer handed out has one size, a little more than the largest asked for so far,
 * so any idle buffer serves any request; smaller ones are dropped when they come back.
 */
const GRAIN = 16 << 10;

export class BufferPool {
  private readonly free: ArrayBuffer[] = [];
  private size = 0;

  /** `keep`: at most this many idle buffers are kept; more are left to the garbage collector. */
  constructor(private readonly keep: number) {}

  /** A buffer of at least `bytes` bytes. */
  take(bytes: number): ArrayBuffer {
    if (bytes > this.size) {
      // A fifth more than asked: a batch's binary form, a little bigger than its text, then fits too.
      this.size = Math.ceil((bytes * 1.2) / GRAIN) * GRAIN;
      this.free.length = 0;
    }
    return this.free.pop() ?? new ArrayBuffer(this.size);
  }

  /** Gives a buffer back; nothing may use it afterwards. A transferred (detached) or outgrown buffer is dropped. */
  give(buffer: ArrayBuffer): void {
    if (buffer.byteLength >= this.size && this.free.length < this.keep) this.free.push(buffer);
  }
}
