/**
 * date, timestamp and timestamptz from ISO 8601 text, as PostgreSQL's DecodeDateTime
 * reads it: `YYYY-MM-DD`, then optionally `T` or one space and `HH:MM[:SS[.frac]]`,
 * then optionally a zone (`Z`, `+HH`, `+HHMM`, `+HH:MM`, `+HH:MM:SS`), then optionally
 * ` BC`; and `infinity`, `-infinity`. A four-digit year makes the field order certain
 * whatever DateStyle says. Fractional seconds are rounded as the server rounds them:
 * strtod of the fraction, times 10^6, rint (half to even). A zone-less timestamptz
 * takes the session TimeZone's offset (time-zone.ts). timestamp ignores a zone, as the
 * server does. Anything else (two-digit years, month names, `now`, `24:00`, leap
 * second 60, spaces, zone names) is left to the server (false).
 */
import { parsedFloat, parseFloatText } from './float.js';
import { utcOffset, type ZoneTable } from './time-zone.js';
import type { BinaryWriter } from './writer.js';

const ZERO = 0x30;
const POSTGRES_EPOCH_JDATE = 2451545;
const UNIX_EPOCH_JDATE = 2440588;
const USECS_PER_DAY = 86_400_000_000;
/** No year beyond 4713 BC: the server's dates start in November 4714 BC. */
const MAX_BC_YEAR = 4713;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** The fields of one parsed value; reused (one parse at a time per thread). */
const parsed = {
  year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, usec: 0,
  /** Seconds east of UTC, when the text gives a zone. */
  zone: 0, hasZone: false, hasTime: false,
  /** 1 infinity, -1 -infinity, 0 a finite value. */
  infinite: 0,
};

export function encodeDate(w: BinaryWriter, src: Uint8Array, start: number, end: number): boolean {
  if (!parse(src, start, end) || parsed.hasTime || parsed.hasZone) return false;
  w.int32(4);
  w.int32(parsed.infinite === 0 ? daysSince2000(parsed.year, parsed.month, parsed.day) : parsed.infinite > 0 ? INT32_MAX : INT32_MIN);
  return true;
}

export function encodeTimestamp(w: BinaryWriter, src: Uint8Array, start: number, end: number): boolean {
  if (!parse(src, start, end)) return false;
  writeTimestamp(w, 0);
  return true;
}

export function encodeTimestamptz(w: BinaryWriter, src: Uint8Array, start: number, end: number, zone: ZoneTable): boolean {
  if (!parse(src, start, end)) return false;
  let offset = parsed.zone;
  if (!parsed.hasZone && parsed.infinite === 0) {
    const local = (julianDay(parsed.year, parsed.month, parsed.day) - UNIX_EPOCH_JDATE) * 86400 + parsed.hour * 3600 + parsed.minute * 60 + parsed.second;
    offset = utcOffset(zone, local);
    if (offset !== offset) return false;
  }
  writeTimestamp(w, offset);
  return true;
}

/** Microseconds since 2000-01-01 00:00 UTC, for a local time `offset` seconds east of UTC. */
function writeTimestamp(w: BinaryWriter, offset: number): void {
  w.int32(8);
  if (parsed.infinite !== 0) {
    w.view.setInt32(w.pos, parsed.infinite > 0 ? INT32_MAX : INT32_MIN);
    w.view.setUint32(w.pos + 4, parsed.infinite > 0 ? 0xffffffff : 0);
    w.pos += 8;
    return;
  }
  const days = daysSince2000(parsed.year, parsed.month, parsed.day);
  const time = ((parsed.hour * 60 + parsed.minute) * 60 + parsed.second - offset) * 1_000_000 + parsed.usec;
  w.int64Product(days, USECS_PER_DAY, time);
}

function daysSince2000(year: number, month: number, day: number): number {
  return julianDay(year, month, day) - POSTGRES_EPOCH_JDATE;
}

