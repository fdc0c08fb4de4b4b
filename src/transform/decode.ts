/**
 * Batch bytes to rows of fields, with PostgreSQL's COPY semantics: csv-parse for CSV
 * (an unquoted field equal to the NULL string is NULL, a quoted one never is; a batch
 * holding no quote character at all is split on line ends and delimiters directly,
 * which is what csv-parse would do, five times faster), and
 * the text-format decoder of copy-text.ts for PostgreSQL text format (`\N` is NULL,
 * backslash escapes). A batch that csv-parse refuses as a whole is parsed record by
 * record, so one malformed record becomes one row error, not a failed batch.
 */
import { parse } from 'csv-parse/sync';
import { RecordIndex } from '../csv/record-index.js';
import { decodeTextRow } from '../copy-text.js';
import type { Field } from './pipeline.js';

export { RecordIndex };

export interface InputDialect {
  format: 'csv' | 'text';
  /** One character: ',' (csv) or a tab (text) unless --split says otherwise. */
  delimiter: string;
  quote: string;
  escape: string;
  /** COPY's NULL string: '' for csv, '\N' for text, unless --copy-options "NULL '...'". */
  nullString: string;
}

export interface DecodedBatch {
  /** One entry per input record, in order. */
  records: Field[][];
  /** Record index → why it could not be decoded (its entry in `records` is empty). */
  errors: Map<number, string>;
}

/**
 * Records one at a time. Line-based inputs (text format, CSV without quotes) are
 * decoded as they are read, so a record's strings die young instead of living as
 * long as the batch: most of the worker's garbage collection time otherwise.
 */
export interface RecordCursor {
  /** The next record's fields (a fresh array the caller may change), or undefined at the end. */
  next(): Field[] | undefined;
  /** Why record `i` could not be decoded (its fields are then empty). */
  error(i: number): string | undefined;
  /**
   * The record count when the decoder did not split records the way the scanner does
   * (csv-parse), to check the two line up before naming a record's line; undefined
   * when they line up by construction.
   */
  readonly count: number | undefined;
}

/** Decodes one batch record by record. `index` builds the record index lazily (only odd batches need it). */
export function decodeRecords(bytes: Buffer, dialect: InputDialect, index: () => RecordIndex): RecordCursor {
  const text = bytes.toString('utf8');
  if (dialect.format === 'text') return lineCursor(text, (line) => decodeTextLine(line, dialect));
  if (!text.includes(dialect.quote)) return unquotedCsvCursor(text, dialect);
  const decoded = decodeCsv(text, dialect, index);
  let at = 0;
  return {
    next: () => decoded.records[at++],
    error: (i) => decoded.errors.get(i),
    count: decoded.records.length,
  };
}

/** Decodes one batch into an array of records (for tests and small batches). */
export function decodeBatch(bytes: Buffer, dialect: InputDialect, index: () => RecordIndex): DecodedBatch {
  const cursor = decodeRecords(bytes, dialect, index);
  const records: Field[][] = [];
  const errors = new Map<number, string>();
  for (let r = cursor.next(); r !== undefined; r = cursor.next()) {
    const e = cursor.error(records.length);
    if (e !== undefined) errors.set(records.length, e);
    records.push(r);
  }
  return { records, errors };
}

/**
 * Text-format records: each ends at a line feed, unless a backslash escapes it (a
 * data newline): then the record goes on, as the scanner has it.
 */
function lineCursor(text: string, decode: (line: string) => Field[]): RecordCursor {
  let pos = 0;
  return {
    next() {
      if (pos >= text.length) return undefined;
      let end = text.indexOf('\n', pos);
      while (end !== -1 && escapedAt(text, end, pos)) end = text.indexOf('\n', end + 1);
      if (end === -1) end = text.length;
      let line = text.slice(pos, end);
      pos = end + 1;
      if (line.charCodeAt(line.length - 1) === 0x0d && !escapedAt(line, line.length - 1, 0)) line = line.slice(0, -1);
      return decode(line);
    },
    error: () => undefined,
    count: undefined,
  };
}

/** True when an odd run of backslashes stands right before `at` (not before `from`). */
function escapedAt(text: string, at: number, from: number): boolean {
  let n = 0;
  for (let i = at - 1; i >= from && text.charCodeAt(i) === 0x5c; i--) n++;
  return n % 2 === 1;
}

function decodeTextLine(line: string, dialect: InputDialect): Field[] {
  // A data newline written as backslash + line feed reads as the \n escape.
  const text = line.includes('\\\n') ? line.replace(/\\\n/g, '\\n') : line;
  return dialect.delimiter === '\t' && dialect.nullString === '\\N' && !text.includes('\\\t')
    ? decodeTextRow(text) : splitTextLine(text, dialect.delimiter, dialect.nullString);
}

/**
 * CSV without quote characters: a record is a line, every delimiter splits, a field
 * equal to the NULL string is NULL. Fields are cut straight out of the batch text.
 */
