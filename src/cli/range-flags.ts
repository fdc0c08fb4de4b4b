/**
 * The flags that say what to move or compare (source, target, tables, time range),
 * shared by backfill and verify so both build the same RangeSelection and so find the
 * same plan.
 */
import { parseTableSpec } from '../backfill/resolve-tables.js';
import type { RangeSelection } from '../backfill/run-backfill.js';
import { intFlag, usage } from './flags.js';
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
  const source = v.source ?? process.env.HYPERFILL_SOURCE;
  if (!source) throw usage('`--source` is required (or set HYPERFILL_SOURCE)', command);
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
