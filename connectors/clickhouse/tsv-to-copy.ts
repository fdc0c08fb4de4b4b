/**
 * ClickHouse TabSeparated bytes → PostgreSQL text COPY bytes.
 *
 * When every column prints PostgreSQL-ready (see select.ts), the bytes pass through
 * untouched; the only work per chunk is native scans (Buffer.indexOf, isUtf8), never a
 * JS loop over fields:
 * - ClickHouse's error text. A query that fails after it started streaming still
 *   answers HTTP 200 and appends `Code: 395, e.displayText() = DB::Exception: ...`
 *   (newer servers: `Code: 395. DB::Exception: ...`) as a last line. Lines are only
 *   released up to the last newline, and a line starting like that fails the stream
 *   before it could reach COPY.
 * - `\0` (a NUL byte, escaped): PostgreSQL text cannot store it; the stream fails
 *   naming the row and column, rather than have COPY fail with a vaguer message.
 * - Invalid UTF-8: likewise, named by row and column.
 * - Rows are counted (`rows`), so the caller can compare with COPY's count.
 * Columns that need conversion (jsonb from ClickHouse literals) go through
 * `convertRows`, a pure text → text function that a worker pool can run as well; for
 * now it runs here, in-process.
 */
import { isUtf8 } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';
import { encodeTextField } from '../../src/copy-text.js';
import { HyperfillError, type ErrorContext } from '../../src/errors.js';
import { LiteralError, literalToJson } from './literal.js';
import type { ChType } from './types.js';

/** Which fields of a row need converting, by 0-based index. Plain data (structured-cloneable). */
export interface RowPlan {
  columnNames: string[];
  json: Array<{ index: number; type: ChType }>;
}

/** A row-level problem, before the stream adds table and window. */
export class RowError extends Error {
  constructor(readonly code: string, message: string, readonly row: number, readonly column: string | undefined, readonly hint: string) {
    super(message);
  }
}

/**
 * Converts complete TabSeparated lines (each ending in "\n") to text COPY lines.
 * `firstRow` is the 1-based number of the first line in the window, for errors.
 */
export function convertRows(text: string, plan: RowPlan, firstRow: number): string {
  let out = '';
  let start = 0;
  let row = firstRow;
  while (start < text.length) {
    const end = text.indexOf('\n', start);
    const line = text.slice(start, end === -1 ? text.length : end);
    const fields = line.split('\t');
    if (fields.length !== plan.columnNames.length) {
      throw new RowError('E_CLICKHOUSE_OUTPUT', `row ${row} has ${fields.length} fields, expected ${plan.columnNames.length}`, row, undefined,
        'this is a bug in hyperfill or an unexpected server output; please report it with the ClickHouse version');
    }
    for (const { index, type } of plan.json) {
      try {
        const json = literalToJson(fields[index] as string, type);
        fields[index] = encodeTextField(json);
      } catch (err) {
        throw rowErrorFrom(err, row, plan.columnNames[index]);
      }
    }
    out += `${fields.join('\t')}\n`;
    row++;
    start = end === -1 ? text.length : end + 1;
  }
  return out;
}

function rowErrorFrom(err: unknown, row: number, column: string | undefined): RowError {
  if (err instanceof LiteralError && err.kind === 'nul') return nulError(row, column);
  const message = err instanceof Error ? err.message : String(err);
  return new RowError('E_CLICKHOUSE_OUTPUT', `row ${row}: ${message}`, row, column,
    'this is a bug in hyperfill or an unexpected server output; please report it with the ClickHouse version');
}

function nulError(row: number, column: string | undefined): RowError {
  return new RowError('E_CLICKHOUSE_NUL', `row ${row}${column ? ` column "${column}"` : ''} holds a NUL byte, which PostgreSQL text cannot store`, row, column,
    `remove it in ClickHouse first (e.g. ALTER TABLE ... UPDATE ${column ?? 'col'} = replaceAll(${column ?? 'col'}, '\\0', '') WHERE ...), or leave the column out`);
}

const NEWLINE = 10;
const BACKSLASH = 92;
const ERROR_NEEDLE = Buffer.from('Code: ');
const ERROR_LINE = /^Code: \d+(, e\.displayText\(\) = |\. )/;

/** Offset of the first line at or after `from` that starts like ClickHouse's error text, or -1. */
export function findErrorLine(buf: Buffer, from = 0): number {
  for (let i = buf.indexOf(ERROR_NEEDLE, from); i !== -1; i = buf.indexOf(ERROR_NEEDLE, i + 1)) {
    if ((i === 0 || buf[i - 1] === NEWLINE) && ERROR_LINE.test(buf.toString('latin1', i, Math.min(buf.length, i + 40)))) return i;
  }
  return -1;
}

/** Offset of an escaped NUL (`\0` after an even run of backslashes) in TSV bytes, or -1. */
export function findNulEscape(buf: Buffer): number {
  let i = buf.indexOf(BACKSLASH);
  while (i !== -1) {
    // A run of backslashes: pairs are escaped backslashes; an odd one escapes the next byte.
    let j = i;
    while (buf[j] === BACKSLASH) j++;
    if ((j - i) % 2 === 1 && buf[j] === 0x30 /* 0 */) return j - 1;
    i = buf.indexOf(BACKSLASH, j);
  }
  return -1;
}

export interface TsvToCopyOptions {
  /** For errors: table and window as the user knows them. */
  context: ErrorContext;
  columnNames: string[];
  /** Fields to convert; undefined when every column passes through as bytes. */
  plan?: RowPlan;
  /**
   * True when the first column is text that could itself start with "Code: 1, ...": then
   * such a line is ClickHouse's error only if nothing follows it.
   */
  firstColumnIsText: boolean;
}

