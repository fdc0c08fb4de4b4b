/**
 * `npm run bench`: `hyperfill copy` against timescaledb-parallel-copy (tspc) and
 * PostgreSQL's own loaders, on one native PostgreSQL 15 server, in two topologies in
 * one run: *shared* (server and loader on the same two cores) and *split* (the server
 * pinned to core 0, every loader to core 1: the loader on another machine, where the
 * database's CPU is the limit). Two data shapes: *metrics* (numbers and timestamps to
 * parse) and *text* (a 200-byte quoted message per row). Contenders run in interleaved
 * rounds; each is reported by its best and median run. Every contender's first load of a
 * shape is checked row for row against the server's own COPY of the same file.
 *
 *   node dist/benchmarks/copy-bench.js [--rows 1000000] [--text-rows N] [--runs 5]
 *     [--shapes metrics,text] [--topologies shared,split] [--tspc PATH]
 *     [--tspc-workers 1,2,4] [--tspc-batch-sizes 5000,20000] [--rss-rows 10000000]
 *     [--quiet-wait 120] [--out benchmarks/results/copy.md]
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { type NativeServer, startNativePostgres } from '../test/helpers/native-postgres.js';
import { revision, ROOT, snapshotCli } from './lib/timing.js';
import {
  busySeconds, childFailure, type ClientUsage, hasTaskset, hasTime, machineCpu, pinServer, QUIET_BUSY, QUIET_WAIT_PER_RUN_S,
  runChild, serverCpuSeconds, waitForQuiet,
} from './lib/machine.js';
import { SHAPES, type Shape } from './lib/shapes.js';

const BIN = join(ROOT, 'dist/src/cli/bin.js');
const PSQL = '/usr/bin/psql';
const DATABASE = 'bench';
const TABLE = 'load';

type Topology = 'shared' | 'split';
const SERVER_CORES: Record<Topology, string> = { shared: '0-1', split: '0' };
const LOADER_CORES: Record<Topology, string | undefined> = { shared: undefined, split: '1' };

interface Settings {
  rows: number;
  textRows: number;
  runs: number;
  shapes: Shape[];
  topologies: Topology[];
  tspc: string | undefined;
  tspcWorkers: number[];
  tspcBatchSizes: number[];
  rssRows: number;
  quietWait: number;
  out: string;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

function parseSettings(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      rows: { type: 'string' }, 'text-rows': { type: 'string' }, runs: { type: 'string' }, shapes: { type: 'string' },
      topologies: { type: 'string' }, tspc: { type: 'string' }, 'tspc-workers': { type: 'string' }, 'tspc-batch-sizes': { type: 'string' },
      'rss-rows': { type: 'string' }, 'quiet-wait': { type: 'string' }, out: { type: 'string' },
    },
  });
  const int = (text: string | undefined, name: string, fallback: number, min: number) => {
    const n = text === undefined ? fallback : Number(text);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${text}"`);
    return n;
  };
  const list = (text: string | undefined, name: string, fallback: string) => (text ?? fallback).split(',').filter(Boolean).map((s) => int(s, name, 0, 1));
  const rows = int(values.rows, 'rows', 1_000_000, 2);
  const shapes = (values.shapes ?? 'metrics,text').split(',').map((name) => {
    const shape = SHAPES.find((s) => s.name === name);
    if (!shape) throw new Error(`--shapes: unknown shape "${name}" (metrics, text)`);
    return shape;
  });
  const topologies = (values.topologies ?? 'shared,split').split(',').map((t) => {
    if (t !== 'shared' && t !== 'split') throw new Error(`--topologies: shared or split, got "${t}"`);
    return t;
  });
  if (topologies.includes('split') && !hasTaskset) throw new Error('the split topology needs taskset (util-linux)');
  const rssRows = int(values['rss-rows'], 'rss-rows', 10_000_000, 0);
  if (rssRows % rows !== 0) throw new Error('--rss-rows must be a multiple of --rows (the large input repeats the small one)');
  return {
    rows, textRows: int(values['text-rows'], 'text-rows', rows, 2), runs: int(values.runs, 'runs', 5, 1), shapes, topologies,
    tspc: findTspc(values.tspc), tspcWorkers: list(values['tspc-workers'], 'tspc-workers', '1,2,4'),
    tspcBatchSizes: list(values['tspc-batch-sizes'], 'tspc-batch-sizes', '5000,20000'), rssRows,
    quietWait: int(values['quiet-wait'], 'quiet-wait', 120, 0), out: values.out ?? join(ROOT, 'benchmarks/results/copy.md'),
  };
}

/** tspc from --tspc, else ../shared/tools beside the checkout (or beside its parent, for worktrees). */
function findTspc(given: string | undefined): string | undefined {
  const candidates = given !== undefined ? [given] : [join(ROOT, '../shared/tools/timescaledb-parallel-copy'), join(ROOT, '../../shared/tools/timescaledb-parallel-copy')];
  const found = candidates.map((c) => resolve(c)).find((c) => existsSync(c));
  if (given !== undefined && !found) throw new Error(`--tspc ${given}: no such file`);
  return found;
}

