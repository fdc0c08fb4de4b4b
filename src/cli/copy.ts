/** `hyperfill copy`: CSV or text-format input into one table over parallel COPY. */
import { availableParallelism } from 'node:os';
import { type CopyOptions, type CopyResult, runCopy } from '../copy/run-copy.js';
import type { InputSummary } from '../copy/input-tally.js';
import { formatCount, formatTable } from '../progress.js';
import { parseTransformFlags, TRANSFORM_FLAGS, TRANSFORM_HELP } from '../transform/options.js';
import { reasonsPath } from '../transform/rejects.js';
import type { OnError } from '../transform/batch-transform.js';
import { DIRECT_COMPRESS_MODES } from '../target/direct-compress.js';
import { bytesFlag, charFlag, choiceFlag, durationFlag, intFlag, listFlag, maxRejectsFlag, parseFlags, usage } from './flags.js';
import type { CommandIO } from './io.js';
import { type CommandHelp, formatHelp } from './help.js';
import { TARGET_FLAGS, targetFlags, targetHelp } from './target-flags.js';
import { parseTableName } from '../pg/table-name.js';
import { parseColumnMapping } from '../copy/column-mapping.js';
import { conflictFlags, TSPC_FLAGS, TSPC_HELP, tspcArgs, tspcFlags, withDatabase } from './tspc-flags.js';
import { version } from './main.js';

export const COPY_HELP: CommandHelp = {
  usage: ['copy --table [SCHEMA.]NAME [options] [--file PATH ...]'],
  about: `Streams CSV (or PostgreSQL text format) from files or stdin into a table over
parallel COPY. Gzip input is detected and inflated.`,
  sections: [
    {
      title: 'Input',
      flags: [
        ['-f, --file PATH', "input file, repeatable; '-' or none reads stdin"],
        ['--format csv|text', 'csv (default) or PostgreSQL text COPY format'],
        ['--split CHAR', "field delimiter (csv default ',', text default tab)"],
        ['--quote CHAR', 'csv quote character (default ")'],
        ['--escape CHAR', 'csv escape character (default: the quote character)'],
        ['--skip-header', 'skip the first record of each input'],
        ['--skip-lines N', 'skip N lines at the start of each input (before the header)'],
        ['--limit N', 'load at most N rows in all (0: no limit, as in timescaledb-parallel-copy)'],
        ['--encoding MODE', 'auto (default): send binary COPY when every target column has a binary encoder, else the input bytes as they are; binary: binary or an error; text: always the input bytes. A batch holding a value the encoder is not certain of goes as text either way'],
      ],
    },
    {
      title: 'Target',
      flags: [
        ...targetHelp({ plainTarget: 'accepted as by every command (copy works on any PostgreSQL table)' }).flags,
        ['--table NAME', 'the target table (required): schema.table or table; a part holding a dot or a double quote goes in double quotes ("my.schema"."my.table")'],
        ['--schema NAME', 'the schema of a --table given without one (default public)'],
        ['--column-mapping MAP', 'the first record of each input is a header; MAP says which column each header field fills: "csv_col:table_col,..." or {"csv_col": "table_col", ...} (timescaledb-parallel-copy\'s syntax; a name holding a comma, colon or double quote in double quotes). Every header field must be mapped; every input must map to the same columns'],
        ['--auto-column-mapping', 'the first record of each input is a header naming the columns it fills'],
        ['--columns a,b,c', 'target columns, in input order (with a transform: the names of the input\'s fields, in order; default: the table\'s columns); a name holding a comma or a double quote in double quotes: "a,b","say ""hi"""'],
        ['--copy-options OPTS', 'extra COPY options, e.g. "NULL \'NA\', FORCE_NULL (cpu)" (not HEADER)'],
        ['--truncate', 'empty the table first'],
        ['--on-conflict-do-nothing', 'keep the row already there when a row\'s unique key is taken: each batch is copied into a temporary table, then INSERT ... SELECT ... ON CONFLICT DO NOTHING, in one transaction (with --import-id, with its ledger row). Rows go to a worker by a hash of the primary (or only unique) key, so of rows repeating a key the first is kept. Direct compress does not apply (rows go by INSERT)'],
        ['--on-conflict-update [KEY]', 'upsert: a row whose KEY (columns, default the primary key or the only unique key) is taken updates every other loaded column of the row there. Rows go to a worker by a hash of their key, so rows of one key are applied in input order and the last one wins; within a batch only the last row of a key is applied. On a hypertable the key must include the time column'],
      ],
    },
    {
      title: 'Throughput',
      flags: [
        ['--workers N', 'COPY streams at once, over N + 1 connections (one commits while the others copy; default: the core count, 2 to 8)'],
        ['--batch-size N', 'rows per batch (default 20000)'],
        ['--batch-byte-size S', 'bytes per batch at most, e.g. 4MB (default 1MB: memory stays bounded however wide the rows)'],
        ['--direct-compress M', 'auto (default), on or off: TimescaleDB\'s direct compress (2.21+) for each batch\'s COPY, so a hypertable with compression gets compressed chunks with no compress_chunk afterwards (auto: on for such a hypertable)'],
        ['--transform-workers N', `threads that encode binary COPY (default: none on 1-2 cores, else one per two cores up to 4; ${defaultEncodeThreads()} here; 0 encodes on the main thread); with a transform, the threads that transform`],
      ],
    },
    {
      title: 'Exactly once',
      flags: [
        ['--import-id ID', 'record committed batches in the target; a rerun with the same id and input loads only what is missing'],
        ['--control-schema S', 'schema for hyperfill\'s control tables (default hyperfill)'],
      ],
    },
    {
      title: 'Bad rows (a row the target or the transform rejects)',
      flags: [
        ['--on-error MODE', 'stop (default): the run stops, naming the row; skip: the row is left out and the rest loads; reject: the same, and the row goes to --rejects FILE. A batch the target rejects (a value its type refuses, NOT NULL, unique, check, foreign key: SQLSTATE 22 and 23) is copied again in pieces, in its one transaction, down to the rows that fail alone; a lost connection is retried as always'],
        ['--rejects FILE', 'with --on-error reject: the rejected rows exactly as they were in the input, and FILE.reasons with input:line: row N: column: the server\'s message; with --import-id a rerun writes the earlier runs\' rejects again, so each row is there once'],
        ['--max-rejects N', 'stop (E_TOO_MANY_REJECTS) once more than N rows were rejected or skipped (default: no limit)'],
      ],
    },
    TRANSFORM_HELP,
    TSPC_HELP,
    {
      title: 'Output',
      flags: [
        ['--reporting-period D', 'progress line every D when stderr is not a terminal (default off)'],
        ['--log-batches', 'one line per committed batch'],
        ['--json', 'print a JSON summary on stdout instead of "COPY n"'],
      ],
    },
  ],
};

