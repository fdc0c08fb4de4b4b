/**
 * Finds PostgreSQL's client programs (pg_dump, pg_dumpall, psql) of a major version at
 * least the source's: pg_dump refuses to dump a newer server, and psql must come from the
 * same installation as the pg_dump whose output it reads (newer dumps hold meta-commands
 * such as \restrict that older psql lacks). All tools come from one folder: --pg-bin, else
 * the newest suitable folder on PATH or in the usual install places.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { HyperfillError } from '../errors.js';

export type ClientTool = 'pg_dump' | 'pg_dumpall' | 'psql';

export interface ClientTools {
  dir: string;
  major: number;
  version: string;
  path(tool: ClientTool): string;
}

/** Where packages put them: Debian/Ubuntu, RHEL/Fedora, source builds, Homebrew, Postgres.app. */
const INSTALL_GLOBS: Array<[string, RegExp, (name: string) => string]> = [
  ['/usr/lib/postgresql', /^\d+$/, (n) => `/usr/lib/postgresql/${n}/bin`],
  ['/usr', /^pgsql-\d+$/, (n) => `/usr/${n}/bin`],
  ['/opt/homebrew/opt', /^postgresql@\d+$/, (n) => `/opt/homebrew/opt/${n}/bin`],
  ['/usr/local/opt', /^postgresql@\d+$/, (n) => `/usr/local/opt/${n}/bin`],
  ['/Applications/Postgres.app/Contents/Versions', /^\d+$/, (n) => `/Applications/Postgres.app/Contents/Versions/${n}/bin`],
];
const FIXED_DIRS = ['/usr/local/pgsql/bin'];

export function candidateDirs(): string[] {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const [parent, pattern, bin] of INSTALL_GLOBS) {
    if (!existsSync(parent)) continue;
    for (const name of readdirSync(parent).filter((n) => pattern.test(n))) dirs.push(bin(name));
  }
  return [...new Set([...dirs, ...FIXED_DIRS])];
}

interface Found {
  dir: string;
  major: number;
  version: string;
  missing: ClientTool[];
}

/**
 * The folder with every tool in `needed` at `minMajor` or newer (the newest such).
 * `pgBin` restricts the search to one folder.
 */
export function findClientTools(needed: ClientTool[], minMajor: number, pgBin?: string): ClientTools {
  const dirs = pgBin !== undefined ? [pgBin] : candidateDirs();
  const found: Found[] = [];
  for (const dir of dirs) {
    const present = needed.filter((tool) => isRealTool(join(dir, tool)));
    if (present.length === 0) continue;
    const version = toolVersion(join(dir, present[0]!));
    if (!version) continue;
    found.push({ dir, ...version, missing: needed.filter((t) => !present.includes(t)) });
  }
  const usable = found.filter((f) => f.missing.length === 0 && f.major >= minMajor).sort((a, b) => b.major - a.major);
  const best = usable[0];
  if (best) return { dir: best.dir, major: best.major, version: best.version, path: (tool) => join(best.dir, tool) };

  const hint = installHint(minMajor);
  const where = pgBin !== undefined ? `in ${pgBin} (--pg-bin)` : 'on PATH or in the usual install folders (/usr/lib/postgresql/*/bin, /usr/pgsql-*/bin, Homebrew, Postgres.app)';
  const complete = found.filter((f) => f.missing.length === 0).sort((a, b) => b.major - a.major)[0];
  if (complete) {
    throw new HyperfillError('E_CLIENT_TOOL_TOO_OLD',
      `${needed.join(', ')} ${complete.version} (${complete.dir}) are older than the source's PostgreSQL ${minMajor}: pg_dump refuses to dump a newer server`,
      { tools: complete.dir }, hint);
  }
  const partial = found[0];
  if (partial) {
    throw new HyperfillError('E_CLIENT_TOOL_MISSING', `${partial.dir} has PostgreSQL ${partial.version} client tools but no ${partial.missing.join(' or ')}`,
      { tools: partial.dir }, hint);
  }
  throw new HyperfillError('E_CLIENT_TOOL_MISSING', `no ${needed.join(', ')} found ${where}`, {}, hint);
}

export function installHint(major: number): string {
  return `install the PostgreSQL ${major} client tools (same major as the source, or newer): ` +
    `Debian/Ubuntu: apt-get install postgresql-client-${major} (from apt.postgresql.org where your release lacks it); ` +
    `RHEL/Fedora: dnf install postgresql${major}; macOS: brew install postgresql@${major}; ` +
    'or name their folder with --pg-bin';
}

/** Debian's /usr/bin/pg_dump is a wrapper that picks a version by its own rules: the versioned folders are used instead. */
function isRealTool(path: string): boolean {
  try {
    return existsSync(path) && !realpathSync(path).endsWith('/pg_wrapper');
  } catch {
    return false;
  }
}

/** "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" → 15, "15.18". */
export function toolVersion(path: string): { major: number; version: string } | undefined {
  const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const match = /\(PostgreSQL\) (\d+)(?:\.(\d+))?/.exec(r.stdout ?? '');
  if (r.status !== 0 || !match) return undefined;
  return { major: Number(match[1]), version: match[2] === undefined ? match[1]! : `${match[1]}.${match[2]}` };
}
