/**
 * Suggestions for a new hypertable, from what the source can tell cheaply:
 * - the chunk interval: TimescaleDB's guidance is that a chunk with its indexes fits
 *   in about a quarter of the server's memory. hyperfill does not know that memory,
 *   so it aims at a row count per chunk (10 million by default, --chunk-rows):
 *   interval = span × rows-per-chunk / rows, rounded down to a readable unit;
 * - the compression segmentby column: the column with the most distinct values among
 *   those that still repeat a lot in a sample and leave at least 100 rows per segment
 *   in a chunk (a device or host id, typically). Sources without sampleDistinct get no
 *   suggestion, and the DDL says so.
 */
import { HyperfillError } from '../errors.js';
import type { Source, SourceTableInfo, TimeRange } from '../source.js';
import { type TimeType, formatTimeValue, isIntegerTime, parseWindowSize } from '../time-value.js';
import type { ChunkInterval } from './ddl.js';

export const DEFAULT_CHUNK_ROWS = 10_000_000;
/** TimescaleDB's own default chunk interval, for when nothing is known. */
const DEFAULT_INTERVAL = 7n * 86_400_000_000n;
const S = 1_000_000n;
const NICE = [60n, 300n, 900n, 1800n, 3600n, 3n * 3600n, 6n * 3600n, 12n * 3600n, 86_400n, 7n * 86_400n, 30n * 86_400n].map((s) => s * S);
const NICE_DAYS = [1n, 7n, 30n].map((d) => d * 86_400n * S);
/** Fewer rows than this per segment and chunk compress poorly. */
const MIN_ROWS_PER_SEGMENT = 100;
const SEGMENT_TYPES = /^(text|character varying(\(\d+\))?|varchar(\(\d+\))?|character(\(\d+\))?|bigint|integer|smallint|uuid)$/;

/** A readable interval holding about `chunkRows` rows, given `rows` rows over `span`. */
export function chooseChunkInterval(type: TimeType, span: bigint, rows: number, chunkRows = DEFAULT_CHUNK_ROWS): ChunkInterval {
  const per = (n: number) => `${formatRows(n)} rows a chunk`;
  if (!(rows > 0) || span <= 0n) {
    if (isIntegerTime(type)) {
      throw new HyperfillError('E_USAGE', 'the source table has too few rows to size chunks of an integer time column', {},
        'give the interval in the column\'s own unit with --chunk-interval, e.g. --chunk-interval 86400000 for a day of milliseconds');
    }
    return { value: DEFAULT_INTERVAL, reason: 'the source has too few rows to size chunks from: TimescaleDB\'s default' };
  }
  const raw = (span * BigInt(Math.round(chunkRows))) / BigInt(Math.ceil(rows));
  const perChunk = (value: bigint) => (rows * Number(value)) / Number(span);
  const basis = `${formatRows(rows)} rows over ${formatSpan(span, type)} in the source; aiming at ${formatRows(chunkRows)} rows a chunk`;
  if (isIntegerTime(type)) {
    const value = niceInteger(raw);
    return { value, reason: `~${per(perChunk(value))} (${basis})` };
  }
  const sizes = type === 'date' ? NICE_DAYS : NICE;
  const fitting = sizes.filter((s) => s <= raw);
  const value = fitting[fitting.length - 1] ?? sizes[0]!;
  const capped = value === sizes[sizes.length - 1] && raw > value ? '; sparse data: capped at 30 days' : '';
  return { value, reason: `~${per(perChunk(value))} (${basis})${capped}` };
}

export interface IntervalSuggestion extends ChunkInterval {
  /** Rows a chunk of this interval would hold (Infinity when unknown). */
  rowsPerChunk: number;
  /** What the suggestion went by, for a comment; undefined for an empty table. */
  basis: string | undefined;
}

/** The chunk interval for a table from its time range and row estimate in the source. */
export async function suggestChunkInterval(source: Source, info: SourceTableInfo, chunkRows = DEFAULT_CHUNK_ROWS): Promise<IntervalSuggestion> {
  const extent = await source.extent(info, fullTimeRange(info.timeType));
  const rows = extent ? await source.estimateRows(info, { start: extent.start, end: extent.end + 1n }) : 0;
  const span = extent ? extent.end - extent.start : 0n;
  const interval = chooseChunkInterval(info.timeType, span, rows, chunkRows);
  const rowsPerChunk = extent && rows > 0 && span > 0n ? (rows * Number(interval.value)) / Number(span) : Infinity;
  // How the rows were found, when it is not the planner's usual estimate (a never-analyzed table: counted or sampled).
  const how = extent ? await source.estimateBasis?.(info) : undefined;
  const basis = extent ? `source rows from ${formatTimeValue(extent.start, info.timeType)} to ${formatTimeValue(extent.end, info.timeType)}, about ${Math.round(rows)} rows${how ? ` (${how})` : ''}` : undefined;
  return { ...interval, rowsPerChunk, basis };
}

