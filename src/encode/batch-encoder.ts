/**
 * A batch of input records (csv or text format) to binary COPY. The record loop is
 * shared; the format decides how one field is read (csv-fields.ts, text-fields.ts),
 * each exactly as PostgreSQL's COPY reads it. The batch's first line end sets its style
 * (LF or CRLF); a record ending otherwise, a carriage return the server would refuse, a
 * missing or extra field, or a value the type's encoder is not certain of makes the
 * whole batch go as text, where the server reads it and names any bad line itself.
 */
import { writeHeader, writeTrailer } from './copy-binary.js';
import { Kind } from './column-types.js';
import { arrayEncoder, encodeField } from './field.js';
import type { EncodingPlan } from './plan.js';
import { fixedZone } from './time-zone.js';
import { BinaryWriter } from './writer.js';

const LF = 0x0a;
const CR = 0x0d;
const NO_ZONE = fixedZone('none', 0);
const EMPTY = new ArrayBuffer(0);

/**
 * `output` is the buffer the batch was written into (bigger than the one given when
 * that filled up): its first `bytes` bytes are the binary COPY data, or, when the batch
 * goes as text, it is only handed back for reuse.
 */
export type EncodeOutcome =
  | { ok: true; output: ArrayBuffer; bytes: number; rows: number }
  | { ok: false; output: ArrayBuffer; reason: string };

type ArrayEncoder = (w: BinaryWriter, src: Uint8Array, start: number, end: number) => boolean;

/** Why the current batch must go as text (set by `fail`). */
let failure = '';

/** Returns -1 after noting why the batch stops: record `rows + 1` of it. */
export function fail(rows: number, why: string): number {
  failure = `record ${rows + 1} of the batch: ${why}`;
  return -1;
}

export abstract class BatchEncoder {
  private readonly kinds: Int32Array;
  private readonly arrays: Array<ArrayEncoder | undefined>;
  private readonly writer = new BinaryWriter(EMPTY);
  /** Unescaped field text, when a field is not read in place. */
  protected scratch = new Uint8Array(1024);

  /** What readField found: the value's bytes (in the batch or in scratch), or NULL. */
  protected valueSrc: Uint8Array = this.scratch;
  protected valueStart = 0;
  protected valueEnd = 0;
  protected valueNull = false;

  constructor(protected readonly plan: EncodingPlan) {
    this.kinds = Int32Array.from(plan.columns.map((c) => c.kind));
    const zone = plan.zone ?? NO_ZONE;
    this.arrays = plan.columns.map((c) => (c.kind === Kind.array ? arrayEncoder(c, zone, plan.arrayNulls) : undefined));
  }

  /** Writes the batch's records into `output` (or a bigger buffer when they do not fit: see EncodeOutcome). */
  encode(input: Uint8Array, expectedRows: number, output: ArrayBuffer): EncodeOutcome {
    const w = this.writer;
    w.reset(output);
    writeHeader(w);
    // A plain Uint8Array, never a Buffer: element reads then see one object shape (scratch has the same).
    const src = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    const rows = this.encodeRows(w, src);
    let outcome: EncodeOutcome;
    if (rows < 0) outcome = { ok: false, output: w.bytes.buffer as ArrayBuffer, reason: failure };
    else if (rows !== expectedRows) outcome = { ok: false, output: w.bytes.buffer as ArrayBuffer, reason: `${rows} records where the scanner counted ${expectedRows}` };
    else {
      writeTrailer(w);
      outcome = { ok: true, output: w.bytes.buffer as ArrayBuffer, bytes: w.pos, rows };
    }
    // The buffer is the caller's now.
    w.reset(EMPTY);
    return outcome;
  }


  /** A record may not start here (an end-of-data marker): the reason, or undefined. */
  protected abstract refuseRecordStart(src: Uint8Array, pos: number): string | undefined;

  /**
   * Reads the field starting at `pos` into valueSrc/valueStart/valueEnd/valueNull;
   * returns where it ends (its delimiter, a line end, or the end of the batch), or -1
   * after `fail` when the batch must go as text.
   */
  protected abstract readField(src: Uint8Array, pos: number, rows: number): number;

