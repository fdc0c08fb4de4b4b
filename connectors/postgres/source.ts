/**
 * PostgreSQL and TimescaleDB as a backfill source. A window is read with
 * `COPY (SELECT ... WHERE t >= a AND t < b) TO STDOUT`, binary when both sides have
 * the same built-in types, text otherwise: the bytes go to the target undecoded.
 * All reads share one exported snapshot while the pinning transaction stays open.
 */
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { type ConnectionConfig, connect, connectionError, describeConnection } from '../../src/connection.js';
import { HyperfillError } from '../../src/errors.js';
import { orderByList, qualifiedName, quoteIdent, quoteLiteral, timeRangeCondition } from '../../src/sql.js';
import type { CompressedChunkSource, CompressedChunkWindow, PinnedSnapshot, ReadRequest, Source, SourceTableInfo, TimeRange, WindowStream } from '../../src/source.js';
import { chunkRowsOutside, chunksWithLayout, compressedRowsCopyOut, hypertableLayout } from '../../src/target/compressed-chunks.js';
import { chunksOverlapping, hypertableTimeDimension } from '../../src/target/timescale.js';
import { timeTypeOf, timeValueFromDriver } from '../../src/time-value.js';
import { type CatalogColumn, tableColumns, tablesLike } from '../../src/pg/catalog.js';
import { type TableName, displayName, parseTableName } from '../../src/pg/table-name.js';
import { windowChecksum } from '../../src/pg/checksum.js';
import { CopyOutFrames } from '../../src/pg/copy-out-frames.js';

interface PostgresTableInfo extends SourceTableInfo {
  ref: TableName;
  catalog: CatalogColumn[];
}

export class PostgresSource implements Source {
  readonly kind = 'postgres';
  private snapshotId: string | undefined;
  private pin: pg.Client | undefined;
  private idle: pg.Client[] = [];

  private constructor(private readonly config: ConnectionConfig, private readonly control: pg.Client) {}

  static async open(config: ConnectionConfig): Promise<PostgresSource> {
    const control = await connect(config, 'source');
    await control.query(`SET TIME ZONE 'UTC'`);
    return new PostgresSource(config, control);
  }

  get description(): string {
    return describeConnection(this.config);
  }

  /** The server's major version number (e.g. 15), for preflight checks. */
  async serverMajor(): Promise<number> {
    const r = await this.control.query('SHOW server_version_num');
    return Math.floor(Number(r.rows[0].server_version_num) / 10000);
  }

  async timescaleVersion(): Promise<string | undefined> {
    const r = await this.control.query(`SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'`);
    return r.rows[0]?.extversion;
  }

  async describe(table: string, timeColumn?: string): Promise<PostgresTableInfo> {
    const ref = parseTableName(table);
    const catalog = await tableColumns(this.control, ref, 'source');
    const dimension = await hypertableTimeDimension(this.control, ref);
    const time = timeColumn ?? dimension?.column;
    if (!time) {
      throw new HyperfillError('E_TIME_COLUMN_REQUIRED', `source table ${displayName(ref)} is not a hypertable, so its time column is not known`,
        { table: displayName(ref) }, `name it with --time-column (one of: ${catalog.map((c) => c.name).join(', ')})`);
    }
    const column = catalog.find((c) => c.name === time);
    if (!column) {
      throw new HyperfillError('E_COLUMN_MISSING', `source table ${displayName(ref)} has no column "${time}"`, { table: displayName(ref) },
        `its columns are: ${catalog.map((c) => c.name).join(', ')}`);
    }
    const timeType = timeTypeOf(column.pgType);
    if (!timeType) {
      throw new HyperfillError('E_TIME_COLUMN_TYPE', `time column "${time}" of ${displayName(ref)} is ${column.pgType}`, { table: displayName(ref) },
        'the time column must be timestamptz, timestamp, date, bigint, integer or smallint');
    }
    return { name: displayName(ref), ref, catalog, columns: catalog, timeColumn: time, timeType };
  }

  listTables(pattern: string): Promise<string[]> {
    return tablesLike(this.control, pattern);
  }

  async naturalBoundaries(table: SourceTableInfo, range: TimeRange): Promise<bigint[] | undefined> {
    const info = table as PostgresTableInfo;
    if (!(await hypertableTimeDimension(this.control, info.ref))) return undefined;
    const chunks = await chunksOverlapping(this.control, info.ref, info.timeType, range);
    return chunks.flatMap((c) => [c.start, c.end]);
  }

