/**
 * The UTC offset PostgreSQL gives a zone-less local time in the session's TimeZone,
 * decided the way its DetermineTimeZoneOffset decides: find the first transition after
 * (local time - 1 day); when both readings of the local time fall on one side of it,
 * take that side's offset; in a spring-forward gap take the offset before, in a
 * fall-back overlap the offset after. The transitions come from the server itself
 * (session.ts), for the years it was asked about; outside them the answer is
 * "unknown" and the value is left to the server.
 */

/** Plain data (it crosses into worker threads). */
export interface ZoneTable {
  /** The session's TimeZone setting, for messages. */
  name: string;
  /** Local times (seconds since 1970 read as UTC) in [from, to) are covered. */
  from: number;
  to: number;
  /** Instants (seconds since 1970, UTC) where the offset changes, ascending. */
  at: number[];
  /** Offsets in seconds east of UTC just before and from each instant on. */
  before: number[];
  after: number[];
  /** The offset when no transition follows (no transitions at all: the zone's only offset). */
  base: number;
}

const DAY = 86400;

/** A zone with one offset forever (UTC and its aliases). */
export function fixedZone(name: string, offset: number): ZoneTable {
  return { name, from: -Infinity, to: Infinity, at: [], before: [], after: [], base: offset };
}

/** Seconds east of UTC for the local time `local` (seconds since 1970 as if UTC); NaN when not covered. */
export function utcOffset(zone: ZoneTable, local: number): number {
  if (!(local >= zone.from && local < zone.to)) return NaN;
  const at = zone.at;
  const prev = local - DAY;
  // First transition strictly after prev.
  let lo = 0;
  let hi = at.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((at[mid] as number) > prev) hi = mid;
    else lo = mid + 1;
  }
  if (lo === at.length) return lo === 0 ? zone.base : (zone.after[lo - 1] as number);
  const boundary = at[lo] as number;
  const before = zone.before[lo] as number;
  const after = zone.after[lo] as number;
  const beforeTime = local - before;
  const afterTime = local - after;
  if (beforeTime < boundary && afterTime < boundary) return before;
  if (beforeTime > boundary && afterTime >= boundary) return after;
  return beforeTime > afterTime ? before : after;
}
