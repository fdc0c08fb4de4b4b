/**
 * CSV files (a glob, gzip allowed) as a backfill source. Files cannot be searched by
 * time, so this is a scan-per-window source:
 * - describe() reads the header and sniffs the first `sample` records for types;
 * - read(window) scans the files and keeps the rows with start <= time < end, encoded
 *   in PostgreSQL's text COPY format; count and extent scan too;
 * - every full scan of a file remembers the file's row count and time range (keyed by
 *   its size and modification time), so later windows skip the files they cannot
 *   touch and count whole files without reading them. Files split by time are then
 *   read about once per window they overlap; one big file is read once per window.
 * That is why naturalBoundaries() plans ONE window per table unless --window is
 * given. Rows whose time field is empty are in no window (as NULL times are in a
 * database); a time that does not parse is an error naming the file and line.
 */
import { promises as fs } from 'node:fs';
import { Readable } from 'node:stream';
import { HyperfillError } from '../../src/errors.js';
import { timeColumnHint } from '../../src/time-column-hint.js';
import type { ReadRequest, Source, SourceColumn, SourceTableInfo, TimeRange, WindowStream, PinnedSnapshot } from '../../src/source.js';
import { encodeTextRow } from '../../src/copy-text.js';
import { timeFormatName } from '../../src/time-format.js';
import { compileTimePattern } from '../../src/time-pattern.js';
import { formatTimeValue, type TimeType, timeTypeOf } from '../../src/time-value.js';
import { openInput } from '../../src/csv/input.js';
import type { CsvFilesConfig } from './config.js';
import { type CsvRecord, CsvFieldParser } from './csv-fields.js';
import { expandGlob } from './glob.js';
import { ColumnSniffer } from './infer.js';
import { type TimeEncoding, type TimeReader, parseIso, timeReader, timeTypeOfEncoding } from './time-text.js';

export interface CsvFilesTableInfo extends SourceTableInfo {
  /** The files, sorted by path. */
  files: string[];
  /** Column names in file order. */
  fileColumns: string[];
  /** The header every file must start with (header=true), as read from the first file. */
  header: string[] | undefined;
  timeIndex: number;
  timeEncoding: TimeEncoding;
  /** The sniffed records (for sampleDistinct), where each came from, whether they are all there are, their average size. */
  sample: { rows: Array<Array<string | null>>; where: Array<{ file: string; line: number }>; complete: boolean; avgChars: number };
  /** Things the user should know (an inferred time column, sampled types). */
  notes: string[];
}

/** What one full scan of a file found; valid while its size and mtime stay the same. */
interface FileStats {
  size: number;
  mtimeMs: number;
  rows: number;
  /** Rows with a time (not NULL). */
  timed: number;
  min: bigint | undefined;
  max: bigint | undefined;
}

interface TimedBatch {
  records: CsvRecord[];
  times: Array<bigint | null>;
}

/** Sampled rows kept in memory (the type sample itself may be larger). */
const KEPT_ROWS = 100_000;
const ISO_TYPES = new Set(['timestamp with time zone', 'timestamp without time zone', 'date']);
const PG_TIME_TYPE: Partial<Record<TimeType, string>> = { timestamptz: 'timestamp with time zone', timestamp: 'timestamp without time zone', date: 'date' };
const NUMERIC_TYPES = new Set(['bigint', 'integer', 'smallint', 'numeric', 'double precision', 'real']);

export class CsvFilesSource implements Source {
  readonly kind = 'csv';
  private readonly stats = new Map<string, FileStats>();
  private readonly notes = new Set<string>();

  constructor(readonly config: CsvFilesConfig) {}

  get description(): string {
    return this.config.pattern;
  }

