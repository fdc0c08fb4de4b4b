/**
 * Whether a run's batches can be encoded as binary COPY, and everything the encoder
 * needs to do it (plain data: it is handed to worker threads). `--encoding auto` takes
 * binary when every target column has an encoder and the input dialect is one the
 * encoder reads exactly as PostgreSQL would; otherwise the bytes go as they are.
 * `--encoding binary` turns any such obstacle into an error.
 */
import { HyperfillError } from '../errors.js';
import { type DialectFlags, nullStringOf } from '../sink/copy-statement.js';
import { type ColumnEncoding, columnEncoding, type ColumnType, Kind } from './column-types.js';
import { dateTimeObstacle, type SessionSettings, sessionObstacle } from './session.js';
import type { ZoneTable } from './time-zone.js';

export type EncodingMode = 'auto' | 'binary' | 'text';
export type { DialectFlags };

export interface EncodingPlan {
  format: 'csv' | 'text';
  /** Single bytes: the field delimiter, and for csv the quote and escape characters. */
  delimiter: number;
  quote: number;
  escape: number;
  /** COPY's NULL string as bytes: '' for csv, \N for text, unless --copy-options sets it. */
  nullString: Uint8Array;
  /** The COPY's columns, in input order. */
  columns: ColumnEncoding[];
  /** Zone-less timestamptz values take this zone's offsets (the session's TimeZone). */
  zone: ZoneTable | undefined;
  /** The session's array_nulls: an unquoted NULL array element is NULL. */
  arrayNulls: boolean;
}

/** The plan minus the zone table, or why there can be none. */
export function planEncoding(flags: DialectFlags, columns: readonly ColumnType[], session: SessionSettings): Omit<EncodingPlan, 'zone'> | string {
  const delimiter = flags.delimiter ?? (flags.format === 'csv' ? ',' : '\t');
  const { nullString, otherOption } = nullStringOf(flags);
  if (otherOption !== undefined) return `--copy-options sets ${otherOption}, which binary encoding does not read`;
  if ([delimiter, flags.quote, flags.escape].some((c) => c.length !== 1 || c.charCodeAt(0) > 0x7f)) {
    return 'the delimiter, quote and escape characters must be ASCII for binary encoding';
  }
  const obstacle = sessionObstacle(session);
  if (obstacle) return obstacle;
  const encodings: ColumnEncoding[] = [];
  for (const column of columns) {
    const encoding = columnEncoding(column);
    if (typeof encoding === 'string') return encoding;
    encodings.push(encoding);
  }
  const dateTime = dateTimeObstacle(session);
  const timeColumn = encodings.find((c) => isDateTime(c.kind) || isDateTime(c.elementKind));
  if (dateTime && timeColumn) return `column "${timeColumn.name}" holds dates or times and ${dateTime}`;
  return {
    format: flags.format, delimiter: delimiter.charCodeAt(0), quote: flags.quote.charCodeAt(0), escape: flags.escape.charCodeAt(0),
    nullString: Buffer.from(nullString, 'utf8'), columns: encodings, arrayNulls: session.arrayNulls,
  };
}

function isDateTime(kind: number): boolean {
  return kind === Kind.date || kind === Kind.timestamp || kind === Kind.timestamptz;
}

/** `--encoding binary` where binary cannot be: the reason, as an error. */
export function binaryUnavailable(reason: string): HyperfillError {
  return new HyperfillError('E_BINARY_UNAVAILABLE', `--encoding binary cannot be used: ${reason}`, {},
    '--encoding auto sends binary where it can and the input bytes as they are elsewhere; --encoding text always sends the bytes');
}
