/**
 * `hyperfill bench`: the sweeps. Target: a scratch table, then for every batch size and
 * worker count one cell on an emptied table, then the table is dropped, also when a
 * cell fails or the user interrupts. Source: for every reader count one read of the
 * same range. Progress and notes go to stderr; the caller prints the results.
 */
import { type ConnectionConfig, describeConnection } from '../connection.js';
import { ControlConnection } from '../control-connection.js';
import { HyperfillError } from '../errors.js';
import { serverMessage } from '../pg-errors.js';
import { formatCount, formatTable, ProgressReporter } from '../progress.js';
import type { RetryPolicy } from '../retry.js';
import { recommend, whichSideLimits } from './recommend.js';
import { type BenchResult, machineInfo, type SourceBench, type TargetBench } from './result.js';
import {
  createScratchTable, dropScratchTable, leftoverScratchTables, probeTarget, type ScratchTable, truncateScratchTable,
} from './scratch-table.js';
import { describeSourceTable, readCell, type SourceCellResult } from './source-read.js';
import { type CellResult, interrupted, runCell } from './sweep.js';
import { CpuGenerator, measureGenerator } from './tsbs-cpu.js';

export interface BenchOptions {
  target: ConnectionConfig | undefined;
  source: ConnectionConfig | undefined;
  /** Source table and time column (source benchmark). */
  table: string | undefined;
  timeColumn: string | undefined;
  schema: string;
  workers: number[];
  batchSizes: number[];
  scale: number;
  /** Rows per cell; Infinity when only --duration limits a cell. */
  rows: number;
  /** Per-cell time limit in ms; 0: none. */
  durationMs: number;
  keep: boolean;
  /** Runs per cell; the run with the median rows/s is reported. */
  repeat: number;
  retry: RetryPolicy;
  reportingPeriodMs: number;
}

export interface BenchIO {
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  signal?: AbortSignal | undefined;
}

/** A short warm-up cell (not reported) before the first measured one: connections, JIT, caches. */
const WARMUP_ROWS = 20_000;

export async function runBench(options: BenchOptions, io: BenchIO): Promise<BenchResult> {
  const result: BenchResult = { startedAt: new Date().toISOString(), machine: machineInfo() };
  if (options.source) result.source = await runSourceBench(options, options.source, io);
  if (options.target) result.target = await runTargetBench(options, options.target, io);
  if (result.source && result.target) {
    result.limit = whichSideLimits(result.source.recommendation.rowsPerSecond, result.target.recommendation.rowsPerSecond);
  }
  return result;
}

async function runTargetBench(options: BenchOptions, config: ConnectionConfig, io: BenchIO): Promise<TargetBench> {
  const where = describeConnection(config);
  const log = (line: string) => io.stderr.write(`${line}\n`);
  const control = controlConnection(config, 'target', options, io);
  let scratch: ScratchTable | undefined;
  try {
    await control.open();
    const info = await control.run((c) => probeTarget(c));
    const leftovers = await control.run((c) => leftoverScratchTables(c, options.schema)).catch(() => []);
    const made = await control.run((c) => createScratchTable(c, options.schema, info));
    scratch = made;
    const name = `${scratch.schema}.${scratch.table}`;
    if (scratch.hypertable) {
      log(`bench: target ${where}: PostgreSQL ${info.serverVersion}, TimescaleDB ${info.timescaledb}; scratch hypertable ${name}`);
    } else {
      log(`bench: target ${where}: PostgreSQL ${info.serverVersion} WITHOUT TimescaleDB: benchmarking a PLAIN TABLE ${name}, not a hypertable;` +
        ` a hypertable's numbers may differ${info.timescaledbAvailable ? ' (TimescaleDB is available: CREATE EXTENSION timescaledb to measure one)' : ''}`);
    }
    if (leftovers.length > 0) {
      log(`bench: note: ${leftovers.length} scratch table(s) of earlier runs remain in schema ${options.schema} (${leftovers.slice(0, 3).join(', ')}${leftovers.length > 3 ? ', ...' : ''}); drop them with DROP TABLE when no benchmark runs`);
    }
    const generator = new CpuGenerator({ scale: options.scale });
    const alone = measureGenerator(options.scale);
    const total = options.workers.length * options.batchSizes.length;
    log(`bench: ${total} cell${total === 1 ? '' : 's'} of ${limitText(options)} each; TSBS-like cpu rows, ${options.scale} hosts, ` +
      `${alone.bytesPerRow.toFixed(0)} bytes per row; the generator alone makes ${formatCount(alone.rowsPerSecond)} rows/s`);

    const context = { connection: config, statement: scratch.statement, generator, retry: options.retry, signal: io.signal };
    const warmup = { workers: options.workers[0] ?? 1, batchSize: options.batchSizes[0] ?? 1000, rows: Math.min(options.rows, WARMUP_ROWS), durationMs: 0 };
    await runCell(warmup, context);
    const cells: CellResult[] = [];
    for (const batchSize of options.batchSizes) {
      for (const workers of options.workers) {
        const runs: CellResult[] = [];
        for (let run = 1; run <= options.repeat; run++) {
          if (io.signal?.aborted) throw interrupted();
          await control.run((c) => truncateScratchTable(c, made));
          let rows = 0;
          let bytes = 0;
          const label = `bench ${cells.length + 1}/${total}${options.repeat > 1 ? ` run ${run}/${options.repeat}` : ''} workers ${workers} batch ${batchSize}`;
          const progress = new ProgressReporter({ stream: io.stderr, periodMs: options.reportingPeriodMs, label }, () => ({ rows, bytes }));
          progress.start();
          try {
            runs.push(await runCell({ workers, batchSize, rows: options.rows, durationMs: options.durationMs }, {
              ...context, onProgress: (r, b) => { rows = r; bytes = b; },
            }));
          } finally {
            progress.stop();
          }
        }
        const c = medianRun(runs);
        cells.push(c);
        log(`bench: cell ${cells.length}/${total}: --workers ${workers} --batch-size ${batchSize}: ${formatCount(c.rowsPerSecond)} rows/s${spreadText(c)}, ` +
          `${c.mbPerSecond.toFixed(1)} MB/s, batch p50 ${c.latencyMs.p50.toFixed(1)} ms p99 ${c.latencyMs.p99.toFixed(1)} ms, client CPU ${c.clientCpuPercent.toFixed(0)}%`);
      }
    }
    return {
      connection: where, serverVersion: info.serverVersion, timescaledb: info.timescaledb ?? null, table: name,
      hypertable: scratch.hypertable, kept: options.keep,
      dataset: {
        name: 'tsbs-cpu', scale: options.scale, rowsPerCell: Number.isFinite(options.rows) ? options.rows : null,
        durationSeconds: options.durationMs > 0 ? options.durationMs / 1000 : null,
        bytesPerRow: alone.bytesPerRow, generatorRowsPerSecond: alone.rowsPerSecond,
      },
      cells, recommendation: recommend(cells),
    };
  } finally {
    if (scratch) await cleanUp(control, scratch, options.keep, log);
    await control.close();
  }
}

