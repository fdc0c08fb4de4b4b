/**
 * The time field of a document collection: what its values are (BSON dates, numeric
 * epochs, ISO strings), the TimeType windows are cut in, how a window bound becomes a
 * query value, and how a stored value becomes a TimeValue.
 *
 * - BSON Date → timestamptz. Bounds are rounded up to the millisecond (dates hold ms):
 *   for a date d, `d >= ceil(b)` ⟺ `d >= b`, and likewise for `<`.
 * - Numbers (int, long, integral doubles and Decimal128s) → bigint, in the user's own unit.
 * - ISO 8601 strings → timestamptz. A server compares strings byte by byte, which orders
 *   them by time only when they share one layout in one zone, so describe() requires every
 *   sampled value to have the same layout (e.g. `2024-01-01T00:00:00.000Z`), in UTC; bounds
 *   are written in that layout (rounded up to its precision), and the encoder checks each
 *   value read against it. A string without a zone is taken as UTC.
 *
 * `time_format` (src/time-format.ts) says otherwise: epoch_s/ms/us makes numbers a timestamptz
 * in that unit (bounds exact, as decimals where they fall between units); a pattern
 * (%Y/%m/%d %H:%M) reads strings in that layout, UTC unless %z says. Where the server compares
 * the strings (MongoDB), the pattern must sort as text (year to fraction, written in full width).
 */
import { Decimal128 } from 'bson';
import { HyperfillError } from '../../src/errors.js';
import { EPOCH_SCALE, type EpochUnit, epochMicros, type TimeFormat } from '../../src/time-format.js';
import { compileTimePattern } from '../../src/time-pattern.js';
import { type TimeType, parseTimeValue } from '../../src/time-value.js';
import { kindOf, wholeDecimal } from './bson-types.js';

export type TimeFieldKind = 'date' | 'number' | 'string' | 'epoch' | 'pattern';

/** The layout shared by ISO string time values. */
export interface IsoLayout {
  dateOnly: boolean;
  /** Between date and time. */
  separator: 'T' | ' ';
  seconds: boolean;
  /** Digits after the decimal point (0 = none). */
  fraction: number;
  /** As written: 'Z', '+00:00', '+0000', '+00', '-00:00' or '' (none). */
  zone: string;
}

