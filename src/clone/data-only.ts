/**
 * `clone --data-only --table T`: small relational tables copied again at cut-over, for
 * relational data that changed in the source since the clone. One target transaction per
 * table: TRUNCATE and COPY (source COPY TO streamed straight into target COPY FROM). A
 * table other tables reference by foreign key cannot be truncated alone: it is merged by
 * its primary key instead (rows the source no longer has are deleted, the others upserted),
 * which keeps the referencing rows valid. Sequences owned by the table's columns follow
 * the source's. The row counts of both COPYs must agree, or the table is rolled back.
 */
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { ConnectionConfig } from '../connection.js';
import { withClient } from '../connection.js';
import { HyperfillError } from '../errors.js';
import { serverMessage } from '../pg-errors.js';
import { type TableName, displayName, parseTableName } from '../pg/table-name.js';
import { columnList, qualifiedName, quoteIdent } from '../sql.js';
import { hypertableTimeDimension } from '../target/timescale.js';

export interface TableCopy {
  table: string;
  rows: number;
  how: 'truncate + copy' | 'merge by primary key';
}

export async function copyRelationalTables(source: ConnectionConfig, target: ConnectionConfig, tables: string[], log: (line: string) => void): Promise<TableCopy[]> {
  return withClient(source, (from) => withClient(target, async (to) => {
    const done: TableCopy[] = [];
    for (const name of tables) {
      const result = await copyTable(from, to, parseTableName(name));
      log(`clone --data-only: ${result.table}: ${result.rows} rows (${result.how})`);
      done.push(result);
    }
    return done;
  }), 'source');
}

async function copyTable(from: pg.Client, to: pg.Client, t: TableName): Promise<TableCopy> {
  const name = displayName(t);
  const table = qualifiedName(t.schema, t.table);
  if (await hypertableTimeDimension(to, t)) {
    throw new HyperfillError('E_USAGE', `${name} is a hypertable in the target: --data-only copies small relational tables again, and would empty this one`, { table: name },
      'time-series tables are brought level by `hyperfill backfill`');
  }
  const columns = await writableColumns(from, table, name, 'source');
  const targetColumns = await writableColumns(to, table, name, 'target');
  const missing = columns.filter((c) => !targetColumns.includes(c));
  if (missing.length > 0) {
    throw new HyperfillError('E_COLUMNS_INCOMPATIBLE', `target ${name} lacks source column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `"${c}"`).join(', ')}`, { table: name },
      'bring the target\'s schema level with the source first');
  }
  const referenced = await referencingTables(to, table);
  const key = referenced.length > 0 ? await primaryKey(to, table) : [];
  if (referenced.length > 0 && key.length === 0) {
    throw new HyperfillError('E_DATA_ONLY_REFERENCED', `${name} is referenced by foreign keys of ${referenced.join(', ')} and has no primary key, so it can be neither truncated alone nor merged by key`, { table: name },
      'give the table a primary key, or copy it by hand');
  }
  const how = referenced.length > 0 ? 'merge by primary key' : 'truncate + copy';
  const list = columnList(columns);
  await to.query('BEGIN');
  try {
    const into = referenced.length > 0 ? 'hyperfill_data_only' : table;
    if (referenced.length > 0) {
      await to.query(`CREATE TEMPORARY TABLE hyperfill_data_only ON COMMIT DROP AS SELECT ${columns.map(quoteIdent).join(', ')} FROM ${table} WITH NO DATA`);
    } else {
      await to.query(`TRUNCATE ${table}`);
    }
    const rows = await streamTable(from, to, `COPY (SELECT ${columns.map(quoteIdent).join(', ')} FROM ${table}) TO STDOUT`, `COPY ${into} ${list} FROM STDIN`, name);
    if (referenced.length > 0) await merge(to, table, columns, key);
    await followSequences(from, to, table);
    await to.query('COMMIT');
    return { table: name, rows, how };
  } catch (err) {
    await to.query('ROLLBACK').catch(() => undefined);
    if (err instanceof HyperfillError) throw err;
    const fk = (err as { code?: string }).code === '23503';
    throw new HyperfillError(fk ? 'E_DATA_ONLY_REFERENCED' : 'E_DATA_ONLY_FAILED', `copying ${name} failed: ${serverMessage(err)}`, { table: name },
      fk ? 'the source deleted rows the target\'s tables still reference: the table was left as it was' : 'the table was left as it was (one transaction): fix the cause and rerun', err);
  }
}

