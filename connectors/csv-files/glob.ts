/**
 * A small glob for file sources (Node 20 has no fs.glob): `*` matches any run of
 * characters and `?` one character within a path segment, `**` matches any number of
 * directories (zero included). As in a shell, `*` and `?` do not match a leading dot.
 * Matches are files (symbolic links followed), sorted by path, each listed once.
 */
import { promises as fs } from 'node:fs';
import { isAbsolute, join, resolve, sep } from 'node:path';

export function hasGlob(pattern: string): boolean {
  return /[*?]/.test(pattern);
}

/** One segment's pattern as a regular expression. */
export function segmentRegExp(segment: string): RegExp {
  let source = '';
  for (const c of segment) {
    if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${segment.startsWith('.') ? '' : '(?!\\.)'}${source}$`, 's');
}

/** The files a pattern matches (absolute paths). */
export async function expandGlob(pattern: string, cwd = process.cwd()): Promise<string[]> {
  const absolute = isAbsolute(pattern) ? pattern : resolve(cwd, pattern);
  if (!hasGlob(absolute)) return (await isFile(absolute)) ? [absolute] : [];
  const parts = absolute.split(sep);
  const first = parts.findIndex(hasGlob);
  const base = parts.slice(0, first).join(sep) || sep;
  const found = new Set<string>();
  await walk(base, parts.slice(first), found);
  return [...found].sort();
}

async function walk(dir: string, rest: string[], found: Set<string>): Promise<void> {
  const [segment, ...after] = rest;
  if (segment === undefined) return;
  if (segment === '**') {
    await walk(dir, after, found);
    for (const sub of await subdirectories(dir)) await walk(join(dir, sub), rest, found);
    return;
  }
  if (!hasGlob(segment)) {
    const path = join(dir, segment);
    if (after.length === 0) {
      if (await isFile(path)) found.add(path);
    } else {
      await walk(path, after, found);
    }
    return;
  }
  const re = segmentRegExp(segment);
  for (const entry of await entries(dir)) {
    if (!re.test(entry.name)) continue;
    const path = join(dir, entry.name);
    if (after.length === 0) {
      if (entry.isFile() || (entry.isSymbolicLink() && (await isFile(path)))) found.add(path);
    } else if (entry.isDirectory() || (entry.isSymbolicLink() && (await isDirectory(path)))) {
      await walk(path, after, found);
    }
  }
}

async function entries(dir: string) {
  try {
    return await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** Real subdirectories only (not links): `**` must not loop. Hidden ones are skipped, as `*` does. */
async function subdirectories(dir: string): Promise<string[]> {
  return (await entries(dir)).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await fs.stat(path)).isFile();
  } catch {
    return false;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await fs.stat(path)).isDirectory();
  } catch {
    return false;
  }
}
