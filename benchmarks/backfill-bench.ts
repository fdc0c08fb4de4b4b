/**
 * `hyperfill backfill` against the recipes, on native PostgreSQL 15 and TimescaleDB 2.28.3
 * (test/helpers/native-postgres.ts, durable settings), source and target databases on one
 * server, contenders interleaved over --rounds rounds, best and median:
 *
 * 1. PostgreSQL → PostgreSQL: the migration guide's text recipe (`psql \copy ... TO STDOUT |
 *    psql \copy ... FROM STDIN`), the same pipe in binary (one stream, no client work: the
 *    limit), hyperfill --parallel 1/2/4 (with its client CPU), in two topologies: *shared*
 *    (server and clients on both cores) and *split* (the server pinned to core 0, every
 *    client to core 1: the loader on its own machine, as users run it).
 * 2. Into a hypertable with compression, timed until the data is compressed: the recipe then
 *    compress_chunk on every chunk, hyperfill --direct-compress off then compress_chunk, and
 *    hyperfill with direct compress.
 * 3. TimescaleDB → TimescaleDB with every source chunk compressed, timed until compressed:
 *    the row path (direct compress), the row path without it then compress_chunk, and
 *    compressed-chunk copy.
 *
 * Every run is checked: row count, and in 2 and 3 that every chunk is compressed.
 * Writes benchmarks/results/backfill.md.
 *
 *   node dist/benchmarks/backfill-bench.js [--rows 1000000] [--rounds 3] [--sections 1,2,3]
 *     [--topologies shared,split] [--report backfill]  (the report goes to benchmarks/results/REPORT.md)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type NativeServer, startNativePostgres } from '../test/helpers/native-postgres.js';
import { childFailure, hasTaskset, pinServer, runChild, waitForQuiet } from './lib/machine.js';
import { revision, snapshotCli, writeReport } from './lib/timing.js';

const TABLE = 'CREATE TABLE m (time timestamptz NOT NULL, device int, v float8, note text)';
const ROWS_SQL = (rows: number) => `INSERT INTO m SELECT '2024-01-01'::timestamptz + i * interval '100 ms', i % 1000, round((random() * 100)::numeric, 3),
  'note ' || (i % 97) FROM generate_series(0, ${rows - 1}) i`;
const HYPERTABLE = `${TABLE}; SELECT create_hypertable('m', by_range('time', INTERVAL '6 hours'));
  ALTER TABLE m SET (timescaledb.compress, timescaledb.compress_segmentby = 'device', timescaledb.compress_orderby = 'time DESC')`;
const COMPRESS_ALL = `SELECT count(compress_chunk(c, if_not_compressed => true)) FROM show_chunks('m') c`;

interface Run { seconds: number; cpu?: number | undefined }
interface Contender { name: string; run: () => Promise<Run>; runs: Run[] }
type Topology = 'shared' | 'split';
/** Seconds the runs may spend waiting for a quiet machine, in all. */
const quietBudget = { seconds: 180 };
let quietRuns = 0;
let allRuns = 0;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rows: { type: 'string' }, rounds: { type: 'string' }, sections: { type: 'string' },
    topologies: { type: 'string' }, report: { type: 'string' } } });
  const rows = Number(values.rows ?? 1_000_000);
  const rounds = Number(values.rounds ?? 3);
  const sections = new Set((values.sections ?? '1,2,3').split(','));
  const topologies = (values.topologies ?? 'shared,split').split(',') as Topology[];
  if (topologies.some((t) => t !== 'shared' && t !== 'split')) throw new Error('--topologies takes shared and/or split');
  if (topologies.includes('split') && !hasTaskset) throw new Error('the split topology needs taskset (util-linux)');
  scratch = mkdtempSync(join(tmpdir(), 'hyperfill-backfill-bench-'));
  bin = snapshotCli(scratch);
  // A chunk boundary after the last row: every window lies in chunks that end by --until.
  const until = new Date(Math.ceil((Date.parse('2024-01-01T00:00:00Z') + rows * 100) / 21_600_000) * 21_600_000).toISOString();
  const parts: string[] = [];
  try {
    if (sections.has('1')) parts.push(await pgToPg(rows, rounds, until, topologies));
    if (sections.has('2') || sections.has('3')) parts.push(...await timescaleSections(rows, rounds, until, sections));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const reproduce = ['--rows', rows, '--rounds', rounds, ...(values.sections ? ['--sections', values.sections] : []),
    ...(values.topologies ? ['--topologies', values.topologies] : []), ...(values.report ? ['--report', values.report] : [])].join(' ');
  writeReport(values.report ?? 'backfill', `# Backfill benchmark

${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version};
native PostgreSQL 15 (Debian), TimescaleDB 2.28.3 for sections 2 and 3, durable settings (fsync on), hyperfill ${revision()}; a source and a
target database on the same server. ${rows.toLocaleString('en')} rows of
(time timestamptz, device int, v float8, note text), one every 100 ms, index on time. Contenders interleaved over
${rounds} rounds; best and median wall seconds, start-up included; client CPU is hyperfill's user + system seconds
(median, GNU time). Every run is checked (row count; in 2 and 3 every chunk compressed). Before each run the
harness waits for the machine to be quiet (under 15% busy, at most 15 s a run and 180 s in all): ${quietRuns} of ${allRuns} runs
started quiet; the machine is shared with other work, so compare contenders within this run, not across runs. Every
contender connects with synchronize_seqscans off (PGOPTIONS): a full scan of the source then starts at its first page,
so every run hands the target its rows in time order (see clientEnv).

${parts.join('\n\n')}

Reproduce: \`npm run build && node dist/benchmarks/backfill-bench.js ${reproduce}\`
`);
}

