/** The status screen: one block per table, then the one thing to do next. */
import type { StatusReport, TableStatus } from './gather.js';

export function renderStatus(r: StatusReport): string {
  const lines = [`hyperfill status: ${r.source} -> ${r.target}`];
  const c = r.clone;
  if (c) {
    const when = c.finishedAt ? `finished ${iso(c.finishedAt)}` : c.loadedAt ? `schema loaded ${iso(c.loadedAt)}, not finished` : `started ${iso(c.startedAt)}, not finished`;
    lines.push(`clone: ${when}; ${c.relationalTables} relational tables, ${c.hypertables} hypertables${c.timescaleSource ? ' (from TimescaleDB)' : ''}`);
  } else {
    lines.push('clone: no record in the target (cloned by other means, or not yet)');
  }
  for (const t of r.tables) lines.push('', ...tableBlock(t));
  lines.push('', `next: ${r.next}`);
  return lines.join('\n');
}

function tableBlock(t: TableStatus): string[] {
  const row = (label: string, value: string) => `  ${label.padEnd(17)} ${value}`;
  const b = t.backfill;
  const v = t.verify;
  return [
    `${t.table} (${t.hypertable ? 'hypertable' : 'plain table'}${t.timeColumn ? `, time column "${t.timeColumn}"` : ''})`,
    row('clone', t.cloned),
    ...(t.problem ? [row('problem', t.problem)] : []),
    ...(b && b.windowsDone > 0 ? [row('dual-write since', 'before the backfill\'s --until (its rows are the target\'s earliest now)')] : [
      row('dual-write since', t.dualWriteSince
        ? `${t.dualWriteSince} (${t.sinceFrom === 'last writer' ? 'when the last dual writer began' : 'the target\'s earliest row'})` : 'no rows in the target yet'),
      row('suggested T', t.suggestedUntil ?? '-'),
    ]),
    ...t.warnings.map((w) => row('warning', w)),
    row('dual writers', t.dualWriters.length > 0
      ? t.dualWriters.map((w) => `${w.writerId} since ${iso(new Date(w.firstWriteAt))}`).join(', ') : 'none recorded (hyperfill/dual-write records its writers)'),
    row('backfill', b ? `${b.windowsDone}/${b.windowsTotal} windows done, ${b.rows} rows, --until ${b.until} (run ${b.runId})` : 'no plan yet'),
    row('paused jobs', t.pausedJobs.length > 0 ? t.pausedJobs.map((j) => `${j.jobId} ${j.procName} (by ${j.by})`).join(', ') : 'none'),
    row('last verify', v ? `${v.matches ? 'match' : `${v.mismatched} of ${v.windows} windows differ`}: source ${v.sourceRows} rows, target ${v.targetRows} (${v.mode}, --until ${v.until}, ${iso(v.checkedAt)})` : 'none'),
    row('next', t.next),
  ];
}

const iso = (d: Date) => new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');