/** Every time a column of the type can hold (timestamps: year 1 to the end of 9999). */
export function fullTimeRange(type: TimeType): TimeRange {
  switch (type) {
    case 'smallint': return { start: -32768n, end: 32768n };
    case 'integer': return { start: -2147483648n, end: 2147483648n };
    case 'bigint': return { start: -(2n ** 63n), end: 2n ** 63n - 1n };
    default: return { start: -62_135_596_800_000_000n, end: 253_402_300_799_000_000n };
  }
}

/** --chunk-interval: "1d", "6h", "1 day" for timestamps (whole days for date), an integer for integer columns. */
export function parseChunkInterval(text: string, type: TimeType): bigint {
  let value: bigint;
  try {
    value = parseWindowSize(text, type);
  } catch {
    throw new HyperfillError('E_USAGE', isIntegerTime(type)
      ? `\`--chunk-interval\` must be a positive integer for a ${type} time column, got "${text}"`
      : `\`--chunk-interval\` must be an interval like 6h, 1d or 7 days, got "${text}"`, {}, 'see: hyperfill schema --help');
  }
  if (type === 'date' && value % (86_400n * S) !== 0n) {
    throw new HyperfillError('E_USAGE', `\`--chunk-interval\` must be whole days for a date time column, got "${text}"`, {}, 'e.g. --chunk-interval 7d');
  }
  return value;
}

export interface SegmentSuggestion {
  columns: string[];
  reason: string;
}

/** The segmentby suggestion, with its reason; asks the source for distinct counts of each candidate column. */
export async function suggestSegmentBy(source: Source, table: SourceTableInfo, rowsPerChunk: number, sampleRows: number): Promise<SegmentSuggestion> {
  if (!source.sampleDistinct) {
    return { columns: [], reason: `no segmentby suggested: the ${source.kind} source cannot sample distinct values` };
  }
  const candidates = table.columns.filter((c) => c.name !== table.timeColumn && SEGMENT_TYPES.test(c.pgType));
  if (candidates.length === 0) return { columns: [], reason: 'no segmentby suggested: no text, integer or uuid column besides the time column' };
  let best: { name: string; distinct: number; rows: number } | undefined;
  const seen: string[] = [];
  for (const c of candidates) {
    const { rows, distinct } = await source.sampleDistinct(table, c.name, sampleRows);
    seen.push(`${c.name} ${distinct}`);
    const repeats = distinct >= 2 && distinct * 10 <= rows;
    const bigSegments = rowsPerChunk / distinct >= MIN_ROWS_PER_SEGMENT;
    if (repeats && bigSegments && (!best || distinct > best.distinct)) best = { name: c.name, distinct, rows };
  }
  if (!best) {
    return { columns: [], reason: `no segmentby suggested: no column has few enough distinct values (in a sample: ${seen.join(', ')})` };
  }
  return {
    columns: [best.name],
    reason: `segmentby "${best.name}": ${best.distinct} distinct values in a sample of ${formatRows(best.rows)} rows` +
      (Number.isFinite(rowsPerChunk) ? `, ~${formatRows(rowsPerChunk / best.distinct)} rows a segment per chunk` : ''),
  };
}

/** "2.3 days", "5 hours", "1500000" (integer columns). */
function formatSpan(span: bigint, type: TimeType): string {
  if (isIntegerTime(type)) return span.toString();
  const seconds = Number(span) / 1e6;
  const [size, unit] = seconds >= 86_400 ? [86_400, 'day'] : seconds >= 3600 ? [3600, 'hour'] : seconds >= 60 ? [60, 'minute'] : [1, 'second'];
  const n = +(seconds / size).toFixed(1);
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

function niceInteger(raw: bigint): bigint {
  if (raw < 1n) return 1n;
  let power = 1n;
  while (power * 10n <= raw) power *= 10n;
  for (const m of [5n, 2n, 1n]) if (m * power <= raw) return m * power;
  return power;
}

function formatRows(n: number): string {
  if (n >= 1e9) return `${+(n / 1e9).toFixed(1)}G`;
  if (n >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${+(n / 1e3).toFixed(0)}k`;
  return String(Math.round(n));
}
