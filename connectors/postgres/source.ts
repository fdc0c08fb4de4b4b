/**
 * PostgreSQL and TimescaleDB as a backfill source. A window is read with
 * `COPY (SELECT ... WHERE t >= a AND t < b) TO STDOUT`, binary when both sides have
 * the same built-in types, text otherwise: the bytes go to the target undecoded.
 * All reads share one exported snapshot while the pinning transaction stays open.
 *
 * Every connection survives the source going away: a lost one is forgotten and the next
 * call opens another (callers retry the step, see src/control-connection.ts); a lost
 * snapshot (its connection died) is said once, and later reads take their own.
 */
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { type ConnectionConfig, connect, connectionError, describeConnection, LazyClient, lostConnection } from '../../src/connection.js';
import { isRetryable } from '../../src/pg-errors.js';
import { HyperfillError } from '../../src/errors.js';
import { timeColumnHint } from '../../src/time-column-hint.js';
import { orderByList, qualifiedName, quoteIdent, quoteLiteral, timeRangeCondition } from '../../src/sql.js';
import type { CompressedChunkSource, CompressedChunkWindow, PinnedSnapshot, ReadRequest, Source, SourceTableInfo, TimeRange, WindowStream } from '../../src/source.js';
import { chunkRowsOutside, chunksWithLayout, compressedRowsCopyOut, hypertableLayout } from '../../src/target/compressed-chunks.js';
import { chunksOverlapping, hypertableTimeDimension } from '../../src/target/timescale.js';
import { timeTypeOf, timeValueFromDriver } from '../../src/time-value.js';
import { type CatalogColumn, tableColumns, tablesLike } from '../../src/pg/catalog.js';
import { type TableName, displayName, parseTableName } from '../../src/pg/table-name.js';
import { windowChecksum } from '../../src/pg/checksum.js';
import { describeEstimateMethod, estimateMethod, estimateRows } from '../../src/pg/row-estimate.js';
import { CopyOutFrames } from '../../src/pg/copy-out-frames.js';

interface PostgresTableInfo extends SourceTableInfo {
  ref: TableName;
  catalog: CatalogColumn[];
  /** A TimescaleDB hypertable (windows follow its chunks), not a plain or partitioned table. */
  hypertable: boolean;
}

export interface PostgresSourceOptions {
  /** Notes for the user (a lost snapshot), on stderr. */
  log?: ((line: string) => void) | undefined;
}

export class PostgresSource implements Source {
  readonly kind = 'postgres';
  private snapshotId: string | undefined;
  private pin: pg.Client | undefined;
  private idle: pg.Client[] = [];
  /** Every reader connection open now, idle or busy: close() ends them all. */
  private readonly readers = new Set<pg.Client>();
  private readonly control: LazyClient;

  private constructor(private readonly config: ConnectionConfig, private readonly options: PostgresSourceOptions) {
    this.control = new LazyClient(config, { setup: `SET TIME ZONE 'UTC'`, role: 'source', purpose: 'source' });
  }

  /** Connects now: a source that cannot be reached fails at once, with a readable error. */
  static async open(config: ConnectionConfig, options: PostgresSourceOptions = {}): Promise<PostgresSource> {
    const source = new PostgresSource(config, options);
    try {
      await source.control.get();
    } catch (err) {
      throw connectionError(err, config, 'source');
    }
    return source;
  }

