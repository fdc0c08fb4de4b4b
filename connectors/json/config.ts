/**
 * JSON file source URLs and options, validated in one place.
 *
 *   json:-                      stdin (also ndjson:- and jsonl:-)
 *   json:data/metrics.ndjson    a path, relative to the working directory or absolute
 *   json:///var/export/*.json   a file URL path; `*` and `?` match within the last segment
 *   json:///var/export/         a directory: the table names a file in it (metrics → metrics.ndjson)
 *   json:///var/{table}/*.json  `{table}` is replaced by the table's name
 *   file:///var/export/a.json   a file URL ending in .json, .ndjson or .jsonl (optionally .gz)
 *   ./export/a.jsonl            a bare path with one of those endings
 *
 * The scheme never decides the format: arrays, NDJSON and concatenated JSON are told
 * apart by their content, gzip by its magic bytes. Options may follow as a query string
 * (a `?` starts one only when key=value pairs follow; elsewhere it is a glob character):
 * `field.<column>=<path>` (repeatable), `columns=a,b`, `sampleSize=N`, `batchSize=N`,
 * `threads=N`, `time_format=auto|iso|epoch_s|epoch_ms|epoch_us|PATTERN` (how the time field is
 * written, src/time-format.ts; a pattern such as %Y/%m/%d %H:%M is taken as written). An option
 * given in the options object wins.
 */
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { HyperfillError } from '../../src/errors.js';
import { parseTimeFormat, type TimeFormat, timeFormatParam } from '../../src/time-format.js';
import { type FieldMapping, parseColumns, parseFieldMapping } from '../mongodb/schema.js';
import { QUERY, SCHEME } from './url.js';

export { acceptsJsonUrl } from './url.js';

export interface JsonSourceOptions {
  /** Windows read at once (each scans the files). */
  parallel: number;
  /** Column name → dot path, or `column=path` strings. */
  fields?: FieldMapping | string[];
  /** Only these columns (top-level fields or mapped columns), plus the time column. Default: all. */
  columns?: string[];
  /** Documents describe() samples from the start of the input (default 1000). */
  sampleSize?: number;
  /** Documents per encoding batch (default 10000). */
  batchSize?: number;
  /** Encoding worker threads (default: the cores, at most 4; 0 = none). */
  threads?: number;
  /** What `json:-` reads (default process.stdin). */
  stdin?: Readable;
  /** How the time field is written: auto (default), iso, epoch_s/ms/us, or a pattern like %Y/%m/%d %H:%M. */
  timeFormat?: string;
}

export interface JsonConfig {
  /** 'stdin', or a path that may end in a pattern or name a directory. */
  input: { kind: 'stdin' } | { kind: 'path'; path: string };
  display: string;
  fields: FieldMapping;
  columns: string[] | undefined;
  sampleSize: number;
  batchSize: number;
  threads: number | undefined;
  stdin: Readable | undefined;
  timeFormat: TimeFormat;
}

function positiveInt(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new HyperfillError('E_USAGE', `\`${name}\` must be an integer greater than zero, got ${JSON.stringify(value)}`);
  }
  return value;
}

const URL_OPTIONS = ['columns', 'sampleSize', 'batchSize', 'threads', 'time_format'];

/** Splits `path?key=value&...` into the path and its options. */
function splitQuery(url: string): { rest: string; fields: string[]; values: Record<string, string> } {
  const q = QUERY.exec(url);
  if (!q) return { rest: url, fields: [], values: {} };
  const fields: string[] = [];
  const values: Record<string, string> = {};
  for (const part of q[1]!.split('&')) {
    const eq = part.indexOf('=');
    const key = decodeURIComponent(part.slice(0, eq));
    const value = key === 'time_format' ? timeFormatParam(part.slice(eq + 1)) : decodeURIComponent(part.slice(eq + 1));
    if (key.startsWith('field.')) fields.push(`${key.slice('field.'.length)}=${value}`);
    else if (URL_OPTIONS.includes(key)) values[key] = value;
    else throw new HyperfillError('E_USAGE', `unknown JSON source option "${key}"`, {}, `known: field.<column>, ${URL_OPTIONS.join(', ')}`);
  }
  return { rest: url.slice(0, q.index), fields, values };
}

function intOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new HyperfillError('E_USAGE', `\`${name}\` must be an integer, got "${value}"`);
  return Number(value);
}

export function parseJsonConfig(rawUrl: string, options: JsonSourceOptions): JsonConfig {
  const { rest: url, fields: urlFields, values } = splitQuery(rawUrl);
  let input: JsonConfig['input'];
  const m = SCHEME.exec(url);
  if (m) {
    const rest = m[2]!;
    if (rest === '-') input = { kind: 'stdin' };
    else if (rest.startsWith('//')) input = { kind: 'path', path: fileURLToPath(`file:${rest}`) };
    else if (rest) input = { kind: 'path', path: rest };
    else throw new HyperfillError('E_USAGE', `JSON source "${url}" names no file`, {}, 'e.g. json:data.ndjson, json:///abs/dir/*.json or json:- for stdin');
  } else if (/^file:/i.test(url)) {
    input = { kind: 'path', path: fileURLToPath(url) };
  } else {
    input = { kind: 'path', path: url };
  }
  const threads = options.threads ?? intOption(values.threads, 'threads');
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 0)) {
    throw new HyperfillError('E_USAGE', `\`threads\` must be an integer of zero or more, got ${JSON.stringify(threads)}`);
  }
  positiveInt(options.parallel, 'parallel');
  return {
    input,
    display: input.kind === 'stdin' ? 'stdin' : input.path,
    fields: { ...parseFieldMapping(urlFields, 'JSON source URL'), ...parseFieldMapping(options.fields, 'JSON source option `fields`') },
    columns: parseColumns(options.columns ?? values.columns),
    sampleSize: positiveInt(options.sampleSize ?? intOption(values.sampleSize, 'sampleSize') ?? 1000, 'sampleSize'),
    batchSize: positiveInt(options.batchSize ?? intOption(values.batchSize, 'batchSize') ?? 10_000, 'batchSize'),
    threads,
    stdin: options.stdin,
    timeFormat: parseTimeFormat(options.timeFormat ?? values.time_format, 'JSON source option `time_format`'),
  };
}
