/**
 * What --on-conflict-* changes in a copy: the target's unique key checked and chosen,
 * COPY aimed at the staging table (src/sink/conflict.ts), and the key fields rows are
 * routed to workers by, so rows of one key are applied in input order.
 */
import type pg from 'pg';
import { HyperfillError } from '../errors.js';
import type { CatalogColumn } from '../pg/catalog.js';
import { chooseConflictKey, type ConflictMode, type ConflictPlan, conflictPlan, uniqueKeys } from '../sink/conflict.js';
import { copyFromStatement, type CopyDialect } from '../sink/copy-statement.js';
import { hypertableTimeDimension } from '../target/timescale.js';

type Table = { schema: string; table: string };

/** The fields of each record the key router hashes, and which of them are integers (compared as numbers). */
export interface KeyFields {
  fields: number[];
  integer: boolean[];
}

/** The staging table and INSERT for --on-conflict-*: the key checked against the table's unique keys. */
export async function planConflict(client: pg.Client, mode: ConflictMode, target: Table, columns: CatalogColumn[],
  warn: (line: string) => void): Promise<ConflictPlan> {
  const keys = await uniqueKeys(client, target);
  if (mode.action === 'nothing') {
    if (keys.length === 0) warn(`copy: ${target.schema}.${target.table} has no primary key or unique index: no row can conflict, so --on-conflict-do-nothing skips nothing`);
    // Routed by the primary (or only) key, the first input row of a key is the one kept.
    const routeKey = keys.find((k) => k.primary)?.columns ?? (keys.length === 1 ? keys[0]!.columns : undefined);
    return { ...conflictPlan(target, columns, mode), routeKey };
  }
  const time = await hypertableTimeDimension(client, target);
  return conflictPlan(target, columns, { ...mode, key: chooseConflictKey(target, keys, mode.key, time?.column) });
}

/**
 * The input's COPY (in `dialect`, and in binary when `binary`) into the staging table,
 * and the key fields to route by when every key column is loaded.
 */
export function stagedStatements(plan: ConflictPlan, columns: CatalogColumn[], target: Table, dialect: CopyDialect, binary: boolean):
  { statement: string; binaryStatement: string | undefined; keyFields: KeyFields | undefined } {
  const names = columns.map((c) => c.name);
  const missing = plan.key?.filter((k) => !names.includes(k)) ?? [];
  if (missing.length > 0) {
    throw new HyperfillError('E_USAGE', `the conflict key column ${missing.map((m) => `"${m}"`).join(', ')} is not among the columns loaded (${names.join(', ')})`,
      { table: `${target.schema}.${target.table}` }, 'load the key columns too: rows are matched to the rows already there by them');
  }
  const stage = { ...plan.stage, columns: names };
  const route = plan.routeKey?.every((k) => names.includes(k)) ? plan.routeKey : undefined;
  return {
    statement: copyFromStatement(stage, dialect),
    binaryStatement: binary ? copyFromStatement(stage, { format: 'binary' }) : undefined,
    keyFields: route && {
      fields: route.map((k) => names.indexOf(k)),
      integer: route.map((k) => /^(smallint|integer|bigint)$/.test(columns[names.indexOf(k)]!.pgType)),
    },
  };
}
