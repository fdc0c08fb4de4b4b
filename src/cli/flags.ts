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
    throw usage(`${(err as Error).message.replace(/\. To specify.*$/s, '')}`, command);
  }
}

export function usage(message: string, command: string): HyperfillError {
  return new HyperfillError('E_USAGE', message, {}, `see: hyperfill ${command} --help`);
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
