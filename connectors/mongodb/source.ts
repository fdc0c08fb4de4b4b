/**
 * MongoDB as a backfill source. A window is one cursor:
 * `find({$and: [{time: {$gte: a, $lt: b}}, filter]})` read as raw BSON (raw-cursor.ts);
 * its documents stay bytes on this thread and are encoded to text COPY rows in worker
 * threads (document-encoding.ts). Columns come from a sample (schema.ts); counts are
 * countDocuments per window; the extent is two sort+limit(1) queries.
 */
import { type Collection, type Document, type FindCursor, Long, MongoClient } from 'mongodb';
import { type ErrorContext, HyperfillError } from '../../src/errors.js';
import type { ReadRequest, Source, TimeRange, WindowStream, SourceTableInfo } from '../../src/source.js';
import { formatTimeValue } from '../../src/time-value.js';
import { type MongoConfig, type MongoSourceOptions, parseMongoConfig } from './config.js';
import { conflictError } from './conflict.js';
import { DocumentEncoder, encodedStream, type BatchSource } from './encoder-pool.js';
import { commandBatches, cursorBatches, sameServerEachTime } from './raw-cursor.js';
import { type DocumentTableInfo, encodePlanFor, inferSchema, projectionFor, valueAt } from './schema.js';
import { timeBound, timeValueOf } from './time-field.js';

export interface MongoTableInfo extends DocumentTableInfo {
  database: string;
  collection: string;
  /** Earliest and latest time in the sample (end exclusive), for estimates. */
  sampleSpan: TimeRange | undefined;
}

/** Decoded with exact types (Int32, Long, Double, Decimal128 apart), for sampling and extents. */
const EXACT = { promoteValues: false, promoteLongs: false, bsonRegExp: true } as const;
/** Encoding batches in flight per window. */
const IN_FLIGHT = 3;

export class MongoSource implements Source {
  readonly kind = 'mongodb';
  private readonly encoder: DocumentEncoder;

  private constructor(private readonly client: MongoClient, readonly config: MongoConfig, private readonly rawCommands: boolean) {
    this.encoder = new DocumentEncoder(config.threads);
  }

  static async open(url: string, options: MongoSourceOptions): Promise<MongoSource> {
    const config = parseMongoConfig(url, options);
    const client = new MongoClient(config.driverUrl, {
      appName: 'hyperfill',
      maxPoolSize: Math.max(10, config.parallel * 2 + 2),
      serverSelectionTimeoutMS: 15_000,
    });
    try {
      await client.connect();
    } catch (err) {
      await client.close().catch(() => undefined);
      throw new HyperfillError('E_SOURCE_UNREACHABLE', `cannot reach the MongoDB source ${config.display}: ${(err as Error).message}`, {},
        'check the host, port and credentials in the URL (and ?directConnection=true for a single node of a replica set)', err);
    }
    let rawCommands = false;
    try {
      rawCommands = !config.driverCursor && (await sameServerEachTime(client, config.driverUrl));
    } catch (err) {
      await client.close().catch(() => undefined);
      throw new HyperfillError('E_SOURCE_UNREACHABLE', `the MongoDB source ${config.display} did not answer hello: ${(err as Error).message}`, {}, undefined, err);
    }
    return new MongoSource(client, config, rawCommands);
  }

  get description(): string {
    return this.config.display;
  }

  /** `db.collection`, or a collection of the URL's database. Database names cannot hold dots, so the first dot splits. */
  private resolve(table: string): { database: string; collection: string } {
    const dot = table.indexOf('.');
    if (dot > 0) return { database: table.slice(0, dot), collection: table.slice(dot + 1) };
    if (!this.config.database) {
      throw new HyperfillError('E_USAGE', `MongoDB collection "${table}" needs a database: name it as database.collection`, { table },
        'or put the database in the source URL: mongodb://host/database');
    }
    return { database: this.config.database, collection: table };
  }

  private coll(info: { database: string; collection: string }): Collection<Document> {
    return this.client.db(info.database).collection(info.collection);
  }

