/**
 * From a sweep to advice: the cell with the most rows/s, except that a cell with fewer
 * workers (then a smaller batch) within `tolerance` of the best wins: it loads as fast
 * and costs the source and target less. The notes say what more workers or larger
 * batches did, and when the sweep stopped while rows/s was still rising.
 */
import { formatCount } from '../progress.js';

export interface SweepPoint {
  workers: number;
  /** Absent for source reads (readers have no batch size). */
  batchSize?: number | undefined;
  rowsPerSecond: number;
  mbPerSecond: number;
  clientCpuPercent: number;
}

export interface Recommendation {
  workers: number;
  batchSize: number | undefined;
  rowsPerSecond: number;
  mbPerSecond: number;
  /** The fastest cell (may differ from the recommended one by less than the tolerance). */
  best: { workers: number; batchSize: number | undefined; rowsPerSecond: number };
  notes: string[];
  /** One line for a person: "use --workers 4 --batch-size 5000: 512.0k rows/s; more workers did not help". */
  text: string;
}

export const DEFAULT_TOLERANCE = 0.05;

export function recommend(points: readonly SweepPoint[], tolerance = DEFAULT_TOLERANCE, kind: 'target' | 'source' = 'target'): Recommendation {
  if (points.length === 0) throw new Error('no benchmark cells to recommend from');
  const best = points.reduce((a, b) => (b.rowsPerSecond > a.rowsPerSecond ? b : a));
  const near = points.filter((p) => p.rowsPerSecond >= best.rowsPerSecond * (1 - tolerance));
  const chosen = [...near].sort((a, b) => a.workers - b.workers || (a.batchSize ?? 0) - (b.batchSize ?? 0))[0] ?? best;
  const notes: string[] = [];
  const unit = kind === 'source' ? 'readers' : 'workers';
  const flags = (p: SweepPoint) => (kind === 'source' ? `${p.workers} readers` : `--workers ${p.workers} --batch-size ${p.batchSize}`);

  // "did not help (at most +3.1%)": within the tolerance, but say what was left on the table.
  const gain = (top: number) => {
    const pct = (top / chosen.rowsPerSecond - 1) * 100;
    return pct >= 0.5 ? ` (at most +${pct.toFixed(1)}%)` : '';
  };
  const sameBatch = points.filter((p) => p.batchSize === chosen.batchSize);
  const moreWorkers = sameBatch.filter((p) => p.workers > chosen.workers);
  const fewerWorkers = sameBatch.filter((p) => p.workers < chosen.workers);
  if (best !== chosen && best.batchSize !== chosen.batchSize && best.workers !== chosen.workers) {
    const faster = (best.rowsPerSecond / chosen.rowsPerSecond - 1) * 100;
    notes.push(`the fastest cell (${flags(best)}: ${formatCount(best.rowsPerSecond)} rows/s) was only ${faster.toFixed(1)}% faster`);
  }
  if (moreWorkers.length > 0) {
    const top = Math.max(...moreWorkers.map((p) => p.rowsPerSecond));
    notes.push(top < chosen.rowsPerSecond * (1 - tolerance) ? `more ${unit} made it slower` : `more ${unit} did not help${gain(top)}`);
  } else if (fewerWorkers.length > 0) {
    const previous = Math.max(...fewerWorkers.map((p) => p.rowsPerSecond));
    if (chosen.rowsPerSecond > previous * (1 + tolerance)) notes.push(`rows/s still rose at the most ${unit} tried: try more`);
  }

  if (kind === 'target' && chosen.batchSize !== undefined) {
    const sameWorkers = points.filter((p) => p.workers === chosen.workers && p.batchSize !== undefined);
    const larger = sameWorkers.filter((p) => (p.batchSize ?? 0) > (chosen.batchSize ?? 0));
    const smaller = sameWorkers.filter((p) => (p.batchSize ?? 0) < (chosen.batchSize ?? 0));
    if (larger.length > 0) {
      const top = Math.max(...larger.map((p) => p.rowsPerSecond));
      notes.push(top < chosen.rowsPerSecond * (1 - tolerance) ? 'larger batches were slower' : `larger batches did not help${gain(top)}`);
    } else if (smaller.length > 0) {
      const previous = Math.max(...smaller.map((p) => p.rowsPerSecond));
      if (chosen.rowsPerSecond > previous * (1 + tolerance)) notes.push('rows/s still rose at the largest --batch-size tried: try larger');
    }
  }

  if (chosen.clientCpuPercent >= 80) {
    notes.push(`this client used ${chosen.clientCpuPercent.toFixed(0)}% of a core: when it shares the machine with the database, it takes CPU from it`);
  }

  const head = kind === 'source'
    ? `the source reads ${formatCount(chosen.rowsPerSecond)} rows/s (${chosen.mbPerSecond.toFixed(1)} MB/s) with ${chosen.workers} parallel reader${chosen.workers === 1 ? '' : 's'}`
    : `use --workers ${chosen.workers} --batch-size ${chosen.batchSize}: ${formatCount(chosen.rowsPerSecond)} rows/s (${chosen.mbPerSecond.toFixed(1)} MB/s)`;
  return {
    workers: chosen.workers, batchSize: chosen.batchSize, rowsPerSecond: chosen.rowsPerSecond, mbPerSecond: chosen.mbPerSecond,
    best: { workers: best.workers, batchSize: best.batchSize, rowsPerSecond: best.rowsPerSecond },
    notes, text: [head, ...notes].join('; '),
  };
}

/** With both sides measured: which one limits a backfill. */
export function whichSideLimits(sourceRowsPerSecond: number, targetRowsPerSecond: number, tolerance = DEFAULT_TOLERANCE): string {
  const s = formatCount(sourceRowsPerSecond);
  const t = formatCount(targetRowsPerSecond);
  if (Math.abs(sourceRowsPerSecond - targetRowsPerSecond) <= Math.max(sourceRowsPerSecond, targetRowsPerSecond) * tolerance) {
    return `source (${s} rows/s) and target (${t} rows/s) are about even: both limit the backfill`;
  }
  return sourceRowsPerSecond < targetRowsPerSecond
    ? `the source limits the backfill: it reads ${s} rows/s, the target ingests ${t} rows/s`
    : `the target limits the backfill: it ingests ${t} rows/s, the source reads ${s} rows/s`;
}
