/**
 * The benchmark's own table, the only thing `hyperfill bench` writes to: a new, uniquely
 * named table (`hyperfill_bench_cpu_<random>`) in a schema of its own (created when
 * missing, and then dropped again). A hypertable when the target has TimescaleDB, else
 * a plain table. Privileges are checked before anything is created, so a target where
 * the user may not create tables gets a clear error instead of a half-made setup.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { HyperfillError } from '../errors.js';
import { serverMessage } from '../pg-errors.js';
import { qualifiedName, quoteIdent } from '../sql.js';
import { createHypertableSql } from '../schema/ddl.js';
import { timescaleInstall, versionAtLeast } from '../target/timescale.js';
import { CPU_COLUMNS, cpuTableDdl } from './tsbs-cpu.js';

export const DEFAULT_BENCH_SCHEMA = 'hyperfill_bench';
export const SCRATCH_PREFIX = 'hyperfill_bench_cpu_';
/** TSBS creates its hypertables with 12-hour chunks. */
const CHUNK_INTERVAL_US = 12n * 3_600_000_000n;

export interface TargetInfo {
  serverVersion: string;
  /** The installed TimescaleDB version, or undefined. */
  timescaledb: string | undefined;
  /** True when TimescaleDB could be installed in this database (CREATE EXTENSION) but is not. */
  timescaledbAvailable: boolean;
  user: string;
  database: string;
}

export async function probeTarget(client: pg.Client): Promise<TargetInfo> {
  const r = await client.query<{ v: string; u: string; d: string; ts: string | null; avail: boolean }>(
    `SELECT current_setting('server_version') AS v, current_user AS u, current_database() AS d,
       (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS ts,
       EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS avail`);
  const row = r.rows[0];
  if (!row) throw new Error('the target answered no rows to a version query');
  return { serverVersion: row.v, timescaledb: row.ts ?? undefined, timescaledbAvailable: row.avail && !row.ts, user: row.u, database: row.d };
}

export interface ScratchTable {
  schema: string;
  table: string;
  /** "schema"."table", quoted. */
  qualified: string;
  hypertable: boolean;
  /** The COPY statement every worker runs. */
  statement: string;
  /** True when the schema did not exist and this run created it. */
  createdSchema: boolean;
}

/** Checks privileges, then creates the schema (if missing), the table, its indexes, the hypertable. */
export async function createScratchTable(client: pg.Client, schema: string, info: TargetInfo): Promise<ScratchTable> {
  const table = `${SCRATCH_PREFIX}${randomBytes(4).toString('hex')}`;
  const where = { schema, user: info.user, database: info.database };
  const check = await client.query<{ exists: boolean; on_schema: boolean | null; on_db: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS exists,
       CASE WHEN EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) THEN has_schema_privilege($1, 'CREATE') END AS on_schema,
       has_database_privilege(current_database(), 'CREATE') AS on_db`, [schema]);
  const c = check.rows[0];
  if (!c?.exists && !c?.on_db) {
    throw new HyperfillError('E_PERMISSION',
      `user "${info.user}" may not create the benchmark's schema "${schema}" in database "${info.database}"`, where,
      `grant it: GRANT CREATE ON DATABASE ${quoteIdent(info.database)} TO ${quoteIdent(info.user)}; ` +
      'or give --schema NAME, a schema where this user may create tables');
  }
  if (c?.exists && !c.on_schema) {
    throw new HyperfillError('E_PERMISSION',
      `user "${info.user}" may not create tables in schema "${schema}" of database "${info.database}"`, where,
      `grant it: GRANT CREATE ON SCHEMA ${quoteIdent(schema)} TO ${quoteIdent(info.user)}; or give --schema NAME, a schema where this user may create tables`);
  }
  const scratch: ScratchTable = {
    schema, table, qualified: qualifiedName(schema, table), hypertable: info.timescaledb !== undefined,
    statement: `COPY ${qualifiedName(schema, table)} (${CPU_COLUMNS.map(quoteIdent).join(', ')}) FROM STDIN WITH (FORMAT text)`,
    createdSchema: false,
  };
  try {
    if (!c?.exists) {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
      scratch.createdSchema = true;
    }
    await client.query(cpuTableDdl(schema, table));
    // TSBS's indexes: time (create_hypertable makes it on a hypertable) and (hostname, time).
    if (scratch.hypertable) {
      const install = await timescaleInstall(client);
      await client.query(createHypertableSql(scratch, 'time', 'timestamptz', CHUNK_INTERVAL_US, versionAtLeast(info.timescaledb ?? '', '2.13.0'), install?.schema));
    }
    else await client.query(`CREATE INDEX ON ${scratch.qualified} ("time" DESC)`);
    await client.query(`CREATE INDEX ON ${scratch.qualified} (hostname, "time" DESC)`);
  } catch (err) {
    await dropScratchTable(client, scratch).catch(() => undefined);
    if ((err as { code?: string }).code === '42501') {
      throw new HyperfillError('E_PERMISSION', `cannot create the benchmark's table: ${serverMessage(err)}`, { ...where, table: `${schema}.${table}` },
        `grant it: GRANT CREATE ON SCHEMA ${quoteIdent(schema)} TO ${quoteIdent(info.user)}; or give --schema NAME`, err);
    }
    throw new HyperfillError('E_BENCH_SETUP', `cannot create the benchmark's table ${schema}.${table}: ${serverMessage(err)}`, where, undefined, err);
  }
  return scratch;
}

/** Empties the table between cells, so every cell starts from the same state. */
export async function truncateScratchTable(client: pg.Client, scratch: ScratchTable): Promise<void> {
  await client.query(`TRUNCATE ${scratch.qualified}`);
}

/** Drops the table, and the schema when this run created it and nothing else is in it. */
export async function dropScratchTable(client: pg.Client, scratch: ScratchTable): Promise<void> {
  await client.query(`DROP TABLE IF EXISTS ${scratch.qualified}`);
  if (scratch.createdSchema) {
    // RESTRICT: another run's table (or anything else) keeps the schema alive.
    await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(scratch.schema)} RESTRICT`).catch(() => undefined);
  }
}

/** Scratch tables earlier runs left behind (kept with --keep, or killed): named in a note. */
export async function leftoverScratchTables(client: pg.Client, schema: string): Promise<string[]> {
  const r = await client.query<{ t: string }>(
    `SELECT c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname LIKE $2 ORDER BY 1`, [schema, `${SCRATCH_PREFIX}%`]);
  return r.rows.map((row) => row.t);
}