function unquotedCsvCursor(text: string, dialect: InputDialect): RecordCursor {
  const { delimiter, nullString } = dialect;
  const len = text.length;
  let pos = 0;
  return {
    next() {
      if (pos >= len) return undefined;
      let end = text.indexOf('\n', pos);
      if (end === -1) end = len;
      const stop = end > pos && text.charCodeAt(end - 1) === 0x0d ? end - 1 : end;
      const fields: Field[] = [];
      for (let start = pos; ;) {
        let cut = text.indexOf(delimiter, start);
        if (cut === -1 || cut > stop) cut = stop;
        const field = text.slice(start, cut);
        fields.push(field === nullString ? null : field);
        if (cut === stop) break;
        start = cut + 1;
      }
      pos = end + 1;
      return fields;
    },
    error: () => undefined,
    count: undefined,
  };
}

function csvOptions(dialect: InputDialect) {
  return { delimiter: dialect.delimiter, quote: dialect.quote, escape: dialect.escape, relax_column_count: true };
}

function decodeCsv(text: string, dialect: InputDialect, index: () => RecordIndex): DecodedBatch {
  const options = csvOptions(dialect);
  let decoded: DecodedBatch;
  try {
    decoded = { records: parse(text, options) as Field[][], errors: new Map() };
  } catch {
    decoded = decodeCsvRecordByRecord(index(), options);
  }
  if (markNulls(decoded, text, dialect, index)) return decoded;
  // csv-parse and the scanner split records differently: take them one by one.
  decoded = decodeCsvRecordByRecord(index(), options);
  markNulls(decoded, text, dialect, index);
  return decoded;
}

/**
 * Unquoted fields equal to the NULL string become null. When no quoted NULL string
 * occurs in the batch at all, that is every such field; else the records holding one
 * are looked at again to see which fields were quoted. False when that needs the
 * record index and it does not line up with the decoded records.
 */
function markNulls(decoded: DecodedBatch, text: string, dialect: InputDialect, index: () => RecordIndex): boolean {
  const nul = dialect.nullString;
  const quotedNullPossible = text.includes(`${dialect.quote}${nul}${dialect.quote}`);
  for (let r = 0; r < decoded.records.length; r++) {
    const record = decoded.records[r] as Field[];
    let quoted: boolean[] | undefined;
    for (let f = 0; f < record.length; f++) {
      if (record[f] !== nul) continue;
      if (!quotedNullPossible) {
        record[f] = null;
        continue;
      }
      if (quoted === undefined) {
        const idx = index();
        if (idx.count !== decoded.records.length) return false;
        quoted = quotedFields(idx.text(r), dialect);
      }
      if (!quoted[f]) record[f] = null;
    }
  }
  return true;
}

function decodeCsvRecordByRecord(idx: RecordIndex, options: ReturnType<typeof csvOptions>): DecodedBatch {
  const records: Field[][] = [];
  const errors = new Map<number, string>();
  for (let i = 0; i < idx.count; i++) {
    try {
      const parsed = parse(idx.text(i), options) as Field[][];
      records.push(parsed[0] ?? ['']);
    } catch (err) {
      records.push([]);
      errors.set(i, `not valid CSV: ${(err as Error).message}`);
    }
  }
  return { records, errors };
}

/** Which fields of one CSV record were quoted. */
export function quotedFields(record: string, dialect: Pick<InputDialect, 'delimiter' | 'quote' | 'escape'>): boolean[] {
  const { delimiter, quote, escape } = dialect;
  const flags: boolean[] = [];
  let fieldQuoted = false;
  let inQuote = false;
  let atFieldStart = true;
  for (let i = 0; i < record.length; i++) {
    const c = record[i];
    if (inQuote) {
      if (c === escape && escape !== quote && (record[i + 1] === quote || record[i + 1] === escape)) i++;
      else if (c === quote) {
        if (escape === quote && record[i + 1] === quote) i++;
        else inQuote = false;
      }
      continue;
    }
    if (c === quote) {
      inQuote = true;
      if (atFieldStart) fieldQuoted = true;
      atFieldStart = false;
      continue;
    }
    if (c === delimiter) {
      flags.push(fieldQuoted);
      fieldQuoted = false;
      atFieldStart = true;
      continue;
    }
    if (c === '\n' || c === '\r') break;
    atFieldStart = false;
  }
  flags.push(fieldQuoted);
  return flags;
}

/** Text format with any delimiter and NULL string; a backslash escapes the delimiter. */
function splitTextLine(line: string, delimiter: string, nullString: string): Field[] {
  const out: Field[] = [];
  let start = 0;
  let from = 0;
  for (;;) {
    const at = line.indexOf(delimiter, from);
    if (at !== -1) {
      let n = 0;
      for (let i = at - 1; i >= start && line.charCodeAt(i) === 0x5c; i--) n++;
      if (n % 2 === 1) {
        from = at + 1;
        continue;
      }
    }
    const raw = at === -1 ? line.slice(start) : line.slice(start, at);
    out.push(raw === nullString ? null : raw.includes('\\') ? unescapeText(raw) : raw);
    if (at === -1) return out;
    start = from = at + 1;
  }
}

const UNESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

function unescapeText(field: string): string {
  return field.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|[\s\S])/g, (_, e: string) => {
    if (e[0] === 'x' && e.length > 1) return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]+$/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return UNESCAPES[e] ?? e;
  });
}
