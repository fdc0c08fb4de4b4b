/**
 * Replays a spool into the target, in order, exactly once: each batch of records runs in
 * one target transaction that also moves the spool's position in the control schema, so a
 * crash, a lost connection or a failing statement leaves every record either applied with
 * its position or not at all. Used by the writer in the background and by `hyperfill replay`.
 *
 * What can still repeat: a statement whose live write timed out, was spooled, and then
 * committed on the secondary after all, when nobody saw it commit (the process died, or the
 * writer stopped waiting for it). `conflictKeys` turns such INSERTs into no-ops.
 */
import { HyperfillError } from '../errors.js';
import { displayName } from '../pg/table-name.js';
import { isRetryable, serverMessage } from '../pg-errors.js';
import { type DualWriteControl, type Queryable } from './control-tables.js';
import { type ConflictKey, withOnConflictDoNothing } from './statement.js';
import { entryStatements, loadValues, type SpoolRecord } from './spool-entry.js';
import type { SpoolJournal } from './spool-journal.js';

/** A connection replay holds for its transactions (a pg PoolClient). */
export interface ReplayClient extends Queryable {
  release(err?: Error | boolean): void;
}

/** Where replay gets connections: a pg Pool, or anything with its `connect`. */
export interface ReplayTarget {
  connect(): Promise<ReplayClient>;
}

export interface ReplayOptions {
  journal: SpoolJournal;
  target: ReplayTarget;
  control: DualWriteControl;
  conflictKeys?: readonly ConflictKey[];
  /** Records per target transaction (default 200). */
  batchRecords?: number;
  /** Asked before a record is applied: true when the target already has it (a late commit seen live). May wait. */
  alreadyCommitted?: (seq: number) => Promise<boolean> | boolean;
  /** After each committed batch. */
  onProgress?: (progress: ReplayProgress) => void;
  /** Replay stops after the batch in flight. */
  signal?: AbortSignal;
  /**
   * Read the spool for `settled` markers first (default true). A writer that saw every
   * late commit itself (`alreadyCommitted`) skips this after its first replay.
   */
  scanMarkers?: boolean;
}

export interface ReplayProgress {
  /** The spool's position in the target: every record up to here is applied. */
  appliedSeq: number;
  /** Records applied by this replay (markers and skipped records not counted). */
  records: number;
  statements: number;
  /** Records the target already had: committed late (and seen so), or applied by an earlier replay. */
  skipped: number;
  /** The time the next record not yet applied was spooled (ms since 1970), if one was read. */
  nextAt: number | undefined;
}

const BATCH_BYTES = 4 << 20;

export async function replaySpool(options: ReplayOptions): Promise<ReplayProgress> {
  const { journal, control } = options;
  const limit = options.batchRecords ?? 200;
  const keys = options.conflictKeys ?? [];
  const progress: ReplayProgress = { appliedSeq: 0, records: 0, statements: 0, skipped: 0, nextAt: undefined };
  const client = await options.target.connect();
  let broken: Error | undefined;
  try {
    await client.query(control.createSql());
    progress.appliedSeq = await control.position(client, journal.spoolId);
    // Markers name records committed live after they were spooled: collect them first,
    // since a marker comes after the record it settles.
    const settled = new Set<number>();
    if (options.scanMarkers !== false) {
      for await (const r of journal.read(progress.appliedSeq)) if (r.entry.kind === 'settled') settled.add(r.entry.seq);
    }
    let batch: SpoolRecord[] = [];
    let bytes = 0;
    const run = async () => {
      const skip = new Set<number>();
      for (const r of batch) {
        if (r.entry.kind === 'settled' || settled.has(r.seq) || (await options.alreadyCommitted?.(r.seq))) skip.add(r.seq);
      }
      await applyBatch(client, options, batch, skip, keys, progress);
      batch = [];
      bytes = 0;
    };
    for await (const record of journal.read(progress.appliedSeq)) {
      if (progress.nextAt === undefined) progress.nextAt = record.entry.at;
      batch.push(record);
      bytes += entrySize(record.entry);
      if (batch.length >= limit || bytes >= BATCH_BYTES) {
        await run();
        progress.nextAt = undefined;
        if (options.signal?.aborted) break;
      }
    }
    if (batch.length > 0 && !options.signal?.aborted) {
      await run();
      progress.nextAt = undefined;
    }
    return progress;
  } catch (err) {
    broken = err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    client.release(broken !== undefined && !(broken instanceof HyperfillError) ? broken : undefined);
  }
}