export const COPY_FLAGS = {
  file: { type: 'string', short: 'f', multiple: true },
  format: { type: 'string' },
  split: { type: 'string' },
  quote: { type: 'string' },
  escape: { type: 'string' },
  'skip-header': { type: 'boolean' },
  'skip-lines': { type: 'string' },
  limit: { type: 'string' },
  encoding: { type: 'string' },
  ...TARGET_FLAGS,
  schema: { type: 'string' },
  table: { type: 'string' },
  columns: { type: 'string' },
  'copy-options': { type: 'string' },
  truncate: { type: 'boolean' },
  workers: { type: 'string' },
  'batch-size': { type: 'string' },
  'batch-byte-size': { type: 'string' },
  'direct-compress': { type: 'string' },
  'import-id': { type: 'string' },
  'control-schema': { type: 'string' },
  'reporting-period': { type: 'string' },
  'log-batches': { type: 'boolean' },
  'max-rejects': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  ...TRANSFORM_FLAGS,
  'on-conflict-do-nothing': { type: 'boolean' },
  'on-conflict-update': { type: 'string' },
  'column-mapping': { type: 'string' },
  'auto-column-mapping': { type: 'boolean' },
  ...TSPC_FLAGS,
} as const;

export function parseCopyArgs(args: string[]): CopyOptions | 'help' | 'version' {
  const { values: v } = parseFlags(tspcArgs(args, COPY_FLAGS, ['on-conflict-update']), COPY_FLAGS, 'copy');
  if (v.help) return 'help';
  if (v.version) return 'version';
  const tspc = tspcFlags(v, 'copy');
  v['on-error'] ??= tspc.onError;
  if (!v.table) throw usage('`--table` is required', 'copy');
  const format = v.format ?? 'csv';
  if (format !== 'csv' && format !== 'text') throw usage(`\`--format\` must be csv or text, got "${format}"`, 'copy');
  const quote = charFlag(v.quote, 'quote', '"', 'copy');
  const delimiter = v.split === undefined ? (format === 'csv' ? ',' : undefined) : charFlag(v.split, 'split', ',', 'copy');
  if (format === 'text' && (v.quote !== undefined || v.escape !== undefined)) throw usage('`--quote` and `--escape` apply to --format csv only', 'copy');
  if (delimiter !== undefined && delimiter === quote && format === 'csv') throw usage('`--split` and `--quote` must differ', 'copy');
  const target = targetFlags({ ...v, 'retry-timeout': tspc.retryTimeout ?? v['retry-timeout'] }, 'copy');
  if (tspc.database !== undefined) target.target = withDatabase(target.target, tspc.database);
  const onConflict = conflictFlags(v);
  if (onConflict && v['on-error'] !== undefined && v['on-error'] !== 'stop') {
    throw usage('`--on-error skip|reject` does not go with `--on-conflict-*` yet: rows go through INSERT ... ON CONFLICT there, whose errors name no input line', 'copy');
  }
  const columnMapping = v['auto-column-mapping'] ? 'auto' as const : v['column-mapping'] !== undefined ? parseColumnMapping(v['column-mapping']) : undefined;
  if (v['auto-column-mapping'] && v['column-mapping'] !== undefined) throw usage('give one of `--column-mapping` and `--auto-column-mapping`', 'copy');
  if (columnMapping && v.columns !== undefined) throw usage('`--columns` and a column mapping both name the columns: give one (the mapping reads them from the header)', 'copy');
  const name = parseTableName(v.table, v.schema ?? 'public');
  if (v.schema !== undefined && name.schema !== v.schema) {
    throw usage(`\`--table ${v.table}\` names schema "${name.schema}" and \`--schema\` says "${v.schema}": give the schema once`, 'copy');
  }
  const encoding = v.encoding ?? 'auto';
  if (encoding !== 'auto' && encoding !== 'binary' && encoding !== 'text') throw usage(`\`--encoding\` must be auto, binary or text, got "${encoding}"`, 'copy');
  const transform = parseTransformFlags(v, 'copy', true);
  if (transform && columnMapping) throw usage('a column mapping does not go with a transform: name the input\'s fields with --columns', 'copy');
  const onError = (v['on-error'] ?? 'stop') as OnError;
  if (transform && encoding === 'binary') throw usage('`--encoding binary` does not go with a transform: transformed rows are sent as text', 'copy');
  return {
    inputs: v.file ?? [],
    connection: target.target,
    schema: name.schema,
    table: name.table,
    columns: listFlag(v.columns),
    format,
    delimiter,
    quote,
    escape: charFlag(v.escape, 'escape', quote, 'copy'),
    copyOptions: v['copy-options'],
    skipHeader: v['skip-header'] ?? false,
    skipLines: intFlag(v['skip-lines'], 'skip-lines', 0, 'copy', 0),
    // 0: no limit, as timescaledb-parallel-copy has it.
    limit: v.limit === undefined || intFlag(v.limit, 'limit', 0, 'copy', 0) === 0 ? Infinity : Number(v.limit),
    batchRows: intFlag(v['batch-size'], 'batch-size', 20_000, 'copy'),
    batchBytes: bytesFlag(v['batch-byte-size'], 'batch-byte-size', 1 << 20, 'copy'),
    workers: intFlag(v.workers, 'workers', defaultWorkers(), 'copy'),
    truncate: v.truncate ?? false,
    importId: v['import-id'],
    controlSchema: v['control-schema'] ?? 'hyperfill',
    retry: target.retry,
    reportingPeriodMs: durationFlag(v['reporting-period'], 'reporting-period', 0, 'copy'),
    logBatches: v['log-batches'] ?? false,
    transform,
    encoding,
    encodeThreads: intFlag(v['transform-workers'], 'transform-workers', defaultEncodeThreads(), 'copy', 0),
    directCompress: tspc.directCompress ?? choiceFlag(v['direct-compress'], 'direct-compress', DIRECT_COMPRESS_MODES, 'auto', 'copy'),
    onConflict,
    columnMapping,
    verbose: v.verbose ?? false,
    onError,
    rejects: v.rejects,
    maxRejects: maxRejectsFlag(v['max-rejects'], v['on-error'], 'copy'),
  };
}

