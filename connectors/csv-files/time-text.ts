/**
 * Reads a CSV time field into the bigint of time-value.ts, fast (once per row of every
 * scan): ISO 8601 dates and timestamps as PostgreSQL accepts them (`T` or a space,
 * up to 9 fraction digits rounded to microseconds, a zone `Z`, `+05`, `+0530` or
 * `+05:30`), integers, epoch seconds, milliseconds or microseconds (src/time-format.ts), and
 * strftime-like patterns (src/time-pattern.ts).
 */
import { type EpochUnit, epochMicros, parseInt64 } from '../../src/time-format.js';
import { compileTimePattern } from '../../src/time-pattern.js';
import type { TimeType } from '../../src/time-value.js';

export type TimeReader = (text: string) => bigint | undefined;

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export interface IsoParts {
  /** The point in time (the zone applied; UTC when there is none). */
  micros: bigint;
  /** The wall-clock time as written, any zone ignored (what a timestamp column stores). */
  local: bigint;
  hasTime: boolean;
  hasZone: boolean;
}

/** An ISO date or timestamp; the zone (when present) is applied. Undefined when it is not one. */
export function parseIso(text: string): IsoParts | undefined {
  const m = ISO.exec(text);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1) return undefined;
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (DAYS_IN_MONTH[month - 1] ?? 31) + (leap ? 1 : 0)) return undefined;
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  const minute = m[5] === undefined ? 0 : Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (hour > 24 || minute > 59 || second > 60 || (hour === 24 && (minute > 0 || second > 0))) return undefined;
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone && zone !== 'Z' && zone !== 'z') {
    const digits = zone.replace(':', '');
    const h = Number(digits.slice(1, 3));
    const min = digits.length > 3 ? Number(digits.slice(3, 5)) : 0;
    if (h > 15 || min > 59) return undefined;
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (h * 60 + min);
  }
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  let local = BigInt(date.getTime()) * 1000n;
  const fraction = m[7];
  if (fraction) {
    if (fraction.length <= 6) local += BigInt(fraction.padEnd(6, '0'));
    else local += (BigInt(fraction.slice(0, 6)) + (Number(fraction[6]) >= 5 ? 1n : 0n));
  }
  const micros = local - BigInt(offsetMinutes) * 60_000_000n;
  return { micros, local, hasTime: m[4] !== undefined, hasZone: zone !== undefined };
}

export function isIsoDate(text: string): boolean {
  return DATE.test(text) && parseIso(text) !== undefined;
}

type IsoMode = 'instant' | 'zoned' | 'local';

/**
 * The common shapes (YYYY-MM-DD, then [T ]HH:MM[:SS][.fraction][Z|+HH[[:]MM]]) read
 * digit by digit, with one bigint made per value; anything else goes to parseIso.
 * 'zoned' refuses a timestamp without a zone; 'local' ignores the zone.
 */
export function readIso(text: string, mode: IsoMode): bigint | undefined {
  const fast = fastIso(text, mode);
  if (fast !== null) return fast;
  const p = parseIso(text);
  if (!p) return undefined;
  if (mode === 'zoned' && p.hasTime && !p.hasZone) return undefined;
  return mode === 'local' ? p.local : p.micros;
}

