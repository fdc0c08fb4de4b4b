/**
 * One benchmark cell: W COPY workers (the same CopySink `hyperfill copy` uses) fed by
 * the generator in batches of B rows, until the cell's rows or time are used up. The
 * clock starts once every worker is connected and stops when the last batch committed.
 */
import type { ConnectionConfig } from '../connection.js';
import { HyperfillError } from '../errors.js';
import { serverMessage } from '../pg-errors.js';
import type { RetryPolicy } from '../retry.js';
import { percentile } from '../stats.js';
import { BatchFailure, CopySink } from '../sink/copy-sink.js';
import type { CpuGenerator } from './tsbs-cpu.js';

export interface CellSettings {
  workers: number;
  batchSize: number;
  /** Rows to load (Infinity: until `durationMs`). */
  rows: number;
  /** Stop feeding after this long (0: no limit). Batches in flight still finish. */
  durationMs: number;
}

/** What one cell measured. Rates are per wall-clock second of the cell. */
export interface CellResult {
  workers: number;
  batchSize: number;
  rows: number;
  bytes: number;
  batches: number;
  seconds: number;
  rowsPerSecond: number;
  mbPerSecond: number;
  /** Time to commit one batch (BEGIN, COPY, COMMIT), over every batch of the cell. */
  latencyMs: { p50: number; p99: number };
  /** CPU this process used during the cell (generator, encoding, the pg driver). */
  clientCpuSeconds: number;
  /** clientCpuSeconds over wall-clock seconds: 100 is one core busy. */
  clientCpuPercent: number;
  retries: number;
  /** With --repeat: rows/s of every run (this result is the median one). */
  runs?: number[] | undefined;
}

export interface CellContext {
  connection: ConnectionConfig;
  statement: string;
  generator: CpuGenerator;
  retry: RetryPolicy;
  signal?: AbortSignal | undefined;
  /** Called after each committed batch with the cell's running totals. */
  onProgress?: ((rows: number, bytes: number) => void) | undefined;
}

export async function runCell(settings: CellSettings, context: CellContext): Promise<CellResult> {
  const { generator, signal } = context;
  generator.reset();
  const latencies: number[] = [];
  let rows = 0;
  let bytes = 0;
  const sink = new CopySink({
    connection: context.connection, statement: context.statement, retry: context.retry, ledger: undefined, workers: settings.workers,
    onCommitted: (batch, _worker, ms) => {
      latencies.push(ms);
      rows += batch.rows;
      bytes += batch.data.length;
      context.onProgress?.(rows, bytes);
    },
  });
  try {
    await sink.start();
  } catch (err) {
    await sink.abort(err);
    throw cellError(err, settings);
  }
  const onAbort = () => sink.interrupt(interrupted());
  signal?.addEventListener('abort', onAbort, { once: true });
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = settings.durationMs > 0 ? started + settings.durationMs : Infinity;
  try {
    while (generator.rows < settings.rows && performance.now() < deadline) {
      if (signal?.aborted) throw interrupted();
      await sink.write(generator.next(Math.min(settings.batchSize, settings.rows - generator.rows)));
    }
    if (signal?.aborted) throw interrupted();
    const stats = await sink.finish();
    const seconds = Math.max((performance.now() - started) / 1000, 1e-6);
    const cpu = process.cpuUsage(cpuBefore);
    const clientCpuSeconds = (cpu.user + cpu.system) / 1e6;
    const sorted = latencies.sort((a, b) => a - b);
    return {
      workers: settings.workers, batchSize: settings.batchSize, rows, bytes, batches: sorted.length, seconds,
      rowsPerSecond: rows / seconds, mbPerSecond: bytes / 1e6 / seconds,
      latencyMs: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) },
      clientCpuSeconds, clientCpuPercent: (clientCpuSeconds / seconds) * 100,
      retries: stats.reduce((n, s) => n + s.retries, 0),
    };
  } catch (err) {
    await sink.abort(err);
    if (signal?.aborted) throw interrupted();
    throw cellError(err, settings);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

export { percentile };

export function interrupted(): HyperfillError {
  return new HyperfillError('E_INTERRUPTED', 'interrupted by a signal; the benchmark stopped');
}

function cellError(err: unknown, settings: CellSettings): HyperfillError {
  const cause = err instanceof BatchFailure ? err.error : err;
  if (cause instanceof HyperfillError) return cause;
  const where = { workers: settings.workers, batch_size: settings.batchSize };
  const code = (cause as { code?: string }).code;
  if (code === '53300') {
    return new HyperfillError('E_BENCH_FAILED', `the target refused a connection: ${serverMessage(cause)}`, where,
      'use fewer --workers, or raise max_connections on the target', cause);
  }
  return new HyperfillError('E_BENCH_FAILED', `the benchmark failed: ${serverMessage(cause)}`, where, undefined, cause);
}
