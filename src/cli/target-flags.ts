/**
 * The target flags, the same on every command that takes a target: spread TARGET_FLAGS
 * into the command's flag spec, add TARGET_HELP to its help's sections, and call
 * targetFlags on the parsed values.
 */
import { type ConnectionConfig, parseConnection } from '../connection.js';
import { DEFAULT_RETRY, type RetryPolicy } from '../retry.js';
import { durationFlag, usage } from './flags.js';
import type { HelpSection } from './help.js';

export const TARGET_FLAGS = {
  target: { type: 'string' },
  connection: { type: 'string' },
  'allow-plain-target': { type: 'boolean' },
  'retry-timeout': { type: 'string' },
} as const;

/** `retryDefault`: what --retry-timeout's default is, in words, where a command differs. */
export function targetHelp(options: { plainTarget?: string; retryDefault?: string } = {}): HelpSection {
  return {
    title: 'Target',
    flags: [
      ['--target URL', 'the TimescaleDB (or PostgreSQL) database the data goes to: postgres://user@host:5432/db or "host=... dbname=..." (default: DATABASE_URL, else the PG* variables)'],
      ['--connection URL', 'the same flag as --target, as timescaledb-parallel-copy spells it'],
      ['--allow-plain-target', options.plainTarget ?? 'the target may be PostgreSQL without TimescaleDB (backfill refuses one otherwise; schema then prints plain tables; the other commands accept one anyway)'],
      ['--retry-timeout D', `keep retrying lost connections this long, e.g. 30s, 5m (${options.retryDefault ?? 'default 60s'}); a server restart within it costs a retry, nothing else`],
    ],
  };
}

export const TARGET_HELP = targetHelp();

export interface TargetFlagValues {
  target?: string | undefined;
  connection?: string | undefined;
  'allow-plain-target'?: boolean | undefined;
  'retry-timeout'?: string | undefined;
}

export interface TargetSettings {
  target: ConnectionConfig;
  allowPlainTarget: boolean;
  retry: RetryPolicy;
}

/** `--connection` is `--target` under timescaledb-parallel-copy's name: either, not both. */
export function targetFlags(v: TargetFlagValues, command: string, options: { retryMs?: number } = {}): TargetSettings {
  if (v.connection !== undefined && v.target !== undefined) {
    throw usage('give the target once: `--target` and `--connection` are the same flag', command);
  }
  const timeoutMs = durationFlag(v['retry-timeout'], 'retry-timeout', options.retryMs ?? DEFAULT_RETRY.timeoutMs, command);
  return {
    target: parseConnection(v.target ?? v.connection),
    allowPlainTarget: v['allow-plain-target'] ?? false,
    retry: { ...DEFAULT_RETRY, timeoutMs },
  };
}
