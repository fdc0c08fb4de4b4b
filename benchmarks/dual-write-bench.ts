/**
 * The dual writer's own cost. Two PostgreSQL servers (embedded, one process each), the
 * same single-row INSERTs from C concurrent loops, through:
 *   - a hand-written `Promise.all([primary.query(...), secondary.query(...)])`,
 *   - `writer.query(...)` (both databases up: the direct path),
 * interleaved over R rounds (the order alternates), each round on emptied tables:
 * throughput, p50/p99 latency per write and client CPU per write, best and median. Then
 * the spool's cost with the secondary down: writes/s through the writer with fsync per
 * group and per record, beside the primary alone.
 * Writes benchmarks/results/dual-write.md.
 *
 *   node dist/benchmarks/dual-write-bench.js [--writes 20000] [--concurrency 8] [--rounds 5] [--durable]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createDualWriter, type FsyncMode } from '../src/dual-write/index.js';
import { freePort, startPostgres } from '../src/embedded-postgres.js';
import { percentile } from '../src/stats.js';
import { writeReport } from './lib/timing.js';

const DDL = 'CREATE TABLE readings (time timestamptz NOT NULL, host text NOT NULL, value float8)';
const INSERT = 'INSERT INTO readings (time, host, value) VALUES ($1, $2, $3)';

interface Run {
  writesPerSecond: number;
  p50: number;
  p99: number;
  cpuMicrosPerWrite: number;
}

type Write = (values: unknown[]) => Promise<unknown>;

/** `writes` INSERTs from `concurrency` loops; latency of each, wall time and this process's CPU for all. */
async function measure(write: Write, writes: number, concurrency: number): Promise<Run> {
  const latencies: number[] = [];
  let next = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i = next++; i < writes; i = next++) {
      const t = performance.now();
      await write([new Date(), `host_${i % 100}`, i / 7]);
      latencies.push(performance.now() - t);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  latencies.sort((a, b) => a - b);
  return { writesPerSecond: writes / seconds, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), cpuMicrosPerWrite: (used.user + used.system) / writes };
}

/**
 * The writer's own work per write, without servers: both "pools" answer on the next turn of
 * the event loop, so what differs between the two contenders is the writer's code alone.
 */
