/**
 * Compressing by hand, chunk by chunk, what a paused compression policy would have
 * compressed by now, before the policy is enabled again (the guides' advice after a long
 * backfill: otherwise the first run of the policy takes on every chunk at once). The
 * chunks are the policy's own selection (show_chunks with its compress_after or
 * compress_created_before) that are not compressed, or only partly (rows written into a
 * compressed chunk since); compress_chunk(..., if_not_compressed => true) compresses or
 * recompresses them. At most `maxPerMinute` chunks start in any minute.
 */
import type pg from 'pg';
import { HyperfillError } from '../errors.js';
import { isRetryable, serverMessage } from '../pg-errors.js';
import { qualifiedName, quoteIdent } from '../sql.js';

export interface CatchUpPlan {
  jobId: number;
  hypertable: string;
  /** The policy's rule, for the user: "compress_after 7 days". */
  rule: string;
  chunks: string[];
}

/** The chunks job `jobId` would compress now; undefined when its rule cannot be evaluated by hand. */
export async function catchUpPlan(client: pg.Client, timescaleSchema: string, jobId: number): Promise<CatchUpPlan | undefined> {
  const job = await client.query(`SELECT config, hypertable_schema AS schema, hypertable_name AS name FROM timescaledb_information.jobs WHERE job_id = $1`, [jobId]);
  const row = job.rows[0];
  if (!row?.schema) return undefined;
  const table = qualifiedName(row.schema, row.name);
  const config = row.config ?? {};
  const ts = quoteIdent(timescaleSchema);
  let selection: string;
  let rule: string;
  let param: unknown;
  if (config.compress_created_before !== undefined) {
    selection = `${ts}.show_chunks($1::regclass, created_before => $2::interval)`;
    rule = `compress_created_before ${config.compress_created_before}`;
    param = config.compress_created_before;
  } else if (typeof config.compress_after === 'string') {
    selection = `${ts}.show_chunks($1::regclass, older_than => $2::interval)`;
    rule = `compress_after ${config.compress_after}`;
    param = config.compress_after;
  } else if (typeof config.compress_after === 'number') {
    const now = await integerNow(client, row.schema, row.name);
    if (now === undefined) return undefined;
    selection = `${ts}.show_chunks($1::regclass, older_than => $2::bigint)`;
    rule = `compress_after ${config.compress_after} (integer time, now ${now})`;
    param = (BigInt(now) - BigInt(config.compress_after)).toString();
  } else {
    return undefined;
  }
  const r = await client.query(`SELECT s.c::text AS chunk FROM ${selection} s(c)
    JOIN pg_class pc ON pc.oid = s.c JOIN pg_namespace pn ON pn.oid = pc.relnamespace
    JOIN _timescaledb_catalog.chunk ch ON ch.schema_name = pn.nspname AND ch.table_name = pc.relname
    WHERE (ch.status & 1) = 0 OR (ch.status & 8) <> 0 ORDER BY ch.id`, [table, param]);
  return { jobId, hypertable: `${row.schema}.${row.name}`, rule, chunks: r.rows.map((c) => c.chunk as string) };
}

async function integerNow(client: pg.Client, schema: string, table: string): Promise<string | undefined> {
  const r = await client.query(`SELECT d.integer_now_func_schema AS s, d.integer_now_func AS f FROM _timescaledb_catalog.dimension d
    JOIN _timescaledb_catalog.hypertable h ON h.id = d.hypertable_id WHERE h.schema_name = $1 AND h.table_name = $2 AND d.integer_now_func IS NOT NULL LIMIT 1`, [schema, table]);
  const fn = r.rows[0];
  if (!fn) return undefined;
  return String((await client.query(`SELECT ${qualifiedName(fn.s, fn.f)}()::text AS now`)).rows[0].now);
}

export interface CatchUpOptions {
  maxPerMinute: number | undefined;
  log: (line: string) => void;
  signal?: AbortSignal | undefined;
}

/** Compresses the plan's chunks one by one; stops (with a clear error) on a signal between chunks. */
export async function runCatchUp(client: pg.Client, timescaleSchema: string, plan: CatchUpPlan, o: CatchUpOptions): Promise<number> {
  const spacingMs = o.maxPerMinute ? 60_000 / o.maxPerMinute : 0;
  let last = 0;
  let done = 0;
  for (const chunk of plan.chunks) {
    if (o.signal?.aborted) {
      throw new HyperfillError('E_INTERRUPTED', `interrupted after compressing ${done} of ${plan.chunks.length} chunks of ${plan.hypertable}`, { table: plan.hypertable },
        'the policies stay paused: rerun restore-policies --catch-up to compress the rest and restore them');
    }
    const wait = last + spacingMs - performance.now();
    if (last > 0 && wait > 0) await sleep(wait, o.signal);
    last = performance.now();
    try {
      await client.query(`SELECT ${quoteIdent(timescaleSchema)}.compress_chunk($1::regclass, if_not_compressed => true)`, [chunk]);
    } catch (err) {
      if (isRetryable(err)) throw err; // a lost connection: the step runs again, compressing what is left
      throw new HyperfillError('E_COMPRESS_FAILED', `compress_chunk(${chunk}) failed: ${serverMessage(err)}`, { table: plan.hypertable },
        `the policies stay paused; ${done} chunks were compressed: fix the cause and rerun restore-policies --catch-up`, err);
    }
    done++;
    o.log(`restore-policies: job ${plan.jobId} (${plan.hypertable}): compressed ${chunk} (${done}/${plan.chunks.length}, ${((performance.now() - last) / 1000).toFixed(1)} s)`);
  }
  return done;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