export async function copyCommand(args: string[], io: CommandIO): Promise<number> {
  const options = parseCopyArgs(args);
  if (options === 'help') {
    io.stdout.write(`${formatHelp(COPY_HELP)}\n`);
    return 0;
  }
  if (options === 'version') {
    io.stdout.write(`hyperfill ${version()}\n`);
    return 0;
  }
  const json = args.includes('--json');
  const result = await runCopy(options, io);
  if (json) io.stdout.write(`${JSON.stringify(summaryJson(result))}\n`);
  else {
    io.stderr.write(`${formatSummary(result, options.onError)}\n`);
    // --verbose: timescaledb-parallel-copy's line, for scripts that read it.
    const verbose = options.verbose ? `, took ${result.seconds.toFixed(3)}s with ${options.workers} worker(s) (mean rate ${(result.rows / result.seconds).toFixed(6)}/sec)` : '';
    io.stdout.write(`COPY ${result.rows}${verbose}\n`);
  }
  return 0;
}

export function summaryJson(r: CopyResult) {
  return {
    rows: r.rows, bytes: r.bytes, batches: r.batches, seconds: round(r.seconds), rowsPerSecond: Math.round(r.rows / r.seconds),
    skippedBatches: r.skippedBatches, skippedRows: r.skippedRows,
    workers: r.workers.map((w) => ({ ...w, busyMs: Math.round(w.busyMs) })),
    encoding: r.encoding,
    ...(r.transform ? { transform: r.transform } : {}),
    ...(r.conflict ? { conflict: r.conflict } : {}),
    rejected: r.rejected,
    inputs: r.inputs.map((i) => ({ ...i, seconds: round(i.seconds) })),
    total: totalOf(r),
  };
}

