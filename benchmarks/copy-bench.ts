/**
 * `npm run bench`: `hyperfill copy` against PostgreSQL's own loaders, on one server and
 * one generated CSV. Contenders: server-side `COPY FROM` the file (one stream, and two
 * streams on the two halves: the parallel limit on two cores), `psql \copy`, and
 * hyperfill with workers 1, 2 and 4 (and a batch-size sweep at 4). Then peak RSS of
 * hyperfill for N and 10×N rows. Prints a Markdown report and writes it to
 * benchmarks/results/copy.md.
 *
 *   node dist/benchmarks/copy-bench.js [--rows 1000000] [--rss-rows 10000000] [--runs 5]
 *     [--batch-sizes 5000,50000] [--quiet-wait 90] [--fast] [--out benchmarks/results/copy.md]
 */
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { METRICS_DDL, writeMetricsCsv } from '../src/demo/generate-csv.js';
import { type PostgresServer, startPostgres } from '../src/embedded-postgres.js';
import { revision, snapshotCli } from './lib/timing.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'dist/src/cli/bin.js');
const TIME = '/usr/bin/time';
const PSQL = '/usr/bin/psql';
const TABLE = 'metrics';
const DATABASE = 'bench';
const GEN = { hosts: 1000, startMs: Date.parse('2024-01-01T00:00:00Z'), stepMs: 100, seed: 42 };

interface Settings {
  rows: number;
  rssRows: number;
  runs: number;
  batchSizes: number[];
  fast: boolean;
  /** Seconds to wait in all, before runs, for the machine to go quiet (other work on it skews results). */
  quietWait: number;
  out: string;
}

/** What one run of one contender cost. */
interface Sample {
  seconds: number;
  /** User + system CPU of the client process (psql, hyperfill); 0 for server-side COPY. */
  clientCpu: number | undefined;
  /** CPU of the PostgreSQL server processes during the run. */
  serverCpu: number;
  /** Share of the machine's CPU time that was busy, and waiting on I/O. */
  busy: number;
  iowait: number;
  /** CPU seconds of everything else on the machine during the run: other load skews a run. */
  otherCpu: number;
  /** Whether the machine was quiet when the run started (see waitForQuiet). */
  quietStart: boolean;
  /** hyperfill's own elapsed time (from --json): wall time minus Node start-up and exit. */
  selfSeconds: number | undefined;
  peakRssKb: number | undefined;
  /** WAL written during the run and the index's size after it: the server's work. */
  walBytes: number;
  indexBytes: number;
}

interface Contender {
  name: string;
  kind: 'server' | 'psql' | 'hyperfill';
  workers?: number;
  batchSize?: number;
  run(): Promise<ClientUsage | undefined>;
  samples: Sample[];
}

interface ClientUsage {
  cpuSeconds: number | undefined;
  peakRssKb: number | undefined;
  selfSeconds?: number | undefined;
}

function parseSettings(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      rows: { type: 'string' }, 'rss-rows': { type: 'string' }, runs: { type: 'string' },
      'batch-sizes': { type: 'string' }, fast: { type: 'boolean' }, 'quiet-wait': { type: 'string' }, out: { type: 'string' },
    },
  });
  const int = (text: string | undefined, name: string, fallback: number, min: number) => {
    const n = text === undefined ? fallback : Number(text);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${text}"`);
    return n;
  };
  const rows = int(values.rows, 'rows', 1_000_000, 2);
  const rssRows = int(values['rss-rows'], 'rss-rows', 10_000_000, 0);
  if (rssRows % rows !== 0) throw new Error('--rss-rows must be a multiple of --rows (the large input repeats the small one)');
  return {
    rows,
    rssRows,
    runs: int(values.runs, 'runs', 5, 1),
    batchSizes: (values['batch-sizes'] ?? '5000,50000').split(',').filter(Boolean).map((s) => int(s, 'batch-sizes', 0, 1)),
    fast: values.fast ?? false,
    quietWait: int(values['quiet-wait'], 'quiet-wait', 90, 0),
    out: values.out ?? join(ROOT, 'benchmarks/results/copy.md'),
  };
}

