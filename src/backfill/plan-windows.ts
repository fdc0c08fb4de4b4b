/**
 * Cuts [from, until) into windows. Chunk boundaries of a TimescaleDB source are used
 * where there are any; otherwise windows of `--window` size, or of a size chosen so a
 * window holds about TARGET_ROWS rows, rounded to a readable unit and aligned to it.
 */
import type { TimeRange } from '../source.js';
import { type TimeType, isIntegerTime } from '../time-value.js';

export const TARGET_ROWS_PER_WINDOW = 500_000;
const MAX_WINDOWS = 100_000;

const US = 1_000_000n;
const NICE_SIZES = [60n, 300n, 900n, 3600n, 6n * 3600n, 86_400n, 7n * 86_400n, 30n * 86_400n, 365n * 86_400n].map((s) => s * US);

/** Windows from explicit edges (chunk boundaries), clipped to the range, gaps filled. */
export function windowsFromBoundaries(range: TimeRange, edges: bigint[]): TimeRange[] {
  const inside = [...new Set(edges.filter((e) => e > range.start && e < range.end))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const points = [range.start, ...inside, range.end];
  return points.slice(1).map((end, i) => ({ start: points[i] ?? range.start, end }));
}

/** Windows of equal size aligned to multiples of `size` (the first and last clipped). */
export function windowsOfSize(range: TimeRange, size: bigint): TimeRange[] {
  if (size <= 0n) throw new Error('window size must be positive');
  const count = (range.end - range.start) / size + 2n;
  if (count > BigInt(MAX_WINDOWS)) return windowsOfSize(range, size * (count / BigInt(MAX_WINDOWS) + 1n));
  const windows: TimeRange[] = [];
  let start = range.start;
  while (start < range.end) {
    const aligned = floorTo(start, size) + size;
    const end = aligned > range.end ? range.end : aligned;
    windows.push({ start, end });
    start = end;
  }
  return windows;
}

/** A window size holding about TARGET_ROWS rows, given an estimate for the whole range. */
export function chooseWindowSize(range: TimeRange, estimatedRows: number, type: TimeType, parallel: number): bigint {
  const span = range.end - range.start;
  const byRows = Math.max(1, Math.ceil(estimatedRows / TARGET_ROWS_PER_WINDOW));
  const windows = BigInt(Math.max(byRows, Math.min(parallel * 2, 64)));
  const raw = span / windows > 0n ? span / windows : 1n;
  if (isIntegerTime(type)) return nicePowerOfTen(raw);
  // The largest readable size that still gives at least the wanted number of windows.
  const fitting = NICE_SIZES.filter((s) => s <= raw);
  return fitting[fitting.length - 1] ?? NICE_SIZES[0] ?? raw;
}

function nicePowerOfTen(raw: bigint): bigint {
  let size = 1n;
  while (size * 10n <= raw) size *= 10n;
  return size;
}

export function floorTo(value: bigint, size: bigint): bigint {
  const r = value % size;
  return r < 0n ? value - r - size : value - r;
}