/** The benchmark's own connection: its steps retried within --retry-timeout (0 by default), stopped by a signal. */
function controlConnection(config: ConnectionConfig, role: 'target' | 'source', options: BenchOptions, io: BenchIO): ControlConnection {
  return new ControlConnection(config, {
    role, retry: options.retry, signal: io.signal, setup: role === 'source' ? "SET TIME ZONE 'UTC'" : undefined,
    onRetry: (err, delay) => io.stderr.write(`bench: ${role} connection lost (${serverMessage(err)}); retrying in ${delay} ms\n`),
  });
}

/** Drops the scratch table (a cleanup step: also after a signal, on a new connection if needed), or says it was kept. */
async function cleanUp(control: ControlConnection, scratch: ScratchTable, keep: boolean, log: (line: string) => void): Promise<void> {
  const name = `${scratch.schema}.${scratch.table}`;
  if (keep) {
    log(`bench: kept the scratch table ${name} with the last cell's rows (drop it with: DROP TABLE ${scratch.qualified})`);
    return;
  }
  try {
    await control.cleanup((c) => dropScratchTable(c, scratch));
  } catch (err) {
    log(`bench: could not drop the scratch table ${name}: ${serverMessage(err)}; drop it with: DROP TABLE ${scratch.qualified}`);
    return;
  }
  log(`bench: dropped the scratch table ${name}`);
}

