/**
 * Deterministic moments for fault tests: a lock held by the test makes hyperfill wait
 * at a known step (a COPY, a claim, a policy restore), a watcher sees that in
 * pg_stat_activity, and only then is the fault injected. Nothing sleeps to synchronise:
 * the watcher polls one connection every POLL_MS until the state it waits for shows.
 */
import pg from 'pg';
import type { NativeServer } from './native-postgres.js';
import { WATCH_INTERVAL_MS } from './watch-child.js';

export const POLL_MS = WATCH_INTERVAL_MS;

/** One connection that polls a server until a query's first row satisfies `done`; reconnects after a restart. */
export class Watcher {
  private client: pg.Client | undefined;

  constructor(private readonly server: NativeServer, private readonly database = 'postgres') {}

  async query<R extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    if (!this.client) {
      const client = new pg.Client({ connectionString: this.server.url(this.database), application_name: 'fault-test watcher' });
      client.on('error', () => undefined);
      await client.connect();
      this.client = client;
    }
    try {
      return await this.client.query<R>(text, params);
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /**
   * Polls until `done(row)` holds. `what` names the state in the error when the run
   * ended first (`alive()` false): the moment was never reached.
   */
  async until<R extends pg.QueryResultRow>(what: string, text: string, params: unknown[], done: (row: R) => boolean, alive: () => boolean = () => true): Promise<R> {
    for (;;) {
      const row = await this.query<R>(text, params).then((r) => r.rows[0], () => undefined);
      if (row && done(row)) return row;
      if (!alive()) throw new Error(`the run ended before ${what}; the sessions then: ${await this.activity()}`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** What the sessions on this server are doing, for a failure message. */
  async activity(): Promise<string> {
    // Every session but this one (TimescaleDB's job workers too: one may hold what hyperfill waits for).
    const r = await this.query<{ a: string }>(`SELECT coalesce(string_agg(format('[%s %s %s %s %s]', coalesce(nullif(application_name, ''), backend_type), state,
        wait_event_type, wait_event, left(query, 60)), ' '), 'none') AS a
      FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND state IS NOT NULL AND state <> 'idle'`).catch((err: Error) => ({ rows: [{ a: `unknown (${err.message})` }] }));
    return r.rows[0]?.a ?? 'none';
  }

  /** Backends of hyperfill (application_name "hyperfill <purpose>") matching a condition on pg_stat_activity. */
  async untilBackends(what: string, condition: string, atLeast: number, alive?: () => boolean): Promise<void> {
    await this.until<{ n: number }>(what, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'hyperfill%' AND ${condition}`, [],
      (r) => r.n >= atLeast, alive);
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}

/** A lock held in an open transaction until released (or until the server goes away). */
export class LockHolder {
  private constructor(private readonly client: pg.Client, readonly acquired: Promise<void>) {}

  /**
   * Sends `statements` (e.g. LOCK TABLE ...) in a transaction. Does not wait for the lock:
   * hyperfill's own transactions may hold it first; `acquired` settles when it is held.
   */
  static async take(server: NativeServer, database: string, statements: string, params: unknown[] = []): Promise<LockHolder> {
    const client = new pg.Client({ connectionString: server.url(database), application_name: 'fault-test lock' });
    client.on('error', () => undefined);
    await client.connect();
    await client.query('BEGIN');
    const acquired = client.query(statements, params).then(() => undefined);
    acquired.catch(() => undefined);
    return new LockHolder(client, acquired);
  }

  async release(): Promise<void> {
    await this.client.query('ROLLBACK').catch(() => undefined);
    await this.client.end().catch(() => undefined);
  }
}

export type Fault = 'restart fast' | 'restart immediate' | 'terminate';

/**
 * Restarts the server (`pg_ctl restart -m fast` or `-m immediate`, a crash), or
 * terminates hyperfill's backends there (`pg_terminate_backend`), optionally only those
 * whose application_name matches `purposes` (e.g. 'hyperfill window').
 */
export async function injectFault(server: NativeServer, fault: Fault, watcher: Watcher, purposes = 'hyperfill%'): Promise<number> {
  if (fault === 'terminate') {
    const r = await watcher.query<{ n: number }>(
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name LIKE $1`, [purposes]);
    return r.rows[0]?.n ?? 0;
  }
  await watcher.close();
  await server.restart(fault === 'restart fast' ? 'fast' : 'immediate');
  return 0;
}