/**
 * One transaction: the records after the position, then the new position. When a
 * statement fails in a batch of several, the batch is retried one record at a time so the
 * records before the failing one commit and the error names that one.
 */
async function applyBatch(client: ReplayClient, options: ReplayOptions, batch: SpoolRecord[], skip: Set<number>,
  keys: readonly ConflictKey[], progress: ReplayProgress): Promise<void> {
  const { control, journal } = options;
  await client.query('BEGIN');
  const done = { records: 0, statements: 0, skipped: 0 };
  let position = 0;
  try {
    position = await control.lockPosition(client, journal.spoolId);
    for (const record of batch) {
      if (record.seq <= position || skip.has(record.seq)) {
        if (record.entry.kind !== 'settled') done.skipped++;
        continue;
      }
      done.statements += await applyRecord(client, options, record, keys);
      done.records++;
    }
    const last = (batch[batch.length - 1] as SpoolRecord).seq;
    if (last > position) await control.setPosition(client, journal.spoolId, last, done.records);
    await client.query('COMMIT');
    position = Math.max(position, last);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (batch.length > 1 && err instanceof HyperfillError && err.code === 'E_REPLAY_STATEMENT') {
      for (const record of batch) await applyBatch(client, options, [record], skip, keys, progress);
      return;
    }
    throw err;
  }
  progress.appliedSeq = position;
  progress.records += done.records;
  progress.statements += done.statements;
  progress.skipped += done.skipped;
  await journal.markReplayed(position);
  options.onProgress?.({ ...progress });
}

/** About how many bytes a record's statements send: batches stay a few MB. */
function entrySize(entry: SpoolRecord['entry']): number {
  let size = 0;
  for (const s of entryStatements(entry)) {
    size += s.text.length;
    for (const v of s.values) size += v === null ? 0 : typeof v === 'string' ? v.length : v.b64.length;
  }
  return size;
}

async function applyRecord(client: ReplayClient, options: ReplayOptions, record: SpoolRecord, keys: readonly ConflictKey[]): Promise<number> {
  const entry = record.entry;
  if (entry.kind === 'first-write') {
    const s = options.control.firstWriteStatement(entry.writerId, entry.table, entry.firstWriteAt, entry.reset);
    await client.query(s.text, s.values);
    return 1;
  }
  const statements = entryStatements(entry);
  for (let n = 0; n < statements.length; n++) {
    const s = statements[n] as (typeof statements)[number];
    const text = withOnConflictDoNothing(s.text, keys) ?? s.text;
    try {
      await client.query(text, loadValues(s.values));
    } catch (err) {
      if (isRetryable(err)) throw err;
      throw replayError(err, record, n, statements.length, text, keys);
    }
  }
  return statements.length;
}

function replayError(err: unknown, record: SpoolRecord, index: number, count: number, text: string, keys: readonly ConflictKey[]): HyperfillError {
  const duplicate = (err as { code?: string }).code === '23505';
  const where = count > 1 ? `statement ${index + 1} of ${count} of the transaction spooled as record ${record.seq}` : `the statement spooled as record ${record.seq}`;
  const hint = duplicate
    ? `the target already has this row (a write that reached it although it was spooled?): name the table's key with ` +
      `--on-conflict-do-nothing TABLE:COLUMNS (the writer's conflictKeys option)${keys.length > 0 ? ` (given: ${keys.map((k) => displayName(k.table)).join(', ')})` : ''}, ` +
      'or delete the row in the target, and replay again'
    : 'fix the target (its schema, constraints or permissions) and replay again: every record before this one is applied';
  return new HyperfillError('E_REPLAY_STATEMENT', `${where} failed on the target: ${serverMessage(err)}`,
    { seq: record.seq, statement: text.length > 200 ? `${text.slice(0, 200)}...` : text }, hint, err);
}
