/**
 * ClickHouse as a backfill source, over its HTTP interface (@clickhouse/client).
 * A window is `SELECT <expressions> FROM t WHERE time >= a AND time < b FORMAT
 * TabSeparated`, streamed as raw bytes into text COPY (tsv-to-copy.ts); the column
 * expressions (select.ts) make ClickHouse print PostgreSQL-ready text.
 *
 * ClickHouse has no snapshots: each window reads the parts present when its query
 * starts. It has no hypertable dimension either: the time column is the one given, or
 * the first Date/DateTime column of the table's sorting key.
 */
import { pipeline } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { HyperfillError, type ErrorContext } from '../../src/errors.js';
import { timeColumnHint } from '../../src/time-column-hint.js';
import type { ReadRequest, Source, SourceColumn, SourceTableInfo, TimeRange, WindowStream } from '../../src/source.js';
import { type TimeType, formatTimeValue } from '../../src/time-value.js';
import type { ClickHouseConfig } from './config.js';
import { buildSelect, quoteChIdent, quoteChString, timeCondition, timeValueExpression } from './select.js';
import { TsvToCopy, type RowPlan } from './tsv-to-copy.js';
import { type ChType, formatClickHouseType, mapClickHouseType, parseClickHouseType, timeTypeOfClickHouse, unwrap } from './types.js';

export interface ClickHouseColumn extends SourceColumn {
  /** The type as ClickHouse prints it. */
  clickhouseType: string;
  type: ChType;
  output: 'text' | 'json';
}

export interface ClickHouseTableInfo extends SourceTableInfo {
  database: string;
  table: string;
  columns: ClickHouseColumn[];
  engine: string;
  partitionKey: string;
  sortingKey: string;
  /** True when the time column was found in the sorting key rather than given. */
  timeColumnDiscovered: boolean;
}

/** ClickHouse server error codes hyperfill turns into its own. */
const AUTH_CODES = new Set([192, 193, 194, 516]);
const UNKNOWN_DATABASE = 81;
const UNKNOWN_TABLE = 60;
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

export class ClickHouseSource implements Source {
  readonly kind = 'clickhouse';

  private constructor(readonly config: ClickHouseConfig, private readonly client: ClickHouseClient, readonly serverVersion: string) {}

  static async open(config: ClickHouseConfig, options: { parallel: number }): Promise<ClickHouseSource> {
    const client = createClient({
      url: config.url,
      username: config.username,
      password: config.password,
      database: config.database,
      request_timeout: config.requestTimeoutMs,
      max_open_connections: Math.max(1, options.parallel) + 2,
      compression: { response: config.compression, request: false },
      application: 'hyperfill',
      // The client logs to the console by default; hyperfill reports errors itself.
      log: { level: ClickHouseLogLevel.OFF },
    });
    try {
      const rows = await queryRows<{ version: string }>(client, 'SELECT version() AS version');
      return new ClickHouseSource(config, client, rows[0]?.version ?? 'unknown');
    } catch (err) {
      await client.close().catch(() => undefined);
      throw toHyperfillError(err, config, 'connect', {});
    }
  }

  get description(): string {
    return this.config.display;
  }