  async describe(table: string, timeColumn?: string): Promise<CsvFilesTableInfo> {
    const pattern = this.patternFor(table);
    const files = await expandGlob(pattern);
    if (files.length === 0) {
      throw new HyperfillError('E_INPUT_MISSING', `no file matches ${pattern}`, { table },
        'check the path in the source URL (csv:///absolute/path/*.csv, csv:relative/*.csv.gz); `*`, `?` and `**` are glob characters');
    }
    const { header, rows, where, sampled, sniffers: sniffed, complete, avgChars } = await this.sniff(files);
    const names = this.columnNames(header, files[0]!);
    const sniffers = names.map((_, i) => sniffed[i] ?? new ColumnSniffer());
    for (const name of this.config.types.keys()) {
      if (!names.includes(name)) throw new HyperfillError('E_USAGE', `CSV source option \`types\` names column "${name}", which the files do not have`, { table }, `columns: ${names.join(', ')}`);
    }
    const types = names.map((name, i) => this.config.types.get(name) ?? sniffers[i]!.type());
    const notes: string[] = [];
    const timePattern = this.config.timeFormat.kind === 'pattern' ? compileTimePattern(this.config.timeFormat.pattern) : undefined;
    // With a pattern: the first sampled value of a column that the pattern does not read.
    const unreadable = (k: number) => firstValue(rows, where, k, (v) => timePattern?.parse(v) === undefined);
    const timeIndex = this.chooseTimeColumn(names, types, sniffers, timeColumn, table, notes, unreadable);
    const timeEncoding = this.encodingFor(names[timeIndex]!, types[timeIndex]!, sniffers[timeIndex]!, table,
      timePattern ? unreadable(timeIndex) : firstValue(rows, where, timeIndex, (v) => !isIsoOrNumber(v)), this.config.types.has(names[timeIndex]!));
    if (timeEncoding.kind === 'epoch' || timeEncoding.kind === 'pattern') types[timeIndex] = PG_TIME_TYPE[timeTypeOfEncoding(timeEncoding)]!;
    const columns: SourceColumn[] = names.map((name, i) => ({
      name, pgType: types[i]!,
      // Rows without a time are in no window, so the time column is never NULL in the target.
      nullable: i !== timeIndex && (sniffers[i]!.nulls > 0 || !complete),
    }));
    notes.push(complete ? `column types inferred from all ${sampled} rows`
      : `column types inferred from the first ${sampled} rows (sample=0 in the URL reads every row; types=col:type overrides)`);
    for (const n of notes) this.notes.add(n);
    return {
      name: table, columns, timeColumn: names[timeIndex]!, timeType: timeTypeOfEncoding(timeEncoding),
      files, fileColumns: names, header, timeIndex, timeEncoding, sample: { rows, where, complete, avgChars }, notes,
    };
  }

  /** One window per table: each window rescans the files (see the file comment). */
  async naturalBoundaries(_table: SourceTableInfo, range: TimeRange): Promise<bigint[]> {
    return [range.start, range.end];
  }

  async estimateRows(table: SourceTableInfo, range: TimeRange): Promise<number> {
    const info = table as CsvFilesTableInfo;
    let rows = 0;
    for (const file of info.files) {
      const stats = await this.validStats(info, file);
      if (stats) {
        if (stats.min === undefined || stats.max === undefined || stats.max < range.start || stats.min >= range.end) continue;
        const span = Number(stats.max - stats.min) + 1;
        const lo = stats.min > range.start ? stats.min : range.start;
        const hi = stats.max < range.end ? stats.max : range.end;
        rows += stats.timed * Math.min(1, Math.max(0, Number(hi - lo) + 1) / span);
      } else {
        rows += (await uncompressedSize(file)) / Math.max(info.sample.avgChars, 1);
      }
    }
    return Math.round(rows);
  }

  async extent(table: SourceTableInfo, range: TimeRange): Promise<TimeRange | undefined> {
    const info = table as CsvFilesTableInfo;
    let min: bigint | undefined;
    let max: bigint | undefined;
    const take = (lo: bigint, hi: bigint) => {
      if (min === undefined || lo < min) min = lo;
      if (max === undefined || hi > max) max = hi;
    };
    for (const file of info.files) {
      const stats = await this.validStats(info, file);
      if (stats && (stats.min === undefined || stats.max === undefined || stats.max < range.start || stats.min >= range.end)) continue;
      if (stats && stats.min! >= range.start && stats.max! < range.end) {
        take(stats.min!, stats.max!);
        continue;
      }
      for await (const { times } of this.scan(info, file)) {
        for (const t of times) if (t !== null && t >= range.start && t < range.end) take(t, t);
      }
    }
    return min === undefined || max === undefined ? undefined : { start: min, end: max };
  }

  async count(table: SourceTableInfo, window: TimeRange): Promise<number> {
    const info = table as CsvFilesTableInfo;
    let n = 0;
    for (const file of info.files) {
      const stats = await this.validStats(info, file);
      if (stats && (stats.min === undefined || stats.max === undefined || stats.max < window.start || stats.min >= window.end)) continue;
      if (stats && stats.min! >= window.start && stats.max! < window.end) {
        n += stats.timed;
        continue;
      }
      for await (const { times } of this.scan(info, file)) {
        for (const t of times) if (t !== null && t >= window.start && t < window.end) n++;
      }
    }
    return n;
  }

