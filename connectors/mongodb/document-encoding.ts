/**
 * Raw BSON documents → PostgreSQL text COPY rows, without decoding whole documents:
 * the walker finds the mapped fields in the bytes, and each value is written straight
 * into the output (strings copied as UTF-8 bytes with COPY's escapes). Only values bound
 * for json/jsonb columns are turned into JavaScript strings (relaxed Extended JSON).
 *
 * `encodeDocuments` is pure and synchronous: the encoding workers call it, tests call it
 * inline. A value whose BSON type does not fit its column's type is reported as a
 * conflict (the document's `_id`, the field, both types), never cast silently.
 */
import { Decimal128 } from 'bson';
import { type EpochUnit, epochMicros } from '../../src/time-format.js';
import { compileTimePattern } from '../../src/time-pattern.js';
import { formatTimeValue } from '../../src/time-value.js';
import { BSON_KIND_BY_TYPE, targetFamily, type TargetFamily, wholeDecimal } from './bson-types.js';

export interface ColumnPlan {
  /** Column name, for messages. */
  name: string;
  /** Field path from the document root, e.g. ['meta', 'sensor', 'id']; array elements by index ('0'). */
  path: string[];
  /** The target column's PostgreSQL type: decides which BSON types fit and how they are written. */
  pgType: string;
}

export interface EncodePlan {
  columns: ColumnPlan[];
  /** A string time field: every value must match this regular expression (see time-field.ts). */
  timeCheck?: { column: number; pattern: string };
  /**
   * A time field written in a time_format (src/time-format.ts): numbers in an epoch unit, or
   * strings in a pattern; read exactly and written as timestamps (or dates).
   */
  time?: { column: number; unit?: EpochUnit; pattern?: string };
}

export interface Conflict {
  /** 'type': the BSON type does not fit; 'value': the type fits but this value cannot be stored; 'time-format': see EncodePlan.timeCheck. */
  kind: 'type' | 'value' | 'time-format';
  /** 0-based position of the document in the batch. */
  index: number;
  /** The document's `_id`, printable (e.g. `ObjectId("65a...")`, `"key"`, `42`); undefined when it has none. */
  id?: string;
  column: string;
  path: string;
  /** BSON kind of the value ("string", "long", ...). */
  bsonType: string;
  pgType: string;
  detail?: string;
}

export interface EncodeResult {
  /** Text COPY rows, each newline-terminated. Its buffer is not shared (safe to transfer). */
  bytes: Uint8Array;
  rows: number;
  /** Set when a document could not be encoded; `rows`/`bytes` then cover the documents before it. */
  conflict?: Conflict;
}

// ---------------------------------------------------------------------------
// Plans compiled into a key trie.

interface Entry {
  name: string;
  key: Uint8Array;
  columns: number[];
  child: Node | undefined;
  isId: boolean;
}
interface Node {
  entries: Entry[];
}
interface Compiled {
  plan: EncodePlan;
  root: Node;
  families: TargetFamily[];
  /** Per column: the value's BSON type and position in the current document, valid when seen[i] === gen. */
  seen: Int32Array;
  type: Uint8Array;
  pos: Int32Array;
  gen: number;
  idType: number;
  idPos: number;
  timeCheck: { column: number; regex: RegExp } | undefined;
  time: { column: number; read: (buf: Buffer, type: number, p: number) => bigint | undefined | null } | undefined;
}

const encoder = new TextEncoder();
const compiledPlans = new Map<string, Compiled>();

