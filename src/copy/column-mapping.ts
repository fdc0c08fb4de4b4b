/**
 * --column-mapping and --auto-column-mapping (timescaledb-parallel-copy's): the input's
 * header record names its fields, and says which table column each one fills. The
 * header is read from each input before the load (and skipped by it); every input must
 * map to the same columns, in the same order, since one COPY statement serves them all.
 */
import { HyperfillError } from '../errors.js';
import type { Input } from '../csv/input.js';
import { RecordScanner, type ScanDialect } from '../csv/record-scanner.js';
import { splitOutsideQuotes, unquoteName } from '../pg/table-name.js';
import type { InputDialect } from '../transform/decode.js';

/** Header name → table column; 'auto': each header name is the column's. */
export type ColumnMapping = Array<{ header: string; column: string }> | 'auto';

const usage = (message: string, hint?: string) => new HyperfillError('E_USAGE', message, {}, hint ?? 'see: hyperfill copy --help');

/**
 * `csv_col:table_col,...` (a name holding a comma, colon or double quote goes in double
 * quotes, quotes doubled) or the JSON object form `{"csv_col": "table_col"}`.
 */
export function parseColumnMapping(text: string): ColumnMapping {
  const trimmed = text.trim();
  let pairs: Array<{ header: string; column: string }>;
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (err) {
      throw usage(`\`--column-mapping\` is not valid JSON: ${(err as Error).message}`, 'give {"csv_column": "table_column", ...} or csv_column:table_column,...');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string')) {
      throw usage('`--column-mapping` in JSON must be an object of strings: {"csv_column": "table_column", ...}');
    }
    pairs = Object.entries(parsed as Record<string, string>).map(([header, column]) => ({ header, column }));
  } else {
    pairs = splitOutsideQuotes(trimmed, ',').filter((p) => p.trim() !== '').map((pair, i) => {
      const parts = splitOutsideQuotes(pair, ':');
      const [header, column] = parts.map((p) => unquoteName(p.trim()));
      if (parts.length !== 2 || !header || !column) {
        throw usage(`\`--column-mapping\` pair ${i + 1} ("${pair.trim()}") is not csv_column:table_column`,
          'a name holding a comma, colon or double quote goes in double quotes: "a:b":c');
      }
      return { header, column };
    });
  }
  if (pairs.length === 0) throw usage('`--column-mapping` maps no column');
  const seen = new Set<string>();
  for (const { header } of pairs) {
    if (seen.has(header)) throw usage(`\`--column-mapping\` maps the header "${header}" twice`);
    seen.add(header);
  }
  return pairs;
}

/** The table columns an input's header fills, in input order. */
export function mappedColumns(header: readonly string[], mapping: ColumnMapping, inputName: string): string[] {
  const columns = header.map((name) => {
    if (mapping === 'auto') return name;
    const found = mapping.find((m) => m.header === name);
    if (!found) {
      throw usage(`the header of ${inputName} has a field "${name}" that --column-mapping does not map`,
        `map every header field: its header reads ${header.map((h) => JSON.stringify(h)).join(', ')}`);
    }
    return found.column;
  });
  const twice = columns.find((c, i) => columns.indexOf(c) !== i);
  if (twice !== undefined) throw usage(`two header fields of ${inputName} map to the column "${twice}"`, `its header reads ${header.map((h) => JSON.stringify(h)).join(', ')}`);
  return columns;
}

/** Every mapped column must be the table's: a clear error naming the header field otherwise. */
export function checkMappedColumns(header: readonly string[], columns: readonly string[], tableColumns: readonly string[], table: string, auto: boolean): void {
  const i = columns.findIndex((c) => !tableColumns.includes(c));
  if (i < 0) return;
  const what = auto ? `the header field "${header[i]}"` : `the header field "${header[i]}" (mapped to "${columns[i]}")`;
  throw new HyperfillError('E_USAGE', `${what} is not a column of ${table}`, { table },
    `its columns are: ${tableColumns.join(', ')}${auto ? '; map names with --column-mapping header:column' : ''}`);
}

/**
 * Reads the header record of `input` (after `skipLines` lines) and returns its fields,
 * and the input again from its first byte (the held chunks, copied, then the rest).
 */
export async function takeHeader(input: Input, scan: ScanDialect, dialect: InputDialect, skipLines: number): Promise<{ header: string[]; input: Input; close: () => Promise<void> }> {
  const scanner = new RecordScanner(scan, { batchRows: 1, batchBytes: Infinity, skipLines, skipRecords: 0, limit: 1, maxRecordBytes: 64 << 20 }, 0, input.name);
  const held: Buffer[] = [];
  const chunks = input.chunks()[Symbol.asyncIterator]();
  // Closes the file when the load never reads it to its end (a usage error found later).
  const close = async () => void (await chunks.return?.());
  let record: Buffer | undefined;
  let ended = false;
  while (record === undefined) {
    const next = await chunks.next();
    if (next.done) {
      ended = true;
      record = scanner.end()[0]?.data;
      break;
    }
    held.push(Buffer.from(next.value));
    record = scanner.push(next.value)[0]?.data;
  }
  if (record === undefined) await close();
  if (record === undefined) throw new HyperfillError('E_USAGE', `${input.name} has no header record to map columns from`, { file: input.name });
  // Loaded here: parsing flags (this module's other job) needs no CSV decoder.
  const { decodeRecords, RecordIndex } = await import('../transform/decode.js');
  const fields = decodeRecords(record, dialect, () => RecordIndex.build(record, dialect)).next() ?? [];
  const header = fields.map((f, i) => (i === 0 ? (f ?? '').replace(/^\uFEFF/, '') : f ?? ''));
  async function* replay(): AsyncGenerator<Buffer> {
    yield* held;
    if (ended) return;
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
  }
  return { header, input: { ...input, bytesRead: () => input.bytesRead(), chunks: replay }, close };
}
