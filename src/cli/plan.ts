/** `hyperfill plan`: suggests the completion point T for each table. */
import { checkOneTimeType } from '../backfill/preflight.js';
import { expandPattern, parseTableSpec, resolveTables } from '../backfill/resolve-tables.js';
import { defaultAlignment, suggestUntil } from '../backfill/suggest-until.js';
import { openSource } from '../../connectors/index.js';
import { ControlConnection } from '../control-connection.js';
import { DEFAULT_CONTROL_SCHEMA, DualWriteControl } from '../dual-write/control-tables.js';
import { serverMessage } from '../pg-errors.js';
import type { Source } from '../source.js';
import { formatTable } from '../progress.js';
import { isIntegerTime, parseWindowSize } from '../time-value.js';
import { parseFlags, sourceFlag, usage } from './flags.js';
import type { CommandIO } from './io.js';
import { TARGET_FLAGS, TARGET_HELP, targetFlags } from './target-flags.js';
import { type CommandHelp, formatHelp } from './help.js';
import { connectionFlagsNote } from './shared-help.js';

export const PLAN_HELP: CommandHelp = {
  usage: ['plan --source URL --target URL --table SRC[:DST] ... [--max-lateness 1h]'],
  about: `For each target table: when dual-write began (the later of the earliest row in the target
and the moment the last dual writer began writing the table, as hyperfill/dual-write
records it in the control schema), and a suggested --until: the next window boundary
(target chunk boundary, else --align) after that time plus --max-lateness. Warns when the
suggestion lies in the future, or when the target holds fewer rows than the source before
it (dual-write had not fully begun). Reads only.`,
  sections: [
    {
      title: 'What to plan',
      flags: [
        ['--source URL', 'the source the backfill will read: postgres://..., clickhouse://, mongodb://, csv:///..., json:... (default: HYPERFILL_SOURCE); plan compares its row counts with the target\'s'],
        ['--table SRC[:DST]', 'a table, repeatable; DST (the target\'s [schema.]table) defaults to SRC'],
        ['--tables PATTERN', 'all source tables matching a LIKE pattern, e.g. "public.metrics_%"'],
        ['--time-column NAME', 'the time column (found on its own for hypertables and where the source knows it)'],
      ],
    },
    {
      title: 'The suggestion',
      flags: [
        ['--max-lateness SIZE', 'how late rows may arrive after their time, e.g. 30m, 1h, 1d; an integer for integer time columns. Default: 1h for timestamp and date columns, 0 for integer ones (which have no unit hyperfill could assume)'],
        ['--align SIZE', 'the window boundary the suggestion is rounded up to for plain tables (hypertables use their chunk boundaries). Default: 1h for timestamp and date columns, 1 for integer ones'],
        ['--control-schema S', 'where the dual writers\' records are in the target (default hyperfill)'],
        ['--json', 'print the suggestions as JSON'],
      ],
    },
    TARGET_HELP,
  ],
  notes: [connectionFlagsNote],
};

export const PLAN_FLAGS = {
  source: { type: 'string' }, ...TARGET_FLAGS, table: { type: 'string', multiple: true }, tables: { type: 'string' },
  'time-column': { type: 'string' }, 'control-schema': { type: 'string' }, 'max-lateness': { type: 'string' }, align: { type: 'string' }, json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function planCommand(args: string[], io: CommandIO): Promise<number> {
  const { values: v } = parseFlags(args, PLAN_FLAGS, 'plan');
  if (v.help) {
    io.stdout.write(`${formatHelp(PLAN_HELP)}\n`);
    return 0;
  }
  if (!v.table && !v.tables) throw usage('name the tables with `--table SRC[:DST]` or `--tables PATTERN`', 'plan');
  const sourceUrl = sourceFlag(v.source, 'plan');
  const { target: config, retry } = targetFlags(v, 'plan');
  const target = new ControlConnection(config, {
    role: 'target', retry, signal: io.signal, setup: `SET TIME ZONE 'UTC'`,
    onRetry: (err, delay) => io.stderr.write(`plan: connection lost (${serverMessage(err)}); retrying in ${delay} ms\n`),
  });
  let source: Source | undefined;
  try {
    source = await openSource(sourceUrl, { parallel: 1 });
    const src = source;
    await target.open();
    const control = new DualWriteControl(v['control-schema'] ?? DEFAULT_CONTROL_SCHEMA);
    // Read-only from start to end: after a lost connection the whole plan is made again.
    const suggestions = await target.run(async (c) => {
      const specs = v.tables ? await expandPattern(src, v.tables) : (v.table ?? []).map(parseTableSpec);
      const tables = await resolveTables(src, c, specs, v['time-column']);
      checkOneTimeType(tables);
      const made = [];
      for (const table of tables) {
        const integer = isIntegerTime(table.timeType);
        const lateness = v['max-lateness'] === undefined ? (integer ? 0n : 3_600_000_000n) : parseWindowSize(v['max-lateness'], table.timeType);
        const align = v.align === undefined ? defaultAlignment(table.timeType) : parseWindowSize(v.align, table.timeType);
        made.push(await suggestUntil(src, c, table, lateness, align, await control.readFirstWrites(c, table.target)));
      }
      return made;
    });
    if (v.json) io.stdout.write(`${JSON.stringify(suggestions)}\n`);
    else {
      io.stdout.write(`${formatTable(['table', 'dual-write since', 'suggested --until', 'dual writers'], suggestions.map((s) => [
        s.table, s.dualWriteSince ?? '-', s.suggestedUntil ?? '-',
        s.writers.length === 0 ? '-' : `${s.writers.length}, the last began ${s.writers.reduce((a, w) => (w.firstWriteAt > a ? w.firstWriteAt : a), '')}`]))}\n`);
      for (const s of suggestions) for (const w of s.warnings) io.stdout.write(`warning: ${s.table}: ${w}\n`);
    }
    return 0;
  } finally {
    await target.close();
    await source?.close();
  }
}
