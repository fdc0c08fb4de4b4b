/** `hyperfill bench`: what a target can ingest (and a source can give), and which flags to use. */
import { parseConnection } from '../connection.js';
import { TARGET_FLAGS, targetFlags, targetHelp } from './target-flags.js';
import { type CommandHelp, formatHelp } from './help.js';
import { reportFormat, writeReport } from '../bench/report.js';
import { type BenchResult, resultJson } from '../bench/result.js';
import { type BenchOptions, formatSourceTable, formatTargetTable, runBench } from '../bench/run-bench.js';
import { DEFAULT_BENCH_SCHEMA } from '../bench/scratch-table.js';
import { durationFlag, intFlag, parseFlags, usage } from './flags.js';
import type { CommandIO } from './io.js';

export const BENCH_HELP: CommandHelp = {
  usage: ['bench [--target URL] [options]', 'bench --source URL --table NAME [options]'],
  about: `Measures what a target ingests over parallel COPY, sweeping --workers and --batch-size,
and recommends the pair to use for a backfill. The data is generated in-process
(TSBS-like cpu: one row per host every 10 s, 10 tags and 10 metrics per row) into a
scratch table of its own, a hypertable when the target has TimescaleDB (else a plain
table, said so). The scratch table is dropped at the end, also on an error or Ctrl-C.
Nothing else in the target is touched.

With --source, measures how fast a PostgreSQL/TimescaleDB source table can be read
(COPY TO STDOUT, 1..N parallel readers on time windows), without any target; with
--source and --target, both, and which side limits the backfill.`,
  sections: [
    {
      title: 'Target',
      flags: [
        ...targetHelp({
          plainTarget: 'accepted as by every command: a target without TimescaleDB is benchmarked as a plain table anyway, and said so',
          retryDefault: 'default 0: a lost connection fails the cell',
        }).flags,
        ['--schema NAME', `schema for the scratch table (default ${DEFAULT_BENCH_SCHEMA}; created when missing and dropped again)`],
        ['--keep', 'keep the scratch table (with the last cell\'s rows)'],
      ],
    },
    {
      title: 'Data',
      flags: [
        ['--scale N', 'hosts, i.e. rows per timestamp (default 100)'],
        ['--rows N', 'rows per cell (default 500000)'],
        ['--duration D', 'stop each cell after D, e.g. 20s (with --rows: whichever comes first; alone: no row limit)'],
      ],
    },
    {
      title: 'Sweep',
      flags: [
        ['--repeat N', 'run every cell N times and report the median run (default 1); the table then shows the spread between runs'],
        ['--workers LIST', 'parallel COPY connections, e.g. 1,2,4,8 (default 1,2,4,8); with --source: parallel readers'],
        ['--batch-size LIST', 'rows per COPY batch, e.g. 1000,5000,20000 (default 1000,5000,20000)'],
      ],
    },
    {
      title: 'Source',
      flags: [
        ['--source URL', 'a PostgreSQL or TimescaleDB source to read from (read only)'],
        ['--table NAME', 'source table, [schema.]name'],
        ['--time-column NAME', 'the column parallel readers split on (default: the only timestamp/date column)'],
      ],
    },
    {
      title: 'Output',
      flags: [
        ['--report FILE', 'write a chart of rows/s against workers: FILE.html (chart, tables, machine; opens without a server) or FILE.svg (the chart)'],
        ['--json', 'print the results as JSON on stdout instead of the table'],
        ['--reporting-period D', 'progress line every D when stderr is not a terminal (default off; a line per finished cell is always printed)'],
      ],
    },
  ],
  notes: ['stdout carries the results (table and recommendation, or JSON); stderr the progress.'],
};

