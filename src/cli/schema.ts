/** `hyperfill schema`: prints, or with --apply runs, the target DDL for source tables. */
import type pg from 'pg';
import { openSource } from '../../connectors/index.js';
import { displayName, parseTableName } from '../pg/table-name.js';
import { parseTableSpec } from '../backfill/resolve-tables.js';
import { describeConnection } from '../connection.js';
import { ControlConnection } from '../control-connection.js';
import { retryStep } from '../retry.js';
import { HyperfillError } from '../errors.js';
import { isRetryable, serverMessage } from '../pg-errors.js';
import { type ChunkInterval, type SchemaPlan, renderDdl } from '../schema/ddl.js';
import { DEFAULT_CHUNK_ROWS, parseChunkInterval, suggestChunkInterval, suggestSegmentBy } from '../schema/suggest.js';
import type { Source, SourceTableInfo } from '../source.js';
import { hypertableTimeDimension, timescaleVersion, versionAtLeast } from '../target/timescale.js';
import { readColumns } from '../pg/catalog.js';
import { intFlag, parseFlags, sourceFlag, usage } from './flags.js';
import type { CommandIO } from './io.js';
import { connectionFlagsNote } from './shared-help.js';
import { TARGET_FLAGS, targetFlags, targetHelp } from './target-flags.js';
import { type CommandHelp, formatHelp } from './help.js';

export const SCHEMA_HELP: CommandHelp = {
  usage: ['schema --source URL --table SRC[:DST] ... [--time-column C]', '                 [--target URL [--apply]] [--plain] [--compression] [--chunk-interval SIZE]'],
  about: `Prints the target DDL for source tables: CREATE TABLE with the types the source maps
to, create_hypertable on the time column with a suggested chunk interval, and
compression settings with a segmentby suggestion (commented out unless --compression).
With --apply, runs it on the target in one transaction.`,
  sections: [
    {
      title: 'Tables',
      flags: [
        ['--source URL', 'the source (postgres://, clickhouse://, mongodb://, csv:///path/*.csv, json:...; default: HYPERFILL_SOURCE)'],
        ['--table SRC[:DST]', 'a source table, repeatable; DST (default SRC) is the target\'s schema.table'],
        ['--time-column NAME', 'the time column (found on its own for hypertables and CSV files)'],
      ],
    },
    {
      title: 'DDL',
      flags: [
        ['--apply', 'run the DDL on the target (one transaction: all or nothing); needs a target'],
        ['--plain', 'CREATE TABLE only, for a target without TimescaleDB'],
        ['--compression', 'include the compression settings and policy as statements'],
        ['--chunk-interval SIZE', 'the chunk interval, e.g. 1d, 6h (an integer for integer time columns; default: suggested from the source\'s rows per time)'],
        ['--chunk-rows N', `rows a suggested chunk aims at (default ${DEFAULT_CHUNK_ROWS})`],
        ['--sample N', 'rows sampled per column for the segmentby suggestion (default 100000)'],
      ],
    },
    targetHelp({ plainTarget: 'with a target that has no TimescaleDB: print (and --apply) plain tables' }),
  ],
  notes: [`Without --target (or --connection) the DDL is printed for the newest TimescaleDB; with
one, for its version. --apply without one uses DATABASE_URL and the PG* variables.`, connectionFlagsNote],
};