  async estimateRows(table: SourceTableInfo, range: TimeRange): Promise<number> {
    const r = await this.control.query(`EXPLAIN (FORMAT JSON) SELECT 1 FROM ${from(table)} WHERE ${between(table, range)}`);
    return Number(r.rows[0]['QUERY PLAN'][0].Plan['Plan Rows']);
  }

  async extent(table: SourceTableInfo, range: TimeRange): Promise<TimeRange | undefined> {
    const t = quoteIdent(table.timeColumn);
    const r = await this.control.query(`SELECT min(${t}) AS lo, max(${t}) AS hi FROM ${from(table)} WHERE ${between(table, range)}`);
    const row = r.rows[0];
    if (row.lo === null) return undefined;
    return { start: timeValueFromDriver(row.lo, table.timeType), end: timeValueFromDriver(row.hi, table.timeType) };
  }

  async count(table: SourceTableInfo, window: TimeRange): Promise<number> {
    const r = await this.withReader((c) => c.query(`SELECT count(*) AS n FROM ${from(table)} WHERE ${between(table, window)}`));
    return Number(r.rows[0].n);
  }

  async checksum(table: SourceTableInfo, window: TimeRange, columns: string[]): Promise<string> {
    return this.withReader((c) => windowChecksum(c, from(table), between(table, window), columns));
  }

  /** Distinct values of a column in the table's first `limit` rows (a bounded scan). */
  async sampleDistinct(table: SourceTableInfo, column: string, limit: number): Promise<{ rows: number; distinct: number }> {
    const c = quoteIdent(column);
    const r = await this.withReader((client) => client.query(
      `SELECT count(*) AS rows, count(DISTINCT ${c}) + CASE WHEN bool_or(${c} IS NULL) THEN 1 ELSE 0 END AS n_distinct
       FROM (SELECT ${c} FROM ${from(table)} LIMIT ${Math.max(1, Math.floor(limit))}) s`));
    return { rows: Number(r.rows[0].rows), distinct: Number(r.rows[0].n_distinct) };
  }

  /**
   * Holds a read-only transaction open for the run and exports its snapshot. With `shared`
   * (another process's export) it imports that one first, so the data is the same; the id it
   * exports is then a second handle on it, which outlives the first process.
   */
  async pinSnapshot(shared?: string): Promise<PinnedSnapshot> {
    try {
      this.pin = await connect(this.config, 'source');
      await this.pin.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      let imported = false;
      if (shared) {
        imported = await this.pin.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(shared)}`).then(() => true, async () => {
          await this.pin!.query('ROLLBACK');
          await this.pin!.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
          return false;
        });
      }
      const r = await this.pin.query('SELECT pg_export_snapshot() AS id');
      this.snapshotId = r.rows[0].id as string;
      const note = imported ? `all windows read source snapshot ${shared}, shared with the other processes of this run`
        : shared ? `the run's shared source snapshot ${shared} is gone (the processes holding it ended): this process reads snapshot ${this.snapshotId}`
          : `all windows read source snapshot ${this.snapshotId}`;
      return { id: this.snapshotId, note };
    } catch (err) {
      await this.pin?.end().catch(() => undefined);
      this.pin = undefined;
      return { id: undefined, note: `the source could not export a snapshot (${(err as Error).message}); each window reads its own snapshot` };
    }
  }

  async read(request: ReadRequest): Promise<WindowStream> {
    const table = request.table as PostgresTableInfo;
    const binary = !request.decodable && request.columns.every((name, i) => {
      const col = table.catalog.find((c) => c.name === name);
      return col?.builtin === true && col.pgType === request.targetTypes[i];
    });
    const format = binary ? 'binary' : 'text';
    const client = await this.reader();
    const order = request.orderBy && request.orderBy.length > 0 ? ` ORDER BY ${orderByList(request.orderBy)}` : '';
    const select = `SELECT ${request.columns.map(quoteIdent).join(', ')} FROM ${from(table)} WHERE ${between(table, request.window)}${order}`;
    const copy = `COPY (${select}) TO STDOUT WITH (FORMAT ${format})`;
    // A caller that decodes gets the rows; otherwise the server's CopyData messages go on as they are.
    if (request.decodable) return { ...this.readRows(client, copy, format), ordered: order !== '' };
    const stream = client.query(new CopyOutFrames(copy));
    const release = this.releaser(client);
    let ended = false;
    stream.once('end', () => { ended = true; });
    stream.once('close', () => release(!ended));
    return { format, stream, copyData: true, ordered: order !== '', rowsSent: () => stream.rowCount };
  }

