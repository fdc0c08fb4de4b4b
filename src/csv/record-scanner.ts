/**
 * Cuts a byte stream into batches of whole records without parsing fields.
 * It only tracks quote state, so a quoted newline, an escaped quote, CRLF or a
 * missing final newline never splits or loses a row, and no per-row object or
 * string is made: a batch is a slice (or a concatenation) of the input chunks, or,
 * given a buffer pool, a copy into a pooled buffer (the chunks may then be reused as
 * soon as push returns).
 */
import type { EncodedBatch } from '../batch.js';
import type { BufferPool } from '../buffer-pool.js';
import { HyperfillError } from '../errors.js';

const LF = 0x0a;

export interface ScanDialect {
  /** 'csv': quote-aware; 'text': PostgreSQL text format, backslash escapes. */
  format: 'csv' | 'text';
  quote: number;
  escape: number;
}

export interface ScanLimits {
  batchRows: number;
  batchBytes: number;
  /** Physical lines dropped before anything else (a preamble). */
  skipLines: number;
  /** Records dropped after `skipLines` (a header). */
  skipRecords: number;
  /** Stop after this many records; Infinity for all. */
  limit: number;
  /** A single record larger than this is an error (an unterminated quote, usually). */
  maxRecordBytes: number;
  /**
   * The first batch holds at most this many rows, and each next one twice as many, up
   * to batchRows: the target starts work sooner than a full first batch would let it.
   */
  firstBatchRows?: number | undefined;
}

export class RecordScanner {
  private pieces: Buffer[] = [];
  private pendingBytes = 0;
  private rows = 0;
  private seq = 0;
  private line = 1;
  private row = 1;
  private batchFirstLine = 1;
  private batchFirstRow = 1;
  private inQuote = false;
  private escapePending = false;
  private quoteOpenedAtLine = 0;
  private linesToSkip: number;
  private recordsToSkip: number;
  /** Records taken so far, against limits.limit (a count, not a countdown: Infinity minus one would box a number per record). */
  private taken = 0;
  private recordStartLine = 1;
  /** Bytes seen after the last record end: a final record without its newline. */
  private partial = false;
  /** With a pool: the batch being gathered, its first `gathered` bytes in use. */
  private gathering: Uint8Array | undefined;
  private gathered = 0;
  /** The last batch's size in bytes and rows: the next one is gathered in a buffer about as big as a full batch. */
  private lastBatchBytes = 0;
  private lastBatchRows = 0;
  /** Rows the batch being cut may hold (ramping up to batchRows). */
  private rowLimit: number;

  constructor(
    private readonly dialect: ScanDialect,
    private readonly limits: ScanLimits,
    private readonly inputIndex: number,
    private readonly inputName: string,
    private readonly pool?: BufferPool,
  ) {
    this.rowLimit = Math.min(limits.batchRows, limits.firstBatchRows ?? Infinity);
    this.linesToSkip = limits.skipLines;
    this.recordsToSkip = limits.skipRecords;
  }

  /** True once `limit` records were taken: the caller may stop reading. */
  get done(): boolean {
    return this.taken >= this.limits.limit;
  }

  /** Feeds one chunk; returns the batches it completed. */
  push(chunk: Buffer): EncodedBatch[] {
    const out: EncodedBatch[] = [];
    let segmentStart = 0;
    let lastBoundary = -1;
    let pos = 0;
    const len = chunk.length;
    if (this.done) return out;

    while (this.linesToSkip > 0 && pos < len) {
      const nl = chunk.indexOf(LF, pos);
      if (nl === -1) return out;
      pos = nl + 1;
      this.line++;
      this.linesToSkip--;
      segmentStart = pos;
      lastBoundary = pos;
      this.batchFirstLine = this.line;
      this.recordStartLine = this.line;
    }

    const csv = this.dialect.format === 'csv';
    const quote = this.dialect.quote;
    const escape = csv ? this.dialect.escape : 0x5c;
    const escapeIsQuote = csv && escape === quote;
    // Cached next positions: each byte is searched at most once per kind.
    let nextLf = -1;
    let nextQuote = -1;
    let nextEscape = -1;
    const find = (cached: number, byte: number): number => {
      if (cached >= pos) return cached;
      const found = chunk.indexOf(byte, pos);
      return found === -1 ? len : found;
    };

    if (this.escapePending) {
      this.escapePending = false;
      if (chunk[0] === LF) this.line++;
      pos = Math.max(pos, 1);
    }

    while (pos < len) {
      nextLf = find(nextLf, LF);
      if (this.inQuote) {
        nextQuote = find(nextQuote, quote);
        if (!escapeIsQuote) nextEscape = find(nextEscape, escape);
        const stop = escapeIsQuote ? nextQuote : Math.min(nextQuote, nextEscape);
        while (nextLf < stop) {
          this.line++;
          pos = nextLf + 1;
          nextLf = find(nextLf, LF);
        }
        if (stop >= len) {
          pos = len;
          break;
        }
        if (!escapeIsQuote && stop === nextEscape && nextEscape < nextQuote) {
          // The escaped byte is taken literally, whatever it is.
          if (stop + 1 >= len) {
            this.escapePending = true;
            pos = len;
            break;
          }
          if (chunk[stop + 1] === LF) this.line++;
          pos = stop + 2;
          continue;
        }
        this.inQuote = false;
        pos = stop + 1;
        continue;
      }

      if (csv) nextQuote = find(nextQuote, quote);
      else nextEscape = find(nextEscape, escape);
      const special = csv ? nextQuote : nextEscape;
      if (special < nextLf) {
        if (csv) {
          this.inQuote = true;
          this.quoteOpenedAtLine = this.line;
          pos = special + 1;
        } else if (special + 1 >= len) {
          this.escapePending = true;
          pos = len;
        } else {
          if (chunk[special + 1] === LF) this.line++;
          pos = special + 2;
        }
        continue;
      }
      if (nextLf >= len) {
        pos = len;
        break;
      }
      // A record ends at nextLf.
      pos = nextLf + 1;
      this.line++;
      lastBoundary = pos;
      if (this.recordsToSkip > 0) {
        this.recordsToSkip--;
        this.pieces = [];
        this.gathered = 0;
        this.pendingBytes = 0;
        segmentStart = pos;
        this.batchFirstLine = this.line;
        this.recordStartLine = this.line;
        continue;
      }
      this.rows++;
      this.row++;
      this.taken++;
      this.recordStartLine = this.line;
      if (this.rows >= this.rowLimit || this.pendingBytes + (pos - segmentStart) >= this.limits.batchBytes || this.taken >= this.limits.limit) {
        out.push(this.cut(chunk.subarray(segmentStart, pos), this.line - 1));
        segmentStart = pos;
        if (this.taken >= this.limits.limit) return out;
      }
    }

    this.partial = lastBoundary === -1 ? this.partial || len > 0 : lastBoundary < len;
    if (segmentStart < len) {
      const rest = chunk.subarray(segmentStart, len);
      if (this.pool) this.gather(rest);
      else this.pieces.push(rest);
      this.pendingBytes += rest.length;
      this.checkRecordSize();
    }
    return out;
  }

