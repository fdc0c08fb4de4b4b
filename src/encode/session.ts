/**
 * What the target session would use to read COPY text, asked once: TimeZone (for
 * zone-less timestamptz), DateStyle (recorded; the encoder takes four-digit years
 * only, which read the same in every DateStyle), timezone_abbreviations (which must be
 * a shipped set, so `T`, `Z` and `BC` mean what the encoder thinks), array_nulls, and
 * the encodings (UTF8 on both sides, so text bytes pass unchanged either way).
 *
 * The session's zone transitions come from the server itself, so they are its tz
 * database and its rules: one offset per day from 1900 to 2100, and where it changes,
 * the exact second found by bisection (transitions fall on whole seconds).
 */
import type pg from 'pg';
import { fixedZone, type ZoneTable } from './time-zone.js';

export interface SessionSettings {
  timeZone: string;
  dateStyle: string;
  timezoneAbbreviations: string;
  arrayNulls: boolean;
  serverEncoding: string;
  clientEncoding: string;
}

export async function readSessionSettings(client: pg.Client): Promise<SessionSettings> {
  const r = await client.query<Record<string, string>>(
    `SELECT current_setting('TimeZone') AS tz, current_setting('DateStyle') AS ds, current_setting('timezone_abbreviations') AS abbr,
            current_setting('array_nulls') AS nulls, current_setting('server_encoding') AS server, current_setting('client_encoding') AS client`);
  const row = r.rows[0] ?? {};
  return {
    timeZone: row.tz ?? '', dateStyle: row.ds ?? '', timezoneAbbreviations: row.abbr ?? '', arrayNulls: row.nulls === 'on',
    serverEncoding: row.server ?? '', clientEncoding: row.client ?? '',
  };
}

/** The abbreviation sets PostgreSQL ships: none defines T, BC or AD, and all define Z as UTC. */
const SHIPPED_ABBREVIATIONS = new Set(['default', 'australia', 'india']);

/** Why text-to-binary is not safe for this session, or undefined when it is. */
export function sessionObstacle(s: SessionSettings): string | undefined {
  if (s.serverEncoding.toUpperCase() !== 'UTF8') return `the target database's encoding is ${s.serverEncoding}, not UTF8`;
  if (s.clientEncoding.toUpperCase() !== 'UTF8') return `the session's client_encoding is ${s.clientEncoding}, not UTF8`;
  return undefined;
}

/** Why dates and times cannot be encoded for this session, or undefined. */
export function dateTimeObstacle(s: SessionSettings): string | undefined {
  if (!SHIPPED_ABBREVIATIONS.has(s.timezoneAbbreviations.toLowerCase())) {
    return `timezone_abbreviations is ${s.timezoneAbbreviations}, not one of PostgreSQL's own sets (Default, Australia, India)`;
  }
  return undefined;
}

const UTC_NAMES = /^(etc\/)?(utc|uct|universal|zulu|gmt|gmt0|gmt[+-]0|greenwich)$/i;
const FIRST = '1900-01-01 00:00:00+00';
const LAST = '2100-01-01 00:00:00+00';
const FIRST_SECONDS = Date.UTC(1900, 0, 1) / 1000;
const LAST_SECONDS = Date.UTC(2100, 0, 1) / 1000;
/** Local times within a day of the sampled years' ends are not trusted (a transition could sit just outside). */
const MARGIN_SECONDS = 2 * 86400;

/** The session zone's offsets, as the server computes them. */
export async function readZoneTable(client: pg.Client, timeZone: string): Promise<ZoneTable> {
  if (UTC_NAMES.test(timeZone)) return fixedZone(timeZone, 0);
  const r = await client.query<{ at: string; before: number; after: number }>(
    `WITH RECURSIVE days AS (
       SELECT extract(epoch FROM g)::bigint AS t, extract(timezone FROM g)::int AS off
       FROM generate_series(timestamptz '${FIRST}', timestamptz '${LAST}', interval '1 day') g
     ), changes AS (
       SELECT lag(t) OVER w AS lo, t AS hi, lag(off) OVER w AS before, off FROM days WINDOW w AS (ORDER BY t)
     ), bisect AS (
       SELECT lo, hi, before FROM changes WHERE off <> before
       UNION ALL
       SELECT CASE WHEN same THEN m ELSE lo END, CASE WHEN same THEN hi ELSE m END, before
       FROM bisect, LATERAL (SELECT (lo + hi) / 2 AS m) x,
            LATERAL (SELECT extract(timezone FROM to_timestamp(m))::int = before AS same) y
       WHERE hi - lo > 1
     )
     SELECT hi AS at, before, extract(timezone FROM to_timestamp(hi))::int AS after FROM bisect WHERE hi - lo = 1
     UNION ALL SELECT NULL, extract(timezone FROM timestamptz '${FIRST}')::int, NULL
     ORDER BY 1 NULLS FIRST`);
  const [first, ...changes] = r.rows;
  const zone: ZoneTable = {
    name: timeZone,
    from: FIRST_SECONDS + MARGIN_SECONDS,
    to: LAST_SECONDS - MARGIN_SECONDS,
    at: changes.map((c) => Number(c.at)),
    before: changes.map((c) => c.before),
    after: changes.map((c) => c.after),
    base: first?.before ?? 0,
  };
  // Each change must start from where the previous one left off; otherwise two
  // transitions fell within one sampled day and the table is not to be trusted.
  for (let i = 1; i < zone.at.length; i++) {
    if (zone.before[i] !== zone.after[i - 1]) return { ...zone, from: 0, to: 0 };
  }
  return zone;
}