/** PostgreSQL's date2j (astronomical years: 1 BC is 0). */
function julianDay(year: number, month: number, day: number): number {
  let y = year;
  let m = month;
  if (m > 2) {
    m += 1;
    y += 4800;
  } else {
    m += 13;
    y += 4799;
  }
  const century = Math.floor(y / 100);
  let julian = y * 365 - 32167;
  julian += Math.floor(y / 4) - century + Math.floor(century / 4);
  julian += Math.floor((7834 * m) / 256) + day;
  return julian;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeap(y: number): boolean {
  return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
}

function digits2(src: Uint8Array, i: number): number {
  const a = (src[i] as number) - ZERO;
  const b = (src[i + 1] as number) - ZERO;
  // Past the end of src the bytes are undefined and the differences NaN: refused too.
  if (!(a >= 0 && a <= 9 && b >= 0 && b <= 9)) return -1;
  return a * 10 + b;
}

/** Fills `parsed`; false when the text is not in the forms this module takes. */
function parse(src: Uint8Array, start: number, end: number): boolean {
  parsed.hasZone = false;
  parsed.hasTime = false;
  parsed.zone = 0;
  parsed.hour = 0;
  parsed.minute = 0;
  parsed.second = 0;
  parsed.usec = 0;
  parsed.infinite = 0;
  const n = end - start;
  if (n < 10) return parseInfinity(src, start, end);
  const y1 = digits2(src, start);
  const y2 = digits2(src, start + 2);
  if (y1 < 0 || y2 < 0 || src[start + 4] !== 0x2d || src[start + 7] !== 0x2d) return parseInfinity(src, start, end);
  let year = y1 * 100 + y2;
  const month = digits2(src, start + 5);
  const day = digits2(src, start + 8);
  if (year === 0 || month < 1 || month > 12 || day < 1) return false;
  let i = start + 10;
  if (i < end && (src[i] === 0x54 || src[i] === 0x74 || src[i] === 0x20) && i + 1 < end && src[i + 1] !== 0x42 && src[i + 1] !== 0x62) {
    i = parseTime(src, i + 1, end);
    if (i < 0) return false;
    parsed.hasTime = true;
    if (i < end && src[i] !== 0x20) {
      i = parseZone(src, i, end);
      if (i < 0) return false;
    }
  }
  if (i < end) {
    // " BC" (an era after the value): astronomical year numbering from here on.
    if (end - i !== 3 || src[i] !== 0x20 || ((src[i + 1] as number) | 0x20) !== 0x62 || ((src[i + 2] as number) | 0x20) !== 0x63) return false;
    if (year > MAX_BC_YEAR) return false;
    year = 1 - year;
  }
  const limit = month === 2 && isLeap(year) ? 29 : (DAYS_IN_MONTH[month - 1] as number);
  if (day > limit) return false;
  parsed.year = year;
  parsed.month = month;
  parsed.day = day;
  return true;
}

function parseInfinity(src: Uint8Array, start: number, end: number): boolean {
  const negative = src[start] === 0x2d;
  const from = negative ? start + 1 : start;
  if (end - from !== 8) return false;
  const word = 'infinity';
  for (let k = 0; k < 8; k++) if (((src[from + k] as number) | 0x20) !== word.charCodeAt(k)) return false;
  parsed.infinite = negative ? -1 : 1;
  return true;
}

/** HH:MM[:SS[.frac]] from i; the index after it, or -1. */
function parseTime(src: Uint8Array, i: number, end: number): number {
  if (end - i < 5 || src[i + 2] !== 0x3a) return -1;
  const hour = digits2(src, i);
  const minute = digits2(src, i + 3);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59) return -1;
  parsed.hour = hour;
  parsed.minute = minute;
  i += 5;
  if (i >= end || src[i] !== 0x3a) {
    // HH:MM.frac means MM:SS.frac to the server: not taken here.
    return i < end && src[i] === 0x2e ? -1 : i;
  }
  if (end - i < 3) return -1;
  const second = digits2(src, i + 1);
  if (second < 0 || second > 59) return -1;
  parsed.second = second;
  i += 3;
  if (i < end && src[i] === 0x2e) {
    let j = i + 1;
    while (j < end && (src[j] as number) >= ZERO && (src[j] as number) <= ZERO + 9) j++;
    if (j === i + 1) return -1;
    parsed.usec = fractionToMicros(src, i, j);
    i = j;
  }
  return i;
}

/**
 * ParseFractionalSecond: rint(strtod(".ddd") * 1e6). Up to six digits that is the
 * digits themselves; beyond, the double's own rounding decides, so it is computed the
 * same way (parseFloatText rounds as strtod does).
 */
function fractionToMicros(src: Uint8Array, dot: number, end: number): number {
  const n = end - dot - 1;
  if (n <= 6) {
    let v = 0;
    for (let k = dot + 1; k < end; k++) v = v * 10 + ((src[k] as number) - ZERO);
    for (let k = n; k < 6; k++) v *= 10;
    return v;
  }
  parseFloatText(src, dot, end);
  return rint((parsedFloat[0] as number) * 1_000_000);
}

/** C's rint in the default rounding mode: to nearest, ties to even. */
function rint(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Z, or a sign and HH, HHMM, HH:MM, HH:MM:SS (PostgreSQL's DecodeTimezone, hours up to 15). */
function parseZone(src: Uint8Array, i: number, end: number): number {
  const c = src[i];
  if (c === 0x5a || c === 0x7a) {
    parsed.hasZone = true;
    return i + 1;
  }
  if (c !== 0x2b && c !== 0x2d) return -1;
  const sign = c === 0x2d ? -1 : 1;
  const hour = digits2(src, i + 1);
  if (end - i < 3 || hour < 0 || hour > 15) return -1;
  let minute = 0;
  let second = 0;
  i += 3;
  if (i < end && src[i] === 0x3a) {
    minute = digits2(src, i + 1);
    if (end - i < 3 || minute < 0 || minute > 59) return -1;
    i += 3;
    if (i < end && src[i] === 0x3a) {
      second = digits2(src, i + 1);
      if (end - i < 3 || second < 0 || second > 59) return -1;
      i += 3;
    }
  } else if (end - i >= 2 && digits2(src, i) >= 0) {
    minute = digits2(src, i);
    if (minute > 59) return -1;
    i += 2;
  }
  if (i < end && src[i] !== 0x20) return -1;
  parsed.hasZone = true;
  parsed.zone = sign * (hour * 3600 + minute * 60 + second);
  return i;
}
