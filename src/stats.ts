/** Small statistics over measured samples. */

/** Nearest-rank percentile of an ascending list (0 when empty). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] ?? 0;
}

export interface LatencySummary {
  runs: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** p50/p95/p99 (and extremes) of samples in any order. */
export function summarise(samples: readonly number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    runs: sorted.length, min: sorted[0] ?? 0, p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1] ?? 0,
  };
}
