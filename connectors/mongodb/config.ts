/**
 * MongoDB source options, validated in one place. They come as an object
 * (`MongoSource.open(url, {parallel, fields, ...})`) or as `hyperfill.*` query
 * parameters of the URL, which are removed before the URL reaches the driver:
 *
 *   mongodb://host/db?hyperfill.field.sensor_id=meta.sensor.id&hyperfill.filter={"ok":true}
 *
 * - fields:     column → dot path (`hyperfill.field.<column>=<path>`, repeatable)
 * - columns:    only these columns, plus the time column (`hyperfill.columns=time,host,cpu`);
 *               default: every sampled top-level field and every mapped column
 * - filter:     a query document ANDed with every window's time range (Extended JSON)
 * - sampleSize: documents describe() samples (default 1000: half the oldest, half the newest)
 * - batchSize:  documents per cursor batch and per encoding batch (default 10000)
 * - threads:    encoding worker threads (default: the cores, at most 4; 0 = none)
 * - driverCursor: read with the driver's cursor even where plain getMore commands would do
 *               (see raw-cursor.ts; `hyperfill.driverCursor=true`)
 * - timeFormat: how the time field is written (`hyperfill.time_format=epoch_ms`): auto (default),
 *               iso, epoch_s/ms/us, or a pattern like %Y-%m-%d %H:%M that sorts as text
 *               (src/time-format.ts; in the URL a pattern is taken as written)
 * An option given both ways takes the object's value.
 */
import { BSON, type Document } from 'mongodb';
import { HyperfillError } from '../../src/errors.js';
import { parseTimeFormat, type TimeFormat, timeFormatParam } from '../../src/time-format.js';
import { type FieldMapping, parseColumns, parseFieldMapping } from './schema.js';

export interface MongoSourceOptions {
  /** Windows read at once: sizes the connection pool. */
  parallel: number;
  /** Column name → dot path, or `column=path` strings. */
  fields?: FieldMapping | string[];
  /** Only these columns (top-level fields or mapped columns), plus the time column. Default: all. */
  columns?: string[];
  /** Query document (or its Extended JSON text) that every read, count and sample also applies. */
  filter?: Document | string;
  sampleSize?: number;
  batchSize?: number;
  threads?: number;
  /** Read windows with the driver's cursor rather than raw find/getMore commands (slower; see raw-cursor.ts). */
  driverCursor?: boolean;
  /** How the time field is written: auto (default), iso, epoch_s/ms/us, or a pattern like %Y-%m-%d %H:%M. */
  timeFormat?: string;
}

export interface MongoConfig {
  /** The URL for the driver: hyperfill.* parameters removed. */
  driverUrl: string;
  /** The URL without credentials, for messages. */
  display: string;
  /** The database named in the URL's path, if any. */
  database: string | undefined;
  parallel: number;
  fields: FieldMapping;
  columns: string[] | undefined;
  filter: Document | undefined;
  sampleSize: number;
  batchSize: number;
  threads: number | undefined;
  driverCursor: boolean;
  timeFormat: TimeFormat;
}

const PREFIX = 'hyperfill.';

function positiveInt(value: unknown, name: string): number {
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0) {
    throw new HyperfillError('E_USAGE', `\`${name}\` must be an integer greater than zero, got ${JSON.stringify(value)}`);
  }
  return n;
}

function parseBool(value: string, name: string): boolean {
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  throw new HyperfillError('E_USAGE', `\`${name}\` must be true or false, got "${value}"`);
}

function parseFilter(filter: Document | string | undefined): Document | undefined {
  if (filter === undefined || filter === '') return undefined;
  if (typeof filter !== 'string') return filter;
  let parsed: unknown;
  try {
    parsed = BSON.EJSON.parse(filter, { relaxed: true });
  } catch (e) {
    throw new HyperfillError('E_USAGE', `\`filter\` is not valid Extended JSON: ${(e as Error).message}`, {}, 'e.g. {"status": "ok"}');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new HyperfillError('E_USAGE', '`filter` must be a query document, e.g. {"status": "ok"}');
  }
  return parsed as Document;
}

export function parseMongoConfig(url: string, options: MongoSourceOptions): MongoConfig {
  const m = /^(mongodb(?:\+srv)?:\/\/)([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/i.exec(url.trim());
  if (!m) throw new HyperfillError('E_CONNECTION_STRING', 'a MongoDB source URL must look like mongodb://host[:port]/database', {}, 'or mongodb+srv://cluster.example.net/database');
  const [, scheme = '', hosts = '', path = '', query = ''] = m;
  const urlFields: string[] = [];
  const urlOptions: Record<string, string> = {};
  const kept: string[] = [];
  for (const part of query.replace(/^\?/, '').split('&').filter(Boolean)) {
    const eq = part.indexOf('=');
    const key = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    const raw = eq < 0 ? '' : part.slice(eq + 1);
    const value = key === `${PREFIX}time_format` ? timeFormatParam(raw) : decodeURIComponent(raw.replace(/\+/g, ' '));
    if (!key.startsWith(PREFIX)) {
      kept.push(part);
      continue;
    }
    const name = key.slice(PREFIX.length);
    if (name.startsWith('field.')) urlFields.push(`${name.slice('field.'.length)}=${value}`);
    else if (['filter', 'columns', 'sampleSize', 'batchSize', 'threads', 'driverCursor', 'time_format'].includes(name)) urlOptions[name] = value;
    else throw new HyperfillError('E_USAGE', `unknown MongoDB source option "${key}"`, {}, 'known: hyperfill.field.<column>, hyperfill.columns, hyperfill.filter, hyperfill.sampleSize, hyperfill.batchSize, hyperfill.threads, hyperfill.driverCursor, hyperfill.time_format');
  }
  const database = decodeURIComponent(path.replace(/^\//, '')) || undefined;
  const driverUrl = `${scheme}${hosts}${path}${kept.length ? `?${kept.join('&')}` : ''}`;
  const display = `${scheme}${hosts.replace(/^[^@]*@/, (cred) => `${cred.split(':')[0]!.replace(/@$/, '')}@`)}${path}`;
  const fields = { ...parseFieldMapping(urlFields, 'MongoDB source URL'), ...parseFieldMapping(options.fields, 'MongoDB source option `fields`') };
  const threads = options.threads ?? (urlOptions.threads !== undefined ? Number(urlOptions.threads) : undefined);
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 0)) {
    throw new HyperfillError('E_USAGE', `\`threads\` must be an integer of zero or more, got ${JSON.stringify(threads)}`);
  }
  return {
    driverUrl,
    display,
    database,
    parallel: positiveInt(options.parallel, 'parallel'),
    fields,
    columns: parseColumns(options.columns ?? urlOptions.columns),
    filter: parseFilter(options.filter ?? urlOptions.filter),
    sampleSize: positiveInt(options.sampleSize ?? urlOptions.sampleSize ?? 1000, 'sampleSize'),
    batchSize: positiveInt(options.batchSize ?? urlOptions.batchSize ?? 10_000, 'batchSize'),
    threads,
    driverCursor: options.driverCursor ?? (urlOptions.driverCursor !== undefined ? parseBool(urlOptions.driverCursor, 'driverCursor') : false),
    timeFormat: parseTimeFormat(options.timeFormat ?? urlOptions.time_format, 'MongoDB source option `time_format`'),
  };
}