async function ownWork(dir: string): Promise<{ writer: number[]; promiseAll: number[] }> {
  const answer = { rowCount: 1, rows: [] };
  const instant = { query: () => new Promise<pg.QueryResult>((resolve) => setImmediate(() => resolve(answer as unknown as pg.QueryResult))) };
  const writer = await createDualWriter({ primary: instant, secondary: instant, spool: join(dir, 'own-work'), writerId: 'own-work', replay: false });
  const contenders: Record<'writer' | 'promiseAll', Write> = {
    writer: (v) => writer.query(INSERT, v),
    promiseAll: (v) => Promise.all([instant.query(), instant.query()]),
  };
  const out = { writer: [] as number[], promiseAll: [] as number[] };
  for (let round = 0; round < 3; round++) {
    for (const name of ['writer', 'promiseAll'] as const) {
      await measure(contenders[name], 20_000, 8);
      out[name].push((await measure(contenders[name], 200_000, 8)).cpuMicrosPerWrite);
    }
  }
  await writer.close();
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;
const best = (xs: number[], higher: boolean) => (higher ? Math.max(...xs) : Math.min(...xs));

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { writes: { type: 'string' }, concurrency: { type: 'string' }, rounds: { type: 'string' }, durable: { type: 'boolean' } } });
  const writes = Number(values.writes ?? 20_000);
  const concurrency = Number(values.concurrency ?? 8);
  const rounds = Number(values.rounds ?? 5);
  const fast = !values.durable;
  const [a, b] = await Promise.all([startPostgres({ fast }), startPostgres({ fast })]);
  const dir = mkdtempSync(join(tmpdir(), 'hyperfill-dw-bench-'));
  const primary = new pg.Pool({ connectionString: a.url(), max: concurrency });
  const secondary = new pg.Pool({ connectionString: b.url(), max: concurrency });
  const down = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/none`, max: concurrency });
  for (const p of [primary, secondary, down]) p.on('error', () => undefined);
  const closing: Array<() => Promise<void>> = [];
  try {
    for (const s of [a, b]) await s.query(DDL);
    const reset = async () => {
      await Promise.all([a.query('TRUNCATE readings; CHECKPOINT'), b.query('TRUNCATE readings; CHECKPOINT')]);
    };
    const writer = await createDualWriter({ primary, secondary, spool: join(dir, 'direct'), writerId: 'bench', secondaryTimeoutMs: 5000 });
    const contenders: Record<string, Write> = {
      'Promise.all of the two queries': (v) => Promise.all([primary.query(INSERT, v), secondary.query(INSERT, v)]),
      'dual writer (direct)': (v) => writer.query(INSERT, v),
    };
    const names = Object.keys(contenders);
    // Warm-up: connections, plans, JIT.
    for (const name of names) await measure(contenders[name] as Write, 2000, concurrency);
    const results: Record<string, Run[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let round = 0; round < rounds; round++) {
      for (const name of round % 2 === 0 ? names : [...names].reverse()) {
        await reset();
        const run = await measure(contenders[name] as Write, writes, concurrency);
        const counts = await Promise.all([a.query('SELECT count(*)::int AS n FROM readings'), b.query('SELECT count(*)::int AS n FROM readings')]);
        if (counts.some((c) => c.rows[0].n !== writes)) throw new Error(`${name}: a database holds ${counts.map((c) => c.rows[0].n).join(' / ')} of ${writes} rows`);
        (results[name] as Run[]).push(run);
        process.stderr.write(`round ${round + 1} ${name}: ${Math.round(run.writesPerSecond)} writes/s, p50 ${run.p50.toFixed(2)} ms, p99 ${run.p99.toFixed(2)} ms\n`);
      }
    }
    if (writer.metrics().spooled !== 0) throw new Error('the direct runs spooled: the secondary failed during the benchmark');
    await writer.close();

    // Spooling: the secondary unreachable (connection refused), every write to the primary and the spool.
    const spooling: Array<[string, FsyncMode, number]> = [
      ['dual writer, spool fsync group', 'group', 0], ['dual writer, spool fsync group, groupCommitMs 2', 'group', 2], ['dual writer, spool fsync record', 'record', 0],
    ];
    const spoolRuns: Record<string, Run[]> = Object.fromEntries([['primary alone (no dual write)', []], ...spooling.map(([name]) => [name, []])]);
    const spoolWriters: Record<string, Write> = {};
    for (const [name, fsync, groupCommitMs] of spooling) {
      const w = await createDualWriter({ primary, secondary: down, spool: { dir: join(dir, `${fsync}-${groupCommitMs}`), fsync, groupCommitMs }, writerId: `bench-${fsync}`,
        secondaryTimeoutMs: 5000, replay: false });
      await w.query(INSERT, [new Date(), 'warm', 0]);
      closing.push(() => w.close());
      spoolWriters[name] = (v) => w.query(INSERT, v);
    }
    spoolWriters['primary alone (no dual write)'] = (v) => primary.query(INSERT, v);
    const spoolNames = Object.keys(spoolRuns);
    for (let round = 0; round < rounds; round++) {
      for (const name of round % 2 === 0 ? spoolNames : [...spoolNames].reverse()) {
        await reset();
        const run = await measure(spoolWriters[name] as Write, writes, concurrency);
        (spoolRuns[name] as Run[]).push(run);
        process.stderr.write(`round ${round + 1} ${name}: ${Math.round(run.writesPerSecond)} writes/s, p50 ${run.p50.toFixed(2)} ms, p99 ${run.p99.toFixed(2)} ms\n`);
      }
    }

    const own = await ownWork(dir);
    const version = (await a.query('SHOW server_version')).rows[0].server_version;
    const row = (name: string, runs: Run[], base: Run[] | undefined) => {
      const w = runs.map((r) => r.writesPerSecond);
      const p50 = runs.map((r) => r.p50);
      const p99 = runs.map((r) => r.p99);
      const cpu = runs.map((r) => r.cpuMicrosPerWrite);
      const ratio = base ? ` ${(median(w) / median(base.map((r) => r.writesPerSecond))).toFixed(3)} |` : '';
      return `| ${name} | ${Math.round(best(w, true)).toLocaleString('en')} (${Math.round(median(w)).toLocaleString('en')}) | ` +
        `${best(p50, false).toFixed(2)} (${median(p50).toFixed(2)}) | ${best(p99, false).toFixed(2)} (${median(p99).toFixed(2)}) | ` +
        `${Math.round(median(cpu))} |${ratio}`;
    };
    const baseline = results[names[0] as string] as Run[];
    const writerRuns = results[names[1] as string] as Run[];
    const ratio = (f: (r: Run) => number) => median(writerRuns.map(f)) / median(baseline.map(f));
    const report = `# Dual-write benchmark: the writer's own cost