async function timescaleSections(rows: number, rounds: number, until: string, sections: Set<string>): Promise<string[]> {
  const server = await startNativePostgres({ timescale: true, fast: false });
  try {
    return [
      ...(sections.has('2') ? [await intoCompressed(server, rows, rounds, until)] : []),
      ...(sections.has('3') ? [await compressedSource(server, rows, rounds, until)] : []),
    ];
  } finally {
    await server.stop();
  }
}

/**
 * Every contender's connections: the password, and sequential scans that start at the
 * table's first page. A full scan of the source (the recipe's, the pipe's) otherwise
 * starts where the previous one last reported its place (synchronized scans): near the
 * end, so the rows reach the target out of time order, and its index takes every row
 * by a descent from the root instead of at its right edge, costing the target ~45% more
 * CPU in some runs and not in others.
 */
function clientEnv(server: NativeServer): Record<string, string> {
  return { PGPASSWORD: server.password, PGOPTIONS: '-c synchronize_seqscans=off' };
}

async function pgToPg(rows: number, rounds: number, until: string, topologies: Topology[]): Promise<string> {
  const server = await startNativePostgres({ fast: false });
  try {
    const parts: string[] = [];
    for (const topology of topologies) parts.push(await pgToPgIn(server, topology, rows, rounds, until));
    return `## 1. PostgreSQL → PostgreSQL\n\n${parts.join('\n\n')}`;
  } finally {
    await server.stop();
  }
}

