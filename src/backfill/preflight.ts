/**
 * Checks before anything is written: the target is TimescaleDB (or the user said a
 * plain target is fine), versions line up, and each table has one time type.
 */
import type pg from 'pg';
import { HyperfillError } from '../errors.js';
import type { Source } from '../source.js';
import { timescaleVersion } from '../target/timescale.js';
import type { BackfillTable } from './window-copier.js';

interface VersionedSource extends Source {
  serverMajor?(): Promise<number>;
  timescaleVersion?(): Promise<string | undefined>;
}

export async function preflight(source: VersionedSource, target: pg.Client, allowPlainTarget: boolean): Promise<string[]> {
  const notes: string[] = [];
  const targetTs = await timescaleVersion(target);
  if (!targetTs && !allowPlainTarget) {
    throw new HyperfillError('E_TARGET_NOT_TIMESCALE', 'the target has no timescaledb extension', {},
      'run CREATE EXTENSION timescaledb in the target, or pass --allow-plain-target to backfill into plain PostgreSQL tables');
  }
  if (!targetTs) notes.push('the target is plain PostgreSQL: no policies to pause, no compressed chunks, no continuous aggregates');
  const sourceTs = await source.timescaleVersion?.();
  if (sourceTs && targetTs && sourceTs !== targetTs) {
    throw new HyperfillError('E_VERSION_MISMATCH', `TimescaleDB ${sourceTs} on the source but ${targetTs} on the target`, {},
      'run the same TimescaleDB version on both sides (ALTER EXTENSION timescaledb UPDATE), as the migration guide requires');
  }
  if (source.serverMajor) {
    const sourceMajor = await source.serverMajor();
    const r = await target.query('SHOW server_version_num');
    const targetMajor = Math.floor(Number(r.rows[0].server_version_num) / 10000);
    if (targetMajor < sourceMajor) {
      throw new HyperfillError('E_VERSION_MISMATCH', `the target runs PostgreSQL ${targetMajor}, older than the source's ${sourceMajor}`, {},
        'the target must run the same or a newer PostgreSQL major version');
    }
  }
  return notes;
}

/** One --until serves tables of one time type only. */
export function checkOneTimeType(tables: BackfillTable[]): void {
  const types = new Map<string, string[]>();
  for (const t of tables) types.set(t.timeType, [...(types.get(t.timeType) ?? []), t.key]);
  if (types.size > 1) {
    const list = [...types.entries()].map(([type, names]) => `${type}: ${names.join(', ')}`).join('; ');
    throw new HyperfillError('E_TIME_TYPES_DIFFER', `these tables have time columns of different types (${list})`, {},
      'a completion point has the type of its time column: run one backfill per type, each with its own --until');
  }
}
