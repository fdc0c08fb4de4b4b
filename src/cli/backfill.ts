/** `hyperfill backfill` and `hyperfill restore-policies`. */
import { ProgressTable } from '../backfill/progress-table.js';
import { type BackfillResult, runBackfill } from '../backfill/run-backfill.js';
import { ControlConnection } from '../control-connection.js';
import { serverMessage } from '../pg-errors.js';
import { RANGE_FLAGS, rangeHelp, rangeSelection } from './range-flags.js';
import { type CommandHelp, formatHelp } from './help.js';
import { connectionFlagsNote } from './shared-help.js';
import { TARGET_FLAGS, TARGET_HELP, targetFlags } from './target-flags.js';
import { formatCount, formatTable } from '../progress.js';
import { parseTransformFlags, TRANSFORM_FLAGS, TRANSFORM_HELP } from '../transform/options.js';
import { DIRECT_COMPRESS_MODES } from '../target/direct-compress.js';
import { BACKFILL_CONFLICTS } from '../backfill/on-conflict.js';
import { choiceFlag, durationFlag, intFlag, maxRejectsFlag, parseFlags, usage } from './flags.js';
import type { OnError } from '../transform/batch-transform.js';
import { CloneRecords } from '../clone/records.js';
import { restoreAllPolicies } from '../clone/restore-policies.js';
import type { CommandIO } from './io.js';

export const BACKFILL_HELP: CommandHelp = {
  usage: ['backfill --source URL --target URL --until T [--from S] --table SRC[:DST] ...'],
  about: `Copies every source row with from <= time < until into the target, window by window,
in parallel, exactly once. Each window is one target transaction: delete what
dual-write put there, COPY the source rows in, mark the window done. Rerun the same
command after any failure: finished windows are kept.`,
  sections: [
    rangeHelp('windows copied at once'),
    {
      title: 'How',
      flags: [
        ['--no-refresh-caggs', 'do not refresh continuous aggregates at the end'],
        ['--no-snapshot', 'do not hold one source snapshot for the whole run (each window reads its own; use it when a long-lived snapshot would hold back vacuum on a busy source)'],
        ['--on-conflict MODE', 'do-nothing or update, for a target table with a primary key or unique index where dual-write may have written rows below --until that must be kept: a window\'s rows are not deleted first but copied into a temporary table and moved by INSERT ... ON CONFLICT DO NOTHING (the row there stays) or DO UPDATE (the source row\'s values replace it; the key: the primary key, else the only unique key), in the window\'s one transaction. Neither direct compress nor compressed chunks then apply'],
        ['--direct-compress M', 'auto (default), on or off: TimescaleDB\'s direct compress (2.21+) for the windows\' COPY into a hypertable with compression, so chunks come out compressed with no compress_chunk afterwards. auto: for windows in chunks the compression policy would already have compressed, or windows that held no dual-written rows and whose chunks end by --until (dual-write never writes there). The source sorts the rows as the compression\'s segmentby and orderby say when it can be proved (orderby leads with the time column); TimescaleDB then does not sort and the chunks stay ordered'],
        ['--no-compressed-chunks', 'TimescaleDB to TimescaleDB: copy compressed source chunks by rows too. By default a window whose source chunks are all fully compressed and lie inside it, with the same version, columns and compression settings on both sides and no dual-written rows in the target, is copied as those compressed chunks are (no decompressing, no compressing); any other window goes by rows, and the summary says why'],
        ['--reporting-period D', 'progress line every D when stderr is not a terminal (default off)'],
      ],
    },
    TARGET_HELP,
    {
      title: 'Bad rows (a row the target rejects)',
      flags: [
        ['--on-error MODE', 'stop (default): the run stops; skip: the row is left out and its window still commits once; reject: the same, and the row goes to --rejects FILE. A window whose COPY the target refuses for its rows (SQLSTATE 22 and 23) is read again as text and copied in pieces, in its one transaction, down to the rows that fail alone. With a transform, only the transform\'s own row errors are skipped (stop or skip)'],
        ['--rejects FILE', 'with --on-error reject: the rows in PostgreSQL text format, and FILE.reasons with "source-table window N:line: row N: column: the server\'s message"; a rerun of the same run writes the earlier runs\' rejects again, so each is there once'],
        ['--max-rejects N', 'stop (E_TOO_MANY_REJECTS) once more than N rows were rejected or skipped (default: no limit)'],
      ],
    },
    TRANSFORM_HELP,
  ],
  notes: [connectionFlagsNote],
};

