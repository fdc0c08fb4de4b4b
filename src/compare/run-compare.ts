/**
 * `hyperfill compare`: runs each read query on the source and the target, `repeat` times
 * per side, on `concurrency` connections per side, and compares the first run's results.
 * Every run is `DECLARE ... CURSOR` + `FETCH` in batches inside a READ ONLY transaction:
 * nothing can be written, memory holds one batch (and the first run's rows, up to
 * `maxRows`), and the latency of a run is from DECLARE to the last FETCH. Runs alternate
 * sides so neither always goes first.
 */
import type pg from 'pg';
import { type ConnectionConfig, describeConnection } from '../connection.js';
import { ControlConnection } from '../control-connection.js';
import { HyperfillError } from '../errors.js';
import { isRetryable, serverMessage } from '../pg-errors.js';
import type { RetryPolicy } from '../retry.js';
import { type LatencySummary, summarise } from '../stats.js';
import { compareResults, type ResultColumn, type ResultComparison, type ResultRow } from './diff-results.js';
import type { CompareQuery } from './query-file.js';

export interface CompareOptions {
  source: ConnectionConfig;
  target: ConnectionConfig;
  queries: CompareQuery[];
  /** Runs per query per side (default 1). */
  repeat: number;
  /** Connections per side (default 1). */
  concurrency: number;
  tolerance: number;
  /** The completion point, bound to `:until` where a query has it. */
  until: string | undefined;
  /** Rows of one result kept for the comparison; a larger result is an error for that query. */
  maxRows: number;
  maxDifferences: number;
  /** A lost connection is reopened and the run made again, for this long. */
  retry: RetryPolicy;
  signal?: AbortSignal | undefined;
  onRun?: (done: number, total: number) => void;
  onRetry?: (side: Side, err: unknown, delayMs: number) => void;
}

export type Side = 'source' | 'target';

export interface QueryComparison extends Omit<ResultComparison, 'match'> {
  index: number;
  name: string;
  line: number;
  query: string;
  usesUntil: boolean;
  /** Equal results on both sides (false when either side failed). */
  match: boolean;
  rows: { source: number | null; target: number | null };
  /** The error a side gave, if any. */
  errors: { source: string | null; target: string | null };
  latencyMs: { source: LatencySummary; target: LatencySummary };
  /** Every run's latency, in run order, for the report's chart. */
  samplesMs: { source: number[]; target: number[] };
}

export interface CompareResult {
  source: string;
  target: string;
  until: string | null;
  repeat: number;
  concurrency: number;
  tolerance: number;
  verdict: 'match' | 'differ';
  queries: QueryComparison[];
}

const FETCH_ROWS = 10_000;
// Text for every type, as the server prints it: comparisons are by column kind, not JS types.
const RAW_TYPES = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;
const SESSION = `SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 1;
  SET cursor_tuple_fraction = 1; SET default_transaction_read_only = on; SET application_name = 'hyperfill compare'`;

interface RunOutput {
  ms: number;
  columns: ResultColumn[];
  rows: ResultRow[] | undefined;
  rowCount: number;
}

interface Job {
  query: CompareQuery;
  side: Side;
  keepRows: boolean;
}

