/** `hyperfill compare`: the same read queries on source and target; results and latency. */
import { parseConnection } from '../connection.js';
import { readQueryFile } from '../compare/query-file.js';
import { writeCompareReport } from '../compare/report.js';
import { type CompareResult, type QueryComparison, runCompare } from '../compare/run-compare.js';
import { formatTable } from '../progress.js';
import { intFlag, parseFlags, sourceFlag, usage } from './flags.js';
import type { CommandIO } from './io.js';
import { connectionFlagsNote } from './shared-help.js';
import { type CommandHelp, formatHelp } from './help.js';
import { TARGET_FLAGS, targetFlags, targetHelp } from './target-flags.js';
import { serverMessage } from '../pg-errors.js';

export const COMPARE_HELP: CommandHelp = {
  usage: ['compare --source URL --target URL --queries FILE.sql [--repeat N] [--concurrency C]', '                  [--tolerance F] [--until T] [--json] [--report report.html]'],
  about: `Runs each read query of FILE.sql (one per statement; a "-- name" comment line right above a
query names it) on the source and on the target, in READ ONLY transactions, and compares
the results: as ordered lists when the query has a top-level ORDER BY (rows with equal
ORDER BY keys, named as output columns or positions, may come in any order), else as
multisets; numbers within --tolerance; timestamps as instants. Prints the first differing
rows per query and the latency (p50/p95/p99) per side and query. Exits 0 only when every
query gives the same results on both sides.`,
  sections: [
    {
      flags: [
        ['--source URL', 'the PostgreSQL or TimescaleDB database the application uses today (default: HYPERFILL_SOURCE)'],
        ['--queries FILE.sql', 'the read queries (SELECT, WITH, VALUES, TABLE); required'],
        ['--repeat N', 'runs per query per side (default 5); the first run\'s results are compared'],
        ['--concurrency C', 'connections per side running queries at once (default 1)'],
        ['--tolerance F', 'numbers match when |a - b| <= F * max(1, |a|, |b|) (default 1e-9)'],
        ['--until T', 'the completion point, bound to :until in the queries: before the backfill ends the target is complete only from T on (or, with WHERE time < :until, compare only what the backfill has already copied)'],
        ['--max-rows N', 'rows of one result kept for comparing (default 100000); larger is an error'],
        ['--max-diffs N', 'differing rows printed per query (default 5)'],
        ['--json', 'print the result as JSON'],
        ['--report FILE.html', 'write a page with a latency chart per query (opens from disk, no scripts)'],
      ],
    },
    targetHelp({ plainTarget: 'accepted as by every command (compare reads any PostgreSQL)', retryDefault: 'default 60s, for the source\'s connections too' }),
  ],
  notes: [connectionFlagsNote],
};

export const COMPARE_FLAGS = {
  source: { type: 'string' }, ...TARGET_FLAGS, queries: { type: 'string' }, repeat: { type: 'string' },
  concurrency: { type: 'string' }, tolerance: { type: 'string' }, until: { type: 'string' }, 'max-rows': { type: 'string' },
  'max-diffs': { type: 'string' }, json: { type: 'boolean' }, report: { type: 'string' }, help: { type: 'boolean', short: 'h' },
} as const;

