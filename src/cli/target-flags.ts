/**
 * The target flags, the same on every command that takes a target: spread TARGET_FLAGS
 * into the command's flag spec, append TARGET_HELP to its help, and call targetFlags on
 * the parsed values.
 */
import { type ConnectionConfig, parseConnection } from '../connection.js';
import { DEFAULT_RETRY, type RetryPolicy } from '../retry.js';
import { durationFlag, usage } from './flags.js';

export const TARGET_FLAGS = {
  target: { type: 'string' },
  'allow-plain-target': { type: 'boolean' },
  'retry-timeout': { type: 'string' },
} as const;

export const TARGET_HELP = `Target
  --target URL            postgres://... or "host=... dbname=..." (default: DATABASE_URL, PG* variables)
  --allow-plain-target    the target may be PostgreSQL without TimescaleDB (backfill refuses one
                          otherwise; schema then prints plain tables; the others accept one anyway)
  --retry-timeout D       keep retrying lost connections this long, e.g. 30s, 5m (default 60s);
                          a server restart within it costs a retry, nothing else`;

export interface TargetFlagValues {
  target?: string | undefined;
  'allow-plain-target'?: boolean | undefined;
  'retry-timeout'?: string | undefined;
}

export interface TargetSettings {
  target: ConnectionConfig;
  allowPlainTarget: boolean;
  retry: RetryPolicy;
}

/** `alias`: the same flag under another name (copy's --connection, as timescaledb-parallel-copy calls it). */
export function targetFlags(v: TargetFlagValues, command: string, options: { alias?: [string, string | undefined]; retryMs?: number } = {}): TargetSettings {
  const [aliasName, aliasValue] = options.alias ?? ['', undefined];
  if (aliasValue !== undefined && v.target !== undefined) {
    throw usage(`give the target once: \`--target\` and \`--${aliasName}\` are the same flag`, command);
  }
  const timeoutMs = durationFlag(v['retry-timeout'], 'retry-timeout', options.retryMs ?? DEFAULT_RETRY.timeoutMs, command);
  return {
    target: parseConnection(v.target ?? aliasValue),
    allowPlainTarget: v['allow-plain-target'] ?? false,
    retry: { ...DEFAULT_RETRY, timeoutMs },
  };
}
