/**
 * A throwaway cluster of the machine's own PostgreSQL (Debian's, /usr/lib/postgresql/N),
 * optionally with TimescaleDB preloaded: initdb and pg_ctl in a temp directory on a
 * free port, run as the `postgres` user when we are root (PostgreSQL refuses root).
 * Unlike the embedded server it can be restarted fast or crashed (`-m immediate`) and
 * runs real background workers, so the TimescaleDB and fault tests run here.
 *
 * Availability is checked, not assumed: `nativeAvailability()` says why a server cannot
 * start, and `describeNative` names in the suite which server ran, or why none did.
 * Under CI=true a missing server is a failure, never a skip.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'node:test';
import pg from 'pg';
import { freePort, type PostgresServer } from './postgres.js';

export interface NativeOptions {
  /** Preload TimescaleDB and CREATE EXTENSION in every database made by `createDatabase`. */
  timescale?: boolean;
  /** PostgreSQL major version (default 15: the one TimescaleDB is built for here). */
  major?: number;
  /** fsync off and friends (default true: tests need no durability across OS crashes). */
  fast?: boolean;
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
}

export type StopMode = 'smart' | 'fast' | 'immediate';

export interface NativeServer extends PostgresServer {
  /** "PostgreSQL 15.18, TimescaleDB 2.28.3" */
  readonly version: string;
  readonly timescaleVersion: string | undefined;
  readonly binDir: string;
  /** Stops the server (immediate: as after a crash, recovery at next start). */
  halt(mode?: StopMode): Promise<void>;
  /** Starts a halted server again on the same port. */
  resume(): Promise<void>;
  /** halt + resume. */
  restart(mode?: StopMode): Promise<void>;
  /** The postmaster's pid (for taskset in benchmarks). */
  postmasterPid(): number;
}

const PASSWORD = 'hyperfill-native';

/** Undefined when the server can start; otherwise why not, in words. */
export function nativeAvailability(options: { timescale?: boolean; major?: number } = {}): string | undefined {
  const bin = binDir(options.major ?? 15);
  if (!existsSync(join(bin, 'postgres')) || !existsSync(join(bin, 'initdb'))) {
    return `no PostgreSQL ${options.major ?? 15} server at ${bin} (apt-get install postgresql-${options.major ?? 15})`;
  }
  if (process.getuid?.() === 0 && spawnSync('id', ['-u', 'postgres']).status !== 0) return 'running as root and there is no postgres user to run the server as';
  if (options.timescale) {
    const lib = pgConfig(bin, '--pkglibdir');
    if (!lib || !existsSync(join(lib, 'timescaledb.so'))) {
      return `no TimescaleDB in ${lib ?? bin} (bash ../shared/timescaledb/install.sh installs the one this project tests with)`;
    }
  }
  return undefined;
}

/**
 * `describe` for a suite that needs a native server: its name says which one ran. Where
 * none can start the suite is skipped with the reason in its name, except under CI=true,
 * where the suite fails.
 */
export function describeNative(name: string, options: { timescale?: boolean; major?: number }, body: () => void): void {
  const missing = nativeAvailability(options);
  if (missing === undefined) {
    describe(`${name} [native ${options.timescale ? 'TimescaleDB' : 'PostgreSQL'} ${installedVersions(options)}]`, body);
  } else if (process.env.CI === 'true') {
    describe(`${name} [CI: native server required]`, () => {
      throw new Error(`CI=true and ${missing}`);
    });
  } else {
    describe(`${name} [SKIPPED: ${missing}]`, { skip: missing }, body);
  }
}

function installedVersions(options: { timescale?: boolean; major?: number }): string {
  const bin = binDir(options.major ?? 15);
  const pgVersion = spawnSync(join(bin, 'postgres'), ['--version'], { encoding: 'utf8' }).stdout.trim().replace(/^.*\) /, '');
  if (!options.timescale) return pgVersion;
  const share = pgConfig(bin, '--sharedir');
  const control = share ? readIfExists(join(share, 'extension/timescaledb.control')) : undefined;
  const ts = /default_version = '([^']+)'/.exec(control ?? '')?.[1] ?? '?';
  return `${ts} on PostgreSQL ${pgVersion}`;
}

