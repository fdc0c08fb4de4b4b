/** `hyperfill replay`: applies a dual writer's spool to the target, offline, exactly once. */
import { describeConnection } from '../connection.js';
import { ControlConnection } from '../control-connection.js';
import { DEFAULT_CONTROL_SCHEMA, DualWriteControl } from '../dual-write/control-tables.js';
import { type ReplayProgress, replaySpool, type ReplayTarget } from '../dual-write/replay.js';
import { entryStatements } from '../dual-write/spool-entry.js';
import { SpoolJournal, type TornTail } from '../dual-write/spool-journal.js';
import type { ConflictKey } from '../dual-write/statement.js';
import { HyperfillError } from '../errors.js';
import { parseTableName } from '../pg/table-name.js';
import { isRetryable, serverMessage } from '../pg-errors.js';
import { ProgressReporter } from '../progress.js';
import { durationFlag, intFlag, parseFlags, usage } from './flags.js';
import type { CommandIO } from './io.js';
import { connectionFlagsNote } from './shared-help.js';
import { type CommandHelp, formatHelp } from './help.js';
import { TARGET_FLAGS, targetFlags, targetHelp } from './target-flags.js';

export const REPLAY_HELP: CommandHelp = {
  usage: ['replay --spool DIR --target URL [--on-conflict-do-nothing TABLE:COL,COL ...]', 'replay --spool DIR --list'],
  about: `Applies the records a dual writer spooled (writes the target missed while it was down or
slow) to the target, in the order they were made, each batch in one transaction that also
records the spool's position in the target's control schema: a rerun, or the writer's own
background replay, never applies a record twice. Stop the application's writer first (one
process per spool; a dead writer's lock is taken over).

A torn last record (the writer was killed while writing it) is reported, set aside beside
its segment and never replayed: it was never acknowledged.

What replay cannot know: a write that timed out on the target may still have committed there
after the writer stopped watching it. If the application then died, the record replays
it again. Name the table's unique key with --on-conflict-do-nothing to turn such INSERTs
into no-ops.`,
  sections: [
    {
      flags: [
        ['--spool DIR', 'the writer\'s spool directory (required)'],
        ['--on-conflict-do-nothing T:C,C', '(repeatable) add ON CONFLICT (C, C) DO NOTHING to replayed INSERTs into T'],
        ['--control-schema S', 'schema of hyperfill\'s tables in the target (default hyperfill)'],
        ['--batch N', 'records per target transaction (default 200)'],
        ['--reporting-period D', 'progress line every D when stderr is not a terminal (default off)'],
        ['--list', 'print the spool\'s records (seq, time, kind, statement) and apply nothing'],
        ['--json', 'print the result as JSON'],
      ],
    },
    targetHelp({ plainTarget: 'accepted as by every command (the writer\'s secondary may be plain PostgreSQL)' }),
  ],
  notes: [connectionFlagsNote],
};