/** The per-input counts added up; seconds are the run's. */
function totalOf(r: CopyResult): Omit<InputSummary, 'input'> {
  const sum = (k: 'read' | 'loaded' | 'rejected' | 'dropped' | 'earlier') => r.inputs.reduce((n, i) => n + i[k], 0);
  return { read: sum('read'), loaded: sum('loaded'), rejected: sum('rejected'), dropped: sum('dropped'), earlier: sum('earlier'), seconds: round(r.seconds) };
}

/**
 * pgloader's table: per input, rows read, loaded, rejected (or skipped), then a total.
 * Columns for rows the transform dropped and rows an earlier run committed appear when there are any.
 */
export function formatInputs(r: CopyResult, onError: OnError): string {
  const total = totalOf(r);
  type Column = [string, (i: Omit<InputSummary, 'input'>) => string | number];
  const columns: Column[] = [['read', (i) => i.read], ['loaded', (i) => i.loaded], [onError === 'skip' ? 'skipped' : 'rejected', (i) => i.rejected]];
  if (total.dropped > 0) columns.push(['dropped', (i) => i.dropped]);
  if (total.earlier > 0) columns.push(['earlier run', (i) => i.earlier]);
  columns.push(['seconds', (i) => i.seconds.toFixed(2)]);
  const line = (name: string, i: Omit<InputSummary, 'input'>) => [name, ...columns.map(([, get]) => get(i))];
  const rows = r.inputs.map((i) => line(i.input, i));
  const table = formatTable(['input', ...columns.map(([title]) => title)], [...rows, line('total', total)]).split('\n');
  // A rule above the total line, as pgloader has.
  return [...table.slice(0, -1), table[1] ?? '', table[table.length - 1] ?? ''].join('\n');
}

