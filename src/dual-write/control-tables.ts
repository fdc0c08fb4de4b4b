/**
 * The dual writer's tables in the target's control schema (default `hyperfill`, beside
 * the backfill's): when each writer first wrote to each table, and how far replay got in
 * each spool. Replay moves its position in the same transaction as the records it applies,
 * so a record is applied exactly once whatever fails in between.
 */
import type pg from 'pg';
import { controlTableExists } from '../pg/control-schema.js';
import { qualifiedName, quoteIdent, quoteLiteral } from '../sql.js';
import { type TableName } from '../pg/table-name.js';

export const DEFAULT_CONTROL_SCHEMA = 'hyperfill';

/** What `query` needs: a pg Pool, PoolClient or Client. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<pg.QueryResult>;
}

export interface FirstWrite {
  writerId: string;
  schema: string;
  table: string;
  firstWriteAt: Date;
  /** How often writes were lost and the writer's start moved forward (see `reset`). */
  resets: number;
}

export class DualWriteControl {
  readonly firstWrites: string;
  readonly replay: string;

  constructor(readonly schema = DEFAULT_CONTROL_SCHEMA) {
    this.firstWrites = qualifiedName(schema, 'dual_write_first');
    this.replay = qualifiedName(schema, 'dual_write_replay');
  }

  /**
   * Creates the schema and tables when missing. One multi-statement query runs as one
   * implicit transaction (so it works on a pool), serialised with the backfill's own
   * creation by the same advisory lock.
   */
  createSql(): string {
    return [
      `SELECT pg_advisory_xact_lock(hashtext(${quoteLiteral(`hyperfill.schema:${this.schema}`)}))`,
      `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(this.schema)}`,
      `CREATE TABLE IF NOT EXISTS ${this.firstWrites} (writer_id text NOT NULL, table_schema text NOT NULL, table_name text NOT NULL,
        first_write_at timestamptz NOT NULL, resets int NOT NULL DEFAULT 0, recorded_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (writer_id, table_schema, table_name))`,
      `CREATE TABLE IF NOT EXISTS ${this.replay} (spool_id text PRIMARY KEY, applied_seq bigint NOT NULL,
        records bigint NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL DEFAULT now())`,
    ].join(';\n');
  }

  /**
   * Records a writer's first write to the table `tableText` names (resolved by the server,
   * as the statement itself is). The earliest start wins, so a restarted application keeps
   * its first one; a `reset` (writes were lost) moves it forward instead.
   */
  firstWriteStatement(writerId: string, tableText: string, firstWriteAt: number, reset: boolean): { text: string; values: unknown[] } {
    const t = this.firstWrites;
    return {
      text: `INSERT INTO ${t} (writer_id, table_schema, table_name, first_write_at, resets)
        SELECT $1, n.nspname, c.relname, $3::timestamptz, CASE WHEN $4::boolean THEN 1 ELSE 0 END
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($2)
        ON CONFLICT (writer_id, table_schema, table_name) DO UPDATE SET
          first_write_at = CASE WHEN $4::boolean THEN greatest(${t}.first_write_at, EXCLUDED.first_write_at)
                                ELSE least(${t}.first_write_at, EXCLUDED.first_write_at) END,
          resets = ${t}.resets + EXCLUDED.resets, recorded_at = now()`,
      values: [writerId, tableText, new Date(firstWriteAt).toISOString(), reset],
    };
  }

  /** Inside replay's transaction: the spool's position, locked until COMMIT (0 when new). */
  async lockPosition(client: Queryable, spoolId: string): Promise<number> {
    await client.query(`INSERT INTO ${this.replay} (spool_id, applied_seq) VALUES ($1, 0) ON CONFLICT (spool_id) DO NOTHING`, [spoolId]);
    const r = await client.query(`SELECT applied_seq FROM ${this.replay} WHERE spool_id = $1 FOR UPDATE`, [spoolId]);
    return Number(r.rows[0]?.applied_seq ?? 0);
  }

  async position(client: Queryable, spoolId: string): Promise<number> {
    if (!(await controlTableExists(client, this.schema, 'dual_write_replay'))) return 0;
    const r = await client.query(`SELECT applied_seq FROM ${this.replay} WHERE spool_id = $1`, [spoolId]);
    return Number(r.rows[0]?.applied_seq ?? 0);
  }

  async setPosition(client: Queryable, spoolId: string, seq: number, records: number): Promise<void> {
    await client.query(`UPDATE ${this.replay} SET applied_seq = $2, records = records + $3, updated_at = now() WHERE spool_id = $1`, [spoolId, seq, records]);
  }

  /** Every writer's first write, for one table or all; none when the tables do not exist yet. */
  async readFirstWrites(client: Queryable, table?: TableName): Promise<FirstWrite[]> {
    if (!(await controlTableExists(client, this.schema, 'dual_write_first'))) return [];
    const r = await client.query(`SELECT writer_id, table_schema, table_name, first_write_at, resets FROM ${this.firstWrites}
      WHERE ($1::text IS NULL OR (table_schema = $1 AND table_name = $2)) ORDER BY table_schema, table_name, first_write_at, writer_id`,
    [table?.schema ?? null, table?.table ?? null]);
    return r.rows.map((row) => ({ writerId: row.writer_id, schema: row.table_schema, table: row.table_name, firstWriteAt: new Date(row.first_write_at), resets: row.resets }));
  }
}