  /** End of input: the last record may lack its newline. */
  end(): EncodedBatch[] {
    if (this.inQuote) {
      throw new HyperfillError('E_CSV_UNTERMINATED_QUOTE', `a quoted field opened on line ${this.quoteOpenedAtLine} is never closed`,
        { file: this.inputName, line: this.quoteOpenedAtLine },
        'check the quote character (--quote) and the escape character (--escape), or repair the line');
    }
    if (this.done) return [];
    let lastLine = this.line - 1;
    if (this.partial && this.recordsToSkip === 0 && this.linesToSkip === 0) {
      this.rows++;
      this.row++;
      this.taken++;
      lastLine = this.line;
    }
    return this.rows > 0 ? [this.cut(Buffer.alloc(0), lastLine)] : [];
  }

  private cut(last: Buffer, lastLine: number): EncodedBatch {
    let data: Buffer;
    if (this.pool) {
      this.gather(last);
      data = Buffer.from((this.gathering as Uint8Array).buffer, 0, this.gathered);
      this.lastBatchBytes = this.gathered;
      this.lastBatchRows = this.rows;
      this.gathering = undefined;
      this.gathered = 0;
    } else data = this.pieces.length === 0 ? last : Buffer.concat([...this.pieces, last]);
    const batch: EncodedBatch = {
      seq: this.seq++, inputIndex: this.inputIndex, inputName: this.inputName, data,
      rows: this.rows, firstLine: this.batchFirstLine, lastLine, firstRow: this.batchFirstRow,
    };
    this.pieces = [];
    this.pendingBytes = 0;
    this.rows = 0;
    this.rowLimit = Math.min(this.limits.batchRows, 2 * this.rowLimit);
    this.batchFirstLine = this.line;
    this.batchFirstRow = this.row;
    return batch;
  }

  /** Appends to the batch being gathered, in a pooled buffer (a bigger one when it fills up). */
  private gather(bytes: Uint8Array): void {
    const pool = this.pool as BufferPool;
    const need = this.gathered + bytes.length;
    if (!this.gathering || need > this.gathering.length) {
      // As big as a full batch will be (the rows so far tell the bytes per row), so the
      // buffers of the small first batches need not be replaced; the first one grows by quarters.
      const full = this.lastBatchRows > 0 ? Math.min(this.limits.batchBytes, (this.lastBatchBytes / this.lastBatchRows) * this.limits.batchRows) : 0;
      const bigger = new Uint8Array(pool.take(Math.ceil(Math.max(need * 1.25, full * 1.05, this.lastBatchBytes * 1.05, 64 << 10))));
      if (this.gathering) {
        bigger.set(this.gathering.subarray(0, this.gathered));
        pool.give(this.gathering.buffer as ArrayBuffer);
      }
      this.gathering = bigger;
    }
    this.gathering.set(bytes, this.gathered);
    this.gathered = need;
  }

  private checkRecordSize(): void {
    if (this.rows === 0 && this.pendingBytes > this.limits.maxRecordBytes) {
      const opened = this.inQuote ? `a quoted field opened on line ${this.quoteOpenedAtLine} has not closed after` : `one record has no line end after`;
      throw new HyperfillError('E_CSV_RECORD_TOO_LARGE', `${opened} ${this.pendingBytes} bytes`,
        { file: this.inputName, line: this.inQuote ? this.quoteOpenedAtLine : this.recordStartLine },
        'check --quote and --escape, and that lines end with LF or CRLF (a file with bare CR line ends must be converted)');
    }
  }
}
