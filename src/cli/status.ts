/** `hyperfill status`: one screen of where the migration stands, per table. */
import { openSource } from '../../connectors/index.js';
import { parseTableSpec } from '../backfill/resolve-tables.js';
import { describeSource } from '../backfill/run-backfill.js';
import { describeConnection } from '../connection.js';
import { ControlConnection } from '../control-connection.js';
import { serverMessage } from '../pg-errors.js';
import { gatherStatus } from '../status/gather.js';
import { renderStatus } from '../status/render.js';
import { parseFlags, sourceFlag, usage } from './flags.js';
import type { CommandIO } from './io.js';
import { connectionFlagsNote } from './shared-help.js';
import { type CommandHelp, formatHelp } from './help.js';
import { TARGET_FLAGS, targetFlags, targetHelp } from './target-flags.js';

export const STATUS_HELP: CommandHelp = {
  usage: ['status --source URL --target URL [--table SRC[:DST] ...] [--json]'],
  about: `One screen of where the migration stands, per table: whether the clone is done, when
dual-write began (the target's earliest row, or when the last dual writer began, the later),
the dual writers hyperfill/dual-write recorded, the suggested completion point T
(as \`hyperfill plan\` computes it), the backfill plan's windows done/total and rows, the
jobs hyperfill keeps paused, the last verify result, and what to do next. Reads only.
Tables: the clone's hypertables and the backfill plans' tables, or --table.`,
  sections: [
    {
      flags: [
        ['--source URL', 'the source (default: HYPERFILL_SOURCE)'],
        ['--table SRC[:DST]', 'a table to look at, repeatable (default: the clone\'s hypertables and the backfill plans\' tables)'],
        ['--time-column NAME', 'the time column of plain (not hypertable) tables'],
        ['--max-lateness SIZE', 'as for plan: how late rows may arrive, for the suggested T (default 1h; integer time columns: 0)'],
        ['--control-schema S', 'schema of hyperfill\'s records in the target (default hyperfill)'],
        ['--json', 'print the report as JSON'],
      ],
    },
    targetHelp({ plainTarget: 'accepted as by every command (status reads plain tables too)' }),
  ],
  notes: [connectionFlagsNote],
};

export const STATUS_FLAGS = {
  source: { type: 'string' }, ...TARGET_FLAGS, table: { type: 'string', multiple: true }, 'time-column': { type: 'string' },
  'max-lateness': { type: 'string' }, 'control-schema': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

export async function statusCommand(args: string[], io: CommandIO): Promise<number> {
  const { values: v } = parseFlags(args, STATUS_FLAGS, 'status');
  if (v.help) {
    io.stdout.write(`${formatHelp(STATUS_HELP)}\n`);
    return 0;
  }
  const sourceUrl = sourceFlag(v.source, 'status');
  const { target: targetConfig, retry } = targetFlags(v, 'status');
  const specs = (v.table ?? []).map(parseTableSpec);
  const source = await openSource(sourceUrl, { parallel: 1 });
  const target = new ControlConnection(targetConfig, {
    role: 'target', retry, signal: io.signal, purpose: 'status',
    onRetry: (err, delay) => io.stderr.write(`status: connection lost (${serverMessage(err)}); retrying in ${delay} ms\n`),
  });
  try {
    await target.open();
    // Reads only: after a lost connection the whole report is gathered again.
    const gathered = await target.run((c) => gatherStatus(source, c, {
      specs, timeColumn: v['time-column'], maxLateness: v['max-lateness'], controlSchema: v['control-schema'] ?? 'hyperfill',
    }));
    const report = { source: describeSource(sourceUrl), target: describeConnection(targetConfig), ...gathered };
    io.stdout.write(v.json ? `${JSON.stringify(report)}\n` : `${renderStatus(report)}\n`);
    return 0;
  } finally {
    await target.close();
    await source.close();
  }
}