function compile(plan: EncodePlan): Compiled {
  const cacheKey = JSON.stringify(plan);
  const cached = compiledPlans.get(cacheKey);
  if (cached) return cached;
  const root: Node = { entries: [] };
  const entryFor = (node: Node, key: string): Entry => {
    let e = node.entries.find((x) => x.name === key);
    if (!e) {
      e = { name: key, key: encoder.encode(key), columns: [], child: undefined, isId: false };
      node.entries.push(e);
    }
    return e;
  };
  plan.columns.forEach((col, i) => {
    if (col.path.length === 0) throw new Error(`column "${col.name}" has an empty field path`);
    let node = root;
    for (let d = 0; d < col.path.length; d++) {
      const e = entryFor(node, col.path[d]!);
      if (d === col.path.length - 1) e.columns.push(i);
      else node = e.child ??= { entries: [] };
    }
  });
  entryFor(root, '_id').isId = true;
  const n = plan.columns.length;
  const compiled: Compiled = {
    plan,
    root,
    families: plan.columns.map((c) => targetFamily(c.pgType)),
    seen: new Int32Array(n),
    type: new Uint8Array(n),
    pos: new Int32Array(n),
    gen: 0,
    idType: 0,
    idPos: -1,
    timeCheck: plan.timeCheck ? { column: plan.timeCheck.column, regex: new RegExp(plan.timeCheck.pattern) } : undefined,
    time: plan.time ? { column: plan.time.column, read: timeReaderFor(plan.time) } : undefined,
  };
  if (compiledPlans.size > 64) compiledPlans.clear();
  compiledPlans.set(cacheKey, compiled);
  return compiled;
}

// ---------------------------------------------------------------------------
// Output buffer.

class ByteWriter {
  buf: Uint8Array;
  pos = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(new ArrayBuffer(Math.max(1024, capacity)));
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = Math.ceil(this.buf.length * 1.5);
    while (cap < this.pos + n) cap = Math.ceil(cap * 1.5);
    const next = new Uint8Array(new ArrayBuffer(cap));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** A string of ASCII characters (numbers, hex, formatted times). */
  ascii(s: string): void {
    const n = s.length;
    this.ensure(n);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) buf[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  /** UTF-8 bytes with COPY text escapes; false (nothing written) when they contain a NUL. */
  escapedBytes(src: Uint8Array, start: number, end: number): boolean {
    this.ensure((end - start) * 2);
    const buf = this.buf;
    let p = this.pos;
    for (let i = start; i < end; i++) {
      const b = src[i]!;
      if (b > 13 && b !== 92) {
        buf[p++] = b;
      } else if (b === 92) {
        buf[p++] = 92;
        buf[p++] = 92;
      } else if (b === 9) {
        buf[p++] = 92;
        buf[p++] = 116; // t
      } else if (b === 10) {
        buf[p++] = 92;
        buf[p++] = 110; // n
      } else if (b === 13) {
        buf[p++] = 92;
        buf[p++] = 114; // r
      } else if (b === 0) {
        return false;
      } else {
        buf[p++] = b;
      }
    }
    this.pos = p;
    return true;
  }

  /** A JavaScript string (JSON text: no raw control characters) with backslashes escaped for COPY. */
  escapedText(s: string): void {
    const text = s.includes('\\') ? s.replace(/\\/g, '\\\\') : s;
    this.ensure(text.length * 3);
    const { written } = encoder.encodeInto(text, this.buf.subarray(this.pos));
    this.pos += written;
  }

  hex(src: Uint8Array, start: number, end: number): void {
    this.ensure((end - start) * 2);
    const buf = this.buf;
    let p = this.pos;
    for (let i = start; i < end; i++) {
      const b = src[i]!;
      buf[p++] = HEX_DIGITS[b >> 4]!;
      buf[p++] = HEX_DIGITS[b & 15]!;
    }
    this.pos = p;
  }

  /** Two decimal digits, zero-padded. */
  digits2(n: number): void {
    this.buf[this.pos++] = 48 + ((n / 10) | 0);
    this.buf[this.pos++] = 48 + (n % 10);
  }
}

const HEX_DIGITS = encoder.encode('0123456789abcdef');

// ---------------------------------------------------------------------------
// BSON reading.

class BsonError extends Error {}

function int32(buf: Uint8Array, p: number): number {
  return buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24);
}

/** The value of a 64-bit integer as a number when it is exactly representable, else NaN. */
function int64Number(buf: Uint8Array, p: number): number {
  const lo = int32(buf, p) >>> 0;
  const hi = int32(buf, p + 4);
  return hi >= -2097152 && hi < 2097152 ? hi * 4294967296 + lo : NaN;
}