  private readRows(client: pg.Client, copy: string, format: 'binary' | 'text'): WindowStream {
    const stream = client.query(copyTo(copy));
    // The COPY's row count is final once the transaction after it has ended.
    let settle: (rows: number | undefined) => void = () => undefined;
    const sent = new Promise<number | undefined>((resolve) => { settle = resolve; });
    const release = this.releaser(client, () => settle((stream as unknown as { rowCount: number }).rowCount), () => settle(undefined));
    stream.once('end', () => release(false));
    stream.once('error', () => release(true));
    stream.once('close', () => { if (!stream.readableEnded) release(true); });
    return { format, stream, rowsSent: () => sent };
  }

  /** Ends a reader's transaction and keeps the connection for the next read, or drops it when the read failed. */
  private releaser(client: pg.Client, onCommitted = () => {}, onFailed = () => {}): (failed: boolean) => void {
    let released = false;
    return (failed) => {
      if (released) return;
      released = true;
      if (failed) {
        onFailed();
        client.end().catch(() => undefined);
        return;
      }
      client.query('COMMIT').then(() => {
        onCommitted();
        this.idle.push(client);
      }, () => {
        onFailed();
        client.end().catch(() => undefined);
      });
    };
  }

  async compressedChunks(): Promise<CompressedChunkSource | undefined> {
    const version = await this.timescaleVersion();
    if (!version) return undefined;
    return {
      version,
      layout: async (table) => {
        const ref = (table as PostgresTableInfo).ref;
        return (await hypertableTimeDimension(this.control, ref)) ? hypertableLayout(this.control, ref) : undefined;
      },
      openWindow: (table, window) => this.openCompressedWindow(table as PostgresTableInfo, window),
    };
  }

  /** One reader (and snapshot) for the window's catalog and compressed rows; a read cut short makes `close` drop it. */
  private async openCompressedWindow(table: PostgresTableInfo, window: TimeRange): Promise<CompressedChunkWindow> {
    const client = await this.reader();
    let broken = false;
    try {
      const chunks = await chunksWithLayout(client, table.ref, table.timeType, window);
      return {
        chunks,
        reachesOutside: (chunk) => chunkRowsOutside(client, chunk.name, between(table, window)),
        read: async (compressed) => {
          const stream = client.query(new CopyOutFrames(compressedRowsCopyOut(compressed)));
          let ended = false;
          stream.once('end', () => { ended = true; });
          stream.once('close', () => { if (!ended) broken = true; });
          return { format: 'binary', stream, copyData: true, rowsSent: () => stream.rowCount };
        },
        close: () => new Promise<void>((resolve) => this.releaser(client, resolve, resolve)(broken)),
      };
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    const clients = [this.control, ...this.idle.splice(0), ...(this.pin ? [this.pin] : [])];
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }

  /** A connection inside a read-only transaction on the pinned snapshot. */
  private async reader(): Promise<pg.Client> {
    const client = this.idle.pop() ?? (await this.newClient());
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      if (this.snapshotId) await client.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(this.snapshotId)}`);
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
  }

  private async withReader<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = await this.reader();
    try {
      const result = await use(client);
      await client.query('COMMIT');
      this.idle.push(client);
      return result;
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
  }

  private async newClient(): Promise<pg.Client> {
    const client = new pg.Client({ ...this.config, application_name: 'hyperfill' });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      // Retryable errors stay as they are so the window is retried; others get a clear message.
      if ((err as { code?: string }).code?.startsWith('28') || (err as { code?: string }).code === '3D000') throw connectionError(err, this.config, 'source');
      throw err;
    }
    await client.query(`SET TIME ZONE 'UTC'`);
    return client;
  }
}

/** The window condition on a table's own time column. */
const between = (table: SourceTableInfo, range: TimeRange) => timeRangeCondition(table.timeColumn, table.timeType, range);

const from = (table: SourceTableInfo) => qualifiedName((table as PostgresTableInfo).ref.schema, (table as PostgresTableInfo).ref.table);
