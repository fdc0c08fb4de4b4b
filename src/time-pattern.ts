/**
 * strftime-like time patterns (`time_format=%Y/%m/%d %H:%M`) for sources whose times are text
 * in a layout of their own. Reading is exact, with the rules of the ISO reader
 * (csv-files/time-text.ts): every field in range (no 31 June, no hour 25), the whole text
 * matched (nothing left over), fractions to 9 digits rounded to microseconds, a zone of
 * Z, +05, +0530 or +05:30 applied; a value that does not match is refused, never guessed.
 *
 *   %Y year (4 digits)   %m month (1-12)   %d day   %H hour (0-23)   %M minute   %S second
 *   %f fraction of a second (1-9 digits)   %I hour (1-12) with %p AM/PM   %b Jan..Dec   %B January..
 *   %z zone   %F = %Y-%m-%d   %T = %H:%M:%S   %% a literal %
 *
 * A field may have one digit or two, unless another digit field follows at once (%Y%m%d):
 * then it has exactly two.
 */
import { HyperfillError } from './errors.js';

type Field = 'Y' | 'm' | 'd' | 'H' | 'I' | 'M' | 'S' | 'f' | 'p' | 'b' | 'B' | 'z';

type Token = { field: Field } | { literal: string };

export interface PatternTime {
  /** The point in time, the zone applied (UTC when the pattern has no %z). */
  micros: bigint;
  /** The wall-clock time as written, any zone ignored. */
  local: bigint;
}

export interface TimePattern {
  readonly pattern: string;
  /** The pattern has %z: every value says its zone. */
  readonly hasZone: boolean;
  /** The pattern has an hour: values are timestamps, not dates. */
  readonly hasTime: boolean;
  /**
   * Values written in full width (%Y 4 digits, the others 2, %f a fixed number) sort as text
   * in time order: the fields run from year to fraction, with nothing else but literals.
   */
  readonly sortable: boolean;
  parse(text: string): PatternTime | undefined;
  /** `micros` (UTC) in full width, `fraction` digits for %f; for sortable patterns. */
  format(micros: bigint, fraction: number): string;
  /** A regular expression the full-width values match (`fraction` digits for %f). */
  fullWidth(fraction: number): string;
  /** Microseconds between two consecutive full-width values (a day, an hour, ... 10^(6-fraction)). */
  grid(fraction: number): bigint;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const DIGIT_FIELDS = new Set<Field>(['Y', 'm', 'd', 'H', 'I', 'M', 'S', 'f']);
const SORTED: Field[] = ['Y', 'm', 'd', 'H', 'M', 'S', 'f'];
const cache = new Map<string, TimePattern>();

/** Whether `text` is a pattern rather than a name (auto, iso, epoch_ms...). */
export const isTimePattern = (text: string) => text.includes('%');

export function compileTimePattern(pattern: string): TimePattern {
  let compiled = cache.get(pattern);
  if (!compiled) {
    compiled = compile(pattern);
    if (cache.size > 64) cache.clear();
    cache.set(pattern, compiled);
  }
  return compiled;
}

function tokenize(pattern: string): Token[] {
  const tokens: Token[] = [];
  const literal = (s: string) => {
    const last = tokens[tokens.length - 1];
    if (last && 'literal' in last) last.literal += s;
    else tokens.push({ literal: s });
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c !== '%') {
      literal(c);
      continue;
    }
    const d = pattern[++i];
    if (d === '%') literal('%');
    else if (d === 'F') tokens.push({ field: 'Y' }, { literal: '-' }, { field: 'm' }, { literal: '-' }, { field: 'd' });
    else if (d === 'T') tokens.push({ field: 'H' }, { literal: ':' }, { field: 'M' }, { literal: ':' }, { field: 'S' });
    else if (d !== undefined && 'YmdHIMSfpbBz'.includes(d)) tokens.push({ field: d as Field });
    else {
      throw patternError(pattern, d === undefined ? 'it ends in a lone %' : `%${d} is not a directive it knows`);
    }
  }
  return tokens;
}

function patternError(pattern: string, why: string): HyperfillError {
  return new HyperfillError('E_USAGE', `time_format "${pattern}" cannot be used: ${why}`, {},
    'directives: %Y %m %d %H %M %S %f %I %p %b %B %z %F %T %% (e.g. time_format=%Y/%m/%d %H:%M); or auto, iso, epoch_s, epoch_ms, epoch_us');
}