function int64Text(buf: Buffer, p: number): string {
  const n = int64Number(buf, p);
  return Number.isNaN(n) ? buf.readBigInt64LE(p).toString() : String(n);
}

function cstringEnd(buf: Uint8Array, p: number, limit: number): number {
  while (p < limit && buf[p] !== 0) p++;
  if (p >= limit) throw new BsonError('unterminated key or C string');
  return p;
}

/** Bytes taken by a value of `type` starting at `p`. */
function valueSize(buf: Uint8Array, type: number, p: number, limit: number): number {
  switch (type) {
    case 0x01: case 0x09: case 0x11: case 0x12: return 8;
    case 0x02: case 0x0d: case 0x0e: return 4 + int32(buf, p);
    case 0x03: case 0x04: case 0x0f: return int32(buf, p);
    case 0x05: return 5 + int32(buf, p);
    case 0x06: case 0x0a: case 0xff: case 0x7f: return 0;
    case 0x07: return 12;
    case 0x08: return 1;
    case 0x0b: {
      const e1 = cstringEnd(buf, p, limit);
      return cstringEnd(buf, e1 + 1, limit) + 1 - p;
    }
    case 0x0c: return 4 + int32(buf, p) + 12;
    case 0x10: return 4;
    case 0x13: return 16;
    default: throw new BsonError(`unknown BSON element type 0x${type.toString(16)}`);
  }
}

function matchEntry(node: Node, buf: Uint8Array, start: number, end: number): Entry | undefined {
  const len = end - start;
  const entries = node.entries;
  outer: for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const key = e.key;
    if (key.length !== len) continue;
    for (let j = 0; j < len; j++) if (key[j] !== buf[start + j]) continue outer;
    return e;
  }
  return undefined;
}

/** Records where the plan's fields are in the document [start, end). */
function scan(buf: Uint8Array, start: number, end: number, node: Node, c: Compiled, top: boolean): void {
  let p = start + 4;
  const stop = end - 1;
  while (p < stop) {
    const type = buf[p]!;
    const keyStart = p + 1;
    const keyEnd = cstringEnd(buf, keyStart, stop);
    const v = keyEnd + 1;
    const size = valueSize(buf, type, v, stop);
    if (size < 0 || v + size > stop) throw new BsonError('element overruns its document');
    const e = matchEntry(node, buf, keyStart, keyEnd);
    if (e) {
      for (const col of e.columns) {
        c.seen[col] = c.gen;
        c.type[col] = type;
        c.pos[col] = v;
      }
      if (top && e.isId) {
        c.idType = type;
        c.idPos = v;
      }
      if (e.child && (type === 0x03 || type === 0x04)) scan(buf, v, v + size, e.child, c, false);
    }
    p = v + size;
  }
}

// ---------------------------------------------------------------------------
// Values.

const INT_RANGE: Partial<Record<TargetFamily, [number, number]>> = {
  int2: [-32768, 32767],
  int4: [-2147483648, 2147483647],
  int8: [-9223372036854775808, 9223372036854775807],
};

const INT8_MAX = 9223372036854775807n;

type Problem = { kind: 'type' } | { kind: 'value'; detail: string };
const TYPE_CONFLICT: Problem = { kind: 'type' };
const NUL_PROBLEM: Problem = { kind: 'value', detail: 'contains a NUL character, which PostgreSQL cannot store in text' };

const MS_PER_DAY = 86_400_000;
// PostgreSQL's timestamp range: 4713 BC to 294276 AD.
const MIN_TIMESTAMP_MS = -210_866_803_200_000;
const MAX_TIMESTAMP_MS = 9_224_318_016_000_000;

/** Writes `ms` since the epoch as `YYYY-MM-DD HH:MM:SS.mmm[+00][ BC]`. */
/** The last date written by writeTimestamp, as bytes: time series repeat their days. */
let cachedDays = NaN;
let cachedDate = new Uint8Array(0);

