/**
 * What every backfill source provides. A connector lives in connectors/<name>/ and
 * registers a SourceFactory in connectors/index.ts; backfill, verify, plan and schema
 * see only this interface.
 */
import type { Readable } from 'node:stream';
import type { CompressedTable, HypertableLayout, SourceChunk } from './target/compressed-chunks.js';
import type { TimeType } from './time-value.js';

/** A half-open range [start, end) on a table's time axis (see time-value.ts). */
export interface TimeRange {
  start: bigint;
  end: bigint;
}

export interface Window extends TimeRange {
  /** 0-based position in the plan. */
  index: number;
}

export interface SourceColumn {
  name: string;
  /** The PostgreSQL type the column maps to, as format_type prints it (e.g. "double precision"). */
  pgType: string;
  nullable: boolean;
}

export interface SourceTableInfo {
  /** The source's own name for it, printable (e.g. "public.metrics", "db.events"). */
  name: string;
  columns: SourceColumn[];
  timeColumn: string;
  timeType: TimeType;
}

/** A window's rows as bytes in one of PostgreSQL's COPY formats. */
export interface WindowStream {
  format: 'binary' | 'text' | 'csv';
  /** Extra COPY options the bytes need, e.g. "NULL '\\N'". */
  copyOptions?: string;
  stream: Readable;
  /**
   * The stream's bytes are PostgreSQL CopyData messages as a server's `COPY ... TO STDOUT`
   * sends them (one per row), each chunk holding whole messages: a PostgreSQL target
   * forwards them to its `COPY ... FROM STDIN` as they are (see src/pg/copy-in-frames.ts).
   * Without it the bytes are the rows themselves.
   */
  copyData?: boolean;
  /** The rows come in the order the request's `orderBy` asked for. */
  ordered?: boolean;
  /** Rows the source reports it sent, once the stream ended (when it knows). */
  rowsSent?: () => Promise<number | undefined>;
}

/** One term of a sort order: a column, its direction and where NULLs go. */
export interface OrderTerm {
  column: string;
  desc: boolean;
  nullsFirst: boolean;
}

export interface ReadRequest {
  table: SourceTableInfo;
  window: TimeRange;
  /** Source columns to read, in target column order. */
  columns: string[];
  /** Target column types, so a source can choose binary COPY when both sides agree. */
  targetTypes: string[];
  /** The caller decodes the rows (a transform): send text or csv, never binary. */
  decodable?: boolean;
  /**
   * Send the rows in this order if the source can sort them (then `ordered` is set on the
   * stream); a source that cannot ignores it. Direct compress uses it (see src/target/direct-compress.ts).
   */
  orderBy?: OrderTerm[];
}

export interface PinnedSnapshot {
  id: string | undefined;
  note: string;
}

export interface Source {
  /** "postgres", "clickhouse", ... */
  readonly kind: string;
  /** Columns and the time column of a table (timeColumn: given by the user, or discovered). */
  describe(table: string, timeColumn?: string): Promise<SourceTableInfo>;
  /** Tables matching a LIKE-style pattern (for --tables). */
  listTables?(pattern: string): Promise<string[]>;
  /** Natural window edges inside the range, e.g. TimescaleDB chunk boundaries; undefined when none. */
  naturalBoundaries?(table: SourceTableInfo, range: TimeRange): Promise<bigint[] | undefined>;
  /** Rows in the range, cheaply estimated (planner statistics); for choosing window sizes and ETAs. */
  estimateRows(table: SourceTableInfo, range: TimeRange): Promise<number>;
  /**
   * How estimateRows finds its number for this table, when a person should know that it
   * is not the usual cheap estimate (e.g. "counted: the table was never analyzed").
   * Optional: without it, nothing is said.
   */
  estimateBasis?(table: SourceTableInfo): Promise<string | undefined>;
  /** Earliest and latest time present in the range, or undefined when it is empty. */
  extent(table: SourceTableInfo, range: TimeRange): Promise<TimeRange | undefined>;
  /** Exact row count in a window. */
  count(table: SourceTableInfo, window: TimeRange): Promise<number>;
  /**
   * An order-independent digest of the rows in a window, comparable with the target's
   * (see verify/). Optional: sources that cannot compute it say so.
   */
  checksum?(table: SourceTableInfo, window: TimeRange, columns: string[]): Promise<string>;
  /**
   * Distinct values of `column` among a bounded sample of at most `limit` rows (which rows
   * is the source's choice: the first ones, say), and how many rows the sample had.
   * `hyperfill schema` uses it to suggest a compression segmentby column (one with few
   * values). Optional: without it, no segmentby is suggested. It must stay cheap on any
   * table size: never a full scan.
   */
  sampleDistinct?(table: SourceTableInfo, column: string, limit: number): Promise<{ rows: number; distinct: number }>;
  /**
   * A TimescaleDB source's compressed chunks, to be copied as they are (see
   * src/backfill/compressed-chunk-copy.ts); undefined when the source is not TimescaleDB.
   * Optional: without it every window is copied by rows.
   */
  compressedChunks?(): Promise<CompressedChunkSource | undefined>;
  /**
   * Pins one consistent snapshot for all later reads, where the source can. `shared` is a
   * snapshot another process of the same run exported: imported while it lives, so every
   * process of a run reads the same data. Returns the id this process now exports (others
   * may import it; undefined when the source has none) and a note for the user. Without
   * this method each read sees the data as it is at that moment.
   */
  pinSnapshot?(shared?: string): Promise<PinnedSnapshot>;
  /** Streams a window's rows, with backpressure. */
  read(request: ReadRequest): Promise<WindowStream>;
  close(): Promise<void>;
}

export interface CompressedChunkSource {
  /** TimescaleDB's version on the source. */
  version: string;
  /** The source hypertable's dimensions, columns and compression settings; undefined for a plain table. */
  layout(table: SourceTableInfo): Promise<HypertableLayout | undefined>;
  /** The chunks overlapping a window, read in one snapshot (the run's, when pinned) held until `close`. */
  openWindow(table: SourceTableInfo, window: TimeRange): Promise<CompressedChunkWindow>;
}

export interface CompressedChunkWindow {
  chunks: SourceChunk[];
  /** The chunk holds rows outside the window. */
  reachesOutside(chunk: SourceChunk): Promise<boolean>;
  /** A compressed table's rows in binary COPY format, as CopyData messages (one read at a time). */
  read(table: CompressedTable): Promise<WindowStream>;
  close(): Promise<void>;
}

export interface SourceOpenOptions {
  /** Readers the caller will run at once. */
  parallel: number;
  /** Notes for the user while the source is in use (e.g. a snapshot lost to a restart), one line each. */
  log?: ((line: string) => void) | undefined;
}

export interface SourceFactory {
  kind: string;
  /** True when this factory handles the URL (by scheme). */
  accepts(url: string): boolean;
  open(url: string, options: SourceOpenOptions): Promise<Source>;
}