  /** The record count, or -1 (with the reason noted) when the batch must go as text. */
  private encodeRows(w: BinaryWriter, src: Uint8Array): number {
    const delimiter = this.plan.delimiter;
    const zone = this.plan.zone ?? NO_ZONE;
    const kinds = this.kinds;
    const ncols = kinds.length;
    const len = src.length;
    let pos = 0;
    let rows = 0;
    /** 0 not yet known, 1 LF, 2 CRLF. */
    let lineEnd = 0;
    while (pos < len) {
      const refused = this.refuseRecordStart(src, pos);
      if (refused !== undefined) return fail(rows, refused);
      if (w.pos + 2 > w.bytes.length) w.ensure(2);
      w.int16(ncols);
      for (let c = 0; c < ncols; c++) {
        pos = this.readField(src, pos, rows);
        if (pos < 0) return -1;
        const terminator = pos < len ? (src[pos] as number) : -1;
        if (c < ncols - 1) {
          if (terminator !== delimiter) return fail(rows, `a record with ${c + 1} fields, not ${ncols}`);
          pos++;
        } else if (terminator === delimiter) return fail(rows, `a record with more than ${ncols} fields`);
        if (this.valueNull) {
          if (w.pos + 4 > w.bytes.length) w.ensure(4);
          w.int32(-1);
          continue;
        }
        const valueSrc = this.valueSrc;
        const valueStart = this.valueStart;
        const valueEnd = this.valueEnd;
        const kind = kinds[c] as number;
        if (kind === Kind.text) {
          // Text, the commonest: its length and bytes, written here rather than in a call.
          const n = valueEnd - valueStart;
          if (w.pos + n + 4 > w.bytes.length) w.ensure(n + 4);
          const bytes = w.bytes;
          let p = w.pos;
          bytes[p] = n >>> 24;
          bytes[p + 1] = (n >>> 16) & 0xff;
          bytes[p + 2] = (n >>> 8) & 0xff;
          bytes[p + 3] = n & 0xff;
          p += 4;
          if (n >= 32) bytes.set(valueSrc.subarray(valueStart, valueEnd), p);
          else for (let i = valueStart; i < valueEnd; i++) bytes[p + i - valueStart] = valueSrc[i] as number;
          w.pos = p + n;
          continue;
        }
        w.ensure((valueEnd - valueStart) * 8 + 64);
        const ok = kind === Kind.array
          ? (this.arrays[c] as ArrayEncoder)(w, valueSrc, valueStart, valueEnd)
          : encodeField(w, kind, valueSrc, valueStart, valueEnd, zone);
        if (!ok) return fail(rows, `column ${this.plan.columns[c]?.name}: a value the encoder is not certain of`);
      }
      rows++;
      if (pos >= len) break;
      const ch = src[pos];
      if (ch === LF) {
        if (lineEnd === 2) return fail(rows - 1, 'LF and CRLF line ends mixed');
        lineEnd = 1;
        pos++;
      } else if (ch === CR && pos + 1 < len && src[pos + 1] === LF) {
        if (lineEnd === 1) return fail(rows - 1, 'LF and CRLF line ends mixed');
        lineEnd = 2;
        pos += 2;
      } else return fail(rows - 1, 'a carriage return outside quotes');
    }
    return rows;
  }

  /** Room in scratch for a field of up to `n` bytes. */
  protected scratchFor(n: number): Uint8Array {
    if (this.scratch.length < n) this.scratch = new Uint8Array(Math.max(2 * this.scratch.length, n));
    return this.scratch;
  }
}

/**
 * A size that usually holds a batch's binary form: its text, plus per row the field
 * count, each field's length word and the bytes fixed-width values may add.
 */
export function estimateBinaryBytes(plan: EncodingPlan, inputBytes: number, rows: number): number {
  return 64 + inputBytes + rows * (2 + plan.columns.reduce((n, c) => n + 4 + fixedWidth(c.kind), 0));
}

/** Binary bytes of a value whose text may be shorter (a one-digit double is 8 bytes); numerics are about their text's size. */
function fixedWidth(kind: number): number {
  switch (kind) {
    case Kind.int2: return 2;
    case Kind.int4: case Kind.float4: case Kind.date: return 4;
    case Kind.int8: case Kind.float8: case Kind.timestamp: case Kind.timestamptz: case Kind.numeric: return 8;
    case Kind.uuid: return 16;
    case Kind.bool: case Kind.jsonb: return 1;
    default: return 0;
  }
}

/** Bytes at `at` equal `word`. */
export function matches(src: Uint8Array, at: number, word: Uint8Array): boolean {
  for (let i = 0; i < word.length; i++) if (src[at + i] !== word[i]) return false;
  return true;
}