function num(text: string, at: number, count: number): number {
  let v = 0;
  for (let i = at; i < at + count; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** undefined: not a valid time; null: a shape this does not handle (ask parseIso). */
function fastIso(text: string, mode: IsoMode): bigint | undefined | null {
  const len = text.length;
  if (len < 10 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return null;
  const year = num(text, 0, 4);
  const month = num(text, 5, 2);
  const day = num(text, 8, 2);
  if (year < 100 || month < 1 || day < 1) return null;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let fraction = 0;
  let offset = 0;
  let zoned = false;
  let hasTime = false;
  if (len > 10) {
    const sep = text.charCodeAt(10);
    if ((sep !== 84 && sep !== 32 && sep !== 116) || len < 16 || text.charCodeAt(13) !== 58) return null;
    hasTime = true;
    hour = num(text, 11, 2);
    minute = num(text, 14, 2);
    let pos = 16;
    if (pos < len && text.charCodeAt(pos) === 58) {
      second = num(text, 17, 2);
      pos = 19;
      if (pos < len && text.charCodeAt(pos) === 46) {
        let digits = 0;
        pos++;
        while (pos < len) {
          const c = text.charCodeAt(pos) - 48;
          if (c < 0 || c > 9) break;
          if (digits < 6) fraction = fraction * 10 + c;
          else if (digits === 6 && c >= 5) fraction++;
          digits++;
          pos++;
        }
        if (digits === 0 || digits > 9) return null;
        for (let k = digits; k < 6; k++) fraction *= 10;
      }
    }
    if (hour < 0 || minute < 0 || second < 0) return null;
    if (pos < len) {
      const z = text.charCodeAt(pos);
      if ((z === 90 || z === 122) && pos + 1 === len) {
        zoned = true;
      } else if (z === 43 || z === 45) {
        const rest = len - pos - 1;
        const h = num(text, pos + 1, 2);
        let m = 0;
        if (rest === 4) m = num(text, pos + 3, 2);
        else if (rest === 5 && text.charCodeAt(pos + 3) === 58) m = num(text, pos + 4, 2);
        else if (rest !== 2) return null;
        if (h < 0 || m < 0) return null;
        if (h > 15 || m > 59) return undefined;
        offset = (z === 45 ? -1 : 1) * (h * 60 + m);
        zoned = true;
      } else {
        return null;
      }
    }
  }
  if (month > 12 || hour > 24 || minute > 59 || second > 60 || (hour === 24 && (minute > 0 || second > 0 || fraction > 0))) return undefined;
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (DAYS_IN_MONTH[month - 1] ?? 31) + (leap ? 1 : 0)) return undefined;
  if (mode === 'zoned' && hasTime && !zoned) return undefined;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second) - (mode === 'local' ? 0 : offset * 60_000);
  const micros = ms * 1000 + fraction;
  return Number.isSafeInteger(micros) ? BigInt(micros) : BigInt(ms) * 1000n + BigInt(fraction);
}

/** How a time column is read, chosen once per table. */
export type TimeEncoding =
  | { kind: 'iso'; type: 'timestamptz' | 'timestamp' | 'date' }
  | { kind: 'integer'; type: 'bigint' | 'integer' | 'smallint' }
  | { kind: 'epoch'; unit: EpochUnit }
  | { kind: 'pattern'; pattern: string; type: 'timestamptz' | 'timestamp' | 'date' };

export function timeReader(encoding: TimeEncoding): TimeReader {
  switch (encoding.kind) {
    case 'integer':
      return parseInt64;
    case 'epoch': {
      const unit = encoding.unit;
      return (text) => epochMicros(text, unit);
    }
    case 'pattern': {
      // As for ISO text: timestamptz reads the zone %z gives; timestamp and date the wall clock as written.
      const pattern = compileTimePattern(encoding.pattern);
      return encoding.type === 'timestamptz' ? (text) => pattern.parse(text)?.micros : (text) => pattern.parse(text)?.local;
    }
    case 'iso':
      if (encoding.type === 'date') return (text) => (DATE.test(text) ? readIso(text, 'instant') : undefined);
      // A timestamptz without a zone would depend on the session's TimeZone: refused.
      if (encoding.type === 'timestamptz') return (text) => readIso(text, 'zoned');
      // timestamp: PostgreSQL ignores a zone written on a timestamp without time zone; so do we.
      return (text) => readIso(text, 'local');
  }
}

/** The TimeType a table of this encoding has. */
export function timeTypeOfEncoding(encoding: TimeEncoding): TimeType {
  if (encoding.kind === 'epoch') return 'timestamptz';
  return encoding.type;
}