const log = (line: string) => process.stderr.write(`${line}\n`);

// ---------------------------------------------------------------------------
// CPU accounting from /proc: is the server saturated, and what does the client cost?

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Fields of /proc/PID/stat after the command name: [0] is field 3 (state). */
function statFields(pid: number | string): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds of the postmaster and its live children, plus the reaped children the
 * postmaster has accounted (cutime/cstime): so backends that exited still count. A
 * backend reaped in the middle of the scan would count twice or not at all, so the
 * scan is repeated until the postmaster's reaped total held still across it.
 */
function serverCpuSeconds(postmaster: number): number {
  const reaped = () => {
    const f = statFields(postmaster);
    return f ? Number(f[13]) + Number(f[14]) : 0;
  };
  let ticks = 0;
  for (let attempt = 1; attempt <= 5; attempt++) {
    const before = reaped();
    ticks = 0;
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const f = statFields(entry);
      if (!f || (Number(entry) !== postmaster && Number(f[1]) !== postmaster)) continue;
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    }
    if (reaped() === before) break;
  }
  return ticks / CLK_TCK;
}

interface MachineCpu { total: number; idle: number; iowait: number }

function machineCpu(): MachineCpu {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const n = line.trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: n.reduce((a, b) => a + b, 0), idle: (n[3] ?? 0) + (n[4] ?? 0), iowait: n[4] ?? 0 };
}

const QUIET_BUSY = 0.15;
const QUIET_WAIT_PER_RUN_S = 15;
const EXTRA_RUNS = 2;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until the machine is quiet (under 15% busy over half a second), at most 15 s
 * and within what is left of the run's budget: on a shared machine, other work on the
 * two cores would be timed too.
 */
async function waitForQuiet(budget: { seconds: number }): Promise<boolean> {
  const started = performance.now();
  const deadline = started + Math.min(QUIET_WAIT_PER_RUN_S, budget.seconds) * 1000;
  try {
    do {
      const a = machineCpu();
      await sleep(500);
      const b = machineCpu();
      if (1 - (b.idle - a.idle) / (b.total - a.total || 1) < QUIET_BUSY) return true;
    } while (performance.now() < deadline);
    return false;
  } finally {
    budget.seconds = Math.max(0, budget.seconds - (performance.now() - started) / 1000);
  }
}

// ---------------------------------------------------------------------------
// Child processes, measured by GNU time when it is installed.

const hasTime = existsSync(TIME);

interface ChildResult { code: number; stdout: string; stderr: string; usage: ClientUsage | undefined }

function runChild(command: string, args: string[], env: NodeJS.ProcessEnv, scratch: string): Promise<ChildResult> {
  const timeFile = join(scratch, 'time.out');
  const [cmd, argv] = hasTime ? [TIME, ['-o', timeFile, '-f', '%U %S %M', command, ...args]] : [command, args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    // Without GNU time: peak RSS and CPU as last read while the child ran (lower bounds).
    let polled: ClientUsage | undefined;
    const poll = hasTime ? undefined : setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        const f = statFields(child.pid ?? 0);
        if (m && f) polled = { peakRssKb: Number(m[1]), cpuSeconds: (Number(f[11]) + Number(f[12])) / CLK_TCK };
      } catch { /* exited */ }
    }, 50);
    child.on('error', reject);
    child.on('close', (code) => {
      if (poll) clearInterval(poll);
      let usage = polled;
      if (hasTime && existsSync(timeFile)) {
        const last = readFileSync(timeFile, 'utf8').trim().split('\n').pop() ?? '';
        const [user, sys, rss] = last.split(' ').map(Number);
        if (user !== undefined && sys !== undefined && rss !== undefined && !Number.isNaN(rss)) usage = { cpuSeconds: user + sys, peakRssKb: rss };
        rmSync(timeFile, { force: true });
      }
      resolve({ code: code ?? 1, stdout, stderr, usage });
    });
  });
}