// ---------------------------------------------------------------------------
// One run and what it cost.

interface Sample {
  seconds: number;
  clientCpu: number | undefined;
  serverCpu: number;
  /** CPU seconds of everything else on the machine during the run. */
  otherCpu: number;
  quietStart: boolean;
  peakRssKb: number | undefined;
  walBytes: number;
}

interface Shaped {
  shape: Shape;
  rows: number;
  csv: string;
  halves: [string, string];
  binary: string;
  /** md5 of every row in text form, ordered by n, as the server's own COPY loads them. */
  digest: string;
}

interface Contender {
  name: string;
  kind: 'server' | 'psql' | 'tspc' | 'hyperfill';
  /** The configuration a user gets without flags (its RSS is the goal's). */
  defaults?: boolean;
  /** hyperfill --encoding binary: every batch must have gone as binary. */
  binary?: boolean;
  run(data: Shaped, topology: Topology): Promise<ClientUsage | undefined>;
}

interface Result {
  contender: Contender;
  shape: string;
  topology: Topology;
  samples: Sample[];
  equal: boolean | undefined;
}

interface Context {
  server: NativeServer;
  env: NodeJS.ProcessEnv;
  scratch: string;
  bin: string;
  control: pg.Client;
  postmaster: number;
  quietBudget: { seconds: number };
}

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;

async function withConnection<T>(ctx: Context, body: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ctx.server.url(DATABASE) });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await body(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function countRows(c: pg.Client): Promise<number> {
  return Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${TABLE}`)).rows[0]?.n);
}

async function digest(c: pg.Client): Promise<string> {
  return (await c.query<{ d: string }>(`SELECT md5(string_agg(x::text, E'\\n' ORDER BY n)) AS d FROM ${TABLE} x`)).rows[0]?.d ?? '';
}

/** One timed run: empty table and a checkpoint first, then the load, then its row count. */
async function measure(ctx: Context, c: Contender, data: Shaped, topology: Topology): Promise<Sample> {
  pinServer(ctx.postmaster, SERVER_CORES[topology]);
  await ctx.control.query(`TRUNCATE ${TABLE}`);
  await ctx.control.query('CHECKPOINT');
  const quietStart = await waitForQuiet(ctx.quietBudget);
  const lsn = (await ctx.control.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn() AS lsn')).rows[0]?.lsn;
  const cpu0 = serverCpuSeconds(ctx.postmaster);
  const m0 = machineCpu();
  const t0 = performance.now();
  const usage = await c.run(data, topology);
  const seconds = (performance.now() - t0) / 1000;
  const m1 = machineCpu();
  const serverCpu = serverCpuSeconds(ctx.postmaster) - cpu0;
  const loaded = await countRows(ctx.control);
  if (loaded !== data.rows) throw new Error(`${c.name} loaded ${loaded} rows of ${data.shape.name}, expected ${data.rows}`);
  const wal = (await ctx.control.query<{ wal: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1) AS wal', [lsn])).rows[0]?.wal;
  const clientCpu = c.kind === 'server' ? 0 : usage?.cpuSeconds;
  return {
    seconds, clientCpu, serverCpu, otherCpu: Math.max(0, busySeconds(m0, m1) - serverCpu - (clientCpu ?? 0)), quietStart,
    peakRssKb: usage?.peakRssKb, walBytes: Number(wal ?? 0),
  };
}

// ---------------------------------------------------------------------------
// The contenders.

function serverCopy(ctx: Context, streams: 1 | 2, format: 'csv' | 'binary'): Contender {
  return {
    name: `server \`COPY FROM\` file, ${format}, ${streams} stream${streams === 1 ? '' : 's'}`,
    kind: 'server',
    async run(data) {
      const files = format === 'binary' ? [data.binary] : streams === 1 ? [data.csv] : data.halves;
      // New connections, so their backends are forked on the cores the server is pinned to now.
      const clients = await Promise.all(files.map(async () => {
        const c = new pg.Client({ connectionString: ctx.server.url(DATABASE) });
        c.on('error', () => undefined);
        await c.connect();
        return c;
      }));
      try {
        await Promise.all(files.map((file, i) => clients[i]?.query(`COPY ${TABLE} FROM ${sqlString(file)} WITH (FORMAT ${format})`)));
      } finally {
        await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      }
      return undefined;
    },
  };
}

