/**
 * CSV file source URLs and options, validated in one place.
 *
 *   csv:///data/metrics-*.csv.gz          absolute glob: `*`, `?` within a path segment, `**` as a whole
 *                                         segment for any number of directories
 *   csv:exports/2024-??.csv               a glob relative to the working directory
 *   csv:///data/{table}/*.csv              `{table}` is replaced by the --table name (several tables, one URL)
 *   tsv:///data/*.tsv                     the same, tab-delimited by default
 *   file:///data/part-1.csv.gz            a file: URL, or a bare path, ending in .csv or .tsv (optionally .gz)
 *
 * Options go in the query string of csv:, tsv: and file: URLs:
 *   header=true|false      the first record of every file names the columns (default true)
 *   columns=a,b,c          column names (replace the header's; required names when header=false)
 *   delimiter=,            one character; `tab` or %09 for a tab
 *   quote="  escape="      one character each (escape defaults to quote: "" inside a quoted field)
 *   null=                  the unquoted text that means NULL (default: an unquoted empty field, as COPY CSV)
 *   time_format=auto|iso|epoch_s|epoch_ms|epoch_us|PATTERN
 *                          how the time column is written (auto: ISO times, or integers taken as they are;
 *                          a pattern like %Y/%m/%d %H:%M, taken as written: src/time-format.ts)
 *   sample=1000            records read to infer the column types (0: every record)
 *   types=col:type,...     PostgreSQL types that override the inferred ones
 *
 * A `?` that starts a query string is one followed by `key=value` pairs; any other `?` is
 * a glob character. The path of a csv:/tsv:/file: URL is percent-decoded (%3F is a
 * literal ?, %25 a literal %). The gzip format is told by its magic bytes, not the name.
 */
import { fileURLToPath } from 'node:url';
import { HyperfillError } from '../../src/errors.js';
import { parseTimeFormat, type TimeFormat, timeFormatParam } from '../../src/time-format.js';


export interface CsvDialect {
  delimiter: string;
  quote: string;
  escape: string;
  /** Unquoted text that reads as NULL. */
  nullString: string;
}

export interface CsvFilesConfig {
  /** The glob as a path (absolute, or relative to the working directory); may hold `{table}`. */
  pattern: string;
  dialect: CsvDialect;
  header: boolean;
  columns: string[] | undefined;
  timeFormat: TimeFormat;
  /** Records sniffed by describe(); Infinity reads them all. */
  sample: number;
  /** Column → PostgreSQL type, overriding inference. */
  types: Map<string, string>;
}

const SCHEME = /^(csv|tsv):(.*)$/is;
const FILE_EXTENSION = /\.(csv|tsv)(\.gz)?$/i;
const QUERY = /^[a-z_]+=[^&]*(&[a-z_]+=[^&]*)*$/i;
const OPTIONS = ['header', 'columns', 'delimiter', 'quote', 'escape', 'null', 'time_format', 'sample', 'types'];
/** A type name as format_type prints it: words, an optional modifier, an optional []. No SQL beyond that. */
const TYPE_NAME = /^[a-z_][a-z0-9_ ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?( with(out)? time zone)?(\[\])*$/i;

export function acceptsCsvUrl(url: string): boolean {
  if (SCHEME.test(url)) return true;
  const path = splitQuery(url).path;
  if (/^file:/i.test(url)) return FILE_EXTENSION.test(path);
  return !/^[a-z][a-z0-9+.-]*:/i.test(url) && FILE_EXTENSION.test(url);
}

/** The path and the query string: the first `?` followed only by key=value pairs starts the query. */
function splitQuery(text: string): { path: string; query: string | undefined } {
  for (let i = text.indexOf('?'); i !== -1; i = text.indexOf('?', i + 1)) {
    if (QUERY.test(text.slice(i + 1))) return { path: text.slice(0, i), query: text.slice(i + 1) };
  }
  return { path: text, query: undefined };
}

function decodePath(path: string, url: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    throw new HyperfillError('E_USAGE', `the CSV source "${url}" has a bad percent-escape in its path`, {}, 'write a literal % as %25');
  }
}

export function parseCsvFilesUrl(url: string): CsvFilesConfig {
  let pattern: string;
  let query: string | undefined;
  let tab = false;
  const m = SCHEME.exec(url);
  if (m) {
    tab = m[1]!.toLowerCase() === 'tsv';
    const split = splitQuery(m[2]!);
    query = split.query;
    const rest = split.path;
    if (rest.startsWith('//')) {
      if (!rest.startsWith('///')) {
        throw new HyperfillError('E_USAGE', `the CSV source "${url}" names a host`, {}, 'use csv:///absolute/path/*.csv (three slashes) or csv:relative/path/*.csv');
      }
      pattern = decodePath(rest.slice(2), url);
    } else {
      pattern = decodePath(rest, url);
    }
  } else if (/^file:/i.test(url)) {
    const split = splitQuery(url);
    query = split.query;
    tab = /\.tsv(\.gz)?$/i.test(split.path);
    // fileURLToPath percent-decodes; `*` needs no escaping in a URL path.
    try {
      pattern = fileURLToPath(split.path.replace(/\?/g, '%3F'));
    } catch (err) {
      throw new HyperfillError('E_USAGE', `the file URL "${url}" does not parse: ${(err as Error).message}`, {}, 'e.g. file:///data/metrics.csv.gz');
    }
  } else {
    pattern = url;
    tab = /\.tsv(\.gz)?$/i.test(url);
  }
  if (pattern === '') throw new HyperfillError('E_USAGE', `the CSV source "${url}" names no file`, {}, 'e.g. csv:///data/metrics-*.csv.gz');
  return { pattern, ...parseOptions(query, tab, url) };
}