/** The child's own words when it fails: its last stderr lines (hyperfill and psql never print passwords). */
function childFailure(what: string, r: ChildResult): Error {
  const tail = r.stderr.trim().split('\n').filter((l) => !l.startsWith('Command exited')).slice(-5).join('\n  ');
  return new Error(`${what} exited with ${r.code}${tail ? `:\n  ${tail}` : ''}`);
}

// ---------------------------------------------------------------------------
// The data and the target table.

async function generate(path: string, rows: number): Promise<void> {
  await writeMetricsCsv(path, { rows, ...GEN, header: false });
  chmodSync(path, 0o644);
}

/** `times` copies of `source` end to end: a large input in a second instead of a minute of generating. */
function repeatFile(source: string, target: string, times: number): void {
  const data = readFileSync(source);
  const fd = openSync(target, 'w', 0o644);
  try {
    for (let i = 0; i < times; i++) writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/** Writes the two halves of `path` (by rows) beside it, for the two-stream server COPY. */
function splitHalves(path: string, rows: number): [string, string] {
  const data = readFileSync(path);
  let cut = 0;
  for (let i = 0; i < Math.floor(rows / 2); i++) cut = data.indexOf(0x0a, cut) + 1;
  const halves: [string, string] = [`${path}.1`, `${path}.2`];
  writeFileSync(halves[0], data.subarray(0, cut), { mode: 0o644 });
  writeFileSync(halves[1], data.subarray(cut), { mode: 0o644 });
  return halves;
}

/** Autovacuum off so a vacuum of the table being loaded cannot land in some runs and not others. */
async function createTable(client: pg.Client, table: string): Promise<void> {
  await client.query(`DROP TABLE IF EXISTS ${table}`);
  await client.query(`${METRICS_DDL(table)} WITH (autovacuum_enabled = false)`);
  await client.query(`CREATE INDEX ${table}_time ON ${table} (time)`);
}

/** Empty table, WAL checkpointed: every run starts from the same state. */
async function reset(client: pg.Client, table: string): Promise<void> {
  await client.query(`TRUNCATE ${table}`);
  await client.query('CHECKPOINT');
}

async function countRows(client: pg.Client, table: string): Promise<number> {
  const r = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
  return Number(r.rows[0]?.n);
}

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;

// ---------------------------------------------------------------------------
// The contenders.

interface Context {
  server: PostgresServer;
  streams: [pg.Client, pg.Client];
  env: NodeJS.ProcessEnv;
  scratch: string;
  /** The snapshot of hyperfill's CLI the runs use. */
  bin: string;
  /** Seconds left for waiting on a quiet machine. */
  quietBudget: { seconds: number };
}

function serverCopy(ctx: Context, files: string[]): Contender {
  const streams = files.length;
  return {
    name: streams === 1 ? 'server `COPY FROM` file, 1 stream' : `server \`COPY FROM\` file, ${streams} streams (halves)`,
    kind: 'server',
    samples: [],
    async run() {
      await Promise.all(files.map((file, i) => ctx.streams[i]?.query(`COPY ${TABLE} FROM ${sqlString(file)} WITH (FORMAT csv)`)));
      return undefined;
    },
  };
}

function psqlCopy(ctx: Context, file: string): Contender {
  return {
    name: '`psql \\copy`',
    kind: 'psql',
    samples: [],
    async run() {
      const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(ctx.server.port), '-U', 'postgres', '-d', DATABASE,
        '-c', `\\copy ${TABLE} FROM ${sqlString(file)} WITH (FORMAT csv)`];
      const r = await runChild(PSQL, args, ctx.env, ctx.scratch);
      if (r.code !== 0) throw childFailure('psql', r);
      return r.usage;
    },
  };
}

function hyperfillArgs(ctx: Context, table: string, file: string, workers: number, batchSize: number | undefined): string[] {
  return [ctx.bin, 'copy', '--connection', ctx.server.publicUrl(DATABASE), '--table', table, '--file', file,
    '--workers', String(workers), ...(batchSize === undefined ? [] : ['--batch-size', String(batchSize)]), '--json'];
}

async function runHyperfill(ctx: Context, table: string, file: string, workers: number, batchSize: number | undefined, rows: number) {
  const r = await runChild(process.execPath, hyperfillArgs(ctx, table, file, workers, batchSize), ctx.env, ctx.scratch);
  if (r.code !== 0) throw childFailure('hyperfill copy', r);
  let summary: { rows: number; seconds: number };
  try {
    summary = JSON.parse(r.stdout) as typeof summary;
  } catch {
    throw childFailure('hyperfill copy --json printed no JSON summary; it', r);
  }
  if (summary.rows !== rows) throw new Error(`hyperfill copy reported ${summary.rows} rows, expected ${rows}`);
  return { cpuSeconds: r.usage?.cpuSeconds, peakRssKb: r.usage?.peakRssKb, selfSeconds: summary.seconds };
}

function hyperfill(ctx: Context, file: string, rows: number, workers: number, batchSize?: number): Contender {
  return {
    name: `hyperfill \`--workers ${workers}\`${batchSize === undefined ? '' : ` \`--batch-size ${batchSize}\``}`,
    kind: 'hyperfill',
    workers,
    batchSize,
    samples: [],
    run: () => runHyperfill(ctx, TABLE, file, workers, batchSize, rows),
  };
}

/** One timed run: reset the table, run, check the row count. */
async function measure(ctx: Context, control: pg.Client, postmaster: number, c: Contender, rows: number, table = TABLE): Promise<Sample> {
  await reset(control, table);
  const quietStart = await waitForQuiet(ctx.quietBudget);
  const lsn = (await control.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn() AS lsn')).rows[0]?.lsn;
  const cpu0 = serverCpuSeconds(postmaster);
  const m0 = machineCpu();
  const t0 = performance.now();
  const usage = await c.run();
  const seconds = (performance.now() - t0) / 1000;
  const m1 = machineCpu();
  const serverCpu = serverCpuSeconds(postmaster) - cpu0;
  const loaded = await countRows(control, table);
  if (loaded !== rows) throw new Error(`${c.name} loaded ${loaded} rows, expected ${rows}`);
  const work = (await control.query<{ wal: string; index: string }>(
    `SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1) AS wal, pg_relation_size('${table}_time') AS index`, [lsn])).rows[0];
  const span = m1.total - m0.total || 1;
  const busyCpu = (span - (m1.idle - m0.idle)) / CLK_TCK;
  const clientCpu = c.kind === 'server' ? 0 : usage?.cpuSeconds;
  return {
    seconds, serverCpu, busy: 1 - (m1.idle - m0.idle) / span, iowait: (m1.iowait - m0.iowait) / span,
    otherCpu: Math.max(0, busyCpu - serverCpu - (clientCpu ?? 0)), quietStart,
    clientCpu, selfSeconds: usage?.selfSeconds, peakRssKb: usage?.peakRssKb,
    walBytes: Number(work?.wal ?? 0), indexBytes: Number(work?.index ?? 0),
  };
}

// ---------------------------------------------------------------------------
// The report.

const describeCpu = (s: Sample) =>
  `CPU s: client ${fmtCpu(s.clientCpu)}, server ${s.serverCpu.toFixed(2)}, other ${s.otherCpu.toFixed(2)}${isClean(s) ? '' : ' (disturbed)'}`;

/** A run is clean when the rest of the machine used under a quarter of a core meanwhile. */
const CLEAN_OTHER_CORES = 0.25;
const isClean = (s: Sample) => s.otherCpu <= CLEAN_OTHER_CORES * s.seconds;
const fastest = (samples: Sample[]) => samples.reduce((a, b) => (b.seconds < a.seconds ? b : a));
/** The fastest clean run; the fastest of all when every run was disturbed. */
const best = (c: Contender): Sample => {
  const clean = c.samples.filter(isClean);
  return fastest(clean.length > 0 ? clean : c.samples);
};
const cleanRuns = (c: Contender) => `${c.samples.filter(isClean).length}/${c.samples.length}`;
const median = (c: Contender): number => {
  const sorted = c.samples.map((s) => s.seconds).sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};
const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtRatio = (n: number) => `${n.toFixed(2)}×`;
const fmtMb = (kb: number | undefined) => (kb === undefined ? 'n/a' : `${(kb / 1024).toFixed(kb < 10240 ? 1 : 0)} MB`);
const fmtCpu = (s: number | undefined) => (s === undefined ? 'n/a' : s.toFixed(2));
const pct = (x: number) => `${Math.round(x * 100)}%`;

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((h, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

interface RssResult { rows: number; bytes: number; seconds: number; peakRssKb: number | undefined }

interface Report {
  settings: Settings;
  machine: string[];
  csvBytes: number;
  contenders: Contender[];
  rss: RssResult[];
  command: string;
}

function render(r: Report): string {
  const { contenders, settings } = r;
  const two = contenders.find((c) => c.kind === 'server' && c.name.includes('2 streams'));
  const psql = contenders.find((c) => c.kind === 'psql');
  if (!two || !psql) throw new Error('internal: reference contenders missing');
  const twoRate = settings.rows / best(two).seconds;
  const psqlRate = settings.rows / best(psql).seconds;
  const hyper = contenders.filter((c) => c.kind === 'hyperfill');
  const top = hyper.reduce((a, b) => (best(b).seconds < best(a).seconds ? b : a));
  const topRate = settings.rows / best(top).seconds;

  const main = table(['contender', 'seconds', 'rows/s', 'vs 2-stream server COPY', 'vs `psql \\copy`', 'median s', 'clean runs', 'all runs (s; * disturbed)'],
    contenders.map((c) => {
      const rate = settings.rows / best(c).seconds;
      return [c.name, `${best(c).seconds.toFixed(2)}${isClean(best(c)) ? '' : ' *'}`, fmtInt(rate), fmtRatio(rate / twoRate), fmtRatio(rate / psqlRate),
        median(c).toFixed(2), cleanRuns(c), c.samples.map((s) => `${s.seconds.toFixed(2)}${isClean(s) ? '' : '*'}`).join(' / ')];
    }));
  const medianRatio = (c: Contender, ref: Contender) => fmtRatio(median(ref) / median(c));
  const cost = table(['contender', 'wall s', 'in-process s', 'client CPU s', 'server CPU s', 'other CPU s', 'machine busy', 'iowait', 'WAL', 'index after', 'client peak RSS'],
    contenders.map((c) => {
      const s = best(c);
      return [c.name, s.seconds.toFixed(2), s.selfSeconds === undefined ? '-' : s.selfSeconds.toFixed(2), fmtCpu(s.clientCpu), s.serverCpu.toFixed(2),
        s.otherCpu.toFixed(2), pct(s.busy), pct(s.iowait), fmtMb(s.walBytes / 1024), fmtMb(s.indexBytes / 1024), c.kind === 'server' ? '-' : fmtMb(s.peakRssKb)];
    }));
  const all = contenders.flatMap((c) => c.samples);
  const quiet = all.filter((s) => s.quietStart).length;

  const goals = [
    `- hyperfill's best (${top.name}): ${fmtInt(topRate)} rows/s = **${fmtRatio(topRate / twoRate)}** the two-stream server COPY ` +
      `(goal ≥ 0.95×: ${topRate / twoRate >= 0.95 ? 'met' : '**missed**'}) and **${fmtRatio(topRate / psqlRate)}** \`psql \\copy\` ` +
      `(goal ≥ 1.5×: ${topRate / psqlRate >= 1.5 ? 'met' : '**missed**'}). Medians: ${medianRatio(top, two)} and ${medianRatio(top, psql)}.`,
  ];
  const self = best(top).selfSeconds;
  if (self !== undefined) {
    goals.push(`- Without Node's start-up and exit (hyperfill's own elapsed time, ${self.toFixed(2)} s), the same run is ${fmtRatio(best(two).seconds / self)} the two-stream server COPY and ${fmtRatio(best(psql).seconds / self)} \`psql \\copy\`.`);
  }
  let rssSection = 'Skipped (`--rss-rows 0`).';
  const [small, large] = r.rss;
  if (small && large) {
    const ratio = small.peakRssKb && large.peakRssKb ? large.peakRssKb / small.peakRssKb : undefined;
    rssSection = [
      `hyperfill \`--workers 4\` with the default batch flags, reading a file (the large one is the small one repeated: same rows, so only the length differs); peak RSS of the hyperfill process${hasTime ? ' (GNU time, `%M`)' : ' (VmHWM polled every 50 ms: a lower bound)'}.`,
      '',
      table(['rows', 'CSV', 'seconds', 'rows/s', 'peak RSS'], r.rss.map((x) => [fmtInt(x.rows), `${(x.bytes / 1e6).toFixed(0)} MB`, x.seconds.toFixed(2), fmtInt(x.rows / x.seconds), fmtMb(x.peakRssKb)])),
      '',
      ratio === undefined ? 'Peak RSS unavailable on this machine.' : `Ratio ${fmtInt(large.rows)} / ${fmtInt(small.rows)} rows: **${ratio.toFixed(2)}×** (goal: within 10%, i.e. ≤ 1.10×: ${ratio <= 1.1 ? 'met' : '**missed**'}).`,
    ].join('\n');
    if (ratio !== undefined) goals.push(`- Peak RSS ${fmtMb(small.peakRssKb)} for ${fmtInt(small.rows)} rows, ${fmtMb(large.peakRssKb)} for ${fmtInt(large.rows)}: ${ratio.toFixed(2)}× (goal ≤ 1.10×: ${ratio <= 1.1 ? 'met' : '**missed**'}).`);
  }

  const sweep = hyper.filter((c) => c.workers === 4)
    .sort((a, b) => (a.batchSize ?? 20_000) - (b.batchSize ?? 20_000))
    .map((c) => [String(c.batchSize ?? '20000 (default)'), best(c).seconds.toFixed(2), fmtInt(settings.rows / best(c).seconds), fmtCpu(best(c).clientCpu), fmtMb(best(c).peakRssKb)]);

  return `# \`hyperfill copy\` benchmark

- Date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}
${r.machine.map((m) => `- ${m}`).join('\n')}
- Data: ${fmtInt(settings.rows)} rows, ${(r.csvBytes / 1e6).toFixed(1)} MB of CSV (time timestamptz, host text, cpu float8, mem float8, n int), one B-tree index on time, autovacuum off on the table
- Method: all contenders on the same server and the same file; ${settings.runs} rounds, contenders interleaved in each round; before every run the table is truncated, the server CHECKPOINTs and the harness waits for the machine to be quiet (under ${pct(QUIET_BUSY)} busy; at most ${QUIET_WAIT_PER_RUN_S} s a run and ${settings.quietWait} s in all): ${quiet} of ${all.length} runs started quiet. A run is *clean* when the rest of the machine used under a quarter of a core meanwhile (other CPU below); a contender without a clean run gets up to ${EXTRA_RUNS} more. Shown: the fastest clean run (marked * when every run was disturbed), the median of all runs beside it. Wall time from the harness: process start to exit for psql and hyperfill (Node start-up and connecting included), the COPY statements alone for server-side COPY.
- Reproduce: \`${r.command}\`

## Throughput

${main}

${goals.join('\n')}

## Where the time goes (best run of each)

Client CPU is user + system time of the psql or hyperfill process (GNU time). Server CPU is the PostgreSQL processes' CPU during the run, from /proc. Other CPU is what the rest of the machine used meanwhile (other processes, the kernel's I/O threads): large values mean the run was disturbed. WAL is what the server wrote to its log during the run; index after is the size of the index on time once loaded (rows arriving out of time order split its pages half-full). Machine busy is the share of both cores' time that was not idle; iowait is the share spent waiting on the disk. In-process is hyperfill's own elapsed time (its \`--json\` summary): the difference to wall is Node start-up and exit.

${cost}

## Batch size at \`--workers 4\`

${table(['--batch-size', 'seconds', 'rows/s', 'client CPU s', 'peak RSS'], sweep)}

## Peak RSS against input size

${rssSection}
`;
}