  /**
   * Runs a query outside a window's stream (a window's failure names its window), turning a
   * driver error into one that names the source, the collection and what was being read.
   */
  private async asking<T>(what: string, table: string, query: () => Promise<T>): Promise<T> {
    try {
      return await query();
    } catch (err) {
      if (err instanceof HyperfillError) throw err;
      throw new HyperfillError('E_SOURCE_READ', `reading ${what} of ${table} from the MongoDB source ${this.config.display} failed: ${(err as Error).message}`,
        { table }, 'nothing was written for it: rerun the same command once the source answers again', err);
    }
  }

  describe(table: string, timeColumn?: string): Promise<MongoTableInfo> {
    return this.asking('a sample', table, () => this.describeSampled(table, timeColumn));
  }

  private async describeSampled(table: string, timeColumn?: string): Promise<MongoTableInfo> {
    const where = this.resolve(table);
    const name = `${where.database}.${where.collection}`;
    const coll = this.coll(where);
    // Half the oldest documents, half the newest: schemas drift over time.
    const first = Math.ceil(this.config.sampleSize / 2);
    const filter = this.config.filter ?? {};
    const docs = await coll.find(filter, { ...EXACT, limit: first }).toArray();
    if (docs.length === first && this.config.sampleSize > first) {
      const seen = new Set(docs.map((d) => d._id).filter((id) => id !== undefined).map(String));
      const last = await coll.find(filter, { ...EXACT, limit: this.config.sampleSize - first, sort: { $natural: -1 } }).toArray();
      for (const d of last) if (!seen.has(String(d._id))) docs.push(d);
    }
    if (docs.length === 0) {
      const exists = await this.client.db(where.database).listCollections({ name: where.collection }, { nameOnly: true }).toArray().then((l) => l.length > 0);
      if (!exists) {
        throw new HyperfillError('E_TABLE_MISSING', `the MongoDB source has no collection ${name}`, { table: name },
          'name it as database.collection (collection names are case-sensitive)');
      }
    }
    const { columns, time, topFields } = inferSchema(docs, {
      table: name, fields: this.config.fields, only: this.config.columns, timeColumn, checkTimeLayout: true, timeFormat: this.config.timeFormat,
    });
    let sampleSpan: TimeRange | undefined;
    for (const d of docs) {
      let t: bigint | undefined;
      try {
        t = timeValueOf(time, valueAt(d, time.path));
      } catch {
        continue; // describe() already vetted the kinds; a stray value does not matter to an estimate
      }
      if (t === undefined) continue;
      if (!sampleSpan) sampleSpan = { start: t, end: t + 1n };
      else if (t < sampleSpan.start) sampleSpan.start = t;
      else if (t >= sampleSpan.end) sampleSpan.end = t + 1n;
    }
    return { name, ...where, columns, time, topFields, timeColumn: time.column, timeType: time.timeType, sampled: docs.length, sampleSpan };
  }

  async listTables(pattern: string): Promise<string[]> {
    const dot = pattern.indexOf('.');
    const database = dot > 0 ? pattern.slice(0, dot) : this.config.database;
    if (!database) throw new HyperfillError('E_USAGE', `table pattern "${pattern}" needs a database: database.collection_pattern`);
    const like = dot > 0 ? pattern.slice(dot + 1) : pattern;
    const regex = new RegExp(`^${like.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*').replace(/_/g, '.')}$`);
    const names = await this.client.db(database).listCollections({}, { nameOnly: true }).toArray();
    return names.map((c) => c.name).filter((n) => regex.test(n) && !n.startsWith('system.')).sort().map((n) => `${database}.${n}`);
  }

  /** The query for a range: the time field in [start, end), ANDed with the user's filter. */
  private rangeFilter(info: MongoTableInfo, range: TimeRange): Document {
    const field = info.time.path.join('.');
    const clauses: Document[] = [{ [field]: { $gte: this.boundValue(info, range.start), $lt: this.boundValue(info, range.end) } }];
    if (this.config.filter) clauses.push(this.config.filter);
    return clauses.length === 1 ? clauses[0]! : { $and: clauses };
  }

  private boundValue(info: MongoTableInfo, v: bigint): unknown {
    const b = timeBound(info.time, v);
    if (typeof b !== 'bigint') return b;
    return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : Long.fromBigInt(b);
  }

  private timeOf(info: MongoTableInfo, doc: Document | undefined): bigint | undefined {
    if (!doc) return undefined;
    try {
      return timeValueOf(info.time, valueAt(doc, info.time.path));
    } catch (e) {
      throw new HyperfillError('E_TIME_COLUMN_TYPE', `document _id ${String(doc._id)} of ${info.name} has ${(e as Error).message}`, { table: info.name, column: info.timeColumn },
        'the time field must hold one kind of value throughout');
    }
  }