function writeTimestamp(out: ByteWriter, ms: number, zone: boolean): void {
  const days = Math.floor(ms / MS_PER_DAY);
  let rem = ms - days * MS_PER_DAY;
  if (days !== cachedDays) {
    const start = out.pos;
    writeDate(out, days, false);
    cachedDate = out.buf.slice(start, out.pos);
    cachedDays = days;
  } else {
    const n = cachedDate.length;
    out.ensure(n);
    const buf = out.buf;
    const p = out.pos;
    for (let i = 0; i < n; i++) buf[p + i] = cachedDate[i]!;
    out.pos = p + n;
  }
  out.ensure(20);
  const buf = out.buf;
  let p = out.pos;
  const h = (rem / 3_600_000) | 0;
  rem -= h * 3_600_000;
  const m = (rem / 60_000) | 0;
  rem -= m * 60_000;
  const s = (rem / 1000) | 0;
  const f = rem - s * 1000;
  buf[p++] = 32; // ' '
  buf[p++] = 48 + ((h / 10) | 0);
  buf[p++] = 48 + (h % 10);
  buf[p++] = 58;
  buf[p++] = 48 + ((m / 10) | 0);
  buf[p++] = 48 + (m % 10);
  buf[p++] = 58;
  buf[p++] = 48 + ((s / 10) | 0);
  buf[p++] = 48 + (s % 10);
  buf[p++] = 46;
  buf[p++] = 48 + ((f / 100) | 0);
  buf[p++] = 48 + (((f / 10) | 0) % 10);
  buf[p++] = 48 + (f % 10);
  if (zone) {
    buf[p++] = 43; // +00
    buf[p++] = 48;
    buf[p++] = 48;
  }
  out.pos = p;
  if (days < BC_DAYS) out.ascii(' BC');
}

/** Days from 1970-01-01 to 0001-01-01 (negative): dates before it are BC. */
const BC_DAYS = -719162;

/** Writes a civil date (proleptic Gregorian, UTC) for `days` since the epoch, as PostgreSQL reads it. */
function writeDate(out: ByteWriter, days: number, bcSuffix: boolean): void {
  // Howard Hinnant's civil_from_days.
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  let y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  if (y <= 0) y = 1 - y; // 0 is 1 BC
  const year = String(y);
  out.ascii(year.length >= 4 ? year : '0000'.slice(year.length) + year);
  out.ensure(6);
  out.buf[out.pos++] = 45;
  out.digits2(m);
  out.buf[out.pos++] = 45;
  out.digits2(d);
  if (bcSuffix && days < BC_DAYS) out.ascii(' BC');
}

/** UTF-8 string value (BSON string/code/symbol) at p. */
function stringBounds(buf: Uint8Array, p: number): [number, number] {
  const len = int32(buf, p);
  return [p + 4, p + 4 + len - 1];
}

function writeEscapedString(out: ByteWriter, buf: Uint8Array, p: number): Problem | undefined {
  const [s, e] = stringBounds(buf, p);
  return out.escapedBytes(buf, s, e) ? undefined : NUL_PROBLEM;
}

function writeUuid(out: ByteWriter, buf: Uint8Array, s: number): void {
  out.hex(buf, s, s + 4);
  out.byte(45);
  out.hex(buf, s + 4, s + 6);
  out.byte(45);
  out.hex(buf, s + 6, s + 8);
  out.byte(45);
  out.hex(buf, s + 8, s + 10);
  out.byte(45);
  out.hex(buf, s + 10, s + 16);
}

/** Bounds of a binData payload (subtype 2 carries an inner length). */
function binaryBounds(buf: Uint8Array, p: number): { subtype: number; start: number; end: number } {
  const len = int32(buf, p);
  const subtype = buf[p + 4]!;
  if (subtype === 2 && len >= 4) return { subtype, start: p + 9, end: p + 5 + len };
  return { subtype, start: p + 5, end: p + 5 + len };
}

function decimalText(buf: Uint8Array, p: number): string {
  return new Decimal128(buf.subarray(p, p + 16)).toString();
}

