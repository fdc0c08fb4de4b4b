/**
 * JSON files (arrays, NDJSON, mongoexport output) as a backfill source. Files cannot
 * be searched by time, so:
 * - describe() samples the first documents;
 * - count, extent and estimateRows come from a time index built by one full scan
 *   (every document's time value, sorted: 8 bytes per document), built once per table;
 * - each window read scans the files again and keeps the documents in the window.
 * Documents missing the time field (or holding null) are in no window, as with a
 * MongoDB range query; a time value of another kind is an error. Standard input is
 * spooled to a temporary file first, so it can be scanned more than once.
 * Kept documents are serialized to BSON and encoded by the MongoDB source's workers,
 * so both sources map types the same way.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { serialize } from 'bson';
import { HyperfillError } from '../../src/errors.js';
import type { ReadRequest, Source, SourceTableInfo, TimeRange, WindowStream } from '../../src/source.js';
import { formatTimeValue } from '../../src/time-value.js';
import { conflictError } from '../mongodb/conflict.js';
import { DocumentEncoder, concatDocuments, encodedStream, type BatchSource, type RawBatch } from '../mongodb/encoder-pool.js';
import { type DocumentTableInfo, encodePlanFor, inferSchema, valueAt } from '../mongodb/schema.js';
import { timeValueOf } from '../mongodb/time-field.js';
import { type JsonConfig, type JsonSourceOptions, parseJsonConfig } from './config.js';
import { type PositionedDocument, readDocuments } from './reader.js';

export interface JsonTableInfo extends DocumentTableInfo {
  files: string[];
  /** How errors name each file (the path, or "stdin"). */
  labels: string[];
}

interface BatchMeta {
  file: string[];
  number: number[];
  line: number[];
}

const IN_FLIGHT = 3;
const EXTENSIONS = ['.json', '.ndjson', '.jsonl', '.json.gz', '.ndjson.gz', '.jsonl.gz'];

export class JsonSource implements Source {
  readonly kind = 'json';
  private readonly encoder: DocumentEncoder;
  private spool: Promise<{ dir: string; file: string }> | undefined;
  private readonly indexes = new Map<string, Promise<BigInt64Array>>();

  private constructor(readonly config: JsonConfig) {
    this.encoder = new DocumentEncoder(config.threads);
  }

  static async open(url: string, options: JsonSourceOptions): Promise<JsonSource> {
    return new JsonSource(parseJsonConfig(url, options));
  }

  get description(): string {
    return this.config.display;
  }

  /** Standard input, copied once to a temporary file. */
  private spooled(): Promise<{ dir: string; file: string }> {
    this.spool ??= (async () => {
      const dir = await mkdtemp(join(tmpdir(), 'hyperfill-json-'));
      const file = join(dir, 'stdin');
      await pipeline(this.config.stdin ?? process.stdin, createWriteStream(file));
      return { dir, file };
    })();
    return this.spool;
  }

