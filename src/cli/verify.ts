/** `hyperfill verify`: exit 0 only when source and target hold the same rows. */
import { connectionFlagsNote } from './shared-help.js';
import { formatTable } from '../progress.js';
import { type VerifyMode, runVerify } from '../verify/run-verify.js';
import { parseFlags, usage } from './flags.js';
import { RANGE_FLAGS, rangeHelp, rangeSelection } from './range-flags.js';
import { type CommandHelp, formatHelp } from './help.js';
import { TARGET_HELP } from './target-flags.js';
import type { CommandIO } from './io.js';

export const VERIFY_HELP: CommandHelp = {
  usage: ['verify --source URL --target URL --until T --table SRC[:DST] ...', '                 [--approx | --checksum]'],
  about: `Compares source and target per window (the backfill's plan when one exists for the
same arguments): exact row counts by default, planner estimates after ANALYZE with
--approx (within --tolerance), or an order-independent digest of every row's content
with --checksum. Prints the mismatches; exits 0 only when everything matches.`,
  sections: [
    { ...rangeHelp('windows checked at once'), title: 'What to compare (as for backfill)' },
    {
      title: 'How',
      flags: [
        ['--approx', 'compare planner estimates (fast, for very large tables)'],
        ['--tolerance F', 'the relative difference --approx accepts (default 0.1)'],
        ['--checksum', 'compare row contents, not just counts'],
      ],
    },
    TARGET_HELP,
  ],
  notes: [connectionFlagsNote],
};

export const VERIFY_FLAGS = {
  ...RANGE_FLAGS, approx: { type: 'boolean' }, checksum: { type: 'boolean' }, tolerance: { type: 'string' },
} as const;

export async function verifyCommand(args: string[], io: CommandIO): Promise<number> {
  const { values: v } = parseFlags(args, VERIFY_FLAGS, 'verify');
  if (v.help) {
    io.stdout.write(`${formatHelp(VERIFY_HELP)}\n`);
    return 0;
  }
  const selection = rangeSelection(v, 'verify');
  if (v.approx && v.checksum) throw usage('choose one of `--approx` and `--checksum`', 'verify');
  const tolerance = v.tolerance === undefined ? 0.1 : Number(v.tolerance);
  if (!(tolerance >= 0 && tolerance < 1)) throw usage('`--tolerance` must be a fraction between 0 and 1, e.g. 0.05', 'verify');
  const mode: VerifyMode = v.approx ? 'approx' : v.checksum ? 'checksum' : 'exact';
  const result = await runVerify({ ...selection, mode, tolerance }, io);
  if (result.notRecorded) io.stderr.write(`verify: the result was not recorded in the target for \`hyperfill status\`: ${result.notRecorded}\n`);
  if (v.json) io.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    const what = mode === 'checksum' ? 'row contents' : mode === 'approx' ? 'estimated counts' : 'row counts';
    if (result.mismatches.length > 0) {
      io.stdout.write(`${formatTable(['table', 'window', 'source', 'target'], result.mismatches.map((m) => [m.table, m.window, m.source, m.target]))}\n`);
    }
    io.stdout.write(`verify (${what}, ${result.windows} windows, ${result.planSource}): ` +
      `${result.mismatches.length === 0 ? 'source and target match' : `${result.mismatches.length} windows differ`}; ` +
      `source ${result.sourceRows} rows, target ${result.targetRows} rows\n`);
  }
  return result.mismatches.length === 0 ? 0 : 1;
}