  async describe(tableName: string, timeColumn?: string): Promise<ClickHouseTableInfo> {
    const { database, table } = parseChTableName(tableName, this.config.database);
    const name = `${database}.${table}`;
    const context = { table: name };
    const meta = await this.rows<{ engine: string; partition_key: string; sorting_key: string }>(
      `SELECT engine, partition_key, sorting_key FROM system.tables WHERE database = ${quoteChString(database)} AND name = ${quoteChString(table)}`, context);
    const facts = meta[0];
    if (!facts) {
      throw new HyperfillError('E_TABLE_MISSING', `table ${name} does not exist in the ClickHouse source`, context,
        `check the name (database.table, or table in ${this.config.database}); list tables with SHOW TABLES FROM ${database}`);
    }
    const described = await this.rows<{ name: string; type: string; default_type: string }>(`DESCRIBE TABLE ${from(database, table)}`, context);
    const columns: ClickHouseColumn[] = [];
    for (const d of described) {
      // ALIAS columns are computed on read and hold no data of their own.
      if (d.default_type === 'ALIAS') continue;
      let type: ChType;
      try {
        type = parseClickHouseType(d.type);
      } catch (err) {
        const e = err as HyperfillError;
        throw new HyperfillError('E_CLICKHOUSE_TYPE', `column "${d.name}" of ${name}: ${e.message}`, { ...context, column: d.name }, e.hint ?? 'leave the column out of the target table');
      }
      const mapping = mapClickHouseType(type);
      columns.push({ name: d.name, pgType: mapping.pgType, nullable: mapping.nullable, clickhouseType: d.type, type, output: mapping.output });
    }

    const discovered = timeColumn === undefined;
    const time = timeColumn ?? timeColumnFromSortingKey(facts.sorting_key, columns);
    if (time === undefined) {
      const candidates = columns.filter((c) => timeTypeOfClickHouse(c.type) !== undefined).map((c) => c.name);
      throw new HyperfillError('E_TIME_COLUMN_REQUIRED', `ClickHouse table ${name} has no Date or DateTime column in its sorting key, so its time column is not known`, context,
        timeColumnHint(candidates, 'it has no DateTime, Date or integer column that is not Nullable to be the time column'));
    }
    const column = columns.find((c) => c.name === time);
    if (!column) {
      throw new HyperfillError('E_COLUMN_MISSING', `ClickHouse table ${name} has no column "${time}"`, context, `its columns are: ${columns.map((c) => c.name).join(', ')}`);
    }
    const timeType = timeTypeOfClickHouse(column.type);
    if (!timeType || column.nullable) {
      throw new HyperfillError('E_TIME_COLUMN_TYPE', `time column "${time}" of ${name} is ${column.clickhouseType}`, { ...context, column: time },
        column.nullable ? 'a Nullable time column would leave its NULL rows out of every window: choose a non-Nullable column'
          : 'the time column must be DateTime, DateTime64, Date or an integer (an epoch)');
    }
    // An epoch in UInt64 (e.g. milliseconds) maps to bigint like the other integer time columns.
    if (timeType === 'bigint') column.pgType = 'bigint';
    return {
      name, database, table, columns, timeColumn: time, timeType, engine: facts.engine,
      partitionKey: facts.partition_key, sortingKey: facts.sorting_key, timeColumnDiscovered: discovered,
    };
  }

  async listTables(pattern: string): Promise<string[]> {
    const dot = pattern.indexOf('.');
    const database = dot > 0 ? pattern.slice(0, dot) : this.config.database;
    const name = dot > 0 ? pattern.slice(dot + 1) : pattern;
    const rows = await this.rows<{ database: string; name: string }>(
      `SELECT database, name FROM system.tables WHERE database LIKE ${quoteChString(database)} AND name LIKE ${quoteChString(name)}
       AND NOT is_temporary AND engine != 'View' AND name NOT LIKE '.inner.%' ORDER BY database, name`, {});
    return rows.map((r) => (dot > 0 ? `${r.database}.${r.name}` : r.name));
  }

  /**
   * From the active parts' min/max of the partition key, when the table is partitioned
   * by its time column (e.g. toYYYYMM(ts)), scaled by each part's overlap with the
   * range; otherwise an exact count, which ClickHouse answers from the time column alone.
   */
  async estimateRows(table: SourceTableInfo, range: TimeRange): Promise<number> {
    const info = table as ClickHouseTableInfo;
    const kind = unwrap(timeColumn(info).type).kind;
    if (info.engine.endsWith('MergeTree') && (kind === 'datetime' || kind === 'date') && mentions(info.partitionKey, info.timeColumn)) {
      const unit = kind === 'datetime' ? 1_000_000 : 86_400_000_000;
      const parts = await this.rows<{ rows: string; lo: string; hi: string }>(
        `SELECT rows, ${kind === 'datetime' ? 'toUnixTimestamp(min_time)' : 'toUInt16(min_date)'} AS lo, ${kind === 'datetime' ? 'toUnixTimestamp(max_time)' : 'toUInt16(max_date)'} AS hi
         FROM system.parts WHERE active AND database = ${quoteChString(info.database)} AND table = ${quoteChString(info.table)}`, { table: info.name });
      // A minmax index of all zeros means it is on another column: fall back to counting.
      if (!parts.some((p) => Number(p.lo) === 0 && Number(p.hi) === 0)) {
        const start = Number(range.start);
        const end = Number(range.end);
        let total = 0;
        for (const p of parts) {
          const lo = Number(p.lo) * unit;
          const hi = (Number(p.hi) + 1) * unit;
          const overlap = Math.min(hi, end) - Math.max(lo, start);
          if (overlap > 0) total += Number(p.rows) * Math.min(1, overlap / (hi - lo));
        }
        return Math.round(total);
      }
    }
    return this.count(table, range);
  }