async function pgToPgIn(server: NativeServer, topology: Topology, rows: number, rounds: number, until: string): Promise<string> {
  // split: the server (both databases) on core 0, every client on core 1.
  const cores = topology === 'split' ? '1' : undefined;
  const pinned = () => pinServer(server.postmasterPid(), topology === 'split' ? '0' : '0-1');
  pinned();
  const [srcDb, tgtDb] = [`src_${topology}`, `tgt_${topology}`];
  for (const db of [srcDb, tgtDb]) await server.createDatabase(db);
  await server.query(`${TABLE}; ${ROWS_SQL(rows)}; CREATE INDEX ON m (time)`, [], srcDb);
  await server.query('VACUUM ANALYZE m', [], srcDb);
  await server.query(`${TABLE}; CREATE INDEX ON m (time)`, [], tgtDb);
  const env = clientEnv(server);
  const [src, tgt] = [server.publicUrl(srcDb), server.publicUrl(tgtDb)];
  const reset = async () => {
    await server.query('TRUNCATE m; DROP SCHEMA IF EXISTS hyperfill CASCADE; CHECKPOINT', [], tgtDb);
    pinned();
    allRuns++;
    if (await waitForQuiet(quietBudget)) quietRuns++;
  };
  const check = async (name: string) => {
    const n = Number((await server.query('SELECT count(*) AS n FROM m', [], tgtDb)).rows[0].n);
    if (n !== rows) throw new Error(`${name} left ${n} of ${rows} rows`);
  };
  const pipe = (format: string) => `psql "${src}" -qc "\\copy (SELECT * FROM m WHERE time < '${until}') TO STDOUT${format}" | psql "${tgt}" -qc "\\copy m FROM STDIN${format}"`;
  const contenders: Contender[] = [
    { name: 'text recipe: psql \\copy \\| psql \\copy', run: () => timed('bash', ['-o', 'pipefail', '-c', pipe('')], env, cores), runs: [] },
    { name: 'binary pipe: the same, FORMAT binary', run: () => timed('bash', ['-o', 'pipefail', '-c', pipe(' (FORMAT binary)')], env, cores), runs: [] },
    ...[1, 2, 4].map((p) => ({
      name: `hyperfill backfill --parallel ${p}`, runs: [],
      run: () => timedHyperfill(['backfill', '--source', src, '--target', tgt, '--table', 'm', '--time-column', 'time', '--until', until,
        '--parallel', String(p), '--allow-plain-target'], env, cores),
    })),
  ];
  await interleave(contenders, rounds, reset, check);
  // The same command over one row: start-up, connections, preflight, plan, snapshot and one window.
  const fixed: number[] = [];
  for (let i = 0; i < rounds; i++) {
    await reset();
    fixed.push((await timedHyperfill(['backfill', '--source', src, '--target', tgt, '--table', 'm', '--time-column', 'time',
      '--until', '2024-01-01T00:00:00.050Z', '--parallel', '1', '--allow-plain-target'], env, cores)).cpu ?? NaN);
  }
  const one = contenders.find((c) => c.name.endsWith('--parallel 1'));
  const perMillion = one ? ((median(one.runs.map((r) => r.cpu ?? NaN)) - median(fixed)) / rows) * 1e6 : NaN;
  const where = topology === 'split' ? 'split: the server on core 0, the clients on core 1' : 'shared: server and clients on both cores';
  return `### ${where}

${table(contenders, rows)}

Goals: ≥ 0.95× the binary pipe and ≥ 1.3× the text recipe. ${ratioLine(contenders, 'hyperfill backfill --parallel', 0, 1)}

Client CPU: the same command over one row takes ${median(fixed).toFixed(2)} s (start-up, connections, preflight, plan, snapshot,
one window); the rows add ${perMillion.toFixed(2)} s per million (median CPU of \`--parallel 1\` minus that; goal ≤ 0.15 s).`;
}