function compile(pattern: string): TimePattern {
  const tokens = tokenize(pattern);
  const fields = tokens.flatMap((t) => ('field' in t ? [t.field] : []));
  const has = (f: Field) => fields.includes(f);
  for (const f of new Set(fields)) if (fields.filter((x) => x === f).length > 1) throw patternError(pattern, `%${f} appears twice`);
  if (!has('Y') || !(has('m') || has('b') || has('B')) || !has('d')) throw patternError(pattern, 'it needs a year (%Y), a month (%m, %b or %B) and a day (%d)');
  if ([has('m'), has('b'), has('B')].filter(Boolean).length > 1) throw patternError(pattern, 'it names the month twice');
  if (has('H') && has('I')) throw patternError(pattern, 'it has both %H and %I');
  if (has('I') !== has('p')) throw patternError(pattern, '%I (hour 1-12) and %p (AM/PM) go together');
  if (has('M') && !has('H') && !has('I')) throw patternError(pattern, 'it has minutes (%M) but no hour');
  if (has('S') && !has('M')) throw patternError(pattern, 'it has seconds (%S) but no minutes');
  if (has('f') && !has('S')) throw patternError(pattern, 'it has a fraction (%f) but no seconds');

  const order: Field[] = [];
  let source = '^';
  tokens.forEach((t, k) => {
    if ('literal' in t) {
      source += t.literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      return;
    }
    order.push(t.field);
    const next = tokens[k + 1];
    const tight = next !== undefined && 'field' in next && DIGIT_FIELDS.has(next.field);
    source += ({
      Y: '(\\d{4})', f: '(\\d{1,9})', p: '([AaPp][Mm])', b: '([A-Za-z]{3})', B: '([A-Za-z]{3,9})', z: '([Zz]|[+-]\\d{2}(?::?\\d{2})?)',
    } as Partial<Record<Field, string>>)[t.field] ?? (tight ? '(\\d{2})' : '(\\d{1,2})');
  });
  const regex = new RegExp(`${source}$`);
  const sortable = order.every((f, i) => f === SORTED[i]);

  const parse = (text: string): PatternTime | undefined => {
    const m = regex.exec(text);
    if (!m) return undefined;
    const v: Partial<Record<Field, string>> = {};
    order.forEach((f, i) => { v[f] = m[i + 1]; });
    const year = Number(v.Y);
    const month = v.m !== undefined ? Number(v.m) : monthByName(v.b ?? v.B ?? '', v.b !== undefined);
    const day = Number(v.d);
    if (!(month >= 1 && month <= 12) || day < 1) return undefined;
    const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
    if (day > DAYS_IN_MONTH[month - 1]! + (leap ? 1 : 0)) return undefined;
    let hour = v.H !== undefined ? Number(v.H) : 0;
    if (v.I !== undefined) {
      const h12 = Number(v.I);
      if (h12 < 1 || h12 > 12) return undefined;
      hour = (h12 % 12) + (/^p/i.test(v.p ?? '') ? 12 : 0);
    }
    const minute = v.M !== undefined ? Number(v.M) : 0;
    const second = v.S !== undefined ? Number(v.S) : 0;
    if (hour > 23 || minute > 59 || second > 60) return undefined;
    let offsetMinutes = 0;
    if (v.z !== undefined && !/^z$/i.test(v.z)) {
      const digits = v.z.replace(':', '');
      const h = Number(digits.slice(1, 3));
      const min = digits.length > 3 ? Number(digits.slice(3, 5)) : 0;
      if (h > 15 || min > 59) return undefined;
      offsetMinutes = (v.z[0] === '-' ? -1 : 1) * (h * 60 + min);
    }
    const date = new Date(0);
    date.setUTCFullYear(year, month - 1, day);
    date.setUTCHours(hour, minute, second, 0);
    let local = BigInt(date.getTime()) * 1000n;
    const fraction = v.f;
    if (fraction) {
      local += fraction.length <= 6 ? BigInt(fraction.padEnd(6, '0')) : BigInt(fraction.slice(0, 6)) + (Number(fraction[6]) >= 5 ? 1n : 0n);
    }
    return { local, micros: local - BigInt(offsetMinutes) * 60_000_000n };
  };

  const format = (micros: bigint, fraction: number): string => {
    const ms = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
    const iso = new Date(Number(ms)).toISOString();
    const sub = ((micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
    const parts: Partial<Record<Field, string>> = {
      Y: iso.slice(0, 4), m: iso.slice(5, 7), d: iso.slice(8, 10), H: iso.slice(11, 13), M: iso.slice(14, 16), S: iso.slice(17, 19),
      f: sub.toString().padStart(6, '0').padEnd(fraction, '0').slice(0, fraction),
    };
    return tokens.map((t) => ('literal' in t ? t.literal : parts[t.field] ?? '')).join('');
  };

  const fullWidth = (fraction: number): string => `^${tokens.map((t) => ('literal' in t ? t.literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    : t.field === 'Y' ? '\\d{4}' : t.field === 'f' ? `\\d{${fraction}}` : '\\d{2}')).join('')}$`;

  const grid = (fraction: number): bigint => {
    if (has('f')) return fraction >= 6 ? 1n : 10n ** BigInt(6 - fraction);
    if (has('S')) return 1_000_000n;
    if (has('M')) return 60_000_000n;
    if (has('H') || has('I')) return 3_600_000_000n;
    return 86_400_000_000n;
  };

  return { pattern, hasZone: has('z'), hasTime: has('H') || has('I'), sortable, parse, format, fullWidth, grid };
}

function monthByName(name: string, abbreviated: boolean): number {
  const lower = name.toLowerCase();
  const i = MONTHS.findIndex((m) => (abbreviated ? m.slice(0, 3) === lower : m === lower || m.slice(0, 3) === lower));
  return i + 1;
}
