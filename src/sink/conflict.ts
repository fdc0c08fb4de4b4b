/**
 * ON CONFLICT for COPY, which has none: each batch is copied into a temporary table of
 * the connection (created in the batch's transaction if it is not there yet, emptied at
 * every commit), then moved into the target by one INSERT ... SELECT ... ON CONFLICT, in
 * the same transaction as the import ledger's row. `nothing` keeps the row already there
 * (timescaledb-parallel-copy's --on-conflict-do-nothing); `update` sets every other
 * copied column of the row already there from the new one (an upsert).
 *
 * One INSERT ... ON CONFLICT DO UPDATE cannot touch a row twice, so within a batch only
 * the last row of each key is applied: the staging table numbers rows in input order,
 * and a window function keeps the last per key. That is what applying the rows one by
 * one would leave, since the update sets every copied column. Rows with a NULL in the
 * key never conflict, and all of them are kept.
 */
import { crc32 } from 'node:zlib';
import type pg from 'pg';
import { HyperfillError } from '../errors.js';
import type { CatalogColumn } from '../pg/catalog.js';
import { displayName, type TableName } from '../pg/table-name.js';
import { qualifiedName, quoteIdent } from '../sql.js';

export type ConflictMode = { action: 'nothing' } | { action: 'update'; key: string[] | undefined };

export interface UniqueKey {
  name: string;
  primary: boolean;
  columns: string[];
}

/** What ON CONFLICT did with one batch. */
export interface ConflictOutcome {
  inserted: number;
  updated: number;
}

export interface ConflictPlan {
  /** Run after BEGIN: creates the staging table if this connection has none yet. */
  setup: string;
  /** Where the batch's COPY goes. */
  stage: TableName;
  /** Moves the staged rows into the target; returns one row (inserted, updated). */
  apply: string;
  /** The conflict key of an update. */
  key: string[] | undefined;
  /** The key rows are routed to workers by, so rows of one key are applied in input order. */
  routeKey?: string[] | undefined;
}


/** The table's unique keys usable as ON CONFLICT arbiters: plain columns, no predicate, not deferred; the primary key first. */
export async function uniqueKeys(client: pg.Client, table: TableName): Promise<UniqueKey[]> {
  const r = await client.query(
    `SELECT c.relname AS name, i.indisprimary AS primary,
            array_agg(a.attname::text ORDER BY k.ord) AS columns
     FROM pg_index i
     JOIN pg_class c ON c.oid = i.indexrelid
     CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indimmediate
       AND i.indpred IS NULL AND i.indexprs IS NULL AND k.ord <= i.indnkeyatts
     GROUP BY c.relname, i.indisprimary ORDER BY i.indisprimary DESC, c.relname`,
    [qualifiedName(table.schema, table.table)]);
  return r.rows.map((row) => ({ name: row.name, primary: row.primary, columns: row.columns }));
}

/**
 * The key ON CONFLICT DO UPDATE names: the one asked for (it must be the columns of a
 * unique key, in any order), else the primary key, else the only unique key.
 * `timeColumn`: the hypertable's, for a message that says why a key without it cannot be.
 */
export function chooseConflictKey(table: TableName, keys: UniqueKey[], asked: string[] | undefined, timeColumn: string | undefined): string[] {
  const list = keys.map((k) => `${k.name} (${k.columns.join(', ')})`).join('; ');
  const where = { table: displayName(table) };
  if (asked) {
    const same = (k: UniqueKey) => k.columns.length === asked.length && asked.every((c) => k.columns.includes(c));
    if (keys.some(same)) return asked;
    const lacksTime = timeColumn !== undefined && !asked.includes(timeColumn);
    throw new HyperfillError('E_USAGE', `no unique key of ${displayName(table)} is (${asked.join(', ')}): ON CONFLICT needs the columns of a primary key or unique index`, where,
      [lacksTime ? `${displayName(table)} is a hypertable: every unique key of one includes its time column "${timeColumn}", so add it` : undefined,
        keys.length > 0 ? `its unique keys: ${list}` : `it has no unique key: create one, e.g. CREATE UNIQUE INDEX ON ${displayName(table)} (...)`].filter(Boolean).join('\n  hint: '));
  }
  const primary = keys.find((k) => k.primary);
  if (primary) return primary.columns;
  if (keys.length === 1) return keys[0]!.columns;
  throw new HyperfillError('E_USAGE', keys.length === 0
    ? `${displayName(table)} has no primary key or unique index, so no row can conflict: --on-conflict-update needs one`
    : `${displayName(table)} has no primary key and ${keys.length} unique keys: say which one --on-conflict-update means`, where,
  keys.length === 0 ? `create one, e.g. CREATE UNIQUE INDEX ON ${displayName(table)} (...)` : `e.g. --on-conflict-update ${keys[0]!.columns.join(',')}; its unique keys: ${list}`);
}