export const BENCH_FLAGS = {
  ...TARGET_FLAGS,
  schema: { type: 'string' },
  keep: { type: 'boolean' },
  scale: { type: 'string' },
  rows: { type: 'string' },
  duration: { type: 'string' },
  workers: { type: 'string' },
  repeat: { type: 'string' },
  'batch-size': { type: 'string' },
  source: { type: 'string' },
  table: { type: 'string' },
  'time-column': { type: 'string' },
  report: { type: 'string' },
  json: { type: 'boolean' },
  'reporting-period': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const MAX_WORKERS = 256;

export interface BenchArgs extends BenchOptions {
  report: string | undefined;
  json: boolean;
}

export function parseBenchArgs(args: string[]): BenchArgs | 'help' {
  const { values: v } = parseFlags(args, BENCH_FLAGS, 'bench');
  if (v.help) return 'help';
  const sourceOnly = v.source !== undefined && v.target === undefined && v.connection === undefined;
  if (v.source === undefined && (v.table !== undefined || v['time-column'] !== undefined)) {
    throw usage('`--table` and `--time-column` name the source table: they need `--source`', 'bench');
  }
  if (v.source !== undefined && v.table === undefined) throw usage('`--source` needs `--table` (the table to read)', 'bench');
  if (sourceOnly) {
    const targetOnly = (['batch-size', 'scale', 'schema', 'keep'] as const).filter((f) => v[f] !== undefined);
    if (targetOnly.length > 0) {
      throw usage(`${targetOnly.map((f) => `\`--${f}\``).join(', ')} appl${targetOnly.length === 1 ? 'ies' : 'y'} to a target benchmark: add --target, or drop ${targetOnly.length === 1 ? 'it' : 'them'}`, 'bench');
    }
  }
  if (v.report !== undefined && !reportFormat(v.report)) {
    throw usage(`\`--report\` must name a .html or .svg file, got "${v.report}"`, 'bench');
  }
  const workers = intListFlag(v.workers, 'workers', [1, 2, 4, 8]);
  const tooMany = workers.find((w) => w > MAX_WORKERS);
  if (tooMany !== undefined) throw usage(`\`--workers\` must be at most ${MAX_WORKERS}, got ${tooMany}`, 'bench');
  const durationMs = durationFlag(v.duration, 'duration', 0, 'bench');
  if (v.duration !== undefined && durationMs <= 0) throw usage('`--duration` must be greater than zero', 'bench');
  const rows = v.rows !== undefined ? intFlag(v.rows, 'rows', 1, 'bench') : durationMs > 0 ? Infinity : 500_000;
  // A benchmark does not wait out an outage unless asked: a lost connection fails the cell at once.
  const { target, retry } = targetFlags(v, 'bench', { retryMs: 0 });
  return {
    target: sourceOnly ? undefined : target,
    source: v.source === undefined ? undefined : parseConnection(v.source, 'source'),
    table: v.table,
    timeColumn: v['time-column'],
    schema: v.schema ?? DEFAULT_BENCH_SCHEMA,
    keep: v.keep ?? false,
    repeat: intFlag(v.repeat, 'repeat', 1, 'bench'),
    scale: intFlag(v.scale, 'scale', 100, 'bench'),
    rows,
    durationMs,
    workers,
    batchSizes: intListFlag(v['batch-size'], 'batch-size', [1000, 5000, 20_000]),
    retry,
    reportingPeriodMs: durationFlag(v['reporting-period'], 'reporting-period', 0, 'bench'),
    report: v.report,
    json: v.json ?? false,
  };
}

/** "1,2,4,8": positive whole numbers, duplicates dropped, ascending. */
function intListFlag(value: string | undefined, name: string, fallback: number[]): number[] {
  if (value === undefined) return fallback;
  const items = value.split(',').map((s) => s.trim());
  if (items.some((s) => !/^\d+$/.test(s) || Number(s) < 1 || !Number.isSafeInteger(Number(s)))) {
    throw usage(`\`--${name}\` must be a comma-separated list of whole numbers greater than zero, e.g. 1,2,4,8, got "${value}"`, 'bench');
  }
  return [...new Set(items.map(Number))].sort((a, b) => a - b);
}

export async function benchCommand(args: string[], io: CommandIO): Promise<number> {
  const options = parseBenchArgs(args);
  if (options === 'help') {
    io.stdout.write(`${formatHelp(BENCH_HELP)}\n`);
    return 0;
  }
  const result = await runBench(options, io);
  if (options.report !== undefined) {
    await writeReport(options.report, result);
    io.stderr.write(`bench: wrote the report ${options.report}\n`);
  }
  io.stdout.write(options.json ? `${resultJson(result)}\n` : formatResults(result));
  return 0;
}

/** The table(s) and the recommendation, for a person. */
export function formatResults(result: BenchResult): string {
  const parts: string[] = [];
  if (result.source) parts.push(`source ${result.source.table}:\n${formatSourceTable(result.source)}\n\n${result.source.recommendation.text}\n`);
  if (result.target) {
    const kind = result.target.hypertable ? `hypertable, TimescaleDB ${result.target.timescaledb}` : 'plain table: the target has no TimescaleDB';
    parts.push(`target (${kind}):\n${formatTargetTable(result.target)}\n\n${result.target.recommendation.text}\n`);
  }
  if (result.limit) parts.push(`${result.limit}\n`);
  return parts.join('\n');
}