  /** Distinct values of a column in describe()'s sample (at most `limit` rows of it). */
  async sampleDistinct(table: SourceTableInfo, column: string, limit: number): Promise<{ rows: number; distinct: number }> {
    const info = table as CsvFilesTableInfo;
    const i = info.fileColumns.indexOf(column);
    const rows = info.sample.rows.slice(0, limit);
    return { rows: rows.length, distinct: new Set(rows.map((r) => r[i])).size };
  }

  /** Files have no snapshot; the note tells the user what that means, and what describe() inferred. */
  async pinSnapshot(): Promise<PinnedSnapshot> {
    return {
      id: undefined,
      note: ['CSV files have no snapshot: each window scans the files as they are then, so leave them unchanged until the run ends',
        ...this.notes].join('; '),
    };
  }

  async read(request: ReadRequest): Promise<WindowStream> {
    const info = request.table as CsvFilesTableInfo;
    const indexes = request.columns.map((name) => {
      const i = info.fileColumns.indexOf(name);
      if (i === -1) throw new HyperfillError('E_COLUMN_MISSING', `the CSV files have no column "${name}"`, { table: info.name }, `columns: ${info.fileColumns.join(', ')}`);
      return i;
    });
    // Epoch and pattern times are written out as PostgreSQL reads them.
    const rewriteTime = info.timeEncoding.kind === 'epoch' || info.timeEncoding.kind === 'pattern' ? request.columns.indexOf(info.timeColumn) : -1;
    const timeType = timeTypeOfEncoding(info.timeEncoding);
    const { start, end } = request.window;
    let sent: number | undefined;
    const generate = async function* (this: CsvFilesSource): AsyncGenerator<Buffer> {
      let rows = 0;
      for (const file of info.files) {
        const stats = await this.validStats(info, file);
        if (stats && (stats.min === undefined || stats.max === undefined || stats.max < start || stats.min >= end)) continue;
        for await (const { records, times } of this.scan(info, file)) {
          let out = '';
          for (let k = 0; k < records.length; k++) {
            const t = times[k]!;
            if (t === null || t < start || t >= end) continue;
            const record = records[k]!;
            const values = indexes.map((i) => record.fields[i]);
            if (rewriteTime >= 0) values[rewriteTime] = formatTimeValue(t, timeType);
            try {
              out += encodeTextRow(values);
            } catch (err) {
              throw new HyperfillError('E_CSV_VALUE', (err as Error).message, { file, line: record.line });
            }
            rows++;
          }
          if (out.length > 0) yield Buffer.from(out);
        }
      }
      sent = rows;
    }.call(this);
    return { format: 'text', stream: Readable.from(generate, { objectMode: false }), rowsSent: async () => sent };
  }

  async close(): Promise<void> {
    this.stats.clear();
  }

  private patternFor(table: string): string {
    const pattern = this.config.pattern;
    if (!pattern.includes('{table}')) return pattern;
    if (/[/\\\0]|^\.\.?$/.test(table)) {
      throw new HyperfillError('E_USAGE', `table name "${table}" cannot be put into a file path`, { table }, 'a table name replacing {table} must not contain / or be . or ..');
    }
    return pattern.split('{table}').join(table);
  }

  /**
   * The header (of the first file) and up to `sample` data records from the first files on,
   * each fed to its column's sniffer; the first KEPT_ROWS are kept (for sampleDistinct and
   * error messages), so sample=0 on big files does not hold them all in memory.
   */
  private async sniff(files: string[]) {
    const rows: Array<Array<string | null>> = [];
    const where: Array<{ file: string; line: number }> = [];
    const sniffers: ColumnSniffer[] = [];
    let sampled = 0;
    let header: string[] | undefined;
    let chars = 0;
    let complete = true;
    const limit = this.config.sample;
    outer: for (const file of files) {
      let first = this.config.header;
      const parser = new CsvFieldParser(this.config.dialect, file);
      const input = await openInput(file);
      const take = (records: CsvRecord[]): boolean => {
        for (const r of records) {
          if (first) {
            first = false;
            const names = r.fields.map((f) => f ?? '');
            if (!header) header = names;
            else checkHeader(header, names, file, r.line);
            continue;
          }
          if (sampled >= limit) return false;
          checkWidth(header?.length ?? this.config.columns?.length ?? r.fields.length, r, file);
          r.fields.forEach((v, i) => (sniffers[i] ??= new ColumnSniffer()).add(v));
          sampled++;
          chars += r.chars;
          if (rows.length < KEPT_ROWS) {
            rows.push(r.fields);
            where.push({ file, line: r.line });
          }
        }
        return true;
      };
      for await (const chunk of input.chunks()) {
        if (!take(parser.push(chunk))) {
          complete = false;
          break outer;
        }
      }
      if (!take(parser.end())) {
        complete = false;
        break;
      }
    }
    return { header, rows, where, sampled, sniffers, complete, avgChars: sampled > 0 ? chars / sampled : 100 };
  }

