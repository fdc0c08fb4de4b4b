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

  /**
   * One statement for every table of one verify, keyed by `verifyId`: a step run again after
   * a lost connection (whose first INSERT may have committed) adds nothing twice.
   */
  async record(client: pg.Client, verifyId: string, runId: string, mode: string, until: string, verdicts: TableVerdict[]): Promise<void> {
    await ensureControlTables(client, this.schema, [`CREATE TABLE IF NOT EXISTS ${this.table} (
      verify_id text NOT NULL, checked_at timestamptz NOT NULL DEFAULT now(), run_id text NOT NULL, table_name text NOT NULL, mode text NOT NULL,
      until text NOT NULL, windows int NOT NULL, mismatched int NOT NULL, source_rows bigint NOT NULL, target_rows bigint NOT NULL,
      matches boolean NOT NULL, PRIMARY KEY (verify_id, table_name))`]);
    await client.query(`INSERT INTO ${this.table} (verify_id, run_id, table_name, mode, until, windows, mismatched, source_rows, target_rows, matches)
      SELECT $1, $2, t, $3, $4, w, m, s, g, m = 0 FROM unnest($5::text[], $6::int[], $7::int[], $8::bigint[], $9::bigint[]) AS u(t, w, m, s, g)
      ON CONFLICT (verify_id, table_name) DO NOTHING`,
    [verifyId, runId, mode, until, verdicts.map((v) => v.table), verdicts.map((v) => v.windows), verdicts.map((v) => v.mismatched),
      verdicts.map((v) => v.sourceRows), verdicts.map((v) => v.targetRows)]);
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
