/** `hyperfill status`: one screen of where the migration stands, per table. */
import { openSource } from '../../connectors/index.js';
import { parseTableSpec } from '../backfill/resolve-tables.js';
import { describeSource } from '../backfill/run-backfill.js';
import { connect, describeConnection, parseConnection } from '../connection.js';
import { gatherStatus } from '../status/gather.js';
import { renderStatus } from '../status/render.js';
import { parseFlags, usage } from './flags.js';
import type { CommandIO } from './io.js';
import { connectionFlagsNote } from './shared-help.js';

export const STATUS_HELP = `Usage: hyperfill status --source URL --target URL [--table SRC[:DST] ...] [--json]

One screen of where the migration stands, per table: whether the clone is done, when
dual-write began (the target's earliest row, or when the last dual writer began, the later),
the dual writers hyperfill/dual-write recorded, the suggested completion point T
(as \`hyperfill plan\` computes it), the backfill plan's windows done/total and rows, the
jobs hyperfill keeps paused, the last verify result, and what to do next. Reads only.
Tables: the clone's hypertables and the backfill plans' tables, or --table.

  --table SRC[:DST]     a table to look at, repeatable
  --time-column NAME    the time column of plain (not hypertable) tables
  --max-lateness SIZE   as for plan (default 1h; integer columns: 0)
  --control-schema S    schema of hyperfill's records in the target (default hyperfill)
  --json                print the report as JSON
  -h, --help
${connectionFlagsNote}`;

const SPEC = {
  source: { type: 'string' }, target: { type: 'string' }, table: { type: 'string', multiple: true }, 'time-column': { type: 'string' },
  'max-lateness': { type: 'string' }, 'control-schema': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

export async function statusCommand(args: string[], io: CommandIO): Promise<number> {
  const { values: v } = parseFlags(args, SPEC, 'status');
  if (v.help) {
    io.stdout.write(`${STATUS_HELP}\n`);
    return 0;
  }
  const sourceUrl = v.source ?? process.env.HYPERFILL_SOURCE;
  if (!sourceUrl) throw usage('`--source` is required (or set HYPERFILL_SOURCE)', 'status');
  const targetConfig = parseConnection(v.target);
  const source = await openSource(sourceUrl, { parallel: 1 });
  const target = await connect(targetConfig);
  try {
    const report = {
      source: describeSource(sourceUrl),
      target: describeConnection(targetConfig),
      ...(await gatherStatus(source, target, {
        specs: (v.table ?? []).map(parseTableSpec), timeColumn: v['time-column'], maxLateness: v['max-lateness'], controlSchema: v['control-schema'] ?? 'hyperfill',
      })),
    };
    io.stdout.write(v.json ? `${JSON.stringify(report)}\n` : `${renderStatus(report)}\n`);
    return 0;
  } finally {
    await target.end().catch(() => undefined);
    await source.close();
  }
}