/** Writes one non-null value for a column of family `f`. */
function encodeValue(out: ByteWriter, buf: Buffer, type: number, p: number, f: TargetFamily): Problem | undefined {
  switch (f) {
    case 'text':
      if (type === 0x02 || type === 0x0e || type === 0x0d) return writeEscapedString(out, buf, p);
      if (type === 0x07) {
        out.hex(buf, p, p + 12);
        return undefined;
      }
      return TYPE_CONFLICT;
    case 'int2': case 'int4': case 'int8': {
      const [min, max] = INT_RANGE[f]!;
      if (type === 0x10) {
        const v = int32(buf, p);
        if (v < min || v > max) return { kind: 'value', detail: `${v} is out of range` };
        out.ascii(String(v));
        return undefined;
      }
      if (type === 0x12) {
        if (f === 'int8') {
          out.ascii(int64Text(buf, p));
          return undefined;
        }
        const v = int64Number(buf, p);
        if (Number.isNaN(v) || v < min || v > max) return { kind: 'value', detail: `${int64Text(buf, p)} is out of range` };
        out.ascii(String(v));
        return undefined;
      }
      if (type === 0x01) {
        const d = buf.readDoubleLE(p);
        if (!Number.isInteger(d)) return { kind: 'value', detail: `${d} is not an integer` };
        if (d < min || d > max || (f === 'int8' && d === 9223372036854775808)) return { kind: 'value', detail: `${d} is out of range` };
        out.ascii(String(Object.is(d, -0) ? 0 : d));
        return undefined;
      }
      if (type === 0x13) {
        const text = decimalText(buf, p);
        const v = wholeDecimal(text);
        if (v === undefined) return { kind: 'value', detail: `${text} is not an integer` };
        if (v < BigInt(min) || v > INT8_MAX || (f !== 'int8' && v > BigInt(max))) return { kind: 'value', detail: `${text} is out of range` };
        out.ascii(v.toString());
        return undefined;
      }
      return TYPE_CONFLICT;
    }
    case 'numeric': case 'float4': case 'float8':
      switch (type) {
        case 0x01: {
          const d = buf.readDoubleLE(p);
          out.ascii(Object.is(d, -0) ? (f === 'numeric' ? '0' : '-0') : String(d));
          return undefined;
        }
        case 0x10: out.ascii(String(int32(buf, p))); return undefined;
        case 0x12: out.ascii(int64Text(buf, p)); return undefined;
        case 0x13: out.ascii(decimalText(buf, p)); return undefined;
        default: return TYPE_CONFLICT;
      }
    case 'timestamptz': case 'timestamp':
      if (type === 0x09) {
        const ms = int64Number(buf, p);
        if (Number.isNaN(ms) || ms < MIN_TIMESTAMP_MS || ms >= MAX_TIMESTAMP_MS) {
          return { kind: 'value', detail: `${int64Text(buf, p)} ms since 1970 is outside PostgreSQL's timestamp range` };
        }
        writeTimestamp(out, ms, f === 'timestamptz');
        return undefined;
      }
      if (type === 0x02) return writeEscapedString(out, buf, p);
      return TYPE_CONFLICT;
    case 'date':
      if (type === 0x09) {
        const ms = int64Number(buf, p);
        if (Number.isNaN(ms) || ms < MIN_TIMESTAMP_MS || ms >= MAX_TIMESTAMP_MS) {
          return { kind: 'value', detail: `${int64Text(buf, p)} ms since 1970 is outside PostgreSQL's date range` };
        }
        if (ms % MS_PER_DAY !== 0) return { kind: 'value', detail: `${new Date(ms).toISOString()} has a time of day, which a date column would drop` };
        writeDate(out, ms / MS_PER_DAY, true);
        return undefined;
      }
      if (type === 0x02) return writeEscapedString(out, buf, p);
      return TYPE_CONFLICT;
    case 'bool':
      if (type !== 0x08) return TYPE_CONFLICT;
      out.byte(buf[p] ? 116 : 102);
      return undefined;
    case 'json': {
      let json: string;
      try {
        json = jsonOf(buf, type, p);
      } catch (e) {
        if (e instanceof NulInJson) return { kind: 'value', detail: 'contains a NUL character (\\u0000), which jsonb cannot store' };
        throw e;
      }
      out.escapedText(json);
      return undefined;
    }
    case 'bytea': {
      if (type !== 0x05) return TYPE_CONFLICT;
      const b = binaryBounds(buf, p);
      out.ascii('\\\\x');
      out.hex(buf, b.start, b.end);
      return undefined;
    }
    case 'uuid': {
      if (type === 0x02) return writeEscapedString(out, buf, p);
      if (type !== 0x05) return TYPE_CONFLICT;
      const b = binaryBounds(buf, p);
      if ((b.subtype !== 3 && b.subtype !== 4) || b.end - b.start !== 16) return TYPE_CONFLICT;
      writeUuid(out, buf, b.start);
      return undefined;
    }
    case 'other':
      if (type === 0x02) return writeEscapedString(out, buf, p);
      return TYPE_CONFLICT;
  }
}