async function intoCompressed(server: NativeServer, rows: number, rounds: number, until: string): Promise<string> {
  await server.createDatabase('plain_src');
  await server.createDatabase('ht_tgt');
  await server.query(`${TABLE}; ${ROWS_SQL(rows)}; CREATE INDEX ON m (time)`, [], 'plain_src');
  await server.query('VACUUM ANALYZE m', [], 'plain_src');
  await server.query(HYPERTABLE, [], 'ht_tgt');
  const env = clientEnv(server);
  const [src, tgt] = [server.publicUrl('plain_src'), server.publicUrl('ht_tgt')];
  const compressAll = `psql "${tgt}" -qAtc "${COMPRESS_ALL}" > /dev/null`;
  const hyperfill = (...extra: string[]) => ['backfill', '--source', src, '--target', tgt, '--table', 'm', '--time-column', 'time', '--until', until, ...extra];
  const contenders: Contender[] = [
    { name: 'recipe: psql \\copy \\| psql \\copy, then compress_chunk', runs: [],
      run: () => timed('bash', ['-o', 'pipefail', '-c', `psql "${src}" -qc "\\copy (SELECT * FROM m WHERE time < '${until}') TO STDOUT" | psql "${tgt}" -qc "\\copy m FROM STDIN" && ${compressAll}`], env) },
    { name: 'hyperfill --direct-compress off, then compress_chunk', runs: [],
      run: async () => add(await timedHyperfill(hyperfill('--direct-compress', 'off'), env), await timed('bash', ['-c', compressAll], env)) },
    { name: 'hyperfill, direct compress (sorted by the source)', runs: [], run: () => timedHyperfill(hyperfill(), env) },
  ];
  await interleave(contenders, rounds, () => resetHypertable(server, 'ht_tgt'), (name) => checkCompressed(server, 'ht_tgt', rows, name));
  return `## 2. Into a hypertable with compression (segmentby device, orderby time DESC, 6-hour chunks), until compressed

PostgreSQL table → TimescaleDB hypertable; hyperfill's time includes its start-up, the recipe's both psql.

${table(contenders, rows)}

Goal: ≥ 2× faster than the recipe until the data is compressed. ${ratioLine(contenders, 'hyperfill, direct compress', 0)}`;
}

async function compressedSource(server: NativeServer, rows: number, rounds: number, until: string): Promise<string> {
  await server.createDatabase('ts_src');
  await server.createDatabase('ts_tgt');
  await server.query(`${HYPERTABLE}; ${ROWS_SQL(rows)}`, [], 'ts_src');
  await server.query(COMPRESS_ALL, [], 'ts_src');
  await server.query('VACUUM ANALYZE m', [], 'ts_src');
  await server.query(HYPERTABLE, [], 'ts_tgt');
  const env = clientEnv(server);
  const [src, tgt] = [server.publicUrl('ts_src'), server.publicUrl('ts_tgt')];
  const compressAll = `psql "${tgt}" -qAtc "${COMPRESS_ALL}" > /dev/null`;
  const hyperfill = (...extra: string[]) => ['backfill', '--source', src, '--target', tgt, '--table', 'm', '--until', until, ...extra];
  const contenders: Contender[] = [
    { name: 'row path, --direct-compress off, then compress_chunk', runs: [],
      run: async () => add(await timedHyperfill(hyperfill('--no-compressed-chunks', '--direct-compress', 'off'), env), await timed('bash', ['-c', compressAll], env)) },
    { name: 'row path with direct compress (--no-compressed-chunks)', runs: [], run: () => timedHyperfill(hyperfill('--no-compressed-chunks'), env) },
    { name: 'compressed-chunk copy (default)', runs: [], run: () => timedHyperfill(hyperfill(), env) },
  ];
  await interleave(contenders, rounds, () => resetHypertable(server, 'ts_tgt'), (name) => checkCompressed(server, 'ts_tgt', rows, name));
  const chunks = (await server.query(`SELECT count(*)::int AS n FROM show_chunks('m')`, [], 'ts_src')).rows[0].n;
  return `## 3. TimescaleDB → TimescaleDB, every source chunk compressed (${chunks} chunks), until compressed

${table(contenders, rows)}

Goal: compressed-chunk copy ≥ 3× faster than the row path. ${ratioLine(contenders, 'compressed-chunk copy', 0, 1)}`;
}

async function resetHypertable(server: NativeServer, db: string): Promise<void> {
  await server.query(`DROP SCHEMA IF EXISTS hyperfill CASCADE; DROP TABLE m CASCADE; ${HYPERTABLE}`, [], db);
  await server.query('CHECKPOINT', [], db);
}