async function streamTable(from: pg.Client, to: pg.Client, read: string, write: string, name: string): Promise<number> {
  const out = from.query(copyTo(read));
  const into = to.query(copyFrom(write));
  await pipeline(out, into);
  const sent = (out as unknown as { rowCount: number }).rowCount;
  const stored = (into as unknown as { rowCount: number }).rowCount;
  if (sent !== stored) {
    throw new HyperfillError('E_ROW_COUNT', `${name}: the source sent ${sent} rows but the target stored ${stored}`, { table: name }, 'the table was rolled back');
  }
  return stored;
}

/** Columns a COPY can write: not dropped, not generated. */
async function writableColumns(client: pg.Client, table: string, name: string, role: string): Promise<string[]> {
  const r = await client.query(`SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`, [table]);
  if (r.rows.length === 0) throw new HyperfillError('E_TABLE_MISSING', `table ${name} does not exist in the ${role}`, { table: name }, 'check the name (schema.table)');
  return r.rows.map((row) => row.attname as string);
}

async function referencingTables(client: pg.Client, table: string): Promise<string[]> {
  const r = await client.query(`SELECT DISTINCT conrelid::regclass::text AS name FROM pg_constraint WHERE contype = 'f' AND confrelid = to_regclass($1) AND conrelid <> confrelid ORDER BY 1`, [table]);
  return r.rows.map((row) => row.name as string);
}

async function primaryKey(client: pg.Client, table: string): Promise<string[]> {
  const r = await client.query(`SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
    WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`, [table]);
  return r.rows.map((row) => row.attname as string);
}

/** Rows the source lost go (a still-referenced one fails the transaction: 23503), the rest are upserted. */
async function merge(client: pg.Client, table: string, columns: string[], key: string[]): Promise<void> {
  const match = key.map((k) => `n.${quoteIdent(k)} = t.${quoteIdent(k)}`).join(' AND ');
  await client.query(`DELETE FROM ${table} t WHERE NOT EXISTS (SELECT 1 FROM hyperfill_data_only n WHERE ${match})`);
  const others = columns.filter((c) => !key.includes(c));
  const update = others.length > 0 ? `DO UPDATE SET ${others.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(', ')}` : 'DO NOTHING';
  await client.query(`INSERT INTO ${table} ${columnList(columns)} OVERRIDING SYSTEM VALUE SELECT ${columns.map(quoteIdent).join(', ')} FROM hyperfill_data_only
    ON CONFLICT (${key.map(quoteIdent).join(', ')}) ${update}`);
}

async function followSequences(from: pg.Client, to: pg.Client, table: string): Promise<void> {
  const r = await to.query(`SELECT pg_get_serial_sequence($1, attname) AS seq FROM pg_attribute
    WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped AND pg_get_serial_sequence($1, attname) IS NOT NULL`, [table]);
  for (const { seq } of r.rows) {
    const there = await from.query('SELECT to_regclass($1)::text AS seq', [seq]);
    if (!there.rows[0].seq) continue; // the source names its sequence differently: nothing to follow
    const state = await from.query(`SELECT last_value::text AS v, is_called FROM ${there.rows[0].seq}`);
    await to.query('SELECT setval($1::regclass, $2::bigint, $3)', [seq, state.rows[0].v, state.rows[0].is_called]);
  }
}