async function machineLines(server: PostgresServer, fast: boolean): Promise<string[]> {
  const version = (await server.query<{ v: string }>('SELECT version() AS v', [], DATABASE)).rows[0]?.v ?? '?';
  const settings = await server.query<{ name: string; setting: string; unit: string | null }>(
    `SELECT name, setting, unit FROM pg_settings WHERE name IN ('fsync','synchronous_commit','full_page_writes','shared_buffers','max_wal_size','wal_level') ORDER BY name`, [], DATABASE);
  const psqlVersion = (() => {
    try {
      return execFileSync(PSQL, ['--version'], { encoding: 'utf8' }).trim();
    } catch {
      return 'psql: unknown';
    }
  })();
  const cpu = cpus();
  return [
    `Machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'} (nproc ${cpu.length}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}; load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    `PostgreSQL: ${version.split(',')[0]} (embedded-postgres, one server for every contender), ${fast ? '`fast` settings (fsync, full_page_writes and synchronous_commit off)' : 'default durability'}: ${settings.rows.map((s) => `${s.name}=${s.setting}${s.unit ?? ''}`).join(', ')}`,
    `Clients: Node ${process.version}; ${psqlVersion}; ${hasTime ? 'GNU time for client CPU and peak RSS' : 'GNU time not installed: client CPU and peak RSS polled from /proc every 50 ms (lower bounds)'}`,
  ];
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2));
  if (!existsSync(BIN)) throw new Error(`${relative(ROOT, BIN)} is missing: run \`npm run build\` first`);
  const command = `npm run build && node dist/benchmarks/copy-bench.js --rows ${settings.rows} --rss-rows ${settings.rssRows} --runs ${settings.runs}` +
    ` --batch-sizes ${settings.batchSizes.join(',')} --quiet-wait ${settings.quietWait}${settings.fast ? ' --fast' : ''}`;
  // The server runs as the `postgres` OS user and reads the CSV itself.
  const scratch = mkdtempSync(join(tmpdir(), 'hyperfill-copy-bench-'));
  chmodSync(scratch, 0o755);
  const clients: pg.Client[] = [];
  let server: PostgresServer | undefined;
  try {
    const bin = snapshotCli(scratch);
    log(`starting PostgreSQL (${settings.fast ? 'fast' : 'default durability'} settings)`);
    server = await startPostgres({ fast: settings.fast });
    const url = server.url(DATABASE);
    const client = async () => {
      const c = new pg.Client({ connectionString: url });
      c.on('error', () => undefined);
      await c.connect();
      clients.push(c);
      return c;
    };
    await server.createDatabase(DATABASE);
    const machine = [...await machineLines(server, settings.fast), `hyperfill: ${revision()} (the build in dist/, copied aside at the start)`];
    const control = await client();
    const backend = (await control.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid ?? 0;
    const postmaster = Number(statFields(backend)?.[1] ?? 0);
    const ctx: Context = { server, streams: [await client(), await client()], env: { ...process.env, PGPASSWORD: server.password }, scratch, bin, quietBudget: { seconds: settings.quietWait } };

    const csv = join(scratch, 'metrics.csv');
    log(`generating ${fmtInt(settings.rows)} rows of CSV`);
    await generate(csv, settings.rows);
    const halves = splitHalves(csv, settings.rows);
    await createTable(control, TABLE);

    const contenders = [
      serverCopy(ctx, [csv]),
      serverCopy(ctx, halves),
      psqlCopy(ctx, csv),
      hyperfill(ctx, csv, settings.rows, 1),
      hyperfill(ctx, csv, settings.rows, 2),
      hyperfill(ctx, csv, settings.rows, 4),
      ...settings.batchSizes.filter((b) => b !== 20_000).map((b) => hyperfill(ctx, csv, settings.rows, 4, b)),
    ];
    for (let round = 1; round <= settings.runs; round++) {
      for (const c of contenders) {
        const s = await measure(ctx, control, postmaster, c, settings.rows);
        c.samples.push(s);
        log(`round ${round}/${settings.runs}  ${c.name.replace(/`/g, '').padEnd(46)} ${s.seconds.toFixed(2)} s  ${fmtInt(settings.rows / s.seconds)} rows/s  ${describeCpu(s)}`);
      }
    }
    // Other work on a shared machine can spoil every run of a contender: give those a few more.
    for (const c of contenders) {
      for (let extra = 1; extra <= EXTRA_RUNS && !c.samples.some(isClean); extra++) {
        const s = await measure(ctx, control, postmaster, c, settings.rows);
        c.samples.push(s);
        log(`extra ${extra}/${EXTRA_RUNS}  ${c.name.replace(/`/g, '').padEnd(46)} ${s.seconds.toFixed(2)} s  ${fmtInt(settings.rows / s.seconds)} rows/s  ${describeCpu(s)}`);
      }
    }
    await control.query(`TRUNCATE ${TABLE}`);

    const rss: RssResult[] = [];
    if (settings.rssRows > 0) {
      const defaults = contenders.find((c) => c.kind === 'hyperfill' && c.workers === 4 && c.batchSize === undefined);
      const peaks = defaults?.samples.map((s) => s.peakRssKb).filter((k): k is number => k !== undefined) ?? [];
      rss.push({ rows: settings.rows, bytes: statSync(csv).size, seconds: Math.min(...(defaults?.samples.map((s) => s.seconds) ?? [])), peakRssKb: peaks.length ? Math.max(...peaks) : undefined });
      const big = join(scratch, 'metrics-big.csv');
      log(`writing ${fmtInt(settings.rssRows)} rows of CSV for the RSS run`);
      repeatFile(csv, big, settings.rssRows / settings.rows);
      await createTable(control, 'metrics_rss');
      const bigRun: Contender = { name: 'rss', kind: 'hyperfill', samples: [], run: () => runHyperfill(ctx, 'metrics_rss', big, 4, undefined, settings.rssRows) };
      const s = await measure(ctx, control, postmaster, bigRun, settings.rssRows, 'metrics_rss');
      rss.push({ rows: settings.rssRows, bytes: statSync(big).size, seconds: s.seconds, peakRssKb: s.peakRssKb });
      log(`rss: ${fmtInt(settings.rssRows)} rows in ${s.seconds.toFixed(2)} s, peak RSS ${fmtMb(s.peakRssKb)}`);
      await control.query('DROP TABLE metrics_rss');
      rmSync(big, { force: true });
    }

    const report = render({ settings, machine, csvBytes: statSync(csv).size, contenders, rss, command });
    mkdirSync(dirname(settings.out), { recursive: true });
    writeFileSync(settings.out, report);
    process.stdout.write(report);
    log(`\nwritten to ${relative(process.cwd(), settings.out) || settings.out}`);
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`copy-bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