/**
 * How a time_format field's value becomes microseconds: null when its BSON type is not the
 * format's (numbers for an epoch unit, strings for a pattern), undefined when the value does not read.
 */
function timeReaderFor(time: NonNullable<EncodePlan['time']>): (buf: Buffer, type: number, p: number) => bigint | undefined | null {
  if (time.pattern !== undefined) {
    const pattern = compileTimePattern(time.pattern);
    return (buf, type, p) => {
      if (type !== 0x02) return null;
      const [s, e] = stringBounds(buf, p);
      return pattern.parse(buf.toString('utf8', s, e))?.micros;
    };
  }
  const unit = time.unit ?? 'ms';
  return (buf, type, p) => {
    switch (type) {
      case 0x10: return epochMicros(String(int32(buf, p)), unit);
      case 0x12: return epochMicros(int64Text(buf, p), unit);
      case 0x01: return epochMicros(String(buf.readDoubleLE(p)), unit);
      case 0x13: return epochMicros(decimalText(buf, p), unit);
      default: return null;
    }
  };
}

/** A time_format value as a timestamp (UTC), or a date when the column is one and the time is midnight. */
function encodeTime(out: ByteWriter, buf: Buffer, type: number, p: number, f: TargetFamily, read: NonNullable<Compiled['time']>['read']): Problem | undefined {
  if (f !== 'timestamptz' && f !== 'timestamp' && f !== 'date' && f !== 'text') return TYPE_CONFLICT;
  const micros = read(buf, type, p);
  if (micros === null) return TYPE_CONFLICT;
  if (micros === undefined) return { kind: 'value', detail: 'it is not a time as time_format writes them' };
  if (micros < BigInt(MIN_TIMESTAMP_MS) * 1000n || micros >= BigInt(MAX_TIMESTAMP_MS) * 1000n) {
    return { kind: 'value', detail: `${micros} µs since 1970 is outside PostgreSQL's timestamp range` };
  }
  if (f === 'date' && micros % 86_400_000_000n !== 0n) return { kind: 'value', detail: `${formatTimeValue(micros, 'timestamptz')} has a time of day, which a date column would drop` };
  out.ascii(formatTimeValue(micros, f === 'date' ? 'date' : f === 'timestamp' ? 'timestamp' : 'timestamptz'));
  return undefined;
}

// ---------------------------------------------------------------------------
// Relaxed Extended JSON, for json/jsonb columns and for printing `_id`s.

class NulInJson extends Error {}

function jsonString(buf: Buffer, p: number): string {
  const [s, e] = stringBounds(buf, p);
  const text = buf.toString('utf8', s, e);
  if (text.includes('\0')) throw new NulInJson();
  return JSON.stringify(text);
}

