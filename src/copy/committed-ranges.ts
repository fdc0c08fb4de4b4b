/**
 * Which input lines are in the target. Batches commit out of order across workers,
 * so after a failure the committed part may have gaps; this turns the committed
 * batches into line ranges a person can act on.
 */
import type { EncodedBatch } from '../batch.js';

interface Range {
  first: number;
  last: number;
}

export class CommittedRanges {
  private readonly byInput = new Map<string, Range[]>();
  rows = 0;

  add(batch: Pick<EncodedBatch, 'inputName' | 'firstLine' | 'lastLine' | 'rows'>): void {
    const list = this.byInput.get(batch.inputName) ?? [];
    list.push({ first: batch.firstLine, last: batch.lastLine });
    this.byInput.set(batch.inputName, list);
    this.rows += batch.rows;
  }

  /** e.g. "data.csv lines 2-40001 and 60002-80001". */
  describe(): string {
    if (this.byInput.size === 0) return 'nothing';
    return [...this.byInput.entries()].map(([name, ranges]) => `${name} ${merge(ranges).map(formatRange).join(', ')}`).join('; ');
  }
}

function merge(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => a.first - b.first);
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.first <= last.last + 1) last.last = Math.max(last.last, r.last);
    else out.push({ ...r });
  }
  return out;
}

const formatRange = (r: Range) => (r.last > r.first ? `lines ${r.first}-${r.last}` : `line ${r.first}`);