function psqlCopy(ctx: Context, format: 'csv' | 'binary'): Contender {
  return {
    name: `\`psql \\copy\`, ${format}`,
    kind: 'psql',
    async run(data, topology) {
      const file = format === 'binary' ? data.binary : data.csv;
      const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(ctx.server.port), '-U', 'postgres', '-d', DATABASE,
        '-c', `\\copy ${TABLE} FROM ${sqlString(file)} WITH (FORMAT ${format})`];
      const r = await runChild(PSQL, args, ctx.env, ctx.scratch, LOADER_CORES[topology]);
      if (r.code !== 0) throw childFailure('psql', r);
      return r.usage;
    },
  };
}

function tspc(ctx: Context, path: string, workers: number, batchSize: number): Contender {
  return {
    name: `tspc \`--workers ${workers} --batch-size ${batchSize}\``,
    kind: 'tspc',
    async run(data, topology) {
      const connection = `host=127.0.0.1 port=${ctx.server.port} user=postgres password=${ctx.server.password} sslmode=disable`;
      const args = ['--connection', connection, '--db-name', DATABASE, '--table', TABLE, '--file', data.csv,
        '--workers', String(workers), '--batch-size', String(batchSize)];
      const r = await runChild(path, args, ctx.env, ctx.scratch, LOADER_CORES[topology]);
      if (r.code !== 0) throw childFailure('timescaledb-parallel-copy', r);
      return r.usage;
    },
  };
}

function hyperfill(ctx: Context, name: string, flags: string[], extra: Partial<Contender> = {}): Contender {
  return {
    name: `hyperfill ${name}`,
    kind: 'hyperfill',
    ...extra,
    async run(data, topology) {
      const args = [ctx.bin, 'copy', '--connection', ctx.server.publicUrl(DATABASE), '--table', TABLE, '--file', data.csv, ...flags, '--json'];
      const r = await runChild(process.execPath, args, ctx.env, ctx.scratch, LOADER_CORES[topology]);
      if (r.code !== 0) throw childFailure('hyperfill copy', r);
      const summary = JSON.parse(r.stdout) as { rows: number; batches: number; encoding: { binaryBatches: number } };
      if (summary.rows !== data.rows) throw new Error(`hyperfill copy reported ${summary.rows} rows, expected ${data.rows}`);
      if (extra.binary && summary.encoding.binaryBatches !== summary.batches) {
        throw new Error(`${name}: only ${summary.encoding.binaryBatches} of ${summary.batches} batches went as binary`);
      }
      return r.usage;
    },
  };
}

function contenders(ctx: Context, settings: Settings): Contender[] {
  return [
    serverCopy(ctx, 1, 'csv'),
    serverCopy(ctx, 2, 'csv'),
    serverCopy(ctx, 1, 'binary'),
    psqlCopy(ctx, 'csv'),
    psqlCopy(ctx, 'binary'),
    ...(settings.tspc ? settings.tspcWorkers.flatMap((w) => settings.tspcBatchSizes.map((b) => tspc(ctx, settings.tspc as string, w, b))) : []),
    hyperfill(ctx, '`--encoding text --workers 2`', ['--encoding', 'text', '--workers', '2']),
    hyperfill(ctx, '(defaults: binary, `--workers 2`, encoding inline)', [], { defaults: true, binary: true }),
    hyperfill(ctx, 'binary `--workers 1`', ['--workers', '1'], { binary: true }),
    hyperfill(ctx, 'binary `--workers 4`', ['--workers', '4'], { binary: true }),
    hyperfill(ctx, 'binary, one encoding thread (`--transform-workers 1`)', ['--transform-workers', '1'], { binary: true }),
  ];
}

