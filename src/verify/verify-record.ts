/**
 * Every verify's outcome per table, kept in the target's control schema, so `status`
 * can say what was last proven and when.
 */
import type pg from 'pg';
import { controlTableExists, ensureControlTables } from '../pg/control-schema.js';
import { qualifiedName } from '../sql.js';

export interface TableVerdict {
  table: string;
  windows: number;
  mismatched: number;
  sourceRows: number;
  targetRows: number;
}

export interface VerifyRecord extends TableVerdict {
  runId: string;
  mode: string;
  until: string;
  matches: boolean;
  checkedAt: Date;
}

export class VerifyRecords {
  readonly table: string;

  constructor(readonly schema: string) {
    this.table = qualifiedName(schema, 'verify_result');
  }

  async record(client: pg.Client, runId: string, mode: string, until: string, verdicts: TableVerdict[]): Promise<void> {
    await ensureControlTables(client, this.schema, [`CREATE TABLE IF NOT EXISTS ${this.table} (
      checked_at timestamptz NOT NULL DEFAULT now(), run_id text NOT NULL, table_name text NOT NULL, mode text NOT NULL, until text NOT NULL,
      windows int NOT NULL, mismatched int NOT NULL, source_rows bigint NOT NULL, target_rows bigint NOT NULL, matches boolean NOT NULL)`]);
    for (const v of verdicts) {
      await client.query(`INSERT INTO ${this.table} (run_id, table_name, mode, until, windows, mismatched, source_rows, target_rows, matches)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [runId, v.table, mode, until, v.windows, v.mismatched, v.sourceRows, v.targetRows, v.mismatched === 0]);
    }
  }

  /** The newest verdict for a table; undefined when none (or no verify ever ran here). */
  async latest(client: pg.Client, table: string): Promise<VerifyRecord | undefined> {
    if (!(await controlTableExists(client, this.schema, 'verify_result'))) return undefined;
    const r = await client.query(`SELECT * FROM ${this.table} WHERE table_name = $1 ORDER BY checked_at DESC LIMIT 1`, [table]);
    const row = r.rows[0];
    return row ? {
      table: row.table_name, runId: row.run_id, mode: row.mode, until: row.until, windows: row.windows, mismatched: row.mismatched,
      sourceRows: Number(row.source_rows), targetRows: Number(row.target_rows), matches: row.matches, checkedAt: row.checked_at,
    } : undefined;
  }
}