export async function startNativePostgres(options: NativeOptions = {}): Promise<NativeServer> {
  const missing = nativeAvailability(options);
  if (missing) throw new Error(`cannot start a native PostgreSQL: ${missing}`);
  const bin = binDir(options.major ?? 15);
  const base = mkdtempSync(join(tmpdir(), 'hyperfill-native-'));
  const data = join(base, 'data');
  const asPostgres = process.getuid?.() === 0;
  if (asPostgres) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(base, uid, gid);
  }
  chmodSync(base, 0o755);
  const run = (tool: string, args: string[]) => {
    const command = asPostgres ? 'runuser' : join(bin, tool);
    const argv = asPostgres ? ['-u', 'postgres', '--', join(bin, tool), ...args] : args;
    const r = spawnSync(command, argv, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed: ${(r.stderr || r.stdout).slice(-1200)}${logTail(base)}`);
  };
  const pwfile = join(base, 'pw');
  writeFileSync(pwfile, PASSWORD);
  if (asPostgres) chownSync(pwfile, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()), 0);
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '--auth-host=scram-sha-256', '--auth-local=trust', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C']);
  } finally {
    rmSync(pwfile, { force: true });
  }
  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1', unix_socket_directories: `'${base}'`, max_connections: '200',
    ...(options.fast ?? true ? { fsync: 'off', full_page_writes: 'off', synchronous_commit: 'off' } : {}),
    ...(options.timescale ? { shared_preload_libraries: 'timescaledb', 'timescaledb.telemetry_level': 'off', 'timescaledb.max_background_workers': '8', max_worker_processes: '16' } : {}),
    ...options.settings,
  };
  // postgresql.auto.conf rather than -o: pg_ctl restart keeps it, and no shell quoting is involved.
  writeFileSync(join(data, 'postgresql.auto.conf'), `port = ${port}\n${Object.entries(settings).map(([k, v]) => `${k} = ${/^'/.test(v) ? v : `'${v}'`}`).join('\n')}\n`);
  const log = join(base, 'log');
  const start = () => run('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '60', 'start']);
  const stopWith = (mode: StopMode) => run('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
  try {
    start();
  } catch (err) {
    rmSync(base, { recursive: true, force: true });
    throw err;
  }
  const url = (database = 'postgres') => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${database}`;
  const query = async <R extends pg.QueryResultRow>(text: string, params?: unknown[], database?: string): Promise<pg.QueryResult<R>> => {
    const client = new pg.Client({ connectionString: url(database) });
    client.on('error', () => undefined);
    await client.connect();
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          return await client.query<R>(text, params);
        } catch (err) {
          // TimescaleDB's scheduler may update a job's row as a test's setup alters it: the
          // statement (one implicit transaction, rolled back whole) can simply run again.
          if (attempt === 5 || !/tuple concurrently updated/.test((err as Error).message)) throw err;
        }
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  let timescaleVersion: string | undefined;
  if (options.timescale) {
    await query('CREATE EXTENSION IF NOT EXISTS timescaledb', [], 'template1');
    timescaleVersion = (await query<{ v: string }>(`SELECT extversion AS v FROM pg_extension WHERE extname = 'timescaledb'`, [], 'template1')).rows[0]?.v;
    await query('CREATE EXTENSION IF NOT EXISTS timescaledb');
  }
  const pgVersion = (await query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]?.v ?? '?';
  let running = true;
  const server: NativeServer = {
    port,
    password: PASSWORD,
    binDir: bin,
    version: `PostgreSQL ${pgVersion}${timescaleVersion ? `, TimescaleDB ${timescaleVersion}` : ''}`,
    timescaleVersion,
    url,
    publicUrl: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    query,
    async createDatabase(name) {
      // template1 has the extension already when timescale is on.
      await query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      return url(name);
    },
    async halt(mode = 'fast') {
      if (!running) return;
      stopWith(mode);
      running = false;
    },
    async resume() {
      if (running) return;
      start();
      running = true;
    },
    async restart(mode = 'fast') {
      await server.halt(mode);
      await server.resume();
    },
    postmasterPid() {
      return Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    },
    async stop() {
      if (running) {
        try {
          stopWith('immediate');
        } catch {
          // already gone: the directory goes anyway
        }
      }
      running = false;
      rmSync(base, { recursive: true, force: true });
    },
  };
  return server;
}

function binDir(major: number): string {
  return `/usr/lib/postgresql/${major}/bin`;
}

function pgConfig(bin: string, flag: string): string | undefined {
  const r = spawnSync(join(bin, 'pg_config'), [flag], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function logTail(base: string): string {
  const log = readIfExists(join(base, 'log'));
  return log ? `\nserver log: ${log.slice(-800)}` : '';
}