/**
 * The statements for `columns` (the COPY's, in input order) of `table`. The update sets
 * every copied column outside the key; with none (all copied columns are the key), the
 * row is left as it is.
 */
export function conflictPlan(table: TableName, columns: readonly CatalogColumn[], mode: ConflictMode & { key?: string[] | undefined }): ConflictPlan {
  const names = columns.map((c) => c.name);
  const definitions = columns.map((c) => `${quoteIdent(c.name)} ${c.pgType}`);
  const order = freeName(names, 'hyperfill_input_order');
  const nth = freeName(names, 'hyperfill_nth');
  // One staging table per target and column list: a backfill connection serves several tables.
  const stage = { schema: 'pg_temp', table: `hyperfill_stage_${crc32(JSON.stringify([table, definitions])).toString(16)}` };
  const staged = qualifiedName(stage.schema, stage.table);
  // client_min_messages: IF NOT EXISTS says NOTICE once per batch otherwise.
  const setup = `SET LOCAL client_min_messages = warning; CREATE TEMP TABLE IF NOT EXISTS ${staged} (${definitions.join(', ')}, ` +
    `${quoteIdent(order)} bigint GENERATED ALWAYS AS IDENTITY) ON COMMIT DELETE ROWS`;
  const list = names.map(quoteIdent).join(', ');
  const target = qualifiedName(table.schema, table.table);
  let source = `SELECT ${list} FROM ${staged} ORDER BY ${quoteIdent(order)}`;
  let action = 'DO NOTHING';
  const key = mode.action === 'update' ? mode.key : undefined;
  if (key) {
    const partition = key.map(quoteIdent).join(', ');
    const anyNull = key.map((k) => `${quoteIdent(k)} IS NULL`).join(' OR ');
    source = `SELECT ${list} FROM (SELECT *, row_number() OVER (PARTITION BY ${partition} ORDER BY ${quoteIdent(order)} DESC) AS ${quoteIdent(nth)} FROM ${staged}) s ` +
      `WHERE ${quoteIdent(nth)} = 1 OR ${anyNull} ORDER BY ${quoteIdent(order)}`;
    const rest = names.filter((n) => !key.includes(n));
    action = rest.length > 0 ? `(${partition}) DO UPDATE SET ${rest.map((n) => `${quoteIdent(n)} = EXCLUDED.${quoteIdent(n)}`).join(', ')}` : `(${partition}) DO NOTHING`;
  }
  // xmax is 0 on a row this statement inserted, and set on one it updated.
  const apply = `WITH applied AS (INSERT INTO ${target} (${list}) ${source} ON CONFLICT ${action} RETURNING (xmax = 0) AS inserted) ` +
    'SELECT count(*) FILTER (WHERE inserted)::int AS inserted, count(*) FILTER (WHERE NOT inserted)::int AS updated FROM applied';
  return { setup, stage, apply, key, routeKey: key };
}

export async function applyConflict(client: pg.Client, plan: Pick<ConflictPlan, 'apply'>): Promise<ConflictOutcome> {
  const r = await client.query(plan.apply);
  return { inserted: r.rows[0].inserted, updated: r.rows[0].updated };
}

/** `base`, or with underscores before it until no copied column has that name. */
function freeName(names: readonly string[], base: string): string {
  let name = base;
  while (names.includes(name)) name = `_${name}`;
  return name;
}