  private columnNames(header: string[] | undefined, file: string): string[] {
    const given = this.config.columns;
    if (given && header && given.length !== header.length) {
      throw new HyperfillError('E_CSV_HEADER', `CSV source option \`columns\` names ${given.length} columns, but the header has ${header.length}`, { file, line: 1 },
        `the header: ${header.join(', ')}`);
    }
    const names = given ?? header;
    if (!names || names.length === 0) throw new HyperfillError('E_CSV_HEADER', 'the CSV files are empty: no header and no rows', { file });
    const seen = new Set<string>();
    for (const name of names) {
      if (name === '') throw new HyperfillError('E_CSV_HEADER', 'the header has an empty column name', { file, line: 1 }, 'name the columns with columns=a,b,c in the source URL');
      if (seen.has(name)) throw new HyperfillError('E_CSV_HEADER', `the header names column "${name}" twice`, { file, line: 1 }, 'name the columns with columns=a,b,c in the source URL');
      seen.add(name);
    }
    return names;
  }

  private chooseTimeColumn(names: string[], types: string[], sniffers: ColumnSniffer[], given: string | undefined, table: string, notes: string[],
    unreadable: (k: number) => SampledValue | undefined): number {
    if (given !== undefined) {
      const i = names.indexOf(given);
      if (i === -1) throw new HyperfillError('E_COLUMN_MISSING', `the CSV files have no column "${given}"`, { table }, `columns: ${names.join(', ')}`);
      return i;
    }
    const format = this.config.timeFormat;
    const readable = (k: number) => sniffers[k]!.values > 0 && (format.kind === 'pattern' ? unreadable(k) === undefined : ISO_TYPES.has(types[k]!));
    const i = format.kind === 'epoch' ? -1 : names.findIndex((_, k) => readable(k));
    if (i === -1) {
      const holds = format.kind === 'epoch' ? 'epoch numbers' : format.kind === 'pattern' ? `times written as ${format.pattern}` : 'ISO timestamps';
      const fits = (k: number) => (format.kind === 'epoch' ? NUMERIC_TYPES.has(types[k]!) : format.kind === 'pattern' ? false : timeTypeOf(types[k]!) !== undefined);
      throw new HyperfillError('E_TIME_COLUMN_REQUIRED', `no column of the CSV files holds ${holds} in the sample, so the time column is not known`, { table },
        timeColumnHint(names.filter((_, k) => fits(k)), format.kind === 'pattern'
          ? 'name the time column with --time-column, and check time_format against the files'
          : 'no column holds timestamps, dates or integers in the sample: time_format= in the source URL says how the times are written (e.g. time_format=epoch_ms, or a pattern like time_format=%Y/%m/%d %H:%M)'));
    }
    notes.push(`time column "${names[i]}" (${format.kind === 'pattern' ? format.pattern : types[i]}): the first column holding timestamps; --time-column chooses another`);
    return i;
  }

