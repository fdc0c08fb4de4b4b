/**
 * The flags that say what to move or compare (source, target, tables, time range),
 * shared by backfill and verify so both build the same RangeSelection and so find the
 * same plan.
 */
import { parseTableSpec } from '../backfill/resolve-tables.js';
import type { RangeSelection } from '../backfill/run-backfill.js';
import { intFlag, sourceFlag, usage } from './flags.js';
import type { HelpSection } from './help.js';
import { TARGET_FLAGS, type TargetFlagValues, targetFlags } from './target-flags.js';

export const RANGE_FLAGS = {
  source: { type: 'string' },
  ...TARGET_FLAGS,
  table: { type: 'string', multiple: true },
  tables: { type: 'string' },
  'time-column': { type: 'string' },
  until: { type: 'string' },
  from: { type: 'string' },
  window: { type: 'string' },
  parallel: { type: 'string' },
  'run-id': { type: 'string' },
  'control-schema': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** What RANGE_FLAGS mean, in every command that takes them (`parallel`: what it runs at once). */
export function rangeHelp(parallel: string): HelpSection {
  return {
    title: 'What to copy',
    flags: [
      ['--source URL', 'the source: postgres://... (also TimescaleDB), clickhouse://, mongodb://, csv:///path/*.csv, json:... (default: HYPERFILL_SOURCE)'],
      ['--table SRC[:DST]', 'a table, repeatable; DST (the target\'s [schema.]table) defaults to SRC'],
      ['--tables PATTERN', 'all source tables matching a LIKE pattern, e.g. "public.metrics_%"'],
      ['--time-column NAME', 'the time column (found on its own for hypertables and where the source knows it)'],
      ['--until T', 'the completion point (required): an ISO time for timestamp and date columns (2024-08-10T12:00:00Z), an integer for integer ones'],
      ['--from S', 'start of the range (default: the earliest source row)'],
      ['--window SIZE', 'window size, e.g. 6h, 1d, or an integer for integer time columns (default: the source\'s chunks, else about 500k rows each)'],
      ['--parallel N', `${parallel} (default 2)`],
      ['--run-id ID', 'name of the plan in the target (default: derived from the arguments)'],
      ['--control-schema S', 'schema of hyperfill\'s progress tables in the target (default hyperfill)'],
      ['--json', 'print the result as JSON'],
    ],
  };
}

export interface RangeFlagValues extends TargetFlagValues {
  source?: string | undefined;
  table?: string[] | undefined;
  tables?: string | undefined;
  'time-column'?: string | undefined;
  until?: string | undefined;
  from?: string | undefined;
  window?: string | undefined;
  parallel?: string | undefined;
  'run-id'?: string | undefined;
  'control-schema'?: string | undefined;
}

export function rangeSelection(v: RangeFlagValues, command: string): RangeSelection {
  const source = sourceFlag(v.source, command);
  if (!v.until) throw usage('`--until` (the completion point) is required', command);
  if (!v.table && !v.tables) throw usage('name the tables with `--table SRC[:DST]` or `--tables PATTERN`', command);
  return {
    source,
    ...targetFlags(v, command),
    tables: (v.table ?? []).map(parseTableSpec),
    tablePattern: v.tables,
    timeColumn: v['time-column'],
    until: v.until,
    from: v.from,
    window: v.window,
    parallel: intFlag(v.parallel, 'parallel', 2, command),
    runId: v['run-id'],
    controlSchema: v['control-schema'] ?? 'hyperfill',
  };
}
