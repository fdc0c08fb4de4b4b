/**
 * Shared flag parsing: node's parseArgs plus validation with messages that name the
 * flag. Every numeric and duration flag of every command goes through here.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { HyperfillError } from '../errors.js';
import { splitOutsideQuotes, unquoteName } from '../pg/table-name.js';

export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

type Parsed<T extends FlagSpec> = ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: false }>>;

export function parseFlags<T extends FlagSpec>(args: string[], spec: T, command: string): Parsed<T> {
  try {
    return parseArgs({ args, options: spec, strict: true, allowPositionals: false });
  } catch (err) {
    const e = err as Error & { code?: string };
    const unknown = e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'([^']+)'/.exec(e.message)?.[1] : undefined;
    if (unknown !== undefined) {
      const near = nearestFlags(unknown, spec);
      throw usage(`unknown flag \`${unknown}\` for \`hyperfill ${command}\`${near.length > 0 ? `: did you mean ${near.map((f) => `\`${f}\``).join(' or ')}?` : ''}`, command);
    }
    throw usage(`${e.message.replace(/\. To specify.*$/s, '')}`, command);
  }
}

/** The flags of `spec` closest to a mistyped one (`--skip-headr` → `--skip-header`), if any is close. */
export function nearestFlags(typed: string, spec: FlagSpec): string[] {
  const word = typed.replace(/^--?/, '').replace(/=.*$/, '');
  const names = Object.keys(spec);
  const scored = names.map((name) => ({ name, d: editDistance(word.toLowerCase(), name) }));
  const limit = word.length <= 4 ? 1 : word.length <= 8 ? 2 : 3;
  const best = Math.min(...scored.map((s) => s.d));
  if (!(best <= limit)) return [];
  return scored.filter((s) => s.d === best).map((s) => `--${s.name}`);
}

/** Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`. */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

export function usage(message: string, command: string): HyperfillError {
  return new HyperfillError('E_USAGE', message, {}, `see: hyperfill ${command} --help`);
}

/** `--source`, else HYPERFILL_SOURCE: required by every command that reads a source. */
export function sourceFlag(value: string | undefined, command: string): string {
  const source = value ?? process.env.HYPERFILL_SOURCE;
  if (!source) throw usage('`--source` is required (or set HYPERFILL_SOURCE)', command);
  return source;
}

/** A positive integer flag; `min` 0 allows zero. */
export function intFlag(value: string | undefined, name: string, fallback: number, command: string, min = 1): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value.trim()) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
    throw usage(`\`--${name}\` must be ${min === 0 ? 'zero or more' : 'greater than zero'} (a whole number), got "${value}"`, command);
  }
  return Number(value);
}

/** "500ms", "30s", "5m", "1h", or plain seconds. Returns milliseconds. */
export function durationFlag(value: string | undefined, name: string, fallbackMs: number, command: string): number {
  if (value === undefined) return fallbackMs;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!match) throw usage(`\`--${name}\` must be a duration like 500ms, 30s, 5m or 1h, got "${value}"`, command);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 's'] ?? 1000;
  return Number(match[1]) * unit;
}

/** "64MB", "512kB", "1GiB" or plain bytes. */
export function bytesFlag(value: string | undefined, name: string, fallback: number, command: string): number {
  if (value === undefined) return fallback;
  const match = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?$/i.exec(value.trim());
  if (!match || Number(match[1]) <= 0) throw usage(`\`--${name}\` must be a size like 16MB or 512kB, got "${value}"`, command);
  const units: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1 << 20, gb: 1e9, gib: 1 << 30 };
  return Math.round(Number(match[1]) * (units[(match[2] ?? 'b').toLowerCase()] ?? 1));
}

/** One single-byte character; accepts `\t` written as two characters. */
export function charFlag(value: string | undefined, name: string, fallback: string, command: string): string {
  if (value === undefined) return fallback;
  const decoded = value === '\\t' ? '\t' : value;
  if (decoded.length !== 1 || decoded.charCodeAt(0) > 0x7f || decoded === '\n' || decoded === '\r') {
    throw usage(`\`--${name}\` must be one ASCII character (not a line end), got "${value}"`, command);
  }
  return decoded;
}

/**
 * "a,b,c" → ['a','b','c']; `"x,y",b` → ['x,y','b']: a name in double quotes may hold a
 * comma (quotes inside doubled). Names are kept as typed otherwise (quoted later, never trusted).
 */
export function listFlag(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = splitOutsideQuotes(value, ',').map(unquoteName).filter((s) => s.length > 0);
  return items.length > 0 ? items : undefined;
}

/** One of a fixed set of words, e.g. `--direct-compress auto|on|off`. */
export function choiceFlag<T extends string>(value: string | undefined, name: string, choices: readonly T[], fallback: T, command: string): T {
  if (value === undefined) return fallback;
  const choice = choices.find((c) => c === value.trim().toLowerCase());
  if (!choice) throw usage(`\`--${name}\` must be ${choices.join(', ').replace(/, ([^,]*)$/, ' or $1')}, got "${value}"`, command);
  return choice;
}

/** `--max-rejects N` (Infinity when not given): only with --on-error skip or reject. */
export function maxRejectsFlag(value: string | undefined, onError: string | undefined, command: string): number {
  if (value === undefined) return Infinity;
  if ((onError ?? 'stop') === 'stop') throw usage('`--max-rejects` goes with `--on-error skip` or `--on-error reject`', command);
  return intFlag(value, 'max-rejects', 0, command, 0);
}
