/**
 * Points on a table's time axis. Timestamps and dates are held as bigint microseconds
 * since 1970-01-01 (UTC for timestamptz, wall clock for timestamp); integer time
 * columns hold the user's epoch value as is. One representation lets windows be cut,
 * compared and printed the same way whatever the source.
 */
import { HyperfillError } from './errors.js';

export type TimeType = 'timestamptz' | 'timestamp' | 'date' | 'bigint' | 'integer' | 'smallint';

export const INTEGER_TIME_TYPES: readonly TimeType[] = ['bigint', 'integer', 'smallint'];

export function isIntegerTime(type: TimeType): boolean {
  return INTEGER_TIME_TYPES.includes(type);
}

const MICROS_PER_MS = 1000n;
const MICROS_PER_DAY = 86_400_000_000n;

/** Maps a PostgreSQL type name (format_type or udt_name) to a TimeType, or undefined. */
export function timeTypeOf(pgType: string): TimeType | undefined {
  const t = pgType.toLowerCase().trim();
  if (t === 'timestamptz' || t === 'timestamp with time zone') return 'timestamptz';
  if (t === 'timestamp' || t === 'timestamp without time zone') return 'timestamp';
  if (t === 'date') return 'date';
  if (t === 'bigint' || t === 'int8') return 'bigint';
  if (t === 'integer' || t === 'int4' || t === 'int') return 'integer';
  if (t === 'smallint' || t === 'int2') return 'smallint';
  return undefined;
}

/**
 * Parses a user's time (a completion point, a --from) for a column of `type`.
 * ISO strings for timestamps and dates, integers for integer columns.
 */
export function parseTimeValue(text: string, type: TimeType, flag: string): bigint {
  const value = text.trim();
  if (isIntegerTime(type)) {
    if (!/^-?\d+$/.test(value)) {
      throw new HyperfillError('E_TIME_VALUE', `${flag} "${text}" is not an integer, but the time column is ${type}`, {},
        `give the value in the column's own epoch unit, e.g. ${flag} 1695036737000`);
    }
    return BigInt(value);
  }
  if (type === 'date') {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
    const ms = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN;
    if (!m || Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== value) {
      throw new HyperfillError('E_TIME_VALUE', `${flag} "${text}" is not a date (YYYY-MM-DD), and the time column is date`, {},
        `e.g. ${flag} 2023-08-10`);
    }
    return BigInt(ms) * MICROS_PER_MS;
  }
  // Timestamps: ISO 8601 with optional fraction (to microseconds) and zone.
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,6}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i.exec(value);
  if (!m) {
    throw new HyperfillError('E_TIME_VALUE', `${flag} "${text}" is not an ISO timestamp, and the time column is ${type}`, {},
      `e.g. ${flag} 2023-08-10T12:00:00Z`);
  }
  if (type === 'timestamptz' && !m[4]) {
    throw new HyperfillError('E_TIME_VALUE', `${flag} "${text}" has no time zone, and the time column is timestamptz`, {},
      `add one so the point is unambiguous, e.g. ${flag} ${m[1]}T${m[2] ?? '00:00:00'}Z`);
  }
  const zone = type === 'timestamp' ? 'Z' : normaliseZone(m[4] ?? 'Z');
  const ms = Date.parse(`${m[1]}T${m[2] ?? '00:00'}${m[2] && m[2].length === 5 ? ':00' : ''}${zone}`);
  if (Number.isNaN(ms)) throw new HyperfillError('E_TIME_VALUE', `${flag} "${text}" is not a valid time`, {});
  const fraction = BigInt((m[3] ?? '').padEnd(6, '0') || '0');
  return BigInt(ms) * MICROS_PER_MS + fraction;
}

function normaliseZone(zone: string): string {
  if (/^z$/i.test(zone)) return 'Z';
  const m = /^([+-]\d{2}):?(\d{2})?$/.exec(zone);
  return m ? `${m[1]}:${m[2] ?? '00'}` : zone;
}

/** The value as a PostgreSQL literal's text (to be bound as a parameter, cast to the column type). */
export function formatTimeValue(value: bigint, type: TimeType): string {
  if (isIntegerTime(type)) return value.toString();
  const ms = value / MICROS_PER_MS - (value % MICROS_PER_MS < 0n ? 1n : 0n);
  const micros = value - ms * MICROS_PER_MS;
  const iso = new Date(Number(ms)).toISOString();
  if (type === 'date') return iso.slice(0, 10);
  const fraction = `${iso.slice(20, 23)}${micros.toString().padStart(3, '0')}`.replace(/0+$/, '');
  const base = iso.slice(0, 19).replace('T', ' ');
  const text = fraction ? `${base}.${fraction}` : base;
  return type === 'timestamptz' ? `${text}+00` : text;
}

/** Reads a value the `pg` driver returned (Date, string or number) back into a TimeValue. */
export function timeValueFromDriver(raw: unknown, type: TimeType): bigint {
  if (isIntegerTime(type)) return BigInt(String(raw));
  if (raw instanceof Date) return BigInt(raw.getTime()) * MICROS_PER_MS;
  return parseTimeValue(String(raw).replace(' ', 'T').replace(/\+00$/, 'Z'), type === 'timestamptz' ? 'timestamptz' : type, 'value');
}

export function nowTimeValue(type: TimeType): bigint | undefined {
  return isIntegerTime(type) ? undefined : BigInt(Date.now()) * MICROS_PER_MS;
}

/** Interval text ("1 day", "6 hours", "30m") to microseconds, or an integer for integer columns. */
export function parseWindowSize(text: string, type: TimeType): bigint {
  if (isIntegerTime(type)) {
    if (!/^\d+$/.test(text.trim()) || BigInt(text.trim()) <= 0n) {
      throw new HyperfillError('E_USAGE', `\`--window\` must be a positive integer for a ${type} time column, got "${text}"`);
    }
    return BigInt(text.trim());
  }
  const m = /^(\d+)\s*(us|ms|s|sec|seconds?|m|min|minutes?|h|hours?|d|days?|w|weeks?)$/i.exec(text.trim());
  if (!m) throw new HyperfillError('E_USAGE', `\`--window\` must be an interval like 6h, 1 day or 1w, got "${text}"`);
  const unit = (m[2] ?? 'd').toLowerCase();
  const micros: Record<string, bigint> = { us: 1n, ms: 1000n, s: 1_000_000n, m: 60_000_000n, h: 3_600_000_000n, d: MICROS_PER_DAY, w: 7n * MICROS_PER_DAY };
  const key = unit.startsWith('us') ? 'us' : unit.startsWith('ms') ? 'ms' : unit.startsWith('s') ? 's' : unit.startsWith('mi') || unit === 'm' ? 'm' : unit[0] ?? 'd';
  return BigInt(m[1] ?? '0') * (micros[key] ?? MICROS_PER_DAY);
}

export { MICROS_PER_DAY, MICROS_PER_MS };