  /** `typed`: the column's type was given with types= (it then decides between timestamptz, timestamp and date). */
  private encodingFor(name: string, type: string, sniffer: ColumnSniffer, table: string, odd: SampledValue | undefined, typed: boolean): TimeEncoding {
    const format = this.config.timeFormat;
    const at = odd ? { file: odd.file, line: odd.line } : {};
    if (format.kind === 'epoch') {
      if (sniffer.values > 0 && !sniffer.numeric) {
        throw new HyperfillError('E_TIME_COLUMN_TYPE', `time column "${name}" holds values that are not numbers${odd ? ` ("${odd.value}")` : ''}, but time_format=${timeFormatName(format)}`,
          { table, ...at, column: name }, 'use time_format=iso (or auto) for ISO timestamps');
      }
      return { kind: 'epoch', unit: format.unit };
    }
    if (format.kind === 'pattern') return this.patternEncoding(name, format.pattern, typed ? timeTypeOf(type) : undefined, table, odd);
    const timeType = timeTypeOf(type);
    if (timeType === 'timestamptz' || timeType === 'timestamp' || timeType === 'date') return { kind: 'iso', type: timeType };
    if (timeType !== undefined && format.kind === 'auto') return { kind: 'integer', type: timeType };
    const hint = sniffer.numeric
      ? 'for epoch numbers add time_format=epoch_s, epoch_ms or epoch_us to the source URL (or types=col:bigint to keep them as integers)'
      : 'the time column must hold ISO timestamps or dates (or integers); types=col:timestamptz in the URL sets its type, time_format=%d.%m.%Y %H:%M (say) another layout';
    const why = odd ? `; the sample has "${odd.value}", which is not a timestamp` : '';
    throw new HyperfillError('E_TIME_COLUMN_TYPE', `time column "${name}" looks like ${type}${format.kind === 'iso' ? ', but time_format=iso' : ''}${why}`,
      { table, ...at, column: name }, odd ? `repair or remove that row, or: ${hint}` : hint);
  }

  /**
   * A time column read by a pattern: timestamptz when the pattern has a zone (%z), timestamp when
   * it has a time of day, else date; types= may choose, as far as the pattern allows (a timestamptz
   * without a zone would depend on the session's time zone, as for ISO text).
   */
  private patternEncoding(name: string, patternText: string, typed: TimeType | undefined, table: string, odd: SampledValue | undefined): TimeEncoding {
    const pattern = compileTimePattern(patternText);
    const at = { table, column: name, ...(odd ? { file: odd.file, line: odd.line } : {}) };
    if (odd) {
      throw new HyperfillError('E_TIME_COLUMN_TYPE', `time column "${name}" holds "${odd.value}", which time_format=${patternText} does not read`, at,
        'repair or remove that row, or correct time_format (directives: %Y %m %d %H %M %S %f %I %p %b %B %z)');
    }
    const type = typed ?? (pattern.hasZone ? 'timestamptz' : pattern.hasTime ? 'timestamp' : 'date');
    if (type === 'timestamptz' && !pattern.hasZone) {
      throw new HyperfillError('E_TIME_COLUMN_TYPE', `time column "${name}" is typed timestamptz, but time_format=${patternText} has no zone (%z)`, at,
        'a time without a zone would depend on the session\'s time zone: add %z to the pattern, or type the column timestamp');
    }
    if (type === 'date' && pattern.hasTime) {
      throw new HyperfillError('E_TIME_COLUMN_TYPE', `time column "${name}" is typed date, but time_format=${patternText} has a time of day`, at,
        'a date column would drop it: type the column timestamp or timestamptz');
    }
    if (type !== 'timestamptz' && type !== 'timestamp' && type !== 'date') {
      throw new HyperfillError('E_TIME_COLUMN_TYPE', `time column "${name}" is typed ${type}, but time_format=${patternText} writes times`, at,
        'type it timestamptz, timestamp or date, or leave types= out for it');
    }
    return { kind: 'pattern', pattern: patternText, type };
  }

  /** A file's records with their parsed times; a full scan records the file's stats. */
  private async *scan(info: CsvFilesTableInfo, file: string): AsyncGenerator<TimedBatch> {
    const before = await fileIdentity(file);
    const input = await openInput(file);
    const parser = new CsvFieldParser(this.config.dialect, file);
    const read: TimeReader = timeReader(info.timeEncoding);
    const width = info.fileColumns.length;
    let headerPending = this.config.header;
    let rows = 0;
    let timed = 0;
    let min: bigint | undefined;
    let max: bigint | undefined;
    const batch = (records: CsvRecord[]): TimedBatch => {
      if (headerPending && records.length > 0) {
        headerPending = false;
        const head = records.shift()!;
        if (info.header) checkHeader(info.header, head.fields.map((f) => f ?? ''), file, head.line);
      }
      const times: Array<bigint | null> = new Array(records.length);
      for (let k = 0; k < records.length; k++) {
        const r = records[k]!;
        checkWidth(width, r, file);
        const text = r.fields[info.timeIndex];
        if (text === null || text === undefined) {
          times[k] = null;
          continue;
        }
        const t = read(text);
        if (t === undefined) {
          throw new HyperfillError('E_CSV_TIME_VALUE', `time value "${text.slice(0, 100)}" in column "${info.timeColumn}" is not ${describeEncoding(info.timeEncoding)}`,
            { file, line: r.line, column: info.timeColumn },
            'repair or remove the row; time_format= and types= in the source URL say how the time column is written');
        }
        times[k] = t;
        timed++;
        if (min === undefined || t < min) min = t;
        if (max === undefined || t > max) max = t;
      }
      rows += records.length;
      return { records, times };
    };
    for await (const chunk of input.chunks()) {
      const records = parser.push(chunk);
      if (records.length > 0) yield batch(records);
    }
    const last = parser.end();
    if (last.length > 0) yield batch(last);
    this.stats.set(statsKey(info, file), { ...before, rows, timed, min, max });
  }