// ---------------------------------------------------------------------------
// Data.

function splitHalves(path: string, rows: number): [string, string] {
  const data = readFileSync(path);
  let cut = 0;
  for (let i = 0; i < Math.floor(rows / 2); i++) cut = data.indexOf(0x0a, cut) + 1;
  const halves: [string, string] = [`${path}.1`, `${path}.2`];
  writeFileSync(halves[0], data.subarray(0, cut), { mode: 0o644 });
  writeFileSync(halves[1], data.subarray(cut), { mode: 0o644 });
  return halves;
}

/** The shape's CSV, its halves, its binary COPY file and the reference digest (the server's own COPY). */
async function prepare(ctx: Context, shape: Shape, rows: number): Promise<Shaped> {
  const csv = join(ctx.scratch, `${shape.name}.csv`);
  log(`generating ${fmtInt(rows)} rows of ${shape.name} CSV`);
  await shape.write(csv, rows);
  chmodSync(csv, 0o644);
  const binary = join(ctx.scratch, `${shape.name}.bin`);
  await ctx.control.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await ctx.control.query(shape.ddl(TABLE));
  await ctx.control.query(`COPY ${TABLE} FROM ${sqlString(csv)} WITH (FORMAT csv)`);
  await ctx.control.query(`COPY ${TABLE} TO ${sqlString(binary)} WITH (FORMAT binary)`);
  const reference = await digest(ctx.control);
  return { shape, rows, csv, halves: splitHalves(csv, rows), binary, digest: reference };
}