export const REPLAY_FLAGS = {
  spool: { type: 'string' }, ...TARGET_FLAGS, 'on-conflict-do-nothing': { type: 'string', multiple: true },
  'control-schema': { type: 'string' }, batch: { type: 'string' },
  'reporting-period': { type: 'string' }, list: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

export async function replayCommand(args: string[], io: CommandIO): Promise<number> {
  const { values: v } = parseFlags(args, REPLAY_FLAGS, 'replay');
  if (v.help) {
    io.stdout.write(`${formatHelp(REPLAY_HELP)}\n`);
    return 0;
  }
  if (!v.spool) throw usage('`--spool DIR` is required', 'replay');
  const keys = (v['on-conflict-do-nothing'] ?? []).map(parseConflictKey);
  const batch = intFlag(v.batch, 'batch', 200, 'replay');
  const { target: config, retry } = targetFlags(v, 'replay');
  const periodMs = durationFlag(v['reporting-period'], 'reporting-period', 0, 'replay');
  const journal = await SpoolJournal.open({ dir: v.spool });
  try {
    if (journal.tornTail) io.stderr.write(`${tornTailWarning(journal.tornTail)}\n`);
    if (v.list) return await list(journal, io);
    const control = new DualWriteControl(v['control-schema'] ?? DEFAULT_CONTROL_SCHEMA);
    let latest: ReplayProgress = { appliedSeq: 0, records: 0, statements: 0, skipped: 0, nextAt: undefined };
    let before = { records: 0, statements: 0, skipped: 0 };
    const progress = new ProgressReporter({ stream: io.stderr, periodMs, label: 'replay' }, () => ({
      rows: before.records + latest.records, bytes: 0, detail: `at record ${latest.appliedSeq} of ${journal.durableSeq}`,
    }));
    const target = new ControlConnection(config, {
      role: 'target', retry, signal: io.signal, purpose: 'replay',
      onRetry: (err) => {
        // The next attempt continues from the position the target holds: a lost connection costs one batch.
        before = { records: before.records + latest.records, statements: before.statements + latest.statements, skipped: before.skipped + latest.skipped };
        latest = { ...latest, records: 0, statements: 0, skipped: 0 };
        progress.log(`target connection lost (${serverMessage(err)}); retrying`);
      },
    });
    progress.start();
    try {
      await target.open();
      latest = await target.run((client) => {
        const on: ReplayTarget = { connect: async () => ({ query: (text, values) => client.query(text, values), release: () => undefined }) };
        return replaySpool({ journal, target: on, control, conflictKeys: keys, batchRecords: batch, onProgress: (p) => { latest = p; } });
      });
    } catch (err) {
      if (isRetryable(err)) {
        throw new HyperfillError('E_TARGET_UNREACHABLE', `lost the target and could not reconnect within ${retry.timeoutMs / 1000}s: ${serverMessage(err)}`,
          { target: describeConnection(config) }, 'replay again when the target is back: it continues where it stopped', err);
      }
      throw err;
    } finally {
      progress.stop();
      await target.close();
    }
    const result = {
      target: describeConnection(config), spool: v.spool, spoolId: journal.spoolId, appliedSeq: latest.appliedSeq,
      records: before.records + latest.records, statements: before.statements + latest.statements, skipped: before.skipped + latest.skipped,
      tornTail: journal.tornTail ?? null,
    };
    if (v.json) io.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      io.stdout.write(`replayed ${result.records} records (${result.statements} statements) into ${result.target}` +
        `${result.skipped > 0 ? `; ${result.skipped} skipped (already in the target)` : ''}; the spool is replayed up to record ${result.appliedSeq}\n`);
    }
    return 0;
  } finally {
    await journal.close();
  }
}

function parseConflictKey(text: string): ConflictKey {
  const at = text.lastIndexOf(':');
  const columns = at < 0 ? [] : text.slice(at + 1).split(',').map((c) => c.trim()).filter((c) => c !== '');
  if (at <= 0 || columns.length === 0) {
    throw usage(`\`--on-conflict-do-nothing\` takes TABLE:COLUMN[,COLUMN...] (the columns of a unique key), got "${text}"`, 'replay');
  }
  return { table: parseTableName(text.slice(0, at)), columns };
}

export function tornTailWarning(torn: TornTail): string {
  return `warning: the spool's last record was torn (${torn.reason}): the writer was stopped while writing it, so it was never ` +
    `acknowledged and is not replayed. ${torn.bytes} bytes at offset ${torn.offset} of ${torn.file} were moved to ${torn.savedAs}.`;
}

async function list(journal: SpoolJournal, io: CommandIO): Promise<number> {
  for await (const { seq, entry } of journal.read(0)) {
    const statements = entryStatements(entry).map((s) => s.text.replace(/\s+/g, ' ').slice(0, 120));
    const what = entry.kind === 'first-write' ? `${entry.writerId} began writing ${entry.table} at ${new Date(entry.firstWriteAt).toISOString()}`
      : entry.kind === 'settled' ? `record ${entry.seq} committed on the target after all`
        : statements.join(' | ');
    io.stdout.write(`${seq}\t${new Date(entry.at).toISOString()}\t${entry.kind}\t${what}\n`);
  }
  return 0;
}
