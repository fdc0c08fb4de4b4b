/**
 * Cloning a TimescaleDB source, as TimescaleDB's own dump and restore does it: the
 * extension in the same schema and version on both sides, and the load in restore mode
 * (background workers stopped, the catalog taking the dumped rows as they are), left
 * with `timescaledb_post_restore()` whatever happened to the load.
 *
 * The dump names the extension's functions by their schema (a cagg calls "ts".time_bucket),
 * so the target's extension must sit where the source's does. A target without the
 * extension lets the dump create it (and its schema) in restore mode set for the load's
 * session; one with the extension elsewhere but no hypertable yet has it dropped first
 * (DROP EXTENSION without CASCADE refuses if anything depends on it); else a clear error.
 */
import type pg from 'pg';
import { type ConnectionConfig, LazyClient } from '../connection.js';
import { HyperfillError } from '../errors.js';
import { serverMessage } from '../pg-errors.js';
import { type RetryPolicy, withRetry } from '../retry.js';
import { quoteIdent } from '../sql.js';
import { type TimescaleInstall, timescaleInstall } from '../target/timescale.js';

export interface TimescalePlan {
  source: TimescaleInstall;
  /** The target has the extension where the source has it: timescaledb_pre_restore() before the load. */
  inPlace: boolean;
  /** The target's extension sits elsewhere, unused: dropped before the load, which creates it again. */
  dropFrom: string | undefined;
}

/** Checks only: where the target's extension must go, and whether the dump can create it there. */
export async function planTimescaleTarget(target: pg.Client, source: TimescaleInstall): Promise<TimescalePlan> {
  const installed = await timescaleInstall(target);
  if (installed?.schema === source.schema) return { source, inPlace: true, dropFrom: undefined };
  const fresh = `a fresh target database (CREATE SCHEMA ${quoteIdent(source.schema)}; CREATE EXTENSION timescaledb WITH SCHEMA ${quoteIdent(source.schema)})`;
  if (installed) {
    const busy = await target.query('SELECT count(*)::int AS n FROM timescaledb_information.hypertables');
    if (busy.rows[0].n > 0) {
      throw new HyperfillError('E_EXTENSION_SCHEMA', `the source has TimescaleDB in schema "${source.schema}", the target in "${installed.schema}", and the target has hypertables already`, {},
        `the dump calls TimescaleDB's functions by their schema, so both sides must agree: clone into ${fresh}`);
    }
  }
  const available = await target.query(`SELECT default_version AS v FROM pg_available_extensions WHERE name = 'timescaledb'`);
  const version = available.rows[0]?.v as string | undefined;
  if (version !== source.version) {
    throw new HyperfillError('E_VERSION_MISMATCH', `the source runs TimescaleDB ${source.version} but the target's server would create ${version ?? 'none (not installed)'}`, {},
      `install TimescaleDB ${source.version} on the target's server, or prepare ${fresh.replace('EXTENSION timescaledb', `EXTENSION timescaledb VERSION '${source.version}'`)}`);
  }
  return { source, inPlace: false, dropFrom: installed?.schema };
}

/** Drops the target's unused extension when the plan says so; returns what it did, for the user. */
export async function clearTargetExtension(target: pg.Client, plan: TimescalePlan): Promise<string | undefined> {
  if (plan.dropFrom === undefined) return undefined;
  try {
    await target.query('DROP EXTENSION timescaledb');
  } catch (err) {
    throw new HyperfillError('E_EXTENSION_SCHEMA', `the target's timescaledb extension sits in schema "${plan.dropFrom}", the source's in "${plan.source.schema}", and it could not be dropped: ${serverMessage(err)}`, {},
      `clone into a fresh target database, or drop the extension there yourself`, err);
  }
  return `dropped the target's unused timescaledb extension from schema "${plan.dropFrom}": the load creates it in "${plan.source.schema}", as in the source`;
}

/**
 * The load in restore mode: timescaledb_pre_restore() when the extension is in place, else
 * restore mode for the load's session only (the dump creates the extension); then
 * timescaledb_post_restore(), retried while the target restarts (for --retry-timeout), also after a failed load.
 */
export async function inRestoreMode<T>(target: ConnectionConfig, plan: TimescalePlan, retry: RetryPolicy, load: (prelude: string | undefined) => Promise<T>): Promise<T> {
  const schema = plan.source.schema;
  const call = async (fn: string) => {
    const client = new LazyClient(target);
    try {
      await (await client.get()).query(`SELECT ${quoteIdent(schema)}.${fn}()`);
    } finally {
      await client.close();
    }
  };
  if (plan.inPlace) await withRetry(() => call('timescaledb_pre_restore'), retry);
  let result: T;
  try {
    result = await load(plan.inPlace ? undefined : `SET timescaledb.restoring = 'on';\n`);
  } catch (err) {
    // Without the extension before the load, restore mode lived in the rolled-back session only.
    if (!plan.inPlace) throw err;
    const restored = await withRetry(() => call('timescaledb_post_restore'), retry).then(() => true, () => false);
    if (restored || !(err instanceof HyperfillError)) throw err;
    throw new HyperfillError(err.code, err.message, err.context,
      `${err.hint ? `${err.hint}; ` : ''}the target could not be taken out of TimescaleDB's restore mode: a rerun does it, or run SELECT ${quoteIdent(schema)}.timescaledb_post_restore() there`, err);
  }
  await withRetry(() => call('timescaledb_post_restore'), retry);
  return result;
}
