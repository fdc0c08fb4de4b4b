/**
 * The control plane at scale: how long planning takes for a source hypertable with many
 * chunks (one window per chunk, read from TimescaleDB's catalog), and how fast windows are
 * claimed from a progress table holding a million of them, by several processes at once.
 * Goals (issue 14): plan < 5 s for 20k chunks; a claim < 10 ms. Writes results/plan.md.
 *
 *   node dist/benchmarks/plan-bench.js [--chunks 20000] [--windows 1000000] [--claims 2000] [--claimers 4]
 *
 * Needs a native TimescaleDB (test/helpers/native-postgres.ts: PostgreSQL 15 + TimescaleDB).
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openSource } from '../connectors/index.js';
import { ProgressTable, type PlannedWindow } from '../src/backfill/progress-table.js';
import { resolveTables } from '../src/backfill/resolve-tables.js';
import { planWindows } from '../src/backfill/run-backfill.js';
import { parseTableSpec } from '../src/backfill/resolve-tables.js';
import { startNativePostgres } from '../test/helpers/native-postgres.js';
import { writeReport } from './lib/timing.js';

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
const ms = (n: number) => n.toFixed(2);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { chunks: { type: 'string' }, windows: { type: 'string' }, claims: { type: 'string' }, claimers: { type: 'string' } } });
  const chunks = Number(values.chunks ?? 20_000);
  const windowCount = Number(values.windows ?? 1_000_000);
  const claims = Number(values.claims ?? 2000);
  const claimers = Number(values.claimers ?? 4);
  const load = loadavg()[0] ?? 0;
  const server = await startNativePostgres({ timescale: true, settings: { max_locks_per_transaction: '1024' } });
  const lines: string[] = [];
  const log = (line: string) => { process.stderr.write(`${line}\n`); lines.push(line); };
  try {
    const sourceUrl = await server.createDatabase('src');
    const targetUrl = await server.createDatabase('dst');

    // A hypertable with `chunks` one-hour chunks, one row in each (empty chunks have no extent).
    let t0 = performance.now();
    await server.query(`CREATE TABLE metrics (time timestamptz NOT NULL, v float8);
      SELECT create_hypertable('metrics', by_range('time', INTERVAL '1 hour'));
      INSERT INTO metrics SELECT '2020-01-01'::timestamptz + i * interval '1 hour', i FROM generate_series(0, ${chunks - 1}) i;
      ANALYZE metrics`, [], 'src');
    const made = (await server.query(`SELECT count(*)::int AS n FROM show_chunks('metrics')`, [], 'src')).rows[0].n;
    log(`source: ${made} chunks made in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // Planning, as backfill does it: describe, extent, chunk boundaries, windows, stored plan.
    const until = new Date(Date.parse('2020-01-01T00:00:00Z') + chunks * 3_600_000).toISOString();
    const target = new pg.Client({ connectionString: targetUrl });
    await target.connect();
    await target.query(`CREATE TABLE metrics (time timestamptz NOT NULL, v float8)`);
    t0 = performance.now();
    const source = await openSource(sourceUrl, { parallel: 2 });
    const tables = await resolveTables(source, target, [parseTableSpec('metrics')], undefined, false);
    const planned = await planWindows(source, tables, undefined, BigInt(Date.parse(until)) * 1000n, { window: undefined, parallel: 2 });
    const planMs = performance.now() - t0;
    const progress = new ProgressTable('hyperfill', 'plan-bench');
    await progress.create(target);
    t0 = performance.now();
    await progress.ensurePlan(target, {}, async () => planned);
    const storeMs = performance.now() - t0;
    await source.close();
    log(`plan: ${planned.length} windows from ${made} chunks in ${(planMs / 1000).toFixed(2)} s, stored in ${(storeMs / 1000).toFixed(2)} s`);

    // A progress table with `windowCount` windows, claimed by `claimers` connections at once.
    const big = new ProgressTable('hyperfill', 'claim-bench');
    const windows: PlannedWindow[] = Array.from({ length: windowCount }, (_, i) => ({ table: 'public.metrics', index: i, start: BigInt(i), end: BigInt(i + 1) }));
    t0 = performance.now();
    await big.ensurePlan(target, {}, async () => windows);
    const bigStoreMs = performance.now() - t0;
    log(`progress table: ${windowCount} windows stored in ${(bigStoreMs / 1000).toFixed(1)} s`);
    await target.query('VACUUM ANALYZE hyperfill.backfill_window');

    const claimRound = async (label: string, count = claims) => {
      const clients = await Promise.all(Array.from({ length: claimers }, async () => {
        const c = new pg.Client({ connectionString: targetUrl });
        await c.connect();
        return c;
      }));
      const latencies: number[] = [];
      let remaining = count;
      await Promise.all(clients.map(async (c) => {
        while (remaining-- > 0) {
          const began = performance.now();
          await c.query('BEGIN');
          const w = await big.claim(c);
          if (!w) throw new Error('no window left to claim');
          latencies.push(performance.now() - began);
          await big.markDone(c, w, { rows: 0, deleted: 0, seconds: 0 });
          await c.query('COMMIT');
        }
      }));
      await Promise.all(clients.map((c) => c.end()));
      latencies.splice(0, Math.max(0, latencies.length - claims));
      latencies.sort((a, b) => a - b);
      log(`claim (${label}; ${claimers} claimers at once, ${latencies.length} claims): p50 ${ms(percentile(latencies, 0.5))} ms, p99 ${ms(percentile(latencies, 0.99))} ms, max ${ms(latencies[latencies.length - 1] ?? NaN)} ms`);
      return latencies;
    };
    await claimRound('fresh plan');
    // A run going on: windows claimed and done one by one; the last `claims` of them measured.
    await claimRound(`after ${claims * 10} windows done one by one, last ${claims} measured`, claims * 10);
    // The worst case: half the plan marked done at once (as if by processes long gone), before autovacuum.
    await target.query(`UPDATE hyperfill.backfill_window SET state = 'done' WHERE run_id = 'claim-bench' AND idx < $1`, [Math.floor(windowCount / 2)]);
    await claimRound('half done in one UPDATE, before autovacuum');
    await target.query('VACUUM ANALYZE hyperfill.backfill_window');
    await claimRound('half done, after vacuum');
    t0 = performance.now();
    const counted = await big.doneCount(target);
    log(`doneCount over ${counted.total} windows: ${(performance.now() - t0).toFixed(0)} ms`);
    await target.end();

    const report = ['# Control plane at scale', '',
      `${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; ${server.version}; load average ${load.toFixed(1)} at the start (other work on the machine inflates the tails).`,
      'Command: `node dist/benchmarks/plan-bench.js' + ` --chunks ${chunks} --windows ${windowCount} --claims ${claims} --claimers ${claimers}\`.`, '',
      ...lines.map((l) => `- ${l}`), '',
      'Goals: plan < 5 s for 20k chunks; claim < 10 ms.', ''].join('\n');
    writeReport('plan', report);
  } finally {
    await server.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
