/**
 * `backfill --on-conflict do-nothing|update`: for a target whose dual-write may have
 * written rows below --until that must be kept. A window's rows are not deleted first:
 * they go through a staging table and INSERT ... ON CONFLICT (src/sink/conflict.ts), in
 * the window's one transaction, so each window still commits exactly once. Without a
 * unique key nothing could conflict and the rows would be doubled: that is refused.
 */
import type pg from 'pg';
import { HyperfillError } from '../errors.js';
import { displayName } from '../pg/table-name.js';
import { chooseConflictKey, type ConflictPlan, conflictPlan, uniqueKeys } from '../sink/conflict.js';
import type { BackfillTable } from './window-copier.js';

export type BackfillConflict = 'do-nothing' | 'update';

export const BACKFILL_CONFLICTS: readonly BackfillConflict[] = ['do-nothing', 'update'];

export async function prepareConflict(client: pg.Client, table: BackfillTable, action: BackfillConflict): Promise<ConflictPlan> {
  const keys = await uniqueKeys(client, table.target);
  if (keys.length === 0) {
    throw new HyperfillError('E_USAGE', `${displayName(table.target)} has no primary key or unique index: with --on-conflict nothing could conflict, and a window's rows would be added beside the ones there`,
      { table: table.key }, 'leave --on-conflict out (each window\'s rows are then replaced), or create a unique key first');
  }
  const names = table.transform ? table.transform.outputColumns : table.columns;
  const columns = names.map((n) => table.targetColumns.find((c) => c.name === n)).filter((c) => c !== undefined);
  if (action === 'do-nothing') return conflictPlan(table.target, columns, { action: 'nothing' });
  const key = chooseConflictKey(table.target, keys, undefined, table.hypertable ? table.timeColumn : undefined);
  const missing = key.filter((k) => !names.includes(k));
  if (missing.length > 0) {
    throw new HyperfillError('E_USAGE', `the key of ${displayName(table.target)} (${key.join(', ')}) has columns the backfill does not copy: ${missing.join(', ')}`,
      { table: table.key }, 'copy the key columns too, or use --on-conflict do-nothing');
  }
  return conflictPlan(table.target, columns, { action: 'update', key });
}