export function formatSummary(r: CopyResult, onError: OnError = 'stop'): string {
  const head = `copy: ${r.rows} rows, ${(r.bytes / 1e6).toFixed(1)} MB in ${r.seconds.toFixed(2)} s: ` +
    `${formatCount(r.rows / r.seconds)} rows/s, ${(r.bytes / 1e6 / r.seconds).toFixed(1)} MB/s`;
  const skipped = r.skippedBatches > 0 ? `\nskipped ${r.skippedBatches} batches (${r.skippedRows} rows) committed by an earlier run of this import` : '';
  const table = formatTable(['worker', 'rows', 'batches', 'busy s', 'retries'],
    r.workers.map((w) => [w.worker, w.rows, w.batches, (w.busyMs / 1000).toFixed(2), w.retries]));
  return `${head}${skipped}${conflictSummary(r)}${encodingSummary(r)}${transformSummary(r)}${rejectedSummary(r)}\n${formatInputs(r, onError)}\n\n${table}`;
}

function conflictSummary(r: CopyResult): string {
  const c = r.conflict;
  if (!c) return '';
  if (c.action === 'nothing') return `\non conflict do nothing: ${c.inserted} rows inserted, ${c.skipped} skipped (a row with their key was there)`;
  return `\non conflict (${c.key?.join(', ')}) update: ${c.inserted} rows inserted, ${c.updated} updated a row already there, ${c.skipped} superseded by a later row with their key in their batch`;
}

function rejectedSummary(r: CopyResult): string {
  const x = r.rejected;
  if (x.rows === 0) return '';
  const where = x.rejectsFile ? ` to ${x.rejectsFile} (reasons in ${reasonsPath(x.rejectsFile)})` : '';
  const first = x.first && !x.rejectsFile ? `\n  first skipped: ${x.first.file}:${x.first.line ?? '?'}: ${x.first.reason}` : '';
  return `\ntarget: ${x.rows} rows ${x.rejectsFile ? 'rejected' : 'skipped'}${where}${first}`;
}

function encodingSummary(r: CopyResult): string {
  const e = r.encoding;
  if (r.transform) return '';
  if (e.reason !== undefined) return `\nencoding: input bytes as they are (${e.reason})`;
  const parts = [`encoding: binary COPY for ${e.binaryBatches} of ${r.batches} batches`];
  if (e.textBatches > 0) parts.push(`${e.textBatches} as text (first: ${e.firstTextReason})`);
  if (e.refused > 0) parts.push(`${e.refused} refused in binary by the server and sent as text`);
  return `\n${parts.join('; ')}`;
}

function transformSummary(r: CopyResult): string {
  const t = r.transform;
  if (!t) return '';
  const parts = [`transform: ${t.rowsIn} rows in, ${t.rowsOut} out`];
  if (t.dropped > 0) parts.push(`${t.dropped} dropped by the transform`);
  if (t.setAside > 0) {
    parts.push(t.rejectsFile ? `${t.setAside} rejected to ${t.rejectsFile} (reasons in ${reasonsPath(t.rejectsFile)})` : `${t.setAside} skipped`);
  }
  const first = t.firstProblem;
  const example = first && !t.rejectsFile ? `\n  first skipped: ${first.file}:${first.line ?? '?'}: row ${first.row}: ${first.reason}` : '';
  return `\n${parts.join(', ')}${example}`;
}

const round = (n: number) => Math.round(n * 1000) / 1000;

/**
 * About one COPY stream per core keeps a server busy; more streams on a small server
 * cost it CPU (index page splits, WAL contention: benchmarks/results/copy.md).
 */
function defaultWorkers(): number {
  return Math.max(2, Math.min(8, availableParallelism()));
}

/**
 * Threads that encode binary COPY. On one or two cores none: the main thread encodes
 * between its socket writes for less CPU and memory than a thread costs
 * (benchmarks/results/copy.md); with more cores, one per two cores, at most four.
 */
function defaultEncodeThreads(): number {
  const cores = availableParallelism();
  return cores <= 2 ? 0 : Math.min(4, Math.floor(cores / 2));
}