export async function runCompare(options: CompareOptions): Promise<CompareResult> {
  const jobs: Job[] = [];
  for (let r = 0; r < options.repeat; r++) {
    for (const query of options.queries) {
      const sides: Side[] = r % 2 === 0 ? ['source', 'target'] : ['target', 'source'];
      for (const side of sides) jobs.push({ query, side, keepRows: r === 0 });
    }
  }
  const state = options.queries.map(() => ({
    source: { samples: [] as number[], output: undefined as RunOutput | undefined, error: undefined as string | undefined },
    target: { samples: [] as number[], output: undefined as RunOutput | undefined, error: undefined as string | undefined },
  }));
  let next = 0;
  let done = 0;
  const worker = async () => {
    const connection = (side: Side) => new ControlConnection(options[side], {
      role: side, retry: options.retry, signal: options.signal, setup: SESSION, purpose: 'compare',
      onRetry: (err, delay) => options.onRetry?.(side, err, delay),
    });
    const clients = { source: connection('source'), target: connection('target') };
    try {
      await Promise.all([clients.source.open(), clients.target.open()]);
      for (let job = jobs[next++]; job; job = jobs[next++]) {
        const slot = state[job.query.index - 1]?.[job.side];
        if (!slot) continue;
        if (slot.error === undefined) {
          try {
            // A read: after a lost connection, the run is made again on a new one.
            const output = await clients[job.side].run((client) => runOnce(client, job, options));
            slot.samples.push(output.ms);
            if (job.keepRows) slot.output = output;
          } catch (err) {
            const tooLarge = err instanceof HyperfillError && err.code === 'E_COMPARE_RESULT_TOO_LARGE';
            if (!tooLarge && (err instanceof HyperfillError || isRetryable(err))) {
              next = jobs.length;
              throw err;
            }
            slot.error = tooLarge ? (err as Error).message : serverMessage(err);
          }
        }
        options.onRun?.(++done, jobs.length);
      }
    } finally {
      await Promise.all([clients.source.close(), clients.target.close()]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  const queries = options.queries.map((query, n) => summariseQuery(query, state[n] as (typeof state)[number], options));
  return {
    source: describeConnection(options.source), target: describeConnection(options.target), until: options.until ?? null,
    repeat: options.repeat, concurrency: options.concurrency, tolerance: options.tolerance,
    verdict: queries.every((q) => q.match) ? 'match' : 'differ', queries,
  };
}

async function runOnce(client: pg.Client, job: Job, options: CompareOptions): Promise<RunOutput> {
  await client.query('BEGIN READ ONLY');
  try {
    const started = performance.now();
    await client.query(`DECLARE hyperfill_compare NO SCROLL CURSOR FOR ${job.query.text}`, job.query.usesUntil ? [options.until] : []);
    let columns: ResultColumn[] = [];
    const rows: ResultRow[] | undefined = job.keepRows ? [] : undefined;
    let rowCount = 0;
    for (;;) {
      const r = await client.query({ text: `FETCH ${FETCH_ROWS} FROM hyperfill_compare`, rowMode: 'array', types: RAW_TYPES });
      columns = r.fields.map((f) => ({ name: f.name, typeOid: f.dataTypeID }));
      rowCount += r.rows.length;
      if (rows) {
        if (rowCount > options.maxRows) {
          throw new HyperfillError('E_COMPARE_RESULT_TOO_LARGE', `${job.query.name} returns more than ${options.maxRows} rows on the ${job.side}`,
            { line: job.query.line }, 'compare aggregates (count, sum, min, max per time bucket) rather than raw rows, or raise --max-rows');
        }
        for (const row of r.rows as ResultRow[]) rows.push(row);
      }
      if (r.rows.length < FETCH_ROWS) break;
    }
    const ms = performance.now() - started;
    await client.query('COMMIT');
    return { ms, columns, rows, rowCount };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

function summariseQuery(query: CompareQuery, state: Record<Side, { samples: number[]; output: RunOutput | undefined; error: string | undefined }>,
  options: CompareOptions): QueryComparison {
  const base = {
    index: query.index, name: query.name, line: query.line, query: query.original, usesUntil: query.usesUntil,
    rows: { source: state.source.output?.rowCount ?? null, target: state.target.output?.rowCount ?? null },
    errors: { source: state.source.error ?? null, target: state.target.error ?? null },
    latencyMs: { source: summarise(state.source.samples), target: summarise(state.target.samples) },
    samplesMs: { source: state.source.samples, target: state.target.samples },
  };
  const source = state.source.output;
  const target = state.target.output;
  if (!source?.rows || !target?.rows) {
    return { ...base, match: false, comparedAs: query.ordered ? 'ordered' : 'multiset', differences: [], differingRows: 0 };
  }
  const comparison = compareResults({ columns: source.columns, rows: source.rows }, { columns: target.columns, rows: target.rows }, {
    order: query.ordered ? { keys: query.orderKeys } : undefined, tolerance: options.tolerance, maxDifferences: options.maxDifferences,
  });
  return { ...base, ...comparison };
}