  async extent(table: SourceTableInfo, range: TimeRange): Promise<TimeRange | undefined> {
    const info = table as ClickHouseTableInfo;
    const col = timeColumn(info);
    const t = quoteChIdent(info.timeColumn);
    const rows = await this.rows<{ n: string; lo: string; hi: string }>(
      `SELECT count() AS n, ${timeValueExpression(`min(${t})`, col.type)} AS lo, ${timeValueExpression(`max(${t})`, col.type)} AS hi
       FROM ${from(info.database, info.table)} WHERE ${timeCondition(info.timeColumn, col.type, info.timeType, range)}`, { table: info.name });
    const row = rows[0];
    if (!row || Number(row.n) === 0) return undefined;
    return { start: BigInt(row.lo), end: BigInt(row.hi) };
  }

  async count(table: SourceTableInfo, window: TimeRange): Promise<number> {
    const info = table as ClickHouseTableInfo;
    const col = timeColumn(info);
    const rows = await this.rows<{ n: string }>(
      `SELECT count() AS n FROM ${from(info.database, info.table)} WHERE ${timeCondition(info.timeColumn, col.type, info.timeType, window)}`,
      { table: info.name, window: windowText(window, info.timeType) });
    return Number(rows[0]?.n ?? 0);
  }

  async read(request: ReadRequest): Promise<WindowStream> {
    const info = request.table as ClickHouseTableInfo;
    const context = { table: info.name, window: windowText(request.window, info.timeType) };
    const columns = request.columns.map((name) => {
      const column = info.columns.find((c) => c.name === name);
      if (!column) throw new HyperfillError('E_COLUMN_MISSING', `ClickHouse table ${info.name} has no column "${name}"`, context);
      return column;
    });
    const sql = buildSelect({
      from: from(info.database, info.table),
      columns: columns.map((c) => ({ name: c.name, type: c.type })),
      where: timeCondition(info.timeColumn, timeColumn(info).type, info.timeType, request.window),
    });
    const json = columns.flatMap((c, index) => (c.output === 'json' ? [{ index, type: c.type }] : []));
    const plan: RowPlan | undefined = json.length > 0 ? { columnNames: columns.map((c) => c.name), json } : undefined;
    let result;
    try {
      result = await this.client.exec({ query: sql });
    } catch (err) {
      // Lost connections stay as they are, so the window is retried.
      if (isNetworkError(err)) throw err;
      throw toHyperfillError(err, this.config, 'read', context);
    }
    const first = columns[0];
    const transform = new TsvToCopy({
      context,
      columnNames: columns.map((c) => c.name),
      ...(plan ? { plan } : {}),
      firstColumnIsText: first !== undefined && firstMayStartWithLetter(first.type),
    });
    // Destroying the output (a failed COPY) destroys the response, which cancels the query.
    pipeline(result.stream, transform, () => undefined);
    return { format: 'text', stream: transform, rowsSent: async () => (transform.writableFinished ? transform.rows : undefined) };
  }

  async close(): Promise<void> {
    await this.client.close().catch(() => undefined);
  }

  private async rows<T>(sql: string, context: ErrorContext): Promise<T[]> {
    try {
      return await queryRows<T>(this.client, sql);
    } catch (err) {
      throw toHyperfillError(err, this.config, 'query', context);
    }
  }
}

async function queryRows<T>(client: ClickHouseClient, sql: string): Promise<T[]> {
  const rs = await client.query({ query: sql, format: 'JSONEachRow' });
  return rs.json<T>();
}

function timeColumn(info: ClickHouseTableInfo): ClickHouseColumn {
  const col = info.columns.find((c) => c.name === info.timeColumn);
  if (!col) throw new Error(`time column ${info.timeColumn} not among the columns of ${info.name}`);
  return col;
}

/** `db.table`, `table`, with backquotes or double quotes around either part. */
export function parseChTableName(text: string, defaultDatabase: string): { database: string; table: string } {
  const part = '(?:`((?:[^`\\\\]|\\\\.|``)+)`|"((?:[^"]|"")+)"|([^.`"]+))';
  const m = new RegExp(`^${part}(?:\\.${part})?$`).exec(text.trim());
  const pick = (a?: string, b?: string, c?: string) => a?.replace(/``|\\(.)/g, (m, e: string | undefined) => e ?? '`') ?? b?.replace(/""/g, '"') ?? c;
  if (!m) return { database: defaultDatabase, table: text.trim() };
  const first = pick(m[1], m[2], m[3]) as string;
  const second = pick(m[4], m[5], m[6]);
  return second === undefined ? { database: defaultDatabase, table: first } : { database: first, table: second };
}