/** `times` copies of `source` end to end. */
function repeatFile(source: string, target: string, times: number): void {
  const data = readFileSync(source);
  const fd = openSync(target, 'w', 0o644);
  try {
    for (let i = 0; i < times; i++) writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------
// The report.

const CLEAN_OTHER_CORES = 0.25;
const isClean = (s: Sample) => s.otherCpu <= CLEAN_OTHER_CORES * s.seconds;
const best = (r: Result): Sample => {
  const clean = r.samples.filter(isClean);
  return (clean.length > 0 ? clean : r.samples).reduce((a, b) => (b.seconds < a.seconds ? b : a));
};
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
const medianSeconds = (r: Result) => median(r.samples.map((s) => s.seconds));
const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtRatio = (n: number) => `${n.toFixed(2)}×`;
const fmtMb = (kb: number | undefined) => (kb === undefined ? '-' : `${(kb / 1024).toFixed(0)} MB`);
const fmtCpu = (s: number | undefined) => (s === undefined ? '-' : s.toFixed(2));
const maxRss = (r: Result) => {
  const k = r.samples.map((s) => s.peakRssKb).filter((x): x is number => x !== undefined);
  return k.length ? Math.max(...k) : undefined;
};

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((h, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

const fastest = (rs: Result[]) => rs.reduce((a, b) => (best(b).seconds < best(a).seconds ? b : a));
const fastestMedian = (rs: Result[]) => rs.reduce((a, b) => (medianSeconds(b) < medianSeconds(a) ? b : a));

interface Goal { text: string; met: boolean }

function sectionFor(results: Result[], rows: number, topology: Topology, goalRatio: number | undefined): { text: string; goals: Goal[] } {
  const tspcs = results.filter((r) => r.contender.kind === 'tspc');
  const hyper = results.filter((r) => r.contender.kind === 'hyperfill');
  const refTspc = tspcs.length ? fastest(tspcs) : undefined;
  const refSeconds = refTspc ? best(refTspc).seconds : undefined;
  const refMedian = tspcs.length ? medianSeconds(fastestMedian(tspcs)) : undefined;
  const body = table(['contender', 'best s', 'median s', 'rows/s (best)', refTspc ? 'vs best tspc' : 'vs first', 'client CPU s', 'server CPU s', 'client peak RSS', 'clean runs', 'same rows as COPY'],
    results.map((r) => {
      const s = best(r);
      const against = refSeconds ?? best(results[0] as Result).seconds;
      return [r.contender.name, `${s.seconds.toFixed(2)}${isClean(s) ? '' : ' *'}`, medianSeconds(r).toFixed(2), fmtInt(rows / s.seconds),
        fmtRatio(against / s.seconds), fmtCpu(s.clientCpu), s.serverCpu.toFixed(2), r.contender.kind === 'server' ? '-' : fmtMb(maxRss(r)),
        `${r.samples.filter(isClean).length}/${r.samples.length}`, r.equal === undefined ? '-' : r.equal ? 'yes' : '**NO**'];
    }));
  const goals: Goal[] = [];
  const lines = [body, ''];
  if (hyper.length && refTspc && refSeconds !== undefined && refMedian !== undefined) {
    const top = fastest(hyper);
    const topMedian = fastestMedian(hyper);
    const ratio = refSeconds / best(top).seconds;
    const medianRatio = refMedian / medianSeconds(topMedian);
    lines.push(`Best hyperfill (${top.contender.name}, ${best(top).seconds.toFixed(2)} s) against best tspc (${refTspc.contender.name}, ${refSeconds.toFixed(2)} s): **${fmtRatio(ratio)}**; on medians (each side's best median) ${fmtRatio(medianRatio)}.`);
    if (goalRatio !== undefined) {
      const met = ratio >= goalRatio;
      goals.push({ text: `${topology}: best hyperfill ≥ ${goalRatio}× best tspc: ${fmtRatio(ratio)} (medians ${fmtRatio(medianRatio)}): ${met ? 'met' : '**missed**'}`, met });
    }
  } else if (!refTspc) lines.push('tspc was not found, so the comparison with it is skipped (give its path with --tspc).');
  return { text: lines.join('\n'), goals };
}

interface RssRun { rows: number; bytes: number; seconds: number; peakRssKb: number | undefined }

function render(settings: Settings, results: Result[], data: Shaped[], machine: string[], rss: RssRun[], command: string): string {
  const all = results.flatMap((r) => r.samples);
  const quiet = all.filter((s) => s.quietStart).length;
  const disturbed = all.filter((s) => !isClean(s)).length;
  const goals: Goal[] = [];
  const sections: string[] = [];
  for (const d of data) {
    for (const topology of settings.topologies) {
      const here = results.filter((r) => r.shape === d.shape.name && r.topology === topology);
      const goal = d.shape.name === 'metrics' ? (topology === 'shared' ? 1.05 : 1.4) : undefined;
      const { text, goals: g } = sectionFor(here, d.rows, topology, goal);
      goals.push(...g);
      const title = topology === 'shared' ? 'shared: server and loader on both cores' : 'split: server on core 0, loader on core 1';
      sections.push(`### ${d.shape.name}, ${title}\n\n${text}`);
    }
  }
  const defaults = results.filter((r) => r.contender.defaults && r.shape === 'metrics');
  const defaultsRss = Math.max(...defaults.map((r) => maxRss(r) ?? 0));
  if (defaults.length && defaultsRss > 0) {
    goals.push({ text: `peak RSS at defaults ≤ 80 MB: ${fmtMb(defaultsRss)} (largest of every metrics run at defaults): ${defaultsRss <= 80 * 1024 ? 'met' : '**missed**'}`, met: defaultsRss <= 80 * 1024 });
  }
  const mismatches = results.filter((r) => r.equal === false);
  goals.push({ text: `every load equal to the server's own COPY: ${mismatches.length === 0 ? 'yes' : `**NO** (${mismatches.map((r) => `${r.contender.name} ${r.shape}`).join(', ')})`}`, met: mismatches.length === 0 });
  const [small, large] = rss;
  const rssSection = small && large
    ? table(['rows', 'CSV', 'seconds', 'peak RSS'], rss.map((x) => [fmtInt(x.rows), `${(x.bytes / 1e6).toFixed(0)} MB`, x.seconds.toFixed(2), fmtMb(x.peakRssKb)]))
    : 'Skipped (`--rss-rows 0`).';
  return `# \`hyperfill copy\` benchmark

- Date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}
${machine.map((m) => `- ${m}`).join('\n')}
- Data: ${data.map((d) => `*${d.shape.name}*: ${fmtInt(d.rows)} rows, ${(statSync(d.csv).size / 1e6).toFixed(1)} MB of CSV (${d.shape.describe})`).join('; ')}; autovacuum off on the table
- Topologies: *shared*: the server and every loader on both cores; *split*: the postmaster and its processes pinned to core 0 (\`taskset -a -cp 0\`; backends forked later inherit it), each loader process started under \`taskset -c 1\`. The server side of each run is re-pinned before it starts.
- Method: ${settings.runs} rounds; in each round every contender runs once per shape and topology, interleaved. Before every run the table is truncated, the server CHECKPOINTs and the harness waits for the machine to be quiet (under ${Math.round(QUIET_BUSY * 100)}% busy; at most ${QUIET_WAIT_PER_RUN_S} s a run and ${settings.quietWait} s in all): ${quiet} of ${all.length} runs started quiet. A run is *clean* when the rest of the machine used under a quarter of a core meanwhile; ${disturbed} of ${all.length} runs were disturbed. Shown: the fastest clean run (marked * when every run was disturbed) and the median of all runs. Wall time: process start to exit for psql, tspc and hyperfill (start-up included), the COPY statements alone for server-side COPY. Client CPU and peak RSS: GNU time. Server CPU: the postmaster and its children, from /proc. The first load of each contender per shape is compared with the server's own COPY of the same file (md5 of every row's text, ordered).
- **Conditions**: see the load average above and the quiet and disturbed counts; on a shared machine other work runs meanwhile, so compare contenders within one run, not absolute times across runs.
- Reproduce: \`${command}\`

## Goals

${goals.map((g) => `- ${g.text}`).join('\n')}

## Results

${sections.join('\n\n')}

## Peak RSS against input size

hyperfill at defaults (binary, encoding inline) reading the metrics file, and the same file repeated.

${rssSection}
`;
}

async function machineLines(ctx: Context): Promise<string[]> {
  const settings = await ctx.control.query<{ name: string; setting: string; unit: string | null }>(
    `SELECT name, setting, unit FROM pg_settings WHERE name IN ('fsync','synchronous_commit','full_page_writes','shared_buffers','max_wal_size','wal_level','TimeZone') ORDER BY name`);
  const psqlVersion = (() => {
    try {
      return execFileSync(PSQL, ['--version'], { encoding: 'utf8' }).trim();
    } catch {
      return 'psql: unknown';
    }
  })();
  const cpu = cpus();
  return [
    `Machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}; load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    `PostgreSQL: ${ctx.server.version} (Debian's, a throwaway cluster: initdb + pg_ctl), durable settings: ${settings.rows.map((s) => `${s.name}=${s.setting}${s.unit ?? ''}`).join(', ')}`,
    `Clients: Node ${process.version}; ${psqlVersion}; timescaledb-parallel-copy ${ctx.env.TSPC_VERSION ?? 'not found'}; ${hasTime ? 'GNU time' : 'no GNU time: client CPU and RSS unknown'}`,
  ];
}

async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2));
  if (!existsSync(BIN)) throw new Error(`${relative(ROOT, BIN)} is missing: run \`npm run build\` first`);
  const command = `npm run build && node dist/benchmarks/copy-bench.js --rows ${settings.rows} --text-rows ${settings.textRows} --runs ${settings.runs}` +
    ` --shapes ${settings.shapes.map((s) => s.name).join(',')} --topologies ${settings.topologies.join(',')}` +
    ` --tspc-workers ${settings.tspcWorkers.join(',')} --tspc-batch-sizes ${settings.tspcBatchSizes.join(',')} --rss-rows ${settings.rssRows} --quiet-wait ${settings.quietWait}`;
  if (!settings.tspc) log('timescaledb-parallel-copy not found (../shared/tools or --tspc): the comparison with it is skipped');
  // The server runs as the `postgres` OS user and reads and writes the files itself.
  const scratch = mkdtempSync(join(tmpdir(), 'hyperfill-copy-bench-'));
  chmodSync(scratch, 0o777);
  let server: NativeServer | undefined;
  let control: pg.Client | undefined;
  try {
    const bin = snapshotCli(scratch);
    log('starting PostgreSQL 15 (durable settings)');
    server = await startNativePostgres({ fast: false });
    await server.createDatabase(DATABASE);
    control = new pg.Client({ connectionString: server.url(DATABASE) });
    control.on('error', () => undefined);
    await control.connect();
    const tspcVersion = settings.tspc ? 'v0.8.1 (prints 0.8.0)' : undefined;
    const ctx: Context = {
      server, scratch, bin, control, postmaster: server.postmasterPid(), quietBudget: { seconds: settings.quietWait },
      env: { ...process.env, PGPASSWORD: server.password, ...(tspcVersion ? { TSPC_VERSION: tspcVersion } : {}) },
    };
    const machine = [...await machineLines(ctx), `hyperfill: ${revision()} (the build in dist/, copied aside at the start)`];
    const list = contenders(ctx, settings);
    const results: Result[] = [];
    const data: Shaped[] = [];
    for (const shape of settings.shapes) {
      const shaped = await prepare(ctx, shape, shape.name === 'text' ? settings.textRows : settings.rows);
      data.push(shaped);
      for (const topology of settings.topologies) for (const contender of list) results.push({ contender, shape: shape.name, topology, samples: [], equal: undefined });
    }
    for (let round = 1; round <= settings.runs; round++) {
      for (const d of data) {
        await ctx.control.query(`DROP TABLE IF EXISTS ${TABLE}`);
        await ctx.control.query(d.shape.ddl(TABLE));
        for (const topology of settings.topologies) {
          for (const r of results.filter((x) => x.shape === d.shape.name && x.topology === topology)) {
            const s = await measure(ctx, r.contender, d, topology);
            r.samples.push(s);
            if (r.equal === undefined && topology === settings.topologies[0]) r.equal = (await digest(ctx.control)) === d.digest;
            log(`round ${round}/${settings.runs} ${d.shape.name} ${topology.padEnd(6)} ${r.contender.name.replace(/`/g, '').padEnd(62)} ${s.seconds.toFixed(2)} s` +
              `  client ${fmtCpu(s.clientCpu)} s, server ${s.serverCpu.toFixed(2)} s, other ${s.otherCpu.toFixed(2)} s${isClean(s) ? '' : ' (disturbed)'}${r.equal === false ? '  CONTENT DIFFERS' : ''}`);
          }
        }
      }
    }
    pinServer(ctx.postmaster, SERVER_CORES.shared);

    const rss: RssRun[] = [];
    const metrics = data.find((d) => d.shape.name === 'metrics');
    const defaults = list.find((c) => c.defaults);
    if (settings.rssRows > 0 && metrics && defaults) {
      const atDefaults = results.filter((r) => r.contender === defaults && r.shape === 'metrics').flatMap((r) => r.samples);
      rss.push({ rows: metrics.rows, bytes: statSync(metrics.csv).size, seconds: Math.min(...atDefaults.map((s) => s.seconds)), peakRssKb: Math.max(...atDefaults.map((s) => s.peakRssKb ?? 0)) });
      const big = join(scratch, 'metrics-big.csv');
      log(`writing ${fmtInt(settings.rssRows)} rows of CSV for the RSS run`);
      repeatFile(metrics.csv, big, settings.rssRows / metrics.rows);
      await ctx.control.query(`DROP TABLE IF EXISTS ${TABLE}`);
      await ctx.control.query(metrics.shape.ddl(TABLE));
      const s = await measure(ctx, defaults, { ...metrics, rows: settings.rssRows, csv: big }, 'shared');
      rss.push({ rows: settings.rssRows, bytes: statSync(big).size, seconds: s.seconds, peakRssKb: s.peakRssKb });
      log(`rss: ${fmtInt(settings.rssRows)} rows in ${s.seconds.toFixed(2)} s, peak RSS ${fmtMb(s.peakRssKb)}`);
      rmSync(big, { force: true });
    }

    const report = render(settings, results, data, machine, rss, command);
    mkdirSync(dirname(settings.out), { recursive: true });
    writeFileSync(settings.out, report);
    process.stdout.write(report);
    log(`\nwritten to ${relative(process.cwd(), settings.out) || settings.out}`);
  } finally {
    await control?.end().catch(() => undefined);
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`copy-bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
