/** Checks the target table and columns exist before reading any input. */
import type pg from 'pg';
import { type CatalogColumn, readColumns } from '../pg/catalog.js';
import { HyperfillError } from '../errors.js';
import { qualifiedName } from '../sql.js';

export interface TableRef {
  schema: string;
  table: string;
  columns?: readonly string[] | undefined;
}

/** Returns the table's columns in order (names and types). */
export async function checkTargetTable(client: pg.Client, ref: TableRef, where: string): Promise<CatalogColumn[]> {
  const columns = await readColumns(client, ref);
  // No columns usually means no table; a table created with no columns still exists.
  if (columns.length === 0) {
    const exists = await client.query('SELECT to_regclass($1) IS NOT NULL AS ok', [qualifiedName(ref.schema, ref.table)]);
    if (!exists.rows[0].ok) {
      throw new HyperfillError('E_TABLE_MISSING', `table ${ref.schema}.${ref.table} does not exist in ${where}`, { table: `${ref.schema}.${ref.table}` },
        'create it first (hyperfill schema can print the DDL), or fix --schema/--table');
    }
  }
  requireColumns(ref, columns);
  return columns;
}

/** `ref.columns` must all be among the table's `columns`. */
export function requireColumns(ref: TableRef, columns: readonly CatalogColumn[]): void {
  const names = columns.map((c) => c.name);
  const missing = (ref.columns ?? []).filter((c) => !names.includes(c));
  if (missing.length > 0) {
    throw new HyperfillError('E_COLUMN_MISSING', `table ${ref.schema}.${ref.table} has no column ${missing.map((c) => `"${c}"`).join(', ')}`,
      { table: `${ref.schema}.${ref.table}` }, `its columns are: ${names.join(', ')}`);
  }
}
