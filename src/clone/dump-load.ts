/**
 * `pg_dump --format=plain ... | psql -X -v ON_ERROR_STOP=1 --single-transaction`, with
 * the pipe in this process so nothing lands on disk and a slow target slows the dump.
 * The whole load is one target transaction: psql commits only when it reaches the end of
 * its input, and its input is ended only after pg_dump exited 0. Any failure (pg_dump,
 * psql, the target going away, a signal) kills psql first, so the target keeps nothing
 * of a partial dump and a rerun starts clean.
 */
import { HyperfillError } from '../errors.js';
import type { ConnectionConfig } from '../connection.js';
import { lastLines, startTool } from './child.js';
import type { ClientTools } from './client-tools.js';
import { libpqConnection } from './libpq-env.js';

export const DUMP_FLAGS = ['--format=plain', '--quote-all-identifiers', '--no-tablespaces', '--no-owner', '--no-privileges'];

export interface DumpLoadOptions {
  tools: ClientTools;
  source: ConnectionConfig;
  target: ConnectionConfig;
  /** Exclusions and selections added to DUMP_FLAGS. */
  dumpArgs: string[];
  /** SQL run in the load's session before the dump (its line numbers then count from there). */
  prelude?: string;
  onBytes?: (bytes: number) => void;
  signal?: AbortSignal | undefined;
}

export async function dumpIntoTarget(o: DumpLoadOptions): Promise<{ bytes: number }> {
  const from = libpqConnection(o.source, 'hyperfill-clone');
  const to = libpqConnection(o.target, 'hyperfill-clone');
  const dump = startTool(o.tools.path('pg_dump'), [...DUMP_FLAGS, ...o.dumpArgs, ...from.args], from.env, 'ignore', 'pipe');
  // -f - (not plain stdin) makes psql name the dump line of an error.
  const load = startTool(o.tools.path('psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-f', '-', ...to.args], to.env, 'pipe', 'ignore');
  const stdin = load.child.stdin!;
  stdin.on('error', () => undefined); // psql ended early: its exit status and stderr say why
  if (o.prelude) stdin.write(o.prelude);
  let bytes = 0;
  const out = dump.child.stdout!;
  out.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    o.onBytes?.(chunk.length);
  });
  out.pipe(stdin, { end: false });

  let first: 'dump' | 'load' | 'signal' | undefined;
  const onAbort = () => {
    first ??= 'signal';
    load.child.kill('SIGKILL');
    dump.child.kill('SIGTERM');
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  if (o.signal?.aborted) onAbort();
  const loadExit = load.exit.then((r) => {
    if (r.code !== 0) first ??= 'load';
    if (dump.child.exitCode === null) dump.child.kill('SIGTERM');
    return r;
  });
  try {
    const dumped = await dump.exit;
    if (dumped.code === 0 && first === undefined) stdin.end();
    else {
      first ??= 'dump';
      load.child.kill('SIGKILL');
    }
    const loaded = await loadExit;
    if (first === 'signal') throw new HyperfillError('E_INTERRUPTED', 'interrupted by a signal while loading the dump', {}, NOTHING_KEPT);
    if (first === 'dump') throw dumpFailure(dumped.code, dump.stderrTail());
    if (loaded.code !== 0) throw loadFailure(loaded.code, loaded.signal, load.stderrTail());
    return { bytes };
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    out.unpipe(stdin);
  }
}

const NOTHING_KEPT = 'the target kept nothing of the dump (it loads in one transaction): fix the cause and rerun the same command';

function dumpFailure(code: number | null, stderr: string): HyperfillError {
  const permission = /permission denied/i.test(stderr);
  return new HyperfillError('E_DUMP_FAILED', `pg_dump failed (exit ${code ?? 'by signal'}):\n    ${lastLines(stderr)}`, {},
    permission ? `the source user must be able to read every table it dumps (or the table must be left out); ${NOTHING_KEPT}` : NOTHING_KEPT);
}

const LOST = /server closed the connection|connection to server was lost|terminating connection|could not receive data|no connection to the server|Connection refused/i;

function loadFailure(code: number | null, signal: NodeJS.Signals | null, stderr: string): HyperfillError {
  const line = /psql:<stdin>:(\d+):/.exec(stderr)?.[1];
  const error = /(?:ERROR|FATAL):\s+(.*)/.exec(stderr)?.[1];
  const copy = /CONTEXT:\s+COPY (\S+), line (\d+)/.exec(stderr);
  const where = { ...(line ? { line: Number(line) } : {}), ...(copy ? { table: copy[1], row: Number(copy[2]) } : {}) };
  const at = line ? ` (dump line ${line}${copy ? `, row ${copy[2]} of ${copy[1]}` : ''})` : '';
  if (LOST.test(stderr)) {
    return new HyperfillError('E_TARGET_LOST', `the connection to the target was lost while loading the dump${at}:\n    ${lastLines(stderr)}`, where, NOTHING_KEPT);
  }
  const message = error ? `the target refused the dump${at}: ${error}` : `psql failed (${signal ? `signal ${signal}` : `exit ${code}`})${at}`;
  return new HyperfillError('E_LOAD_FAILED', `${message}\n    ${lastLines(stderr)}`, where, NOTHING_KEPT);
}
