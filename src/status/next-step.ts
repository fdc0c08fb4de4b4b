/**
 * What to do next for one table, in the order the method goes: clone, dual-write, pick T,
 * backfill, verify, restore the jobs, switch. Commands name the connections SOURCE and
 * TARGET: status never prints a connection string, which may hold a password.
 */
import { shellWord } from '../shell-word.js';
import type { TableStatus } from './gather.js';

export function nextStep(s: TableStatus): string {
  const table = `--table ${shellWord(s.sourceTable === s.table ? s.table : `${s.sourceTable}:${s.table}`)}`;
  if (s.cloned === 'unfinished') return 'the clone did not finish: rerun `hyperfill clone --source SOURCE --target TARGET ... --if-exists skip`';
  if (s.problem) return `fix this first: ${s.problem}`;
  if (s.dualWriteSince === undefined && !s.backfill) {
    return 'make the application write to this table in both databases (dual-write); then run status again for a suggested T';
  }
  const b = s.backfill;
  if (!b) {
    const wait = s.warnings.find((w) => w.includes('in the future'));
    const command = `hyperfill backfill --source SOURCE --target TARGET ${table} --until ${shellWord(s.suggestedUntil ?? '')}`;
    return wait ? `wait until ${s.suggestedUntil} has passed, then: ${command}` : command;
  }
  if (b.windowsDone < b.windowsTotal) {
    return `backfill ${b.windowsDone}/${b.windowsTotal} windows done: rerun the same \`hyperfill backfill ... --until ${shellWord(b.until)}\` to finish (run ${b.runId})`;
  }
  const verify = `hyperfill verify --source SOURCE --target TARGET ${table} --until ${shellWord(b.until)} --checksum`;
  const v = s.verify;
  if (!v || v.until !== b.until || (b.completedAt !== null && v.checkedAt < b.completedAt)) return verify;
  if (!v.matches) return `the last verify found ${v.mismatched} of ${v.windows} windows differing: backfill them again (\`hyperfill backfill ... --until ${shellWord(b.until)}\` with a new --run-id), then ${verify}`;
  if (s.pausedJobs.length > 0) return 'hyperfill restore-policies --target TARGET --catch-up';
  return 'nothing: backfilled, verified, jobs restored';
}