export const BACKFILL_FLAGS = {
  ...RANGE_FLAGS,
  'no-refresh-caggs': { type: 'boolean' },
  'no-snapshot': { type: 'boolean' },
  'direct-compress': { type: 'string' },
  'no-compressed-chunks': { type: 'boolean' },
  'on-conflict': { type: 'string' },
  'reporting-period': { type: 'string' },
  'max-rejects': { type: 'string' },
  ...TRANSFORM_FLAGS,
} as const;

export async function backfillCommand(args: string[], io: CommandIO): Promise<number> {
  const { values: v } = parseFlags(args, BACKFILL_FLAGS, 'backfill');
  if (v.help) {
    io.stdout.write(`${formatHelp(BACKFILL_HELP)}\n`);
    return 0;
  }
  if (v['on-conflict'] !== undefined && v['on-error'] !== undefined && v['on-error'] !== 'stop') {
    throw usage('`--on-error skip|reject` does not go with `--on-conflict` yet: a window\'s rows go through INSERT ... ON CONFLICT there', 'backfill');
  }
  const result = await runBackfill({
    ...rangeSelection(v, 'backfill'),
    refreshCaggs: !v['no-refresh-caggs'],
    snapshot: !v['no-snapshot'],
    reportingPeriodMs: durationFlag(v['reporting-period'], 'reporting-period', 0, 'backfill'),
    transform: parseTransformFlags(v, 'backfill'),
    onError: (v['on-error'] ?? 'stop') as OnError,
    rejects: v.rejects,
    maxRejects: maxRejectsFlag(v['max-rejects'], v['on-error'], 'backfill'),
    directCompress: choiceFlag(v['direct-compress'], 'direct-compress', DIRECT_COMPRESS_MODES, 'auto', 'backfill'),
    compressedChunks: !v['no-compressed-chunks'],
    onConflict: v['on-conflict'] === undefined ? undefined : choiceFlag(v['on-conflict'], 'on-conflict', BACKFILL_CONFLICTS, 'do-nothing', 'backfill'),
  }, io);
  io.stdout.write(v.json ? `${JSON.stringify(result)}\n` : `${formatBackfillSummary(result)}\n`);
  return 0;
}

export function formatBackfillSummary(r: BackfillResult): string {
  // "busy s" adds up the windows' own times, which overlap when they run in parallel.
  const anyRejected = r.tables.some((t) => t.rejected > 0);
  const table = formatTable(['table', 'windows', 'rows', 'replaced', ...(anyRejected ? [r.rejectsFile ? 'rejected' : 'skipped'] : []), 'busy s'],
    r.tables.map((t) => [t.table, t.windows, t.rows, t.replaced, ...(anyRejected ? [t.rejected] : []), t.seconds.toFixed(2)]));
  const methods = r.tables.filter((t) => Object.keys(t.methods).some((m) => m !== 'rows'))
    .map((t) => `${t.table}: ${Object.entries(t.methods).map(([m, n]) => `${n} window${n === 1 ? '' : 's'} by ${m}`).join(', ')}\n`).join('');
  const conflicts = r.tables.filter((t) => t.applied)
    .map((t) => `${t.table}: on conflict: ${t.applied!.inserted} rows inserted, ${t.applied!.updated} updated a row already there, ${t.rows - t.applied!.inserted - t.applied!.updated} left the row there as it was\n`).join('');
  const fallbacks = r.tables.filter((t) => Object.keys(t.fallbacks).length > 0)
    .map((t) => `${t.table}: by rows instead of compressed chunks: ${Object.entries(t.fallbacks).map(([why, n]) => `${n} (${why})`).join(', ')}\n`).join('');
  const rejected = r.tables.reduce((n, t) => n + t.rejected, 0);
  const bad = rejected > 0 ? `${rejected} rows the target rejected were ${r.rejectsFile ? `written to ${r.rejectsFile} (reasons in ${r.rejectsFile}.reasons)` : 'skipped'}\n` : '';
  const state = r.windowsDone === r.windowsTotal ? 'complete' : `${r.windowsDone}/${r.windowsTotal} windows done (another process is still copying)`;
  return `${table}\n${methods}${conflicts}${fallbacks}${bad}backfill ${state}: ${r.rows} rows in ${r.seconds.toFixed(2)} s (${formatCount(r.rows / Math.max(r.seconds, 1e-9))} rows/s), run ${r.runId}`;
}