function parseOptions(query: string | undefined, tab: boolean, url: string): Omit<CsvFilesConfig, 'pattern'> {
  const values = new Map<string, string>();
  for (const pair of query ? query.split('&') : []) {
    const i = pair.indexOf('=');
    const key = pair.slice(0, i).toLowerCase();
    if (!OPTIONS.includes(key)) {
      throw new HyperfillError('E_USAGE', `unknown CSV source option "${key}"`, {}, `options: ${OPTIONS.join(', ')}`);
    }
    let value: string;
    try {
      value = key === 'time_format' ? timeFormatParam(pair.slice(i + 1)) : decodeURIComponent(pair.slice(i + 1).replace(/\+/g, ' '));
    } catch {
      throw new HyperfillError('E_USAGE', `CSV source option \`${key}\` has a bad percent-escape`, {}, 'e.g. quote=%22 for a double quote');
    }
    if (values.has(key)) throw new HyperfillError('E_USAGE', `CSV source option \`${key}\` is given twice in "${url}"`);
    values.set(key, value);
  }
  const delimiter = char(values.get('delimiter'), 'delimiter', tab ? '\t' : ',');
  const quote = char(values.get('quote'), 'quote', '"');
  const escape = char(values.get('escape'), 'escape', quote);
  if (delimiter === quote) throw new HyperfillError('E_USAGE', 'CSV source options `delimiter` and `quote` must differ');
  const nullString = values.get('null') ?? '';
  if (nullString.includes(delimiter) || nullString.includes(quote) || /[\r\n]/.test(nullString)) {
    throw new HyperfillError('E_USAGE', 'CSV source option `null` must not contain the delimiter, the quote or a line end');
  }
  const header = bool(values.get('header'), 'header', true);
  const columns = values.get('columns')?.split(',').map((c) => c.trim());
  if (columns && (columns.some((c) => c === '') || new Set(columns).size !== columns.length)) {
    throw new HyperfillError('E_USAGE', 'CSV source option `columns` must list distinct, non-empty names', {}, 'e.g. columns=time,host,cpu');
  }
  if (!header && !columns) {
    throw new HyperfillError('E_USAGE', 'a CSV source with header=false needs `columns`', {}, 'e.g. ?header=false&columns=time,host,cpu');
  }
  const timeFormat = parseTimeFormat(values.get('time_format'), 'CSV source option `time_format`');
  const sampleText = values.get('sample') ?? '1000';
  if (!/^\d+$/.test(sampleText)) throw new HyperfillError('E_USAGE', `CSV source option \`sample\` must be a whole number (0: every record), got "${sampleText}"`);
  const sample = Number(sampleText) === 0 ? Infinity : Number(sampleText);
  const types = new Map<string, string>();
  for (const item of values.get('types')?.split(',') ?? []) {
    const i = item.lastIndexOf(':');
    const name = item.slice(0, i).trim();
    const type = item.slice(i + 1).trim().replace(/\s+/g, ' ');
    if (i <= 0 || !TYPE_NAME.test(type)) {
      throw new HyperfillError('E_USAGE', `CSV source option \`types\` must list column:type pairs, got "${item}"`, {}, 'e.g. types=host:text,cpu:real');
    }
    types.set(name, type.toLowerCase());
  }
  return { dialect: { delimiter, quote, escape, nullString }, header, columns, timeFormat, sample, types };
}

function char(value: string | undefined, name: string, fallback: string): string {
  if (value === undefined) return fallback;
  const decoded = value === 'tab' || value === '\\t' ? '\t' : value;
  if (decoded.length !== 1 || decoded === '\n' || decoded === '\r') {
    throw new HyperfillError('E_USAGE', `CSV source option \`${name}\` must be one character (not a line end), got "${value}"`, {},
      name === 'quote' ? 'percent-encode it: quote=%22 for ", quote=%27 for \'' : undefined);
  }
  return decoded;
}

function bool(value: string | undefined, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (/^(true|1|yes|on)$/i.test(value)) return true;
  if (/^(false|0|no|off)$/i.test(value)) return false;
  throw new HyperfillError('E_USAGE', `CSV source option \`${name}\` must be true or false, got "${value}"`);
}
