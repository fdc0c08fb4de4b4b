/**
 * Cloning a TimescaleDB source, as TimescaleDB's own dump and restore does it: the
 * extension in the same schema and version on both sides, `timescaledb_pre_restore()`
 * before the load (background workers stop, the catalog accepts the dumped rows) and
 * `timescaledb_post_restore()` after it, whatever happened to the load.
 */
import type pg from 'pg';
import { type ConnectionConfig, LazyClient } from '../connection.js';
import { HyperfillError } from '../errors.js';
import { serverMessage } from '../pg-errors.js';
import { DEFAULT_RETRY, withRetry } from '../retry.js';
import { quoteIdent, quoteLiteral } from '../sql.js';
import { type TimescaleInstall, timescaleInstall } from '../target/timescale.js';

/**
 * Makes the target's extension sit where the source's does: the dump names its functions
 * by schema (cagg definitions call "ts".time_bucket, say). A missing extension is created
 * there; one elsewhere is moved when nothing depends on it yet (DROP EXTENSION without
 * CASCADE refuses otherwise); else a clear error. Returns what it did, for the user.
 */
export async function placeTargetExtension(target: pg.Client, source: TimescaleInstall): Promise<string | undefined> {
  const installed = await timescaleInstall(target);
  if (installed?.schema === source.schema) return undefined;
  const create = async () => {
    await target.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(source.schema)}`);
    await target.query(`CREATE EXTENSION timescaledb WITH SCHEMA ${quoteIdent(source.schema)} VERSION ${quoteLiteral(source.version)}`);
  };
  const fresh = `a fresh target database: CREATE SCHEMA ${quoteIdent(source.schema)}; CREATE EXTENSION timescaledb WITH SCHEMA ${quoteIdent(source.schema)}`;
  try {
    if (!installed) {
      await create();
      return `created the timescaledb extension ${source.version} in schema "${source.schema}", as in the source`;
    }
    const busy = await target.query('SELECT count(*)::int AS n FROM timescaledb_information.hypertables');
    if (busy.rows[0].n > 0) {
      throw new HyperfillError('E_EXTENSION_SCHEMA', `the source has TimescaleDB in schema "${source.schema}", the target in "${installed.schema}", and the target has hypertables already`, {},
        `the dump calls TimescaleDB's functions by their schema, so both sides must agree: clone into ${fresh}`);
    }
    await target.query('BEGIN');
    await target.query('DROP EXTENSION timescaledb');
    await create();
    await target.query('COMMIT');
    return `moved the target's timescaledb extension from schema "${installed.schema}" to "${source.schema}", as in the source (it had no hypertables yet)`;
  } catch (err) {
    await target.query('ROLLBACK').catch(() => undefined);
    if (err instanceof HyperfillError) throw err;
    throw new HyperfillError('E_EXTENSION_SCHEMA', `the source has TimescaleDB in schema "${source.schema}"${installed ? `, the target in "${installed.schema}"` : ' and the target has none'}, and it could not be placed there: ${serverMessage(err)}`, {},
      `run as a user who may create extensions, or prepare ${fresh}`, err);
  }
}

/** pre_restore, the load, then post_restore even when the load failed (retried while the target restarts). */
export async function inRestoreMode<T>(target: ConnectionConfig, schema: string, load: () => Promise<T>): Promise<T> {
  const call = async (fn: string) => {
    const client = new LazyClient(target);
    try {
      await (await client.get()).query(`SELECT ${quoteIdent(schema)}.${fn}()`);
    } finally {
      await client.close();
    }
  };
  await withRetry(() => call('timescaledb_pre_restore'), DEFAULT_RETRY);
  let result: T;
  try {
    result = await load();
  } catch (err) {
    const restored = await withRetry(() => call('timescaledb_post_restore'), DEFAULT_RETRY).then(() => true, () => false);
    if (restored || !(err instanceof HyperfillError)) throw err;
    throw new HyperfillError(err.code, err.message, err.context,
      `${err.hint ? `${err.hint}; ` : ''}the target could not be taken out of TimescaleDB's restore mode: a rerun does it, or run SELECT ${quoteIdent(schema)}.timescaledb_post_restore() there`, err);
  }
  await withRetry(() => call('timescaledb_post_restore'), DEFAULT_RETRY);
  return result;
}