const from = (database: string, table: string) => `${quoteChIdent(database)}.${quoteChIdent(table)}`;

/** The first column named in the sorting key (possibly inside an expression) that is a Date or DateTime. */
export function timeColumnFromSortingKey(sortingKey: string, columns: ClickHouseColumn[]): string | undefined {
  for (const m of sortingKey.matchAll(/`((?:[^`\\]|\\.)*)`|[A-Za-z_][A-Za-z0-9_.]*/g)) {
    const name = m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[0];
    const column = columns.find((c) => c.name === name);
    if (!column || column.nullable) continue;
    const kind = unwrap(column.type).kind;
    if (kind === 'datetime' || kind === 'datetime64' || kind === 'date') return name;
  }
  return undefined;
}

function mentions(expression: string, column: string): boolean {
  for (const m of expression.matchAll(/`((?:[^`\\]|\\.)*)`|[A-Za-z_][A-Za-z0-9_.]*/g)) {
    if ((m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[0]) === column) return true;
  }
  return false;
}

/** Could this column's text start with a letter (so a row might begin "Code: ...")? */
function firstMayStartWithLetter(type: ChType): boolean {
  const k = unwrap(type).kind;
  return k === 'string' || k === 'fixedstring' || k === 'enum' || k === 'bool' || k === 'nothing';
}

export function windowText(range: TimeRange, type: TimeType): string {
  return `[${formatTimeValue(range.start, type)}, ${formatTimeValue(range.end, type)})`;
}

function isNetworkError(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  return typeof code === 'string' && NETWORK_CODES.has(code);
}

/** A client or server error as a HyperfillError a person can act on. */
export function toHyperfillError(err: unknown, config: ClickHouseConfig, what: 'connect' | 'query' | 'read', context: ErrorContext): HyperfillError {
  if (err instanceof HyperfillError) return err;
  const message = (err as Error | undefined)?.message ?? String(err);
  const where = { ...context, source: config.display };
  if (isNetworkError(err) || /Timeout error|socket hang up/i.test(message)) {
    // Once connected, a network failure is a lost connection: retryable, so the step (a count, a window) runs again.
    if (what !== 'connect') {
      return new HyperfillError('E_CONNECTION_LOST', `lost the connection to the ClickHouse source at ${config.display}: ${message}`, where,
        'hyperfill retries for --retry-timeout; check that the server runs, then rerun the same command', err);
    }
    return new HyperfillError('E_SOURCE_UNREACHABLE', `cannot reach ClickHouse at ${config.display}: ${message}`, where,
      'check that the server runs and that the URL names its HTTP port (8123, or 8443 for https)', err);
  }
  const code = Number(/Code: (\d+)/.exec(message)?.[1] ?? (err as { code?: string }).code ?? NaN);
  const text = cleanServerMessage(message);
  if (AUTH_CODES.has(code)) {
    return new HyperfillError('E_AUTH', `ClickHouse refused the login: ${text}`, where, 'check the user and password (in the URL or CLICKHOUSE_PASSWORD)', err);
  }
  if (code === UNKNOWN_DATABASE) {
    return new HyperfillError('E_DATABASE_MISSING', `ClickHouse has no database ${config.database}: ${text}`, where, 'fix the database in the URL path (clickhouse://host:8123/DATABASE)', err);
  }
  if (code === UNKNOWN_TABLE) return new HyperfillError('E_TABLE_MISSING', `ClickHouse: ${text}`, where, undefined, err);
  const verb = what === 'connect' ? 'could not start a session' : what === 'read' ? `failed to read ${context.window ? `window ${context.window}` : 'a window'}` : 'failed a query';
  return new HyperfillError('E_CLICKHOUSE_ERROR', `ClickHouse ${verb}${context.table ? ` of ${context.table}` : ''}: ${text}`, where, undefined, err);
}

/** "Code: 60, e.displayText() = DB::Exception: Table x doesn't exist., e.what() = DB::Exception" → "Table x doesn't exist. (code 60)". */
function cleanServerMessage(message: string): string {
  const m = /Code: (\d+)[,.]\s*(?:e\.displayText\(\) = )?(?:DB::Exception: )?([\s\S]*?)(?:, e\.what\(\) = \S+)?\s*$/.exec(message.trim());
  return m ? `${m[2]} (code ${m[1]})` : message.trim();
}

export { formatClickHouseType };
