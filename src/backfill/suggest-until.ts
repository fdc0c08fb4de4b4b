/**
 * `hyperfill plan`: helps pick the completion point. Dual-write began at the later of the
 * earliest row in the target table and the moment the last dual writer began writing it
 * (what `hyperfill/dual-write` records in the control schema); T is the next window
 * boundary after that plus the allowed lateness, checked against the clock and the source.
 */
import type pg from 'pg';
import type { FirstWrite } from '../dual-write/control-tables.js';
import type { Source } from '../source.js';
import { qualifiedName, quoteIdent, timeRangeCondition } from '../sql.js';
import { chunksOverlapping } from '../target/timescale.js';
import { hypertableTimeDimension } from '../target/timescale.js';
import { type TimeType, formatTimeValue, isIntegerTime, MICROS_PER_DAY, MICROS_PER_MS, nowTimeValue, timeValueFromDriver } from '../time-value.js';
import { floorTo } from './plan-windows.js';
import type { BackfillTable } from './window-copier.js';

export interface UntilSuggestion {
  table: string;
  dualWriteSince: string | undefined;
  suggestedUntil: string | undefined;
  /** What `dualWriteSince` is: the target's earliest row, or the moment the last dual writer began (the later of the two). */
  sinceFrom: 'earliest row' | 'last writer' | undefined;
  /** When each dual writer began writing this table, as recorded in the control schema (ISO, UTC). */
  writers: Array<{ writerId: string; firstWriteAt: string }>;
  warnings: string[];
}

export async function suggestUntil(source: Source, target: pg.Client, table: BackfillTable, lateness: bigint, alignment: bigint,
  firstWrites: readonly FirstWrite[] = []): Promise<UntilSuggestion> {
  const type = table.timeType;
  const t = quoteIdent(table.timeColumn);
  const writers = firstWrites.map((w) => ({ writerId: w.writerId, firstWriteAt: w.firstWriteAt.toISOString() }));
  const first = await target.query(`SELECT min(${t}) AS lo FROM ${qualifiedName(table.target.schema, table.target.table)}`);
  if (first.rows[0].lo === null) {
    return { table: table.key, dualWriteSince: undefined, sinceFrom: undefined, suggestedUntil: undefined, writers, warnings: ['the target table is empty: dual-write has not written to it yet'] };
  }
  const warnings: string[] = [];
  let since = timeValueFromDriver(first.rows[0].lo, type);
  let sinceFrom: UntilSuggestion['sinceFrom'] = 'earliest row';
  const last = firstWrites.reduce<FirstWrite | undefined>((a, w) => (a && a.firstWriteAt >= w.firstWriteAt ? a : w), undefined);
  if (!last) {
    // No writer records (dual-write by other means): the earliest row is all there is to go by.
  } else if (isIntegerTime(type)) {
    warnings.push(`the last dual writer (${last.writerId}) began writing at ${last.firstWriteAt.toISOString()}: ` +
      `the time column is ${type}, so make sure --until is after that instant in the column's own unit`);
  } else {
    // Rows of a writer that was not yet dual-writing may lie after the earliest row: T goes after its start.
    const began = BigInt(last.firstWriteAt.getTime()) * MICROS_PER_MS;
    if (began > since) {
      since = began;
      sinceFrom = 'last writer';
    }
  }
  const earliest = since + lateness;
  const until = await nextBoundary(target, table, earliest, type === 'date' && alignment < MICROS_PER_DAY ? MICROS_PER_DAY : alignment);
  const now = nowTimeValue(type);
  if (now !== undefined && until > now) {
    warnings.push(`the suggestion is in the future: wait until ${formatTimeValue(until, type)} has passed (plus your lateness) before backfilling`);
  }
  const range = { start: since, end: until };
  const [sourceRows, targetRows] = await Promise.all([
    source.count(table.source, range),
    target.query(`SELECT count(*) AS n FROM ${qualifiedName(table.target.schema, table.target.table)} WHERE ${timeRangeCondition(table.timeColumn, type, range)}`)
      .then((r) => Number(r.rows[0].n)),
  ]);
  if (targetRows < sourceRows) {
    warnings.push(`the target has ${targetRows} rows in [${formatTimeValue(since, type)}, ${formatTimeValue(until, type)}) but the source ${sourceRows}: ` +
      'the suggestion may lie before dual-write fully began; pick a later T (a larger --max-lateness)');
  }
  return { table: table.key, dualWriteSince: formatTimeValue(since, type), sinceFrom, suggestedUntil: formatTimeValue(until, type), writers, warnings };
}

/** The first chunk boundary of the target at or after `point`, else the next multiple of `alignment`. */
async function nextBoundary(target: pg.Client, table: BackfillTable, point: bigint, alignment: bigint): Promise<bigint> {
  if (await hypertableTimeDimension(target, table.target)) {
    const chunks = await chunksOverlapping(target, table.target, table.timeType, { start: point, end: point + 1n });
    const chunk = chunks[0];
    if (chunk) return chunk.start === point ? point : chunk.end;
  }
  const floor = floorTo(point, alignment);
  return floor === point ? point : floor + alignment;
}

export function defaultAlignment(type: TimeType): bigint {
  return isIntegerTime(type) ? 1n : 3_600_000_000n;
}
