/**
 * hyperfill's own tables in the target (schema `hyperfill` unless --control-schema):
 * created on first use, serialized by an advisory lock because concurrent
 * CREATE ... IF NOT EXISTS still races in the catalog.
 */
import type pg from 'pg';
import { HyperfillError } from '../errors.js';
import { isRetryable } from '../pg-errors.js';
import { quoteIdent } from '../sql.js';

/** A statement, or a step that needs to look before it changes something (an upgrade of an older table). */
export type ControlStatement = string | ((client: pg.Client) => Promise<void>);

export async function ensureControlTables(client: pg.Client, schema: string, createStatements: ControlStatement[]): Promise<void> {
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`hyperfill.schema:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    for (const statement of createStatements) {
      if (typeof statement === 'string') await client.query(statement);
      else await statement(client);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (isRetryable(err)) throw err; // a lost connection: the caller's step is retried
    throw new HyperfillError('E_CONTROL_SCHEMA', `cannot create hyperfill's tables in schema "${schema}" of the target: ${(err as Error).message}`, {},
      'grant CREATE on the database to this user, or choose a schema with --control-schema', err);
  }
}

/** Whether a control table exists (readers such as `status` must not create anything). */
export async function controlTableExists(client: { query(text: string, values?: unknown[]): Promise<pg.QueryResult> }, schema: string, table: string): Promise<boolean> {
  const r = await client.query('SELECT to_regclass($1) IS NOT NULL AS present', [`${quoteIdent(schema)}.${quoteIdent(table)}`]);
  return r.rows[0].present === true;
}