  private async validStats(info: CsvFilesTableInfo, file: string): Promise<FileStats | undefined> {
    const stats = this.stats.get(statsKey(info, file));
    if (!stats) return undefined;
    const now = await fileIdentity(file).catch(() => undefined);
    return now && now.size === stats.size && now.mtimeMs === stats.mtimeMs ? stats : undefined;
  }
}

interface SampledValue {
  value: string;
  file: string;
  line: number;
}

/** The first sampled value of a column that `test` picks, with where it came from. */
function firstValue(rows: Array<Array<string | null>>, where: Array<{ file: string; line: number }>, column: number,
  test: (v: string) => boolean): SampledValue | undefined {
  const k = rows.findIndex((r) => r[column] != null && test(r[column]!));
  return k === -1 ? undefined : { value: rows[k]![column]!.slice(0, 100), ...where[k]! };
}

const isIsoOrNumber = (v: string) => parseIso(v) !== undefined || /^[+-]?\d+(\.\d*)?$/.test(v);

const statsKey = (info: CsvFilesTableInfo, file: string) => `${info.timeColumn}\0${JSON.stringify(info.timeEncoding)}\0${file}`;

async function fileIdentity(file: string): Promise<{ size: number; mtimeMs: number }> {
  try {
    const s = await fs.stat(file);
    return { size: s.size, mtimeMs: s.mtimeMs };
  } catch (err) {
    throw new HyperfillError('E_INPUT_MISSING', `cannot read a file of the source: ${(err as Error).message}`, { file },
      'a file the glob matched has gone or become unreadable; leave the files unchanged while hyperfill runs');
  }
}

function checkHeader(expected: string[], got: string[], file: string, line: number): void {
  if (expected.length === got.length && expected.every((name, i) => name === got[i])) return;
  throw new HyperfillError('E_CSV_HEADER_MISMATCH', `the header of this file differs from the first file's (${got.join(', ')} instead of ${expected.join(', ')})`,
    { file, line }, 'every file of a source must have the same columns in the same order');
}

function checkWidth(width: number, record: CsvRecord, file: string): void {
  if (record.fields.length === width) return;
  throw new HyperfillError('E_CSV_COLUMN_COUNT', `the record has ${record.fields.length} fields, but there are ${width} columns`, { file, line: record.line },
    'check the delimiter (delimiter= in the source URL) and the quoting of that line');
}

function describeEncoding(e: TimeEncoding): string {
  if (e.kind === 'epoch') return `a number of ${{ s: 'seconds', ms: 'milliseconds', us: 'microseconds' }[e.unit]} since the epoch`;
  if (e.kind === 'pattern') return `a time written as ${e.pattern}`;
  if (e.kind === 'integer') return 'an integer';
  if (e.type === 'timestamptz') return 'an ISO timestamp with a time zone (e.g. 2024-01-01T00:00:00Z)';
  if (e.type === 'timestamp') return 'an ISO timestamp (e.g. 2024-01-01 00:00:00)';
  return 'an ISO date (YYYY-MM-DD)';
}

/** The size a file has once inflated: gzip's trailer holds it (modulo 4 GiB). */
async function uncompressedSize(file: string): Promise<number> {
  await fileIdentity(file);
  const handle = await fs.open(file, 'r');
  try {
    const { size } = await handle.stat();
    const head = Buffer.alloc(2);
    await handle.read(head, 0, 2, 0);
    if (size < 18 || head[0] !== 0x1f || head[1] !== 0x8b) return size;
    const tail = Buffer.alloc(4);
    await handle.read(tail, 0, 4, size - 4);
    const inflated = tail.readUInt32LE(0);
    // A trailer smaller than the file wrapped around 4 GiB (or the file has several members): guess.
    return inflated >= size ? inflated : size * 5;
  } finally {
    await handle.close();
  }
}
