/**
 * `time_format`: how a source's time values are written, the same option with the same
 * rules for every source whose times are text or numbers (CSV files, JSON files, MongoDB):
 *
 *   auto      what the source recognises on its own (ISO 8601 text, dates, integers)
 *   iso       ISO 8601 text only
 *   epoch_s, epoch_ms, epoch_us
 *             numbers of seconds, milliseconds or microseconds since 1970-01-01 UTC, read
 *             exactly (seconds and milliseconds may have a fraction, rounded to microseconds)
 *   a pattern like %Y/%m/%d %H:%M (time-pattern.ts)
 */
import { HyperfillError } from './errors.js';
import { compileTimePattern, isTimePattern } from './time-pattern.js';

export type EpochUnit = 's' | 'ms' | 'us';

export type TimeFormat =
  | { kind: 'auto' }
  | { kind: 'iso' }
  | { kind: 'epoch'; unit: EpochUnit }
  | { kind: 'pattern'; pattern: string };

/** Digits after the decimal point that turn a unit into microseconds. */
export const EPOCH_SCALE: Record<EpochUnit, 0 | 3 | 6> = { s: 0, ms: 3, us: 6 };

export const TIME_FORMAT_NAMES = ['auto', 'iso', 'epoch_s', 'epoch_ms', 'epoch_us'];

/** Reads the option; `where` names it in errors ("CSV source option `time_format`"). */
export function parseTimeFormat(text: string | undefined, where: string): TimeFormat {
  if (text === undefined || text === '') return { kind: 'auto' };
  if (isTimePattern(text)) {
    compileTimePattern(text); // refuses an unusable pattern now, not at the first row
    return { kind: 'pattern', pattern: text };
  }
  const name = text.trim().toLowerCase();
  if (name === 'auto' || name === 'iso') return { kind: name };
  const epoch = /^epoch_(s|ms|us)$/.exec(name);
  if (epoch) return { kind: 'epoch', unit: epoch[1] as EpochUnit };
  throw new HyperfillError('E_USAGE', `${where} must be one of ${TIME_FORMAT_NAMES.join(', ')} or a pattern like %Y/%m/%d %H:%M, got "${text}"`);
}

/** As the user writes it: auto, epoch_ms, %Y/%m/%d %H:%M. */
export function timeFormatName(format: TimeFormat): string {
  if (format.kind === 'epoch') return `epoch_${format.unit}`;
  if (format.kind === 'pattern') return format.pattern;
  return format.kind;
}

/**
 * A time_format value from a URL's query string. A pattern's `%` starts a directive, so the
 * value is taken as written when it holds a `%` that is no percent-escape (`%Y`); a value
 * whose every `%` is one (`%25Y%2F%25m`, what encodeURIComponent writes) is decoded.
 */
export function timeFormatParam(raw: string): string {
  if (/%(?![0-9A-Fa-f]{2})/.test(raw)) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
const INTEGER = /^[+-]?\d+$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * A decimal number times 10^scale, exactly (the fraction beyond `scale` digits rounded half
 * up); undefined when the text is not a number. An exponent (1.5E+9, as Decimal128 prints) is allowed.
 */
export function scaledDecimal(text: string, scale: number): bigint | undefined {
  const m = DECIMAL.exec(text);
  if (!m) return undefined;
  const shift = scale + Number(m[4] ?? 0);
  if (!Number.isSafeInteger(shift) || Math.abs(shift) > 400) return undefined;
  let digits = (m[2] ?? '0') + (m[3] ?? '');
  let point = (m[2] ?? '0').length + shift; // the decimal point's place in `digits` after scaling
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  const whole = digits.slice(0, point).padEnd(point, '0') || '0';
  const rest = digits.slice(point);
  let value = BigInt(whole);
  if (rest !== '' && Number(rest[0]) >= 5) value += 1n;
  return m[1] === '-' ? -value : value;
}

export function parseInt64(text: string): bigint | undefined {
  if (!INTEGER.test(text)) return undefined;
  const v = BigInt(text);
  return v < INT64_MIN || v > INT64_MAX ? undefined : v;
}

/**
 * An epoch number (as decimal text) in microseconds: seconds and milliseconds may carry a
 * fraction; microseconds are whole. Undefined when it is not such a number.
 */
export function epochMicros(text: string, unit: EpochUnit): bigint | undefined {
  if (unit === 'us') return parseInt64(text);
  return scaledDecimal(text, 6 - EPOCH_SCALE[unit]);
}
