/**
 * The output of one batch, built as UTF-8 bytes in an ArrayBuffer of its own (so it
 * can be transferred), a few dozen rows at a time: the encoded rows are short-lived
 * strings instead of one batch-long string that outlives many garbage collections.
 */
const FLUSH_CHARS = 16 * 1024;

export class OutputBuffer {
  private buffer: ArrayBuffer;
  private view: Buffer;
  private length = 0;
  private pending = '';

  constructor(estimate: number) {
    this.buffer = new ArrayBuffer(Math.max(1024, estimate));
    this.view = Buffer.from(this.buffer);
  }

  add(text: string): void {
    this.pending += text;
    if (this.pending.length >= FLUSH_CHARS) this.flush();
  }

  /** The ArrayBuffer and how many of its bytes are the output (the rest is spare room, not copied away). */
  finish(): { buffer: ArrayBuffer; length: number } {
    this.flush();
    return { buffer: this.buffer, length: this.length };
  }

  private flush(): void {
    const text = this.pending;
    if (text.length === 0) return;
    this.pending = '';
    const most = text.length * 3;
    if (this.length + most > this.buffer.byteLength) {
      const bigger = new ArrayBuffer(Math.max(this.buffer.byteLength * 2, this.length + most));
      new Uint8Array(bigger).set(new Uint8Array(this.buffer, 0, this.length));
      this.buffer = bigger;
      this.view = Buffer.from(bigger);
    }
    this.length += this.view.write(text, this.length, 'utf8');
  }
}