async function runSourceBench(options: BenchOptions, config: ConnectionConfig, io: BenchIO): Promise<SourceBench> {
  const where = describeConnection(config);
  const log = (line: string) => io.stderr.write(`${line}\n`);
  if (options.table === undefined) throw new HyperfillError('E_USAGE', '`--source` needs `--table`', {}, 'see: hyperfill bench --help');
  const control = controlConnection(config, 'source', options, io);
  try {
    await control.open();
    const version = (await control.run((c) => c.query<{ v: string }>("SELECT current_setting('server_version') AS v"))).rows[0]?.v ?? '?';
    const needWindows = options.workers.some((n) => n > 1);
    const tableName = options.table;
    const table = await control.run((c) => describeSourceTable(c, tableName, options.timeColumn, options.rows, needWindows));
    log(`bench: source ${where}: PostgreSQL ${version}; reading ${table.name} (about ${formatCount(table.estimatedRows)} rows)` +
      `${Number.isFinite(options.rows) ? `, about ${options.rows} rows` : ''}${options.durationMs > 0 ? ` or ${options.durationMs / 1000} s` : ''} per cell` +
      `${table.timeColumn && table.extent ? `, cells reading consecutive ranges of ${table.timeColumn}` : ', without a time filter'}; nothing is written to the source`);
    const cells: SourceCellResult[] = [];
    let reads = 0;
    for (const readers of options.workers) {
      const runs: SourceCellResult[] = [];
      for (let run = 1; run <= options.repeat; run++) {
        if (io.signal?.aborted) throw interrupted();
        let rows = 0;
        let bytes = 0;
        const label = `bench source ${cells.length + 1}/${options.workers.length}${options.repeat > 1 ? ` run ${run}/${options.repeat}` : ''} readers ${readers}`;
        const progress = new ProgressReporter({ stream: io.stderr, periodMs: options.reportingPeriodMs, label }, () => ({ rows, bytes }));
        progress.start();
        try {
          // Every read takes the next range, so no read finds the previous one's pages in the cache.
          runs.push(await readCell(config, table, readers, {
            cell: reads++, rowsPerCell: options.rows, durationMs: options.durationMs, signal: io.signal, onProgress: (r, b) => { rows = r; bytes = b; },
          }));
        } finally {
          progress.stop();
        }
      }
      const c = medianRun(runs);
      cells.push(c);
      log(`bench: source cell ${cells.length}/${options.workers.length}: ${readers} reader${readers === 1 ? '' : 's'}: ${c.rows} rows${c.range ? ` in [${c.range.start}, ${c.range.end})` : ''}, ` +
        `${formatCount(c.rowsPerSecond)} rows/s${spreadText(c)}, ${c.mbPerSecond.toFixed(1)} MB/s, client CPU ${c.clientCpuPercent.toFixed(0)}%`);
    }
    const points = cells.map((c) => ({ workers: c.readers, rowsPerSecond: c.rowsPerSecond, mbPerSecond: c.mbPerSecond, clientCpuPercent: c.clientCpuPercent }));
    return {
      connection: where, serverVersion: version, table: table.name, timeColumn: table.timeColumn ?? null,
      estimatedRows: table.estimatedRows, cells, recommendation: recommend(points, undefined, 'source'),
    };
  } finally {
    await control.close();
  }
}

/** Of several runs of one cell, the one with the median rows/s, carrying every run's rows/s. */
export function medianRun<T extends { rowsPerSecond: number; runs?: number[] | undefined }>(runs: T[]): T {
  const sorted = [...runs].sort((a, b) => a.rowsPerSecond - b.rowsPerSecond);
  const median = sorted[Math.floor((sorted.length - 1) / 2)] as T;
  return runs.length > 1 ? { ...median, runs: runs.map((r) => r.rowsPerSecond) } : median;
}

/** " (runs 180.1k-240.3k)" when a cell ran more than once. */
function spreadText(cell: { runs?: number[] | undefined }): string {
  if (!cell.runs || cell.runs.length < 2) return '';
  return ` (runs ${formatCount(Math.min(...cell.runs))}-${formatCount(Math.max(...cell.runs))})`;
}

function limitText(options: BenchOptions): string {
  const parts: string[] = [];
  if (Number.isFinite(options.rows)) parts.push(`${options.rows} rows`);
  if (options.durationMs > 0) parts.push(`${options.durationMs / 1000} s`);
  return parts.join(' or ');
}

/** The results table for stdout. */
export function formatTargetTable(bench: TargetBench): string {
  const spread = bench.cells.some((c) => c.runs);
  return formatTable(['workers', 'batch', 'rows', 'seconds', 'rows/s', ...(spread ? ['spread'] : []), 'MB/s', 'p50 ms', 'p99 ms', 'client CPU'],
    bench.cells.map((c) => [c.workers, c.batchSize, c.rows, c.seconds.toFixed(2), formatCount(c.rowsPerSecond), ...(spread ? [spreadPercent(c)] : []),
      c.mbPerSecond.toFixed(1), c.latencyMs.p50.toFixed(1), c.latencyMs.p99.toFixed(1), `${c.clientCpuPercent.toFixed(0)}%`]));
}

export function formatSourceTable(bench: SourceBench): string {
  const spread = bench.cells.some((c) => c.runs);
  return formatTable(['readers', 'rows', 'seconds', 'rows/s', ...(spread ? ['spread'] : []), 'MB/s', 'client CPU'],
    bench.cells.map((c) => [c.readers, c.rows, c.seconds.toFixed(2), formatCount(c.rowsPerSecond), ...(spread ? [spreadPercent(c)] : []),
      c.mbPerSecond.toFixed(1), `${c.clientCpuPercent.toFixed(0)}%`]));
}

/** (max - min) / median of a cell's runs, in percent. */
function spreadPercent(c: { rowsPerSecond: number; runs?: number[] | undefined }): string {
  if (!c.runs || c.runs.length < 2) return '-';
  return `${(((Math.max(...c.runs) - Math.min(...c.runs)) / c.rowsPerSecond) * 100).toFixed(0)}%`;
}