  /** The files a table reads, in order. */
  private async filesFor(table: string): Promise<{ name: string; files: string[]; labels: string[] }> {
    const input = this.config.input;
    if (input.kind === 'stdin') {
      const { file } = await this.spooled();
      return { name: table || 'stdin', files: [file], labels: ['stdin'] };
    }
    const path = input.path.replaceAll('{table}', table);
    const info = await stat(path).catch(() => undefined);
    if (info?.isDirectory()) {
      const names = new Set(await readdir(path));
      const files = EXTENSIONS.map((ext) => `${table}${ext}`).filter((n) => names.has(n)).map((n) => join(path, n));
      if (files.length === 0) {
        throw new HyperfillError('E_JSON_NO_FILES', `no file for table "${table}" in ${path}`, { table, file: path },
          `expected ${table}.json, ${table}.ndjson or ${table}.jsonl (optionally .gz)`);
      }
      return { name: table, files, labels: files };
    }
    if (info?.isFile()) return { name: table || path, files: [path], labels: [path] };
    const base = basename(path);
    if (!/[*?]/.test(base)) throw new HyperfillError('E_JSON_NO_FILES', `JSON source file ${path} does not exist`, { file: path });
    const dir = dirname(path);
    if (/[*?]/.test(dir)) throw new HyperfillError('E_USAGE', `JSON source pattern ${path}: only the last path segment may hold * or ?`);
    const regex = new RegExp(`^${base.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    const files = entries.filter((e) => e.isFile() && regex.test(e.name)).map((e) => join(dir, e.name)).sort();
    if (files.length === 0) throw new HyperfillError('E_JSON_NO_FILES', `no file matches ${path}`, { file: path });
    return { name: table || path, files, labels: files };
  }

  async describe(table: string, timeColumn?: string): Promise<JsonTableInfo> {
    const { name, files, labels } = await this.filesFor(table);
    const docs: Record<string, unknown>[] = [];
    outer: for (let i = 0; i < files.length; i++) {
      for await (const chunk of readDocuments(files[i]!, labels[i])) {
        for (const d of chunk) {
          docs.push(d.doc);
          if (docs.length >= this.config.sampleSize) break outer;
        }
      }
    }
    const { columns, time, topFields } = inferSchema(docs, {
      table: name, fields: this.config.fields, only: this.config.columns, timeColumn, checkTimeLayout: false, timeFormat: this.config.timeFormat,
    });
    return { name, files, labels, columns, time, topFields, timeColumn: time.column, timeType: time.timeType, sampled: docs.length };
  }

  async listTables(pattern: string): Promise<string[]> {
    const input = this.config.input;
    if (input.kind !== 'path' || !(await stat(input.path).catch(() => undefined))?.isDirectory()) return [];
    const regex = new RegExp(`^${pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*').replace(/_/g, '.')}$`);
    const stems = new Set<string>();
    for (const n of await readdir(input.path)) {
      const ext = EXTENSIONS.find((e) => n.endsWith(e));
      if (ext) stems.add(n.slice(0, -ext.length));
    }
    return [...stems].filter((s) => regex.test(s)).sort();
  }

  /** A document's time value; undefined when it has none. */
  private timeOf(info: JsonTableInfo, d: PositionedDocument, label: string): bigint | undefined {
    try {
      return timeValueOf(info.time, valueAt(d.doc, info.time.path));
    } catch (e) {
      throw new HyperfillError('E_TIME_COLUMN_TYPE', `document ${d.number} (line ${d.line}) of ${label} has ${(e as Error).message}`,
        { file: label, line: d.line, row: d.number, table: info.name }, 'the time field must hold one kind of value throughout');
    }
  }

  /** Every document's time value, sorted (one scan, once per table). */
  private timeIndex(info: JsonTableInfo): Promise<BigInt64Array> {
    const key = `${info.name}\0${info.files.join('\0')}\0${info.time.path.join('.')}`;
    let index = this.indexes.get(key);
    if (!index) {
      index = (async () => {
        let values = new BigInt64Array(1024);
        let n = 0;
        for (let i = 0; i < info.files.length; i++) {
          for await (const chunk of readDocuments(info.files[i]!, info.labels[i])) {
            for (const d of chunk) {
              const t = this.timeOf(info, d, info.labels[i]!);
              if (t === undefined) continue;
              if (n === values.length) {
                const next = new BigInt64Array(values.length * 2);
                next.set(values);
                values = next;
              }
              values[n++] = t;
            }
          }
        }
        return values.subarray(0, n).sort();
      })();
      index.catch(() => this.indexes.delete(key));
      this.indexes.set(key, index);
    }
    return index;
  }

  async count(table: SourceTableInfo, window: TimeRange): Promise<number> {
    const index = await this.timeIndex(table as JsonTableInfo);
    return lowerBound(index, window.end) - lowerBound(index, window.start);
  }

  /** Exact: the time index is built anyway. */
  estimateRows(table: SourceTableInfo, range: TimeRange): Promise<number> {
    return this.count(table, range);
  }

  async extent(table: SourceTableInfo, range: TimeRange): Promise<TimeRange | undefined> {
    const index = await this.timeIndex(table as JsonTableInfo);
    const lo = lowerBound(index, range.start);
    const hi = lowerBound(index, range.end);
    if (hi <= lo) return undefined;
    return { start: index[lo]!, end: index[hi - 1]! };
  }

  async read(request: ReadRequest): Promise<WindowStream> {
    const info = request.table as JsonTableInfo;
    const plan = encodePlanFor(info, request.columns, request.targetTypes);
    const { start, end } = request.window;
    const batchSize = this.config.batchSize;
    const self = this;
    async function* batches(): AsyncGenerator<RawBatch<BatchMeta>> {
      let docs: Uint8Array[] = [];
      let bytes = 0;
      let meta: BatchMeta = { file: [], number: [], line: [] };
      for (let i = 0; i < info.files.length; i++) {
        const label = info.labels[i]!;
        for await (const chunk of readDocuments(info.files[i]!, label)) {
          for (const d of chunk) {
            const t = self.timeOf(info, d, label);
            if (t === undefined || t < start || t >= end) continue;
            let bson: Uint8Array;
            try {
              bson = serialize(d.doc);
            } catch (e) {
              throw new HyperfillError('E_JSON_VALUE', `document ${d.number} (line ${d.line}) of ${label} cannot be stored as BSON: ${(e as Error).message}`,
                { file: label, line: d.line, row: d.number, table: info.name });
            }
            docs.push(bson);
            bytes += bson.byteLength;
            meta.file.push(label);
            meta.number.push(d.number);
            meta.line.push(d.line);
            if (docs.length >= batchSize) {
              yield { docs: concatDocuments(docs, bytes), count: docs.length, meta };
              docs = [];
              bytes = 0;
              meta = { file: [], number: [], line: [] };
            }
          }
        }
      }
      if (docs.length) yield { docs: concatDocuments(docs, bytes), count: docs.length, meta };
    }
    const gen = batches();
    const source: BatchSource<BatchMeta> = {
      next: async () => {
        const r = await gen.next();
        return r.done ? undefined : r.value;
      },
      close: async () => {
        await gen.return(undefined);
      },
    };
    const context = { table: info.name, window: `[${formatTimeValue(start, info.timeType)}, ${formatTimeValue(end, info.timeType)})` };
    const { stream, rowsSent } = encodedStream(source, {
      encoder: this.encoder,
      plan,
      maxInFlight: IN_FLIGHT,
      onConflict: (c, batch) => {
        const m = batch.meta;
        const position = m ? { number: m.number[c.index]!, at: `line ${m.line[c.index]} of ${m.file[c.index]}` } : undefined;
        const err = conflictError('JSON', c, context, position);
        if (m) Object.assign(err.context, { file: m.file[c.index], line: m.line[c.index], row: m.number[c.index] });
        return err;
      },
    });
    return { format: 'text', stream, rowsSent };
  }

  async close(): Promise<void> {
    await this.encoder.close();
    const spool = await this.spool?.catch(() => undefined);
    if (spool) await rm(spool.dir, { recursive: true, force: true });
  }
}

/** First position whose value is >= v. */
function lowerBound(a: BigInt64Array, v: bigint): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
