/** Table and column facts from a PostgreSQL (or TimescaleDB) catalog. */
import type pg from 'pg';
import { HyperfillError } from '../errors.js';
import { qualifiedName } from '../sql.js';
import type { SourceColumn } from '../source.js';
import { type TableName, displayName, splitOutsideQuotes, unquoteName } from './table-name.js';

export interface CatalogColumn extends SourceColumn {
  /** Built-in types (oid < 16384) have the same binary COPY form on every server. */
  builtin: boolean;
  hasDefault: boolean;
  /** pg_type OID of the column's type, and of its element type when it is an array (else 0). */
  typeOid: number;
  elementOid: number;
}

/** A table's columns in order; empty when there is no such table. The one catalog query for columns. */
export async function readColumns(client: pg.Client, t: TableName): Promise<CatalogColumn[]> {
  const r = await client.query(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
            a.atttypid < 16384 AS builtin, a.atthasdef AS has_default, a.atttypid::int AS type_oid,
            CASE WHEN t.typcategory = 'A' THEN t.typelem::int ELSE 0 END AS element_oid
     FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
     WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [qualifiedName(t.schema, t.table)]);
  return r.rows.map((row) => ({
    name: row.name, pgType: row.type, nullable: row.nullable, builtin: row.builtin, hasDefault: row.has_default,
    typeOid: row.type_oid, elementOid: row.element_oid,
  }));
}

/**
 * The table's generated columns (PostgreSQL 12 and later have them): COPY without a
 * column list leaves them out, so a binary COPY's rows must too.
 */
export async function generatedColumns(client: pg.Client, t: TableName): Promise<Set<string>> {
  try {
    const r = await client.query<{ name: string }>(
      `SELECT a.attname AS name FROM pg_attribute a
       WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated <> ''`,
      [qualifiedName(t.schema, t.table)]);
    return new Set(r.rows.map((row) => row.name));
  } catch (err) {
    // 42703: no attgenerated column, a server older than 12, which has no generated columns.
    if ((err as { code?: string }).code === '42703') return new Set();
    throw err;
  }
}

export async function tableColumns(client: pg.Client, t: TableName, role: string): Promise<CatalogColumn[]> {
  const columns = await readColumns(client, t);
  if (columns.length === 0) {
    throw new HyperfillError('E_TABLE_MISSING', `table ${displayName(t)} does not exist in the ${role}`, { table: displayName(t) },
      `check the name (schema.table); list tables with \\dt in psql`);
  }
  return columns;
}

/**
 * Tables whose "schema.table" matches a LIKE pattern (a bare pattern matches in public;
 * a part in double quotes may hold a dot), as names parseTableName reads back.
 */
export async function tablesLike(client: pg.Client, pattern: string): Promise<string[]> {
  const parts = splitOutsideQuotes(pattern, '.').map(unquoteName);
  const [schema, table] = parts.length === 1 ? ['public', parts[0]] : [parts[0], parts.slice(1).join('.')];
  const r = await client.query(
    `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND n.nspname LIKE $1 AND c.relname LIKE $2
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'hyperfill') AND n.nspname NOT LIKE '\\_timescaledb%'
     ORDER BY 1, 2`, [schema, table]);
  return r.rows.map((row) => displayName({ schema: row.schema, table: row.name }));
}