  /** One step on the source's own connection (catalog, estimates); a lost one is reopened next time. */
  private meta<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
    return this.control.use(use);
  }

  get description(): string {
    return describeConnection(this.config);
  }

  /** The server's major version number (e.g. 15), for preflight checks. */
  async serverMajor(): Promise<number> {
    const r = await this.meta((c) => c.query('SHOW server_version_num'));
    return Math.floor(Number(r.rows[0].server_version_num) / 10000);
  }

  async timescaleVersion(): Promise<string | undefined> {
    const r = await this.meta((c) => c.query(`SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'`));
    return r.rows[0]?.extversion;
  }

  async describe(table: string, timeColumn?: string): Promise<PostgresTableInfo> {
    const ref = parseTableName(table);
    const [catalog, dimension] = await this.meta(async (c) => [await tableColumns(c, ref, 'source'), await hypertableTimeDimension(c, ref)] as const);
    const time = timeColumn ?? dimension?.column;
    if (!time) {
      throw new HyperfillError('E_TIME_COLUMN_REQUIRED', `source table ${displayName(ref)} is not a hypertable, so its time column is not known`,
        { table: displayName(ref) }, timeColumnHint(catalog.filter((c) => timeTypeOf(c.pgType) !== undefined).map((c) => c.name),
          'it has no timestamp, date or integer column to be the time column'));
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
    return { name: displayName(ref), ref, catalog, columns: catalog, timeColumn: time, timeType, hypertable: dimension !== undefined };
  }

  listTables(pattern: string): Promise<string[]> {
    return this.meta((c) => tablesLike(c, pattern));
  }

  async naturalBoundaries(table: SourceTableInfo, range: TimeRange): Promise<bigint[] | undefined> {
    const info = table as PostgresTableInfo;
    return this.meta(async (c) => {
      if (!(await hypertableTimeDimension(c, info.ref))) return undefined;
      const chunks = await chunksOverlapping(c, info.ref, info.timeType, range);
      return chunks.flatMap((chunk) => [chunk.start, chunk.end]);
    });
  }

  /** The planner's estimate, or a count or sample where the table was never analyzed (src/pg/row-estimate.ts). */
  async estimateRows(table: SourceTableInfo, range: TimeRange): Promise<number> {
    const ref = (table as PostgresTableInfo).ref;
    return this.meta(async (c) => estimateRows(c, ref, between(table, range), await estimateMethod(c, ref)));
  }

  async estimateBasis(table: SourceTableInfo): Promise<string | undefined> {
    return describeEstimateMethod(await this.meta((c) => estimateMethod(c, (table as PostgresTableInfo).ref)));
  }

  async extent(table: SourceTableInfo, range: TimeRange): Promise<TimeRange | undefined> {
    const t = quoteIdent(table.timeColumn);
    const r = await this.meta((c) => c.query(`SELECT min(${t}) AS lo, max(${t}) AS hi FROM ${from(table)} WHERE ${between(table, range)}`));
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
      this.pin = await connect(this.config, 'source', 'snapshot');
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
      this.pin.once('end', () => this.snapshotLost());
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

  /**
   * The connection holding the snapshot is gone (a restart, a terminated backend), and the
   * snapshot with it: later windows read their own snapshot, as with --no-snapshot. Rows
   * older than the completion point do not change in a dual-write migration, so the
   * windows still agree; the user is told.
   */
  private snapshotLost(): void {
    if (this.snapshotId === undefined) return;
    this.options.log?.(`the source connection holding snapshot ${this.snapshotId} was lost; the remaining windows read their own snapshots (as with --no-snapshot)`);
    this.snapshotId = undefined;
    this.pin?.end().catch(() => undefined);
    this.pin = undefined;
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
    // The rows leave in the order they are stored (time order, most often), so the target
    // appends to its indexes' right edge: a sequential scan must start at the first page,
    // not where another scan of the table last was (synchronized scans).
    // A window of a plain table is a range of its time index. An index scan fetches the
    // heap row by row; a bitmap heap scan reads the same rows page by page: 5M rows in 24
    // windows cost the source 1.62 s by index, 1.53 s by bitmap (1.23 s in one sequential
    // scan). Hypertables' windows follow their chunks, and an ordered read may need the
    // index's order: both keep the planner's choice.
    const bitmap = !table.hypertable && order === '' ? '; SET LOCAL enable_indexscan = off' : '';
    await client.query(`SET LOCAL synchronize_seqscans = off${bitmap}`);
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
        return this.meta(async (c) => ((await hypertableTimeDimension(c, ref)) ? hypertableLayout(c, ref) : undefined));
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

  /** Ends every connection, busy ones too (a read or count still waiting then fails): nothing keeps the process alive. */
  async close(): Promise<void> {
    this.snapshotId = undefined;
    this.idle.length = 0;
    const clients = [...this.readers, ...(this.pin ? [this.pin] : [])];
    this.readers.clear();
    this.pin = undefined;
    await Promise.all([this.control.close(), ...clients.map((c) => c.end().catch(() => undefined))]);
  }

  /** A connection inside a read-only transaction on the pinned snapshot. */
  private async reader(): Promise<pg.Client> {
    const client = this.idle.pop() ?? (await this.newClient());
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const snapshot = this.snapshotId;
      if (snapshot) {
        await client.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshot)}`).catch(async (err: { code?: string }) => {
          // 22023: the snapshot is gone though its connection has not said so yet.
          if (err.code !== '22023') throw err;
          if (this.snapshotId === snapshot) this.snapshotLost();
          await client.query('ROLLBACK');
          await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        });
      }
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      throw this.lost(err);
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
      throw this.lost(err);
    }
  }

  private async newClient(): Promise<pg.Client> {
    const client = new pg.Client({ ...this.config, application_name: this.config.application_name ?? 'hyperfill source' });
    client.on('error', () => undefined);
    // An idle connection the server closed is forgotten, not handed to the next window.
    this.readers.add(client);
    client.once('end', () => {
      this.readers.delete(client);
      const at = this.idle.indexOf(client);
      if (at >= 0) this.idle.splice(at, 1);
    });
    try {
      await client.connect();
      await client.query(`SET TIME ZONE 'UTC'`);
    } catch (err) {
      await client.end().catch(() => undefined);
      // Retryable errors stay retryable so the window is retried; others get a clear message.
      throw isRetryable(err) ? lostConnection(err, this.config, 'source') : connectionError(err, this.config, 'source');
    }
    return client;
  }

  /** A lost connection, said to be the source's (still retryable); other errors as they are. */
  private lost(err: unknown): unknown {
    return isRetryable(err) ? lostConnection(err, this.config, 'source') : err;
  }
}

/** The window condition on a table's own time column. */
const between = (table: SourceTableInfo, range: TimeRange) => timeRangeCondition(table.timeColumn, table.timeType, range);

const from = (table: SourceTableInfo) => qualifiedName((table as PostgresTableInfo).ref.schema, (table as PostgresTableInfo).ref.table);