  /**
   * The earliest and latest time in the range: sort + limit(1) each way, which an index on
   * the time field answers at once. The sample's oldest and newest times narrow each query
   * first (the earliest time in the range is at most the earliest sampled one, when that
   * one is in the range), so without an index only a few documents are sorted.
   */
  extent(table: SourceTableInfo, range: TimeRange): Promise<TimeRange | undefined> {
    return this.asking('the earliest and latest times', table.name, () => this.edges(table as MongoTableInfo, range));
  }

  private async edges(info: MongoTableInfo, range: TimeRange): Promise<TimeRange | undefined> {
    const coll = this.coll(info);
    const field = info.time.path.join('.');
    const edge = async (dir: 1 | -1, within: TimeRange) =>
      this.timeOf(info, (await coll.find(this.rangeFilter(info, within), { ...EXACT, projection: { _id: 1, [field]: 1 }, sort: { [field]: dir }, limit: 1 }).toArray())[0]);
    const inRange = (t: bigint) => t >= range.start && t < range.end;
    const span = info.sampleSpan;
    let lo = span && inRange(span.start) ? await edge(1, { start: range.start, end: span.start + 1n }) : undefined;
    lo ??= await edge(1, range);
    if (lo === undefined) return undefined;
    const last = span ? span.end - 1n : undefined;
    let hi = last !== undefined && inRange(last) ? await edge(-1, { start: last, end: range.end }) : undefined;
    hi ??= await edge(-1, range);
    return { start: lo, end: hi ?? lo };
  }

  async count(table: SourceTableInfo, window: TimeRange): Promise<number> {
    const info = table as MongoTableInfo;
    return this.asking('a count', info.name, () => this.coll(info).countDocuments(this.rangeFilter(info, window)));
  }

  /**
   * Small collections (up to 100k documents) are counted. Larger ones are estimated without
   * scanning: the collection's document count, scaled by how much of the sample's time span
   * (its oldest and newest documents) the range covers.
   */
  async estimateRows(table: SourceTableInfo, range: TimeRange): Promise<number> {
    const info = table as MongoTableInfo;
    const total = await this.asking('the document count', info.name, () => this.coll(info).estimatedDocumentCount());
    if (total <= 100_000) return this.count(info, range);
    const span = info.sampleSpan;
    if (!span) return total;
    const lo = range.start > span.start ? range.start : span.start;
    const hi = range.end < span.end ? range.end : span.end;
    if (hi <= lo) return range.start <= span.start && range.end >= span.end ? total : 0;
    return Math.ceil((total * Number(hi - lo)) / Number(span.end - span.start));
  }

  async read(request: ReadRequest): Promise<WindowStream> {
    const info = request.table as MongoTableInfo;
    const plan = encodePlanFor(info, request.columns, request.targetTypes);
    const projection = projectionFor(info, plan);
    const batchSize = this.config.batchSize;
    const filter = this.rangeFilter(info, request.window);
    let batches: BatchSource;
    if (this.rawCommands) {
      const db = this.client.db(info.database);
      const find: Document = { filter, ...(projection ? { projection } : {}) };
      if (db.readConcern?.level) find.readConcern = { level: db.readConcern.level };
      batches = commandBatches(db, info.collection, find, batchSize, this.client.startSession({ causalConsistency: false }));
    } else {
      const cursor = this.coll(info).find(filter, { raw: true, batchSize, ...(projection ? { projection } : {}) });
      batches = cursorBatches(cursor as FindCursor<unknown>, batchSize);
    }
    const context: ErrorContext = { table: info.name, window: `[${formatTimeValue(request.window.start, info.timeType)}, ${formatTimeValue(request.window.end, info.timeType)})` };
    const { stream, rowsSent } = encodedStream(batches, {
      encoder: this.encoder,
      plan,
      maxInFlight: IN_FLIGHT,
      onConflict: (c) => conflictError('MONGO', c, context),
    });
    return { format: 'text', stream, rowsSent };
  }

  async close(): Promise<void> {
    await Promise.all([this.encoder.close(), this.client.close()]);
  }
}
