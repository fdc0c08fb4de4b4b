/** Checks the target table and columns exist before reading any input. */
import type pg from 'pg';
import { HyperfillError } from '../errors.js';
import { qualifiedName } from '../sql.js';

export interface TableRef {
  schema: string;
  table: string;
  columns?: readonly string[] | undefined;
}

/** Returns the table's column names in order. */
export async function checkTargetTable(client: pg.Client, ref: TableRef, where: string): Promise<string[]> {
  const name = qualifiedName(ref.schema, ref.table);
  const found = await client.query(
    `SELECT a.attname AS name FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [name],
  );
  const exists = await client.query('SELECT to_regclass($1) IS NOT NULL AS ok', [name]);
  if (!exists.rows[0].ok) {
    throw new HyperfillError('E_TABLE_MISSING', `table ${ref.schema}.${ref.table} does not exist in ${where}`, { table: `${ref.schema}.${ref.table}` },
      'create it first (hyperfill schema can print the DDL), or fix --schema/--table');
  }
  const columns = found.rows.map((r: { name: string }) => r.name);
  const missing = (ref.columns ?? []).filter((c) => !columns.includes(c));
  if (missing.length > 0) {
    throw new HyperfillError('E_COLUMN_MISSING', `table ${ref.schema}.${ref.table} has no column ${missing.map((c) => `"${c}"`).join(', ')}`,
      { table: `${ref.schema}.${ref.table}` }, `its columns are: ${columns.join(', ')}`);
  }
  return columns;
}