export const SCHEMA_FLAGS = {
  source: { type: 'string' },
  ...TARGET_FLAGS,
  table: { type: 'string', multiple: true },
  'time-column': { type: 'string' },
  apply: { type: 'boolean' },
  plain: { type: 'boolean' },
  compression: { type: 'boolean' },
  'chunk-interval': { type: 'string' },
  'chunk-rows': { type: 'string' },
  sample: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function schemaCommand(args: string[], io: CommandIO): Promise<number> {
  const { values: v } = parseFlags(args, SCHEMA_FLAGS, 'schema');
  if (v.help) {
    io.stdout.write(`${formatHelp(SCHEMA_HELP)}\n`);
    return 0;
  }
  if (!v.table) throw usage('name the source tables with `--table SRC[:DST]`', 'schema');
  if (v.plain && v.compression) throw usage('`--compression` needs a hypertable: drop `--plain`', 'schema');
  if (v.plain && v['chunk-interval']) throw usage('`--chunk-interval` needs a hypertable: drop `--plain`', 'schema');
  const chunkRows = intFlag(v['chunk-rows'], 'chunk-rows', DEFAULT_CHUNK_ROWS, 'schema');
  const sampleRows = intFlag(v.sample, 'sample', 100_000, 'schema');
  const specs = v.table.map(parseTableSpec);
  const sourceUrl = sourceFlag(v.source, 'schema');
  const flags = targetFlags(v, 'schema');
  const onRetry = (err: unknown, delay: number) => {
    io.stderr.write(`schema: connection lost (${serverMessage(err)}); retrying in ${delay} ms\n`);
  };
  const target = (v.target ?? v.connection) !== undefined || v.apply
    ? new ControlConnection(flags.target, { role: 'target', retry: flags.retry, signal: io.signal, onRetry }) : undefined;
  let source: Source | undefined;
  try {
    await target?.open();
    const tsVersion = target ? await target.run((c) => timescaleVersion(c)) : undefined;
    // No TimescaleDB in the target: plain tables, if the user allows a plain target.
    const plain = (v.plain ?? false) || (target !== undefined && !tsVersion && flags.allowPlainTarget);
    if (target && !tsVersion && !plain) {
      throw new HyperfillError('E_TARGET_NOT_TIMESCALE', 'the target has no timescaledb extension, so it cannot create hypertables', {},
        'pass --plain (or --allow-plain-target) for plain PostgreSQL tables (CREATE TABLE only), or run CREATE EXTENSION timescaledb in the target first');
    }
    if (plain && v.compression) throw usage('`--compression` needs a hypertable, and the target has no TimescaleDB', 'schema');
    const byRange = tsVersion === undefined || versionAtLeast(tsVersion, '2.13.0');
    source = await openSource(sourceUrl, { parallel: 1 });
    const src = source;
    const plans: SchemaPlan[] = [];
    for (const spec of specs) {
      // Reads only: after a lost source connection, the table is described again.
      plans.push(await retryStep(async () => {
        const info = await src.describe(spec.source, v['time-column']);
        return planTable(src, info, spec.target, {
          plain, compression: v.compression ?? false, chunkInterval: v['chunk-interval'], chunkRows, sampleRows, byRange,
        });
      }, flags.retry, io.signal, onRetry));
    }
    await source.close();
    const ddl = plans.map(renderDdl);
    io.stdout.write(ddl.map((d) => d.text).join('\n'));
    if (v.apply && target) {
      const statements = plans.flatMap((p, i) => ddl[i]!.statements.map((sql) => ({ sql, table: displayName(p.target) })));
      let attempts = 0;
      await target.run(async (c) => {
        // A retry after a lost connection: the COMMIT may have reached the server before it went.
        if (++attempts > 1 && (await allCreated(c, plans))) {
          io.stderr.write('schema: the tables exist as planned: the attempt whose connection was lost had committed\n');
          return;
        }
        await apply(c, statements);
      });
      const what = plain ? 'plain tables' : 'hypertables';
      io.stderr.write(`schema: created ${plans.map((p) => displayName(p.target)).join(', ')} (${what}) in ${describeConnection(flags.target)}\n`);
    }
    return 0;
  } finally {
    await target?.close();
    await source?.close();
  }
}

interface PlanOptions {
  plain: boolean;
  compression: boolean;
  chunkInterval: string | undefined;
  chunkRows: number;
  sampleRows: number;
  byRange: boolean;
}

async function planTable(source: Source, info: SourceTableInfo, targetName: string, o: PlanOptions): Promise<SchemaPlan> {
  const ref = parseTableName(targetName);
  const notes = (info as { notes?: unknown }).notes;
  const comments = Array.isArray(notes) ? notes.filter((n): n is string => typeof n === 'string') : [];
  const builtin = (c: object) => (c as { builtin?: boolean }).builtin;
  const columns = info.columns.map((c) => (builtin(c) === false ? { ...c, note: `a type of the source database: create it in the target first` } : c));
  const plan: SchemaPlan = { target: ref, source: { name: info.name, kind: source.kind }, columns, timeColumn: info.timeColumn, timeType: info.timeType, comments };
  if (o.plain) return plan;

  let interval: ChunkInterval;
  let rowsPerChunk = Infinity;
  if (o.chunkInterval !== undefined) {
    interval = { value: parseChunkInterval(o.chunkInterval, info.timeType), reason: 'given with --chunk-interval' };
  } else {
    const suggestion = await suggestChunkInterval(source, info, o.chunkRows);
    interval = { value: suggestion.value, reason: suggestion.reason };
    rowsPerChunk = suggestion.rowsPerChunk;
    if (suggestion.basis) comments.push(suggestion.basis);
  }
  const segment = await suggestSegmentBy(source, info, rowsPerChunk, o.sampleRows);
  plan.hypertable = { interval, byRange: o.byRange, compression: { segmentBy: segment.columns, segmentReason: segment.reason, enabled: o.compression } };
  return plan;
}

/** Every planned table exists with exactly the planned columns and types (and is a hypertable where planned). */
async function allCreated(client: pg.Client, plans: SchemaPlan[]): Promise<boolean> {
  for (const plan of plans) {
    const columns = await readColumns(client, plan.target);
    const same = columns.length === plan.columns.length && columns.every((c, i) => c.name === plan.columns[i]?.name && c.pgType === plan.columns[i]?.pgType);
    if (!same) return false;
    if (plan.hypertable && !(await hypertableTimeDimension(client, plan.target))) return false;
  }
  return true;
}

async function apply(client: pg.Client, statements: Array<{ sql: string; table: string }>): Promise<void> {
  await client.query('BEGIN');
  try {
    for (const { sql, table } of statements) {
      try {
        await client.query(sql);
      } catch (err) {
        if (isRetryable(err)) throw err; // a lost connection: nothing was created, the step runs again
        const code = (err as { code?: string }).code;
        const nothing = 'nothing was created (the DDL runs in one transaction)';
        if (code === '42P07') {
          throw new HyperfillError('E_TABLE_EXISTS', `table ${table} already exists in the target`, {},
            `${nothing}; drop the table, or name another target with --table SRC:DST`, err);
        }
        if (code === '42704' && sql.startsWith('CREATE TABLE')) {
          throw new HyperfillError('E_TYPE_MISSING', `the target lacks a type of table ${table}: ${serverMessage(err)}`, {},
            `create the type in the target first (the printed DDL marks types defined in the source database); ${nothing}`, err);
        }
        throw new HyperfillError('E_SCHEMA_APPLY', `the target refused the DDL of table ${table}: ${serverMessage(err)}`, {},
          `the statement: ${sql.split('\n')[0]}; ${nothing}`, err);
      }
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