export const RESTORE_HELP: CommandHelp = {
  usage: ['restore-policies [--target URL] [--run-id ID] [--control-schema S]', '                           [--catch-up [--max-chunks-per-minute N]]'],
  about: `Puts back, exactly as recorded, the jobs hyperfill left paused: the compression and
retention jobs a backfill paused (e.g. after the backfill process was killed), and the
jobs \`hyperfill clone\` copied disabled from a TimescaleDB source (as the source had
them). Without --run-id, restores for every run and the clone's jobs too.`,
  sections: [
    {
      flags: [
        ['--run-id ID', 'restore only what this backfill run paused (default: every run, and the clone\'s jobs)'],
        ['--control-schema S', 'schema of hyperfill\'s records in the target (default hyperfill)'],
        ['--catch-up', 'first compress, chunk by chunk, what each paused compression policy would have compressed by now (after a long backfill), with progress; the jobs are restored once that is done'],
        ['--max-chunks-per-minute N', 'with --catch-up: start at most N chunk compressions a minute (default: no limit)'],
      ],
    },
    TARGET_HELP,
  ],
  notes: [connectionFlagsNote],
};

export const RESTORE_FLAGS = {
  ...TARGET_FLAGS, 'run-id': { type: 'string' }, 'control-schema': { type: 'string' }, help: { type: 'boolean', short: 'h' },
  'catch-up': { type: 'boolean' }, 'max-chunks-per-minute': { type: 'string' },
} as const;

export async function restorePoliciesCommand(args: string[], io: CommandIO): Promise<number> {
  const { values: v } = parseFlags(args, RESTORE_FLAGS, 'restore-policies');
  if (v.help) {
    io.stdout.write(`${formatHelp(RESTORE_HELP)}\n`);
    return 0;
  }
  if (v['max-chunks-per-minute'] !== undefined && !v['catch-up']) throw usage('`--max-chunks-per-minute` goes with `--catch-up`', 'restore-policies');
  const maxChunksPerMinute = v['max-chunks-per-minute'] === undefined ? undefined : intFlag(v['max-chunks-per-minute'], 'max-chunks-per-minute', 0, 'restore-policies');
  const { target, retry } = targetFlags(v, 'restore-policies');
  const control = new ControlConnection(target, {
    role: 'target', retry, signal: io.signal,
    onRetry: (err, delay) => io.stderr.write(`restore-policies: connection lost (${serverMessage(err)}); retrying in ${delay} ms\n`),
  });
  try {
    await control.open();
    const schema = v['control-schema'] ?? 'hyperfill';
    const progress = new ProgressTable(schema, v['run-id'] ?? '');
    await control.run((c) => progress.create(c));
    // Every part can run again after a lost connection: the catch-up compresses only what is not
    // compressed, and each restore is one transaction with its mark.
    const { restored, compressedChunks } = await control.run((c) => restoreAllPolicies(c, progress, new CloneRecords(schema), {
      anyRun: v['run-id'] === undefined, catchUp: v['catch-up'] ?? false, maxChunksPerMinute, log: (line) => io.stderr.write(`${line}\n`), signal: io.signal,
    }));
    if (v['catch-up']) io.stdout.write(`caught up: ${compressedChunks} chunks compressed\n`);
    io.stdout.write(restored.length === 0 ? 'no paused policy jobs to restore\n'
      : `${restored.map((j) => `job ${j.jobId}: scheduled=${j.scheduled}`).join('\n')}\n`);
    return 0;
  } finally {
    await control.close();
  }
}