function jsonDate(ms: number, buf: Buffer, p: number): string {
  // Relaxed form for years 1970-9999, canonical otherwise (the Extended JSON spec).
  if (ms >= 0 && ms < 253402300800000) return `{"$date":"${new Date(ms).toISOString()}"}`;
  return `{"$date":{"$numberLong":"${int64Text(buf, p)}"}}`;
}

function jsonDocument(buf: Buffer, p: number, array: boolean): string {
  const end = p + int32(buf, p) - 1;
  let q = p + 4;
  let text = array ? '[' : '{';
  let first = true;
  while (q < end) {
    const type = buf[q]!;
    const keyEnd = cstringEnd(buf, q + 1, end);
    const v = keyEnd + 1;
    if (!first) text += ',';
    first = false;
    if (!array) {
      const key = buf.toString('utf8', q + 1, keyEnd);
      text += `${JSON.stringify(key)}:`;
    }
    text += jsonOf(buf, type, v);
    q = v + valueSize(buf, type, v, end);
  }
  return text + (array ? ']' : '}');
}

function hexOf(buf: Uint8Array, s: number, e: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + s, e - s).toString('hex');
}

/** A BSON value as relaxed Extended JSON text (what `mongoexport` writes). */
export function jsonOf(buf: Buffer, type: number, p: number): string {
  switch (type) {
    case 0x01: {
      const d = buf.readDoubleLE(p);
      if (Object.is(d, -0)) return '{"$numberDouble":"-0.0"}';
      if (Number.isFinite(d)) return String(d);
      return `{"$numberDouble":"${Number.isNaN(d) ? 'NaN' : d > 0 ? 'Infinity' : '-Infinity'}"}`;
    }
    case 0x02: return jsonString(buf, p);
    case 0x03: return jsonDocument(buf, p, false);
    case 0x04: return jsonDocument(buf, p, true);
    case 0x05: {
      const b = binaryBounds(buf, p);
      const base64 = Buffer.from(buf.buffer, buf.byteOffset + b.start, b.end - b.start).toString('base64');
      return `{"$binary":{"base64":"${base64}","subType":"${b.subtype.toString(16).padStart(2, '0')}"}}`;
    }
    case 0x06: case 0x0a: return 'null';
    case 0x07: return `{"$oid":"${hexOf(buf, p, p + 12)}"}`;
    case 0x08: return buf[p] ? 'true' : 'false';
    case 0x09: return jsonDate(int64Number(buf, p), buf, p);
    case 0x0b: {
      const e1 = cstringEnd(buf, p, buf.length);
      const e2 = cstringEnd(buf, e1 + 1, buf.length);
      return `{"$regularExpression":{"pattern":${JSON.stringify(buf.toString('utf8', p, e1))},"options":${JSON.stringify(buf.toString('utf8', e1 + 1, e2))}}}`;
    }
    case 0x0c: {
      const ns = jsonString(buf, p);
      const idAt = p + 4 + int32(buf, p);
      return `{"$dbPointer":{"$ref":${ns},"$id":{"$oid":"${hexOf(buf, idAt, idAt + 12)}"}}}`;
    }
    case 0x0d: return `{"$code":${jsonString(buf, p)}}`;
    case 0x0e: return `{"$symbol":${jsonString(buf, p)}}`;
    case 0x0f: {
      const code = jsonString(buf, p + 4);
      const scopeAt = p + 4 + 4 + int32(buf, p + 4);
      return `{"$code":${code},"$scope":${jsonDocument(buf, scopeAt, false)}}`;
    }
    case 0x10: return String(int32(buf, p));
    case 0x11: return `{"$timestamp":{"t":${buf.readUInt32LE(p + 4)},"i":${buf.readUInt32LE(p)}}}`;
    case 0x12: return int64Text(buf, p);
    case 0x13: return `{"$numberDecimal":"${decimalText(buf, p)}"}`;
    case 0xff: return '{"$minKey":1}';
    case 0x7f: return '{"$maxKey":1}';
    default: throw new BsonError(`unknown BSON element type 0x${type.toString(16)}`);
  }
}