export interface TimeField {
  /** The column's name. */
  column: string;
  path: string[];
  kind: TimeFieldKind;
  timeType: TimeType;
  layout?: IsoLayout;
  /** kind 'epoch': the numbers' unit. */
  unit?: EpochUnit;
  /** kind 'pattern': the layout (time_format), and for sortable ones the fraction digits values have. */
  pattern?: string;
  fraction?: number;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:([T ])(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/;

/** The layout of one ISO string, or undefined when it is not one. */
export function isoLayoutOf(text: string): IsoLayout | undefined {
  const m = ISO.exec(text);
  if (!m) return undefined;
  return {
    dateOnly: m[4] === undefined,
    separator: (m[4] ?? 'T') as 'T' | ' ',
    seconds: m[7] !== undefined,
    fraction: m[8]?.length ?? 0,
    zone: m[9] ?? '',
  };
}

const UTC_ZONES = new Set(['', 'Z', '+00', '+0000', '+00:00', '-00', '-0000', '-00:00']);

function describeLayout(l: IsoLayout): string {
  let s = 'YYYY-MM-DD';
  if (!l.dateOnly) {
    s += `${l.separator}hh:mm`;
    if (l.seconds) s += ':ss';
    if (l.fraction) s += `.${'f'.repeat(l.fraction)}`;
  }
  return s + l.zone;
}

const sameLayout = (a: IsoLayout, b: IsoLayout) =>
  a.dateOnly === b.dateOnly && a.separator === b.separator && a.seconds === b.seconds && a.fraction === b.fraction && a.zone === b.zone;

/**
 * Decides the time field's kind from sampled values (nulls and missing excluded).
 * `code` prefixes the error codes (MONGO or JSON); `checkLayout` is false for sources
 * that parse every value themselves (JSON files), where mixed layouts are fine.
 */
export function analyzeTimeField(column: string, path: string[], values: unknown[], table: string, checkLayout: boolean,
  format: TimeFormat = { kind: 'auto' }): TimeField {
  if (format.kind === 'epoch') return epochField(column, path, values, table, format.unit);
  if (format.kind === 'pattern') return patternField(column, path, values, table, checkLayout, format.pattern);
  const kinds = new Set(values.map(kindOf));
  const field = path.join('.');
  if (format.kind === 'iso' && [...kinds].some((k) => k !== 'string' && k !== 'date')) {
    throw new HyperfillError('E_TIME_COLUMN_TYPE', `time field "${field}" of ${table} holds ${[...kinds].filter((k) => k !== 'string' && k !== 'date').join(' and ')} values, but time_format=iso`,
      { table, column }, 'time_format=epoch_s, epoch_ms or epoch_us reads numbers as times');
  }
  if (kinds.size === 0) {
    // Nothing sampled (an empty collection): dates, the common case.
    return { column, path, kind: 'date', timeType: 'timestamptz' };
  }
  if (kinds.size === 1 && kinds.has('date')) return { column, path, kind: 'date', timeType: 'timestamptz' };
  const numeric = [...kinds].every((k) => k === 'int' || k === 'long' || k === 'double' || k === 'decimal');
  if (numeric) {
    const fractional = values.find((v) => (kindOf(v) === 'double' && !Number.isInteger(numberOf(v))) || (kindOf(v) === 'decimal' && wholeDecimal(String(v)) === undefined));
    if (fractional !== undefined) {
      throw new HyperfillError('E_TIME_COLUMN_TYPE', `time field "${field}" of ${table} holds fractional numbers (e.g. ${kindOf(fractional) === 'decimal' ? String(fractional) : numberOf(fractional)})`,
        { table, column }, 'an epoch time field must hold whole numbers (e.g. milliseconds since 1970)');
    }
    return { column, path, kind: 'number', timeType: 'bigint' };
  }
  if (kinds.size === 1 && kinds.has('string')) {
    let layout: IsoLayout | undefined;
    let first = '';
    for (const v of values as string[]) {
      const l = isoLayoutOf(v);
      if (!l) {
        throw new HyperfillError('E_TIME_COLUMN_TYPE', `time field "${field}" of ${table} holds "${v.slice(0, 60)}", which is not an ISO 8601 time`, { table, column },
          'string time values must look like 2024-01-01T00:00:00Z');
      }
      if (!checkLayout) continue;
      if (!UTC_ZONES.has(l.zone)) {
        throw new HyperfillError('E_TIME_FORMAT', `time field "${field}" of ${table} holds "${v}", in zone ${l.zone}`, { table, column },
          'string times are compared as strings, which orders them only in one zone: store them in UTC (Z), or as BSON dates');
      }
      if (!layout) {
        layout = l;
        first = v;
      } else if (!sameLayout(layout, l)) {
        throw new HyperfillError('E_TIME_FORMAT', `time field "${field}" of ${table} mixes string layouts: "${first}" (${describeLayout(layout)}) and "${v}" (${describeLayout(l)})`,
          { table, column }, 'string times are compared as strings, which orders them only when they share one layout: normalise them, or store BSON dates');
      }
    }
    return layout ? { column, path, kind: 'string', timeType: 'timestamptz', layout } : { column, path, kind: 'string', timeType: 'timestamptz' };
  }
  throw new HyperfillError('E_TIME_COLUMN_TYPE', `time field "${field}" of ${table} holds ${[...kinds].sort().join(' and ')} values`, { table, column },
    'the time field must hold BSON dates, whole numbers (an epoch) or ISO 8601 strings, one kind throughout');
}

const NUMERIC_KINDS = new Set(['int', 'long', 'double', 'decimal']);

/** time_format=epoch_*: whole or fractional numbers in the unit, a timestamptz. */
function epochField(column: string, path: string[], values: unknown[], table: string, unit: EpochUnit): TimeField {
  const field = path.join('.');
  const odd = values.find((v) => !NUMERIC_KINDS.has(kindOf(v)));
  if (odd !== undefined) {
    throw new HyperfillError('E_TIME_COLUMN_TYPE', `time field "${field}" of ${table} holds ${kindOf(odd)} values (e.g. ${preview(odd)}), but time_format=epoch_${unit}`,
      { table, column }, 'epoch times are numbers; time_format=auto reads dates and ISO strings, a pattern like %Y/%m/%d %H:%M other strings');
  }
  const bad = values.find((v) => epochMicros(numberText(v), unit) === undefined);
  if (bad !== undefined) {
    throw new HyperfillError('E_TIME_COLUMN_TYPE', `time field "${field}" of ${table} holds ${numberText(bad)}, which is not ${unit === 'us' ? 'a whole number of microseconds' : `a number of ${unit === 's' ? 'seconds' : 'milliseconds'}`}`,
      { table, column }, unit === 'us' ? 'microseconds are whole numbers: time_format=epoch_ms or epoch_s for fractions' : 'repair the value');
  }
  return { column, path, kind: 'epoch', timeType: 'timestamptz', unit };
}

/**
 * time_format=PATTERN: strings in that layout, a timestamptz. `sorted`: the server compares the
 * strings (MongoDB), so the pattern must sort as text and every value be written in full width.
 */
function patternField(column: string, path: string[], values: unknown[], table: string, sorted: boolean, text: string): TimeField {
  const field = path.join('.');
  const pattern = compileTimePattern(text);
  const odd = values.find((v) => kindOf(v) !== 'string' || pattern.parse(v as string) === undefined);
  if (odd !== undefined) {
    throw new HyperfillError('E_TIME_COLUMN_TYPE', `time field "${field}" of ${table} holds ${kindOf(odd) === 'string' ? `"${(odd as string).slice(0, 60)}", which time_format=${text} does not read` : `${kindOf(odd)} values, but time_format=${text} reads strings`}`,
      { table, column }, 'correct time_format (directives: %Y %m %d %H %M %S %f %I %p %b %B %z), or repair the value');
  }
  if (!sorted) return { column, path, kind: 'pattern', timeType: 'timestamptz', pattern: text };
  if (!pattern.sortable) {
    throw new HyperfillError('E_TIME_FORMAT', `time_format=${text} does not sort as text, and the server compares time field "${field}" of ${table} as strings`, { table, column },
      'a pattern whose fields run from year to second (%Y %m %d %H %M %S %f), with nothing but separators between them, sorts as text; otherwise store BSON dates');
  }
  const fraction = ((values[0] as string | undefined) ?? '').length - pattern.format(0n, 0).length;
  const full = new RegExp(pattern.fullWidth(Math.max(0, fraction)));
  const ragged = values.find((v) => !full.test(v as string));
  if (ragged !== undefined) {
    const which = ragged === values[0] ? `"${ragged as string}", not written in full width` : `"${values[0] as string}" and "${ragged as string}": not all written in the same full width`;
    throw new HyperfillError('E_TIME_FORMAT', `time field "${field}" of ${table} holds ${which}`,
      { table, column }, 'strings compare as strings, which orders times only when every field has its full width (01, not 1) and the fractions the same digits: normalise them, or store BSON dates');
  }
  return { column, path, kind: 'pattern', timeType: 'timestamptz', pattern: text, fraction: Math.max(0, fraction) };
}

/** A BSON number as exact decimal text. */
function numberText(v: unknown): string {
  const kind = kindOf(v);
  if (kind === 'long' || kind === 'decimal') return String(v);
  return String(numberOf(v));
}

function preview(v: unknown): string {
  const text = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return text.length > 60 ? `${text.slice(0, 60)}...` : text;
}

function numberOf(v: unknown): number {
  if (typeof v === 'number') return v;
  const o = v as { _bsontype?: string; value?: number; toNumber?: () => number };
  if (o._bsontype === 'Long' && o.toNumber) return o.toNumber();
  return Number(o.value ?? NaN);
}

const MICROS_PER_MS = 1000n;

function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b > 0n ? q + 1n : q;
}

/** Grid, in microseconds, of a layout's precision. */
function layoutGrid(l: IsoLayout): bigint {
  if (l.dateOnly) return 86_400_000_000n;
  if (!l.seconds) return 60_000_000n;
  return l.fraction >= 6 ? 1n : 10n ** BigInt(6 - l.fraction);
}

/** A TimeValue written in `layout`, rounded up to the layout's precision. */
export function formatIsoBound(layout: IsoLayout, micros: bigint): string {
  const grid = layoutGrid(layout);
  const v = ceilDiv(micros, grid) * grid;
  const ms = v / MICROS_PER_MS - (v % MICROS_PER_MS < 0n ? 1n : 0n);
  const d = new Date(Number(ms));
  const year = d.getUTCFullYear();
  if (Number.isNaN(year) || year < 0 || year > 9999) {
    throw new HyperfillError('E_TIME_VALUE', `time ${v} µs is outside the years 0000-9999 that ISO string times can hold`);
  }
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  let s = iso.slice(0, 10);
  if (!layout.dateOnly) {
    s += layout.separator + iso.slice(11, 16);
    if (layout.seconds) s += iso.slice(16, 19);
    if (layout.fraction) {
      const micro = ((v % 1_000_000n) + 1_000_000n) % 1_000_000n;
      s += `.${micro.toString().padStart(6, '0').padEnd(layout.fraction, '0').slice(0, layout.fraction)}`;
    }
  }
  return s + layout.zone;
}

/** A regular expression every value of the layout matches (for the encoder's check). */
export function layoutPattern(l: IsoLayout): string {
  let s = '^\\d{4}-\\d{2}-\\d{2}';
  if (!l.dateOnly) {
    s += `${l.separator}\\d{2}:\\d{2}`;
    if (l.seconds) s += ':\\d{2}';
    if (l.fraction) s += `\\.\\d{${l.fraction}}`;
  }
  return `${s}${l.zone.replace(/[+]/g, '\\+')}$`;
}

/**
 * A window bound as the value to compare the field with: a Date (ms, rounded up),
 * a bigint (numbers; the caller picks Long or number), or a string in the field's layout.
 */
export function timeBound(field: TimeField, value: bigint): Date | bigint | string | Decimal128 {
  switch (field.kind) {
    case 'date': {
      const ms = ceilDiv(value, MICROS_PER_MS);
      return new Date(Number(ms));
    }
    case 'number':
      return value;
    case 'string':
      return formatIsoBound(field.layout ?? { dateOnly: false, separator: 'T', seconds: true, fraction: 3, zone: 'Z' }, value);
    case 'epoch':
      return epochBound(value, field.unit ?? 'ms');
    case 'pattern': {
      const pattern = compileTimePattern(field.pattern ?? '');
      const grid = pattern.grid(field.fraction ?? 0);
      return pattern.format(ceilDiv(value, grid) * grid, field.fraction ?? 0);
    }
  }
}

/** A bound in the epoch unit: a whole number, or the exact decimal between two (values may have fractions). */
function epochBound(micros: bigint, unit: EpochUnit): bigint | Decimal128 {
  const per = 10n ** BigInt(6 - EPOCH_SCALE[unit]);
  if (micros % per === 0n) return micros / per;
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const digits = 6 - EPOCH_SCALE[unit];
  return Decimal128.fromString(`${negative ? '-' : ''}${abs / per}.${(abs % per).toString().padStart(digits, '0')}`);
}

/**
 * A stored value as a TimeValue; undefined for null and missing. Throws a TypeError
 * (message names the value's kind) when the value is not of the field's kind.
 */
export function timeValueOf(field: TimeField, value: unknown): bigint | undefined {
  if (value === null || value === undefined) return undefined;
  const kind = kindOf(value);
  switch (field.kind) {
    case 'date':
      if (kind !== 'date') break;
      return BigInt((value as Date).getTime()) * MICROS_PER_MS;
    case 'number':
      if (kind === 'long') return BigInt(String(value));
      if (kind === 'decimal') {
        const whole = wholeDecimal(String(value));
        if (whole === undefined) throw new TypeError(`${String(value)} in time field "${field.path.join('.')}", which is not a whole number`);
        return whole;
      }
      if (kind === 'int' || kind === 'double') {
        const n = numberOf(value);
        if (!Number.isFinite(n)) break;
        return BigInt(Math.floor(n));
      }
      break;
    case 'string': {
      if (kind !== 'string') break;
      const text = (value as string).replace(/(\.\d{6})\d+/, '$1'); // to microseconds
      const layout = isoLayoutOf(text);
      if (!layout) throw new TypeError(`"${text.slice(0, 60)}" in time field "${field.path.join('.')}", which is not an ISO 8601 time`);
      if (layout.zone === '') return parseTimeValue(text, 'timestamp', 'time value');
      return parseTimeValue(text, 'timestamptz', 'time value');
    }
    case 'epoch': {
      if (!NUMERIC_KINDS.has(kind)) break;
      const micros = epochMicros(numberText(value), field.unit ?? 'ms');
      if (micros === undefined) throw new TypeError(`${numberText(value)} in time field "${field.path.join('.')}", which is not ${field.unit === 'us' ? 'a whole number of microseconds' : 'a finite number'}`);
      return micros;
    }
    case 'pattern': {
      if (kind !== 'string') break;
      const parsed = compileTimePattern(field.pattern ?? '').parse(value as string);
      if (!parsed) throw new TypeError(`"${(value as string).slice(0, 60)}" in time field "${field.path.join('.')}", which time_format=${field.pattern} does not read`);
      return parsed.micros;
    }
  }
  const sampled = field.kind === 'number' || field.kind === 'epoch' ? 'numbers' : field.kind === 'pattern' ? 'strings' : `${field.kind}s`;
  throw new TypeError(`${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind} value in time field "${field.path.join('.')}", whose sampled values are ${sampled}`);
}
