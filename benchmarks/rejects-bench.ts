/**
 * What bad rows cost `hyperfill copy --on-error reject`: the metrics shape (1M rows),
 * clean, against the same file with 3 bad rows in 3 batches (a float that is not one,
 * a NULL time under NOT NULL, an int out of range), on one native PostgreSQL 15
 * server, shared and split topologies (as copy-bench.ts). Contenders run in interleaved
 * rounds; each is reported by its best and median run. Every load is counted, the first
 * of each compared with the server's own COPY of the good lines, and the rejects file
 * with the bad lines. Goal: the dirty load at most 10% slower than the clean one.
 *
 *   node dist/benchmarks/rejects-bench.js [--rows 1000000] [--runs 5] [--topologies shared,split]
 *     [--quiet-wait 120]      (writes benchmarks/results/rejects.md)
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { type NativeServer, startNativePostgres } from '../test/helpers/native-postgres.js';
import { busySeconds, childFailure, type ClientUsage, hasTaskset, machineCpu, pinServer, runChild, serverCpuSeconds, waitForQuiet } from './lib/machine.js';
import { METRICS } from './lib/shapes.js';
import { median, revision, snapshotCli, writeReport } from './lib/timing.js';

const DATABASE = 'bench';
const TABLE = 'load';
type Topology = 'shared' | 'split';
const SERVER_CORES: Record<Topology, string> = { shared: '0-1', split: '0' };
const LOADER_CORES: Record<Topology, string | undefined> = { shared: undefined, split: '1' };
const GOAL = 1.1;

const log = (line: string) => process.stderr.write(`${line}\n`);

interface Sample { seconds: number; clientCpu: number | undefined; serverCpu: number; otherCpu: number }
interface Contender { name: string; dirty: boolean; flags: string[]; samples: Map<Topology, Sample[]>; checked: boolean }

/** The bad rows: 1-based row number and what the field becomes (metrics: time,host,cpu,mem,n). */
const BAD: Array<{ row: number; what: string; change: (fields: string[]) => void }> = [
  { row: 123_457, what: 'cpu is "abc" (22P02)', change: (f) => { f[2] = 'abc'; } },
  { row: 500_001, what: 'time is NULL under NOT NULL (23502)', change: (f) => { f[0] = ''; } },
  { row: 876_543, what: 'n is 10^12, out of range for int (22003)', change: (f) => { f[4] = '1000000000000'; } },
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { rows: { type: 'string' }, runs: { type: 'string' }, topologies: { type: 'string' }, 'quiet-wait': { type: 'string' } },
  });
  const rows = Number(values.rows ?? 1_000_000);
  const runs = Number(values.runs ?? 5);
  const topologies = (values.topologies ?? 'shared,split').split(',') as Topology[];
  if (!Number.isInteger(rows) || rows <= (BAD.at(-1)?.row ?? 0)) throw new Error(`--rows must be an integer above ${BAD.at(-1)?.row}`);
  if (topologies.some((t) => t !== 'shared' && t !== 'split')) throw new Error('--topologies: shared or split');
  if (topologies.includes('split') && !hasTaskset) throw new Error('the split topology needs taskset (util-linux)');
  const budget = { seconds: Number(values['quiet-wait'] ?? 120) };
  const command = `npm run build && node dist/benchmarks/rejects-bench.js --rows ${rows} --runs ${runs} --topologies ${topologies.join(',')} --quiet-wait ${budget.seconds}`;

  const scratch = mkdtempSync(join(tmpdir(), 'hyperfill-rejects-bench-'));
  chmodSync(scratch, 0o777);
  let server: NativeServer | undefined;
  let control: pg.Client | undefined;
  try {
    const bin = snapshotCli(scratch);
    const clean = join(scratch, 'clean.csv');
    const dirty = join(scratch, 'dirty.csv');
    const good = join(scratch, 'good.csv');
    log(`generating ${rows} rows`);
    await METRICS.write(clean, rows);
    const lines = readFileSync(clean, 'utf8').split('\n');
    const badLines: string[] = [];
    for (const b of BAD) {
      const fields = (lines[b.row - 1] as string).split(',');
      b.change(fields);
      lines[b.row - 1] = fields.join(',');
      badLines.push(`${lines[b.row - 1]}\n`);
    }
    writeFileSync(dirty, lines.join('\n'), { mode: 0o644 });
    writeFileSync(good, lines.filter((_, i) => !BAD.some((b) => b.row === i + 1)).join('\n'), { mode: 0o644 });
    for (const f of [clean, dirty, good]) chmodSync(f, 0o644);

    log('starting PostgreSQL 15 (durable settings)');
    server = await startNativePostgres({ fast: false });
    await server.createDatabase(DATABASE);
    control = new pg.Client({ connectionString: server.url(DATABASE) });
    control.on('error', () => undefined);
    await control.connect();
    const c = control;
    const postmaster = server.postmasterPid();
    const digest = async () => (await c.query<{ d: string }>(`SELECT md5(string_agg(x::text, E'\\n' ORDER BY n, time)) AS d FROM ${TABLE} x`)).rows[0]?.d;
    const count = async () => Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${TABLE}`)).rows[0]?.n);
    await c.query(METRICS.ddl(TABLE));
    await c.query(`COPY ${TABLE} FROM '${good}' WITH (FORMAT csv)`);
    const goodDigest = await digest();
    await c.query(`TRUNCATE ${TABLE}`);
    await c.query(`COPY ${TABLE} FROM '${clean}' WITH (FORMAT csv)`);
    const cleanDigest = await digest();

    const rejects = join(scratch, 'rejects.csv');
    const contenders: Contender[] = [
      { name: 'clean input, defaults (`--on-error stop`)', dirty: false, flags: [], samples: new Map(), checked: false },
      { name: 'clean input, `--on-error reject`', dirty: false, flags: ['--on-error', 'reject', '--rejects', rejects], samples: new Map(), checked: false },
      { name: `${BAD.length} bad rows, \`--on-error reject\``, dirty: true, flags: ['--on-error', 'reject', '--rejects', rejects], samples: new Map(), checked: false },
    ];
    const env = { ...process.env, PGPASSWORD: server.password };
    let quiet = 0;
    let total = 0;
    for (let round = 1; round <= runs; round++) {
      for (const topology of topologies) {
        for (const contender of contenders) {
          pinServer(postmaster, SERVER_CORES[topology]);
          await c.query(`TRUNCATE ${TABLE}`);
          await c.query('CHECKPOINT');
          if (await waitForQuiet(budget)) quiet++;
          total++;
          const cpu0 = serverCpuSeconds(postmaster);
          const m0 = machineCpu();
          const t0 = performance.now();
          const args = [bin, 'copy', '--connection', server.publicUrl(DATABASE), '--table', TABLE, '--file', contender.dirty ? dirty : clean, ...contender.flags, '--json'];
          const r = await runChild(process.execPath, args, env, scratch, LOADER_CORES[topology]);
          const seconds = (performance.now() - t0) / 1000;
          if (r.code !== 0) throw childFailure('hyperfill copy', r);
          const serverCpu = serverCpuSeconds(postmaster) - cpu0;
          const usage: ClientUsage | undefined = r.usage;
          const sample = { seconds, clientCpu: usage?.cpuSeconds, serverCpu, otherCpu: Math.max(0, busySeconds(m0, machineCpu()) - serverCpu - (usage?.cpuSeconds ?? 0)) };
          const want = contender.dirty ? rows - BAD.length : rows;
          if ((await count()) !== want) throw new Error(`${contender.name} loaded ${await count()} rows, expected ${want}`);
          if (!contender.checked) {
            contender.checked = true;
            if ((await digest()) !== (contender.dirty ? goodDigest : cleanDigest)) throw new Error(`${contender.name}: the table differs from the server's own COPY`);
            if (contender.dirty) {
              const written = readFileSync(rejects, 'utf8');
              if ([...badLines].sort().join('') !== written.split(/(?<=\n)/).sort().join('')) throw new Error(`the rejects file is not the bad lines: ${written}`);
            }
          }
          const list = contender.samples.get(topology) ?? [];
          list.push(sample);
          contender.samples.set(topology, list);
          log(`round ${round}/${runs} ${topology.padEnd(6)} ${contender.name.replace(/`/g, '').padEnd(44)} ${seconds.toFixed(2)} s  client ${sample.clientCpu?.toFixed(2) ?? '-'} s, server ${serverCpu.toFixed(2)} s, other ${sample.otherCpu.toFixed(2)} s`);
        }
      }
    }
    pinServer(postmaster, SERVER_CORES.shared);

    const sections: string[] = [];
    const goals: string[] = [];
    for (const topology of topologies) {
      const stats = contenders.map((x) => {
        const samples = x.samples.get(topology) ?? [];
        const best = samples.reduce((a, b) => (b.seconds < a.seconds ? b : a));
        return { x, best, median: median(samples.map((s) => s.seconds)), disturbed: samples.filter((s) => s.otherCpu > 0.25 * s.seconds).length, n: samples.length };
      });
      const base = stats[0]!;
      sections.push(`### ${topology === 'shared' ? 'shared: server and loader on both cores' : 'split: server on core 0, loader on core 1'}

| contender | best s | median s | best vs clean defaults | median vs clean defaults | client CPU s (best) | server CPU s (best) | disturbed runs |
|---|---:|---:|---:|---:|---:|---:|---:|
${stats.map((s) => `| ${s.x.name} | ${s.best.seconds.toFixed(2)} | ${s.median.toFixed(2)} | ${(s.best.seconds / base.best.seconds).toFixed(3)}× | ${(s.median / base.median).toFixed(3)}× | ${s.best.clientCpu?.toFixed(2) ?? '-'} | ${s.best.serverCpu.toFixed(2)} | ${s.disturbed}/${s.n} |`).join('\n')}`);
      const dirtyStats = stats[2]!;
      const ratio = dirtyStats.best.seconds / base.best.seconds;
      const medianRatio = dirtyStats.median / base.median;
      const verdict = (r: number) => (r <= GOAL ? 'met' : '**missed**');
      goals.push(`${topology}: ${BAD.length} bad rows cost ≤ ${Math.round((GOAL - 1) * 100)}% over a clean load: best ${((ratio - 1) * 100).toFixed(1)}% (${verdict(ratio)}), median ${((medianRatio - 1) * 100).toFixed(1)}% (${verdict(medianRatio)})`);
    }
    const cpu = cpus();
    const report = `# \`hyperfill copy --on-error reject\`: what bad rows cost

- Date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}
- Machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}; load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}; **shared with other engineers' test runs**: ${quiet} of ${total} runs started on a quiet machine (under 15% busy), so compare rows within this report, not with other reports
- PostgreSQL: ${server.version} (Debian's, a throwaway cluster, durable settings); hyperfill ${revision()}, defaults otherwise (binary COPY, \`--workers 2\`, batches of 20,000 rows)
- Data: the copy benchmark's *metrics* shape (${METRICS.describe}), ${rows.toLocaleString('en-US')} rows; the dirty file is the same with ${BAD.length} rows changed: ${BAD.map((b) => `row ${b.row.toLocaleString('en-US')}: ${b.what}`).join('; ')}
- Method: ${runs} rounds, contenders interleaved in each; before every run the table is truncated, the server CHECKPOINTs and the harness waits for a quiet machine. Each load is counted; the first of each contender is compared with the server's own COPY (of the clean file, or of the dirty file's good lines), and the rejects file with the bad lines.
- Reproduce: \`${command}\`

## Goals

${goals.map((g) => `- ${g}`).join('\n')}

## Results

${sections.join('\n\n')}
`;
    writeReport('rejects', report);
  } finally {
    await control?.end().catch(() => undefined);
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`rejects-bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});