/** An `_id` for messages: `ObjectId("...")`, a JSON string, a number, or Extended JSON. */
function idText(buf: Buffer, type: number, p: number): string {
  if (type === 0x07) return `ObjectId("${hexOf(buf, p, p + 12)}")`;
  try {
    const text = jsonOf(buf, type, p);
    return text.length > 200 ? `${text.slice(0, 200)}...` : text;
  } catch {
    return '(unprintable)';
  }
}

// ---------------------------------------------------------------------------

/**
 * How documents are laid out in an input buffer: `sequence`, end to end (what a cursor's
 * raw documents concatenate to); `array`, one BSON array of documents (a cursor reply's
 * `firstBatch`/`nextBatch`, taken as is).
 */
export type DocumentLayout = 'sequence' | 'array';

/**
 * Encodes the documents in `input` as text COPY rows, one per document, with the plan's
 * columns in order. Missing fields, null and undefined are NULL. Stops at the first
 * document with a conflict and reports it.
 */
export function encodeDocuments(input: Uint8Array, plan: EncodePlan, layout: DocumentLayout = 'sequence'): EncodeResult {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const c = compile(plan);
  const { families, seen, type, pos } = c;
  const ncols = families.length;
  const out = new ByteWriter(buf.length + 1024); // text is usually shorter than BSON (no field names)
  let p = 0;
  let end = buf.length;
  if (layout === 'array') {
    if (buf.length < 5 || int32(buf, 0) !== buf.length || buf[buf.length - 1] !== 0) throw new BsonError('invalid BSON array of documents');
    p = 4;
    end = buf.length - 1;
  }
  let rows = 0;
  while (p < end) {
    if (layout === 'array') {
      if (buf[p] !== 0x03) throw new BsonError(`array element ${rows} is BSON type 0x${buf[p]!.toString(16)}, not a document`);
      p = cstringEnd(buf, p + 1, end) + 1;
    }
    if (p + 5 > end) throw new BsonError(`truncated document at byte ${p}`);
    const len = int32(buf, p);
    if (len < 5 || p + len > end || buf[p + len - 1] !== 0) throw new BsonError(`invalid document length ${len} at byte ${p}`);
    c.gen = (c.gen + 1) | 0 || 1;
    c.idPos = -1;
    scan(buf, p, p + len, c.root, c, true);
    const rowStart = out.pos;
    for (let i = 0; i < ncols; i++) {
      if (i > 0) out.byte(9);
      const t = type[i]!;
      if (seen[i] !== c.gen || t === 0x0a || t === 0x06) {
        out.ensure(2);
        out.buf[out.pos++] = 92;
        out.buf[out.pos++] = 78; // \N
        continue;
      }
      let problem = c.time?.column === i ? encodeTime(out, buf, t, pos[i]!, families[i]!, c.time.read) : encodeValue(out, buf, t, pos[i]!, families[i]!);
      if (!problem && c.timeCheck?.column === i && t === 0x02) {
        const [s, e] = stringBounds(buf, pos[i]!);
        if (!c.timeCheck.regex.test(buf.toString('utf8', s, e))) problem = { kind: 'value', detail: 'time-format' };
      }
      if (problem) {
        out.pos = rowStart;
        const col = plan.columns[i]!;
        const conflict: Conflict = {
          kind: problem.kind === 'value' && problem.detail === 'time-format' ? 'time-format' : problem.kind,
          index: rows,
          column: col.name,
          path: col.path.join('.'),
          bsonType: BSON_KIND_BY_TYPE[t] ?? `0x${t.toString(16)}`,
          pgType: col.pgType,
        };
        if (conflict.kind === 'time-format') conflict.detail = `value ${idText(buf, t, pos[i]!)}`;
        else if (problem.kind === 'value') conflict.detail = problem.detail;
        if (c.idPos >= 0) conflict.id = idText(buf, c.idType, c.idPos);
        return { bytes: out.buf.subarray(0, out.pos), rows, conflict };
      }
    }
    out.byte(10);
    rows++;
    p += len;
  }
  return { bytes: out.buf.subarray(0, out.pos), rows };
}

export { BsonError };
