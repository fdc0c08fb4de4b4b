/**
 * timescaledb-parallel-copy's command line, accepted by `copy` as its users type it:
 * Go's flag package takes `-flag` as well as `--flag`, and `-flag=true`. Every tspc
 * flag (v0.13 and the v0.8 still in use) means here what it means there, or is a usage
 * error that says what to use instead. Flags with the same name and meaning (--file,
 * --table, --copy-options, ...) are copy's own and not listed here.
 */
import type { ConnectionConfig } from '../connection.js';
import type { DirectCompressMode } from '../target/direct-compress.js';
import type { ConflictMode } from '../sink/conflict.js';
import { bytesFlag, type FlagSpec, intFlag, listFlag, usage } from './flags.js';
import type { HelpSection } from './help.js';

export const TSPC_FLAGS = {
  verbose: { type: 'boolean' },
  version: { type: 'boolean' },
  'db-name': { type: 'string' },
  'header-line-count': { type: 'string' },
  'buffer-byte-size': { type: 'string' },
  'skip-batch-errors': { type: 'boolean' },
  'disable-direct-compress': { type: 'boolean' },
  'enable-client-side-sorting': { type: 'boolean' },
  'disable-windows-1252-handling': { type: 'boolean' },
  'no-retry': { type: 'boolean' },
} as const;

export const TSPC_HELP: HelpSection = {
  title: 'timescaledb-parallel-copy flags (its command lines run unchanged; -flag works as --flag)',
  flags: [
    ['--verbose', 'also print tspc\'s "COPY n, took ... with N worker(s) (mean rate ...)" on stdout'],
    ['--version', 'print hyperfill\'s version'],
    ['--db-name NAME', 'the database, in place of the one --connection names'],
    ['--header-line-count N', '1 only (its default); for more lines use --skip-lines N'],
    ['--buffer-byte-size S', 'accepted and checked, no effect: a record may be up to 64MB or 8 × --batch-byte-size, whichever is more'],
    ['--skip-batch-errors', 'the same as --on-error skip, which leaves out only the rows the target rejects, not their whole batch as tspc does'],
    ['--disable-direct-compress', 'the same as --direct-compress off'],
    ['--enable-client-side-sorting', 'refused: copy cannot know the input is sorted as the compression needs (backfill sets it where it can prove it)'],
    ['--disable-windows-1252-handling', 'accepted, no effect: copy never re-reads input as Windows-1252 (give --copy-options "ENCODING \'WIN1252\'" for such input)'],
    ['--no-retry', 'the same as --retry-timeout 0: a lost connection fails the run'],
  ],
};

export interface TspcSettings {
  database: string | undefined;
  directCompress: DirectCompressMode | undefined;
  retryTimeout: string | undefined;
  /** --skip-batch-errors: skip what the target rejects (the rows, not their batch). */
  onError: 'skip' | undefined;
}

type TspcValues = { [K in keyof typeof TSPC_FLAGS]?: (typeof TSPC_FLAGS)[K]['type'] extends 'boolean' ? boolean | undefined : string | undefined } & {
  'direct-compress'?: string | undefined;
  'retry-timeout'?: string | undefined;
  'on-error'?: string | undefined;
};

/** Checks the tspc-only flags and says what they come to. */
export function tspcFlags(v: TspcValues, command: string): TspcSettings {
  const lines = v['header-line-count'];
  if (lines !== undefined && intFlag(lines, 'header-line-count', 1, command) !== 1) {
    throw usage(`\`--header-line-count ${lines}\`: skip leading lines with --skip-lines N (with --skip-header, the header is the record after them)`, command);
  }
  bytesFlag(v['buffer-byte-size'], 'buffer-byte-size', 0, command);
  if (v['skip-batch-errors'] && v['on-error'] !== undefined && v['on-error'] !== 'skip') {
    throw usage(`give one of \`--skip-batch-errors\` (= --on-error skip) and \`--on-error ${v['on-error']}\``, command);
  }
  if (v['enable-client-side-sorting']) {
    throw usage('`--enable-client-side-sorting` tells TimescaleDB the input is sorted as its compression orders it, which copy cannot check: leave it out (TimescaleDB then sorts)', command);
  }
  if (v['disable-direct-compress'] && v['direct-compress'] !== undefined) throw usage('give one of `--disable-direct-compress` and `--direct-compress`', command);
  if (v['no-retry'] && v['retry-timeout'] !== undefined) throw usage('give one of `--no-retry` and `--retry-timeout`', command);
  if (v['db-name'] === '') throw usage('`--db-name` is empty', command);
  return {
    database: v['db-name'],
    directCompress: v['disable-direct-compress'] ? 'off' : undefined,
    retryTimeout: v['no-retry'] ? '0' : undefined,
    onError: v['skip-batch-errors'] ? 'skip' : undefined,
  };
}

/** `--on-conflict-do-nothing` or `--on-conflict-update [COLUMNS]` ('' when no columns follow). */
export function conflictFlags(v: { 'on-conflict-do-nothing'?: boolean | undefined; 'on-conflict-update'?: string | undefined }): ConflictMode | undefined {
  const update = v['on-conflict-update'];
  if (v['on-conflict-do-nothing'] && update !== undefined) throw usage('give one of `--on-conflict-do-nothing` and `--on-conflict-update`', 'copy');
  if (v['on-conflict-do-nothing']) return { action: 'nothing' };
  if (update !== undefined) return { action: 'update', key: listFlag(update) };
  return undefined;
}

/** The connection with another database (a URL's path, or libpq's dbname). */
export function withDatabase(config: ConnectionConfig, database: string): ConnectionConfig {
  if (!config.connectionString) return { ...config, database };
  const url = new URL(config.connectionString);
  url.pathname = `/${encodeURIComponent(database)}`;
  return { ...config, connectionString: url.toString() };
}

/**
 * The command line as Go's flag package reads it, in node's terms: `-name` and
 * `-name=value` become `--name...` where `name` is a long flag of `spec` (short flags
 * like -f stay as they are); `--flag=true|false` of a boolean flag becomes the flag or
 * nothing; a flag of `optionalValue` followed by no value (the end, or another flag)
 * gets the empty string.
 */
export function tspcArgs(args: readonly string[], spec: FlagSpec, optionalValue: readonly string[]): string[] {
  const out: string[] = [];
  for (const [i, arg] of args.entries()) {
    let a = arg;
    const single = /^-([a-z][a-z0-9-]+)(=.*)?$/.exec(a);
    if (single && single[1]! in spec) a = `-${a}`;
    const boolean = /^--([a-z][a-z0-9-]*)=(true|false)$/i.exec(a);
    if (boolean && spec[boolean[1]!]?.type === 'boolean') {
      if (boolean[2]!.toLowerCase() === 'true') out.push(`--${boolean[1]}`);
      continue;
    }
    out.push(a);
    const name = /^--([a-z][a-z0-9-]*)$/.exec(a)?.[1];
    const following = args[i + 1];
    if (name && optionalValue.includes(name) && (following === undefined || following.startsWith('-'))) out.push('');
  }
  return out;
}