${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB; two PostgreSQL ${version} servers
(embedded, ${fast ? 'fsync and synchronous_commit off, so the client\'s cost is not hidden behind disk syncs' : 'default durability'}) on the same machine;
Node ${process.version}. ${writes.toLocaleString('en')} single-row INSERTs (timestamptz, text, float8; no index) per run from
${concurrency} concurrent loops, pools of ${concurrency} connections per database; ${rounds} rounds, contenders interleaved (order
alternating), tables emptied before each run, row counts checked after. Best of ${rounds} runs, median in brackets.
Client CPU is this process's user + system time per write (median).

## Both databases up

| contender | writes/s | p50 ms | p99 ms | client CPU µs/write | writes/s vs Promise.all (median) |
|---|---:|---:|---:|---:|---:|
${row(names[0] as string, baseline, baseline)}
${row(names[1] as string, writerRuns, baseline)}

Writer against Promise.all, medians: throughput ${(ratio((r) => r.writesPerSecond) * 100).toFixed(1)}%, p50 latency ${(ratio((r) => r.p50) * 100).toFixed(1)}%,
p99 latency ${(ratio((r) => r.p99) * 100).toFixed(1)}%, client CPU ${(ratio((r) => r.cpuMicrosPerWrite) * 100).toFixed(1)}% (the goal: within 5% on throughput and latency).

The writer's own work, without servers (both "pools" answer on the next turn of the event loop;
200,000 writes from 8 loops, 3 runs each): ${own.writer.map((x) => x.toFixed(2)).join(', ')} µs of client CPU a write through
the writer, ${own.promiseAll.map((x) => x.toFixed(2)).join(', ')} µs through \`Promise.all\`.

## The secondary down: the cost of spooling

The secondary's address refuses connections; every write goes to the primary, then to the spool
(acknowledged once on disk: with \`group\`, the records that arrive while a sync runs share the next write and
fdatasync, after up to \`groupCommitMs\` more of gathering; with \`record\`, one write and fdatasync per record, in turn).

| contender | writes/s | p50 ms | p99 ms | client CPU µs/write | writes/s vs primary alone (median) |
|---|---:|---:|---:|---:|---:|
${spoolNames.map((n) => row(n, spoolRuns[n] as Run[], spoolRuns[spoolNames[0] as string])).join('\n')}

The spool directory is on ${tmpdir()}'s file system; fdatasync costs what that disk's flush costs.

Reproduce: \`npm run build && node dist/benchmarks/dual-write-bench.js --writes ${writes} --concurrency ${concurrency} --rounds ${rounds}${fast ? '' : ' --durable'}\`
`;
    writeReport('dual-write', report);
  } finally {
    for (const close of closing) await close();
    await Promise.all([primary.end(), secondary.end(), down.end()]);
    await Promise.all([a.stop(), b.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
