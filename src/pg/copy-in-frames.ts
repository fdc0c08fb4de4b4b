/**
 * `COPY ... FROM STDIN` fed with bytes that are CopyData messages already (what
 * copy-out-frames.ts reads from a source): they go to the socket as they are, with no
 * header added and nothing looked at. Each written chunk must be whole messages, so a
 * failure can end the COPY with CopyFail between chunks and the server rolls it back.
 * `finish` is emitted after ReadyForQuery, with `rowCount` set from "COPY n".
 */
import { Writable } from 'node:stream';
import type { Connection } from 'pg';

const COPY_DONE = Buffer.from([0x63, 0, 0, 0, 4]);

/** pg's Connection has it; its type declarations do not. */
type PgConnection = Connection & { sendCopyFail(message: string): void };

type Callback = (err?: Error | null) => void;

export class CopyInFrames extends Writable {
  rowCount = 0;
  private connection: PgConnection | undefined;
  private copying = false;
  /** What waits for the server: a write before CopyInResponse, the end, a CopyFail. */
  private onCopying: (() => void) | undefined;
  private onReady: Callback | undefined;
  private onFailed: Callback | undefined;

  constructor(readonly text: string) {
    super({ highWaterMark: 1 << 16 });
  }

  submit(connection: Connection): void {
    this.connection = connection as PgConnection;
    connection.query(this.text);
  }

  /** Left for pg to wrap with its query_timeout handling. */
  callback(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: Callback): void {
    this.whenCopying(() => {
      const stream = this.connection?.stream;
      if (!stream) return done(new Error('the COPY has already ended'));
      if (stream.write(chunk)) done();
      else stream.once('drain', () => done());
    });
  }

  override _final(done: Callback): void {
    this.whenCopying(() => {
      this.onReady = done;
      this.connection?.stream.write(COPY_DONE);
    });
  }

  /** Destroyed mid-COPY: CopyFail, and done once the server has answered with its error. */
  override _destroy(err: Error | null, done: Callback): void {
    if (!this.connection || this.onReady) return done(err);
    this.onFailed = () => done(err);
    this.whenCopying(() => this.connection?.sendCopyFail(err?.message ?? 'COPY abandoned'));
  }

  handleCopyInResponse(): void {
    this.copying = true;
    const next = this.onCopying;
    this.onCopying = undefined;
    next?.();
  }

  handleCommandComplete(message: { text?: string }): void {
    const match = /^COPY (\d+)/.exec(message?.text ?? '');
    if (match) this.rowCount = Number(match[1]);
  }

  handleReadyForQuery(): void {
    this.callback();
    this.connection = undefined;
    this.onReady?.();
  }

  handleError(err: Error): void {
    this.callback();
    this.connection = undefined;
    const failed = this.onFailed ?? this.onReady;
    this.onFailed = this.onReady = undefined;
    if (failed) failed(err);
    else this.destroy(err);
  }

  private whenCopying(action: () => void): void {
    if (this.copying) action();
    else this.onCopying = action;
  }
}