export async function compareCommand(args: string[], io: CommandIO): Promise<number> {
  const { values: v } = parseFlags(args, COMPARE_FLAGS, 'compare');
  if (v.help) {
    io.stdout.write(`${formatHelp(COMPARE_HELP)}\n`);
    return 0;
  }
  const sourceUrl = sourceFlag(v.source, 'compare');
  const { target, retry } = targetFlags(v, 'compare');
  if (!v.queries) throw usage('`--queries FILE.sql` is required', 'compare');
  const tolerance = v.tolerance === undefined ? 1e-9 : Number(v.tolerance);
  if (!(tolerance >= 0 && tolerance < 1)) throw usage(`\`--tolerance\` must be a number from 0 to below 1, e.g. 1e-6, got "${v.tolerance}"`, 'compare');
  if (v.report !== undefined && !/\.html?$/i.test(v.report)) throw usage('`--report` must name an .html file', 'compare');
  if (v.until !== undefined && (v.until.trim() === '' || v.until.includes('\0'))) throw usage('`--until` must be a time or value, e.g. 2024-08-10T12:00:00Z', 'compare');
  const queries = await readQueryFile(v.queries);
  const needing = queries.filter((q) => q.usesUntil);
  if (needing.length > 0 && v.until === undefined) {
    throw usage(`${needing.map((q) => `"${q.name}" (line ${q.line})`).join(', ')} use :until: give --until T`, 'compare');
  }
  const repeat = intFlag(v.repeat, 'repeat', 5, 'compare');
  const progress = io.stderr.isTTY ? (done: number, total: number) => io.stderr.write(`\rcompare: ${done}/${total} runs`) : undefined;
  const result = await runCompare({
    source: parseConnection(sourceUrl, 'source'), target, queries, repeat, retry, signal: io.signal,
    onRetry: (side, err, delay) => io.stderr.write(`${progress ? '\n' : ''}compare: the ${side} connection was lost (${serverMessage(err)}); retrying in ${delay} ms\n`),
    concurrency: intFlag(v.concurrency, 'concurrency', 1, 'compare'), tolerance, until: v.until,
    maxRows: intFlag(v['max-rows'], 'max-rows', 100_000, 'compare'), maxDifferences: intFlag(v['max-diffs'], 'max-diffs', 5, 'compare'),
    onRun: progress,
  });
  if (progress) io.stderr.write('\r\x1b[K');
  if (v.report) {
    await writeCompareReport(v.report, result);
    io.stderr.write(`report: ${v.report}\n`);
  }
  io.stdout.write(v.json ? `${JSON.stringify(result)}\n` : formatResult(result));
  return result.verdict === 'match' ? 0 : 1;
}

function formatResult(result: CompareResult): string {
  const lines: string[] = [];
  for (const q of result.queries) {
    lines.push(`${q.index}. ${q.name} (line ${q.line}): ${outcome(q)}`);
    for (const d of q.differences) {
      const row = (r: Array<string | null> | undefined) => (r ? `(${r.map((x) => x ?? 'NULL').join(', ')})` : '');
      const where = [d.sourceRow && `source row ${d.sourceRow} ${row(d.source)}`, d.targetRow && `target row ${d.targetRow} ${row(d.target)}`].filter(Boolean).join(', ');
      lines.push(`   ${d.detail}${where ? `: ${where}` : ''}`);
    }
    if (q.differingRows > q.differences.length) lines.push(`   ... ${q.differingRows} rows differ in all`);
  }
  lines.push('', formatTable(['query', 'side', 'runs', 'p50 ms', 'p95 ms', 'p99 ms', 'target vs source (p50)'], result.queries.flatMap((q) => (['source', 'target'] as const).map((side) => {
    const l = q.latencyMs[side];
    const ratio = side === 'target' && l.p50 > 0 && q.latencyMs.source.p50 > 0 ? speed(q.latencyMs.source.p50 / l.p50) : '';
    return [side === 'source' ? String(q.index) : '', side, l.runs, l.p50.toFixed(2), l.p95.toFixed(2), l.p99.toFixed(2), ratio];
  }))), '');
  const differ = result.queries.filter((q) => !q.match).length;
  lines.push(result.verdict === 'match'
    ? `compare: all ${result.queries.length} queries give the same results on source and target`
    : `compare: ${differ} of ${result.queries.length} queries differ`);
  return `${lines.join('\n')}\n`;
}

function outcome(q: QueryComparison): string {
  if (q.errors.source || q.errors.target) {
    return `ERROR ${[q.errors.source && `on the source: ${q.errors.source}`, q.errors.target && `on the target: ${q.errors.target}`].filter(Boolean).join('; ')}`;
  }
  return q.match ? `same ${q.rows.source} rows (${q.comparedAs})` : `DIFFERENT (${q.comparedAs}): source ${q.rows.source} rows, target ${q.rows.target} rows`;
}

function speed(ratio: number): string {
  return ratio >= 1 ? `${ratio.toFixed(2)}x faster` : `${(1 / ratio).toFixed(2)}x slower`;
}
