/**
 * `dualWriter.transaction(work)`: one transaction on each database, the same statements
 * in the same order. The application waits for the primary only; the secondary's side
 * follows on its own connection. The primary's COMMIT decides: when the primary commits,
 * the secondary commits too (within the timeout), or, if its side failed, diverged, or did
 * not answer in time, the statements the primary ran go to the spool as one record.
 */
import type pg from 'pg';
import { bounded, type BoundedOutcome, NotSent } from './bounded.js';
import type { ReplayClient } from './replay.js';
import { type StoredStatement, storeStatement } from './spool-entry.js';
import type { WriteTarget } from './statement.js';
import type { TransactionHost } from './writer.js';

/** What the work function gets: `query` as on a pg client, inside the transaction. */
export interface TransactionQuery {
  query<R extends pg.QueryResultRow = any>(text: string | pg.QueryConfig, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

export async function runTransaction<T>(host: TransactionHost, work: (tx: TransactionQuery) => Promise<T>): Promise<T> {
  const primary = await (host.primary.connect as () => Promise<ReplayClient>)();
  try {
    await primary.query('BEGIN');
  } catch (err) {
    primary.release(err as Error);
    throw err;
  }
  const side = host.spooling() ? undefined : new SecondarySide(host);
  const statements: StoredStatement[] = [];
  const targets: WriteTarget[] = [];
  let value: T;
  try {
    value = await work({
      query: async (text: string | pg.QueryConfig, values?: unknown[]) => {
        host.countWrite();
        const sql = typeof text === 'string' ? text : text.text;
        const params = typeof text === 'string' ? values : (text.values ?? values);
        for (const t of host.firstWrites.targets(sql)) if (!targets.some((seen) => seen.text === t.text)) targets.push(t);
        side?.send(text, values, targets.slice());
        try {
          const result = await primary.query(text as string, values);
          statements.push(storeStatement(sql, params));
          return result as pg.QueryResult<any>;
        } catch (err) {
          host.countPrimaryError();
          // The secondary may have taken what the primary refused: it can no longer follow.
          side?.diverge();
          throw err;
        }
      },
    });
  } catch (err) {
    await primary.query('ROLLBACK').catch(() => undefined);
    primary.release();
    side?.rollback();
    throw err;
  }
  let committed: boolean;
  try {
    committed = (await primary.query('COMMIT')).command === 'COMMIT';
  } catch (err) {
    primary.release(err as Error);
    side?.rollback();
    throw err;
  }
  primary.release();
  if (!committed) {
    // The primary's transaction had failed: COMMIT rolled it back, so nothing happened.
    side?.rollback();
    return value;
  }
  const outcome = side ? await side.commit() : undefined;
  if (outcome?.ok) return value;
  if (outcome) host.secondaryFailed(outcome);
  if (statements.length > 0) await host.spool(statements, targets, outcome);
  return value;
}

/** The secondary's half: its own connection, statements chained in order behind BEGIN. */
class SecondarySide {
  private client: ReplayClient | undefined;
  private chain: Promise<void>;
  private diverged = false;
  private deadlinePassed = false;
  private commitSent = false;

  constructor(private readonly host: TransactionHost) {
    this.chain = (async () => {
      await host.passGate();
      const client = await (host.secondary.connect as () => Promise<ReplayClient>)();
      if (this.deadlinePassed) {
        client.release();
        throw new NotSent();
      }
      this.client = client;
      await client.query('BEGIN');
    })();
    this.chain.catch(() => undefined);
  }

  send(text: string | pg.QueryConfig, values: unknown[] | undefined, targets: WriteTarget[]): void {
    this.chain = this.chain.then(async () => {
      await this.host.firstWrites.recordDirect(this.host.secondary, targets);
      await (this.client as ReplayClient).query(text as string, values);
    });
    this.chain.catch(() => undefined);
  }

  diverge(): void {
    this.diverged = true;
  }

  /** COMMIT within the timeout. Past the deadline a connection that never sent COMMIT is closed: the server rolls it back. */
  async commit(): Promise<BoundedOutcome> {
    if (this.diverged) {
      this.rollback();
      return { ok: false, error: new Error('a statement failed on the primary inside the transaction'), timedOut: false, issued: false, late: Promise.resolve() };
    }
    const outcome = await bounded(this.host.timeoutMs, async (send) => {
      await this.chain;
      send();
      this.commitSent = true;
      const r = await (this.client as ReplayClient).query('COMMIT');
      if (r.command !== 'COMMIT') throw new Error('the secondary rolled the transaction back');
    });
    if (outcome.ok) this.client?.release();
    else if (outcome.timedOut && !this.commitSent) this.abandon();
    else if (outcome.timedOut) void outcome.late.then(() => this.client?.release(), (err) => this.client?.release(err as Error));
    else this.rollback();
    return outcome;
  }

  rollback(): void {
    const end = this.chain.then(() => this.client?.query('ROLLBACK'));
    void end.then(() => this.client?.release(), () => this.abandon());
  }

  private abandon(): void {
    this.deadlinePassed = true;
    this.client?.release(true);
    this.client = undefined;
  }
}