async function checkCompressed(server: NativeServer, db: string, rows: number, name: string): Promise<void> {
  const r = (await server.query(`SELECT (SELECT count(*) FROM m)::int AS n,
    (SELECT count(*) FILTER (WHERE NOT is_compressed) FROM timescaledb_information.chunks WHERE hypertable_name = 'm')::int AS raw`, [], db)).rows[0];
  if (r.n !== rows || r.raw !== 0) throw new Error(`${name}: ${r.n} of ${rows} rows, ${r.raw} chunks not compressed`);
}

/** Each round runs every contender once, in turn, from a reset target. */
async function interleave(contenders: Contender[], rounds: number, reset: () => Promise<unknown>, check: (name: string) => Promise<void>): Promise<void> {
  for (let round = 1; round <= rounds; round++) {
    for (const c of contenders) {
      await reset();
      const run = await c.run();
      await check(c.name);
      c.runs.push(run);
      process.stderr.write(`round ${round}: ${c.name}: ${run.seconds.toFixed(2)} s${run.cpu === undefined ? '' : `, client CPU ${run.cpu.toFixed(2)} s`}\n`);
    }
  }
}

const add = (a: Run, b: Run): Run => ({ seconds: a.seconds + b.seconds, cpu: a.cpu });
const best = (c: Contender) => Math.min(...c.runs.map((r) => r.seconds));
function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

function table(contenders: Contender[], rows: number): string {
  const base = contenders[0];
  const lines = contenders.map((c) => {
    const cpus = c.runs.map((r) => r.cpu).filter((x): x is number => x !== undefined);
    return `| ${c.name} | ${best(c).toFixed(2)} | ${median(c.runs.map((r) => r.seconds)).toFixed(2)} | ${Math.round(rows / best(c)).toLocaleString('en')} | `
      + `${base ? (best(base) / best(c)).toFixed(2) : '1.00'}× | ${cpus.length > 0 ? median(cpus).toFixed(2) : ''} | ${c.runs.map((r) => r.seconds.toFixed(2)).join(' / ')} |`;
  });
  return [`| contender | best s | median s | rows/s (best) | × the first (best) | client CPU s | runs |`,
    '|---|---:|---:|---:|---:|---:|---|', ...lines].join('\n');
}

/** "hyperfill ... : 1.43× the first contender (median 1.38×), 0.97× the second ..." */
function ratioLine(contenders: Contender[], prefix: string, ...against: number[]): string {
  const mine = contenders.filter((c) => c.name.startsWith(prefix));
  const top = mine.reduce((a, b) => (best(a) <= best(b) ? a : b));
  const med = (c: Contender) => median(c.runs.map((r) => r.seconds));
  return `Best here, ${top.name}: ${against.map((i) => {
    const ref = contenders[i];
    return ref ? `${(best(ref) / best(top)).toFixed(2)}× ${ref.name.split(':')[0]} (medians: ${(med(ref) / med(top)).toFixed(2)}×)` : '';
  }).join(', ')}.`;
}

/** Wall seconds of a command (on `cores` when given), and its CPU seconds (user + system) when GNU time is there. */
async function timed(command: string, args: string[], env: NodeJS.ProcessEnv, cores?: string): Promise<Run> {
  const started = performance.now();
  const r = await runChild(command, args, { ...process.env, ...env }, scratch, cores);
  if (r.code !== 0) throw childFailure(args.join(' ').slice(0, 80), r);
  return { seconds: (performance.now() - started) / 1000, cpu: r.usage?.cpuSeconds };
}

/** The build measured: copied aside at the start (a rebuild meanwhile changes nothing). */
let bin = '';
/** The run's scratch folder (the build's copy, GNU time's output). */
let scratch = '';
const timedHyperfill = (args: string[], env: NodeJS.ProcessEnv, cores?: string) => timed(process.execPath, [bin, ...args], env, cores);

main().catch((err) => {
  process.stderr.write(`backfill benchmark failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