export class TsvToCopy extends Transform {
  /** Rows passed on so far. */
  rows = 0;
  private carry: Buffer | undefined;
  /** A last line that looks like ClickHouse's error text (text-first tables only), held until more data or the end. */
  private suspect: Buffer | undefined;

  constructor(private readonly options: TsvToCopyOptions) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (chunk.length === 0) return callback();
    try {
      const parts = [this.suspect, this.carry, chunk].filter((b): b is Buffer => b !== undefined);
      const buf = parts.length === 1 ? chunk : Buffer.concat(parts);
      this.suspect = undefined;
      this.carry = undefined;
      const end = buf.lastIndexOf(NEWLINE);
      if (end === -1) {
        this.carry = buf;
        return callback();
      }
      // The partial last line waits for its end; copied so the big chunk is not kept alive.
      if (end + 1 < buf.length) this.carry = Buffer.from(buf.subarray(end + 1));
      this.release(buf.subarray(0, end + 1));
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.suspect) return callback(this.serverError(this.suspect));
    if (this.carry) {
      const text = this.carry.toString('utf8');
      if (/Code: \d+(, e\.displayText\(\) = |\. )/.test(text)) return callback(this.serverError(this.carry));
      return callback(new HyperfillError('E_CLICKHOUSE_TRUNCATED', 'the ClickHouse response ended in the middle of a row', { ...this.options.context, row: this.rows + 1 },
        'the server or a proxy cut the response; rerun to retry the window'));
    }
    callback();
  }

  /** Complete lines (`region` ends with a newline). */
  private release(region: Buffer): void {
    let from = 0;
    for (;;) {
      const at = findErrorLine(region, from);
      if (at === -1) return this.emit_(region);
      const lineEnd = region.indexOf(NEWLINE, at);
      const last = lineEnd === region.length - 1 && this.carry === undefined;
      if (!this.options.firstColumnIsText) {
        // No row of this table can start with "Code: ": this is the server's error.
        this.emit_(region.subarray(0, at));
        throw this.serverError(Buffer.concat([region.subarray(at), this.carry ?? Buffer.alloc(0)]));
      }
      if (last) {
        this.emit_(region.subarray(0, at));
        this.suspect = Buffer.from(region.subarray(at));
        return;
      }
      // More follows: it was a row whose first column reads "Code: ...".
      from = lineEnd + 1;
    }
  }

  private emit_(region: Buffer): void {
    if (region.length === 0) return;
    if (!isUtf8(region)) throw this.withContext(this.utf8Error(region));
    const nul = findNulEscape(region);
    if (nul !== -1) throw this.withContext(this.locate(region, nul, nulError));
    let lines = 0;
    for (let i = region.indexOf(NEWLINE); i !== -1; i = region.indexOf(NEWLINE, i + 1)) lines++;
    if (this.options.plan) {
      try {
        this.push(Buffer.from(convertRows(region.toString('utf8'), this.options.plan, this.rows + 1), 'utf8'));
      } catch (err) {
        throw this.withContext(err);
      }
    } else {
      this.push(region);
    }
    this.rows += lines;
  }

  /** The row and column holding byte `offset` of `region`. */
  private locate(region: Buffer, offset: number, make: (row: number, column: string | undefined) => RowError): RowError {
    let row = this.rows + 1;
    let lineStart = 0;
    for (let i = region.indexOf(NEWLINE); i !== -1 && i < offset; i = region.indexOf(NEWLINE, i + 1)) {
      row++;
      lineStart = i + 1;
    }
    let column = 0;
    for (let i = region.indexOf(9, lineStart); i !== -1 && i < offset; i = region.indexOf(9, i + 1)) column++;
    return make(row, this.options.columnNames[column]);
  }

  private utf8Error(region: Buffer): RowError {
    let row = this.rows + 1;
    let start = 0;
    for (let i = region.indexOf(NEWLINE); i !== -1; i = region.indexOf(NEWLINE, i + 1)) {
      const line = region.subarray(start, i);
      if (!isUtf8(line)) {
        const fields: Buffer[] = [];
        let f = 0;
        for (let t = line.indexOf(9); ; t = line.indexOf(9, f)) {
          fields.push(line.subarray(f, t === -1 ? line.length : t));
          if (t === -1) break;
          f = t + 1;
        }
        const column = this.options.columnNames[Math.max(0, fields.findIndex((b) => !isUtf8(b)))];
        return new RowError('E_CLICKHOUSE_UTF8', `row ${row}${column ? ` column "${column}"` : ''} is not valid UTF-8, which PostgreSQL text does not accept`, row, column,
          'fix or remove the bytes in ClickHouse first, or leave the column out');
      }
      row++;
      start = i + 1;
    }
    return new RowError('E_CLICKHOUSE_UTF8', 'the data is not valid UTF-8', row, undefined, 'fix the bytes in ClickHouse first');
  }

  private withContext(err: unknown): Error {
    if (err instanceof RowError) {
      return new HyperfillError(err.code, `${err.message} (${describeContext(this.options.context)})`,
        { ...this.options.context, row: err.row, ...(err.column ? { column: err.column } : {}) }, err.hint);
    }
    return err as Error;
  }

  private serverError(text: Buffer): HyperfillError {
    const message = text.toString('utf8', 0, Math.min(text.length, 4000)).trim();
    return new HyperfillError('E_CLICKHOUSE_ERROR', `ClickHouse failed while streaming ${describeContext(this.options.context)} after ${this.rows} rows: ${message}`,
      { ...this.options.context, row: this.rows + 1 }, 'the rows already sent are rolled back with the window; fix the cause and rerun');
  }
}

function describeContext(context: ErrorContext): string {
  return [context.table ? `table ${context.table}` : '', context.window ? `window ${context.window}` : ''].filter(Boolean).join(', ');
}
