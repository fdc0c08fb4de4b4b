/**
 * The same 1M rows from each kind of source into PostgreSQL, in one run: the CSV file
 * with `hyperfill copy`, and ClickHouse and MongoDB (the wire-protocol test server)
 * with `hyperfill backfill`. Rows/s next to the CSV path; for MongoDB also the CPU
 * the test server itself spent (it runs in this process). Writes
 * benchmarks/results/sources.md.
 *
 *   node dist/benchmarks/sources-bench.js [--rows 1000000]
 */
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createClient } from '@clickhouse/client';
import { metricsCsv, writeMetricsCsv } from '../src/demo/generate-csv.js';
import { startPostgres } from '../src/embedded-postgres.js';
import { startClickHouse } from '../test/helpers/clickhouse-server.js';
import { startMongoWireServer } from '../test/helpers/mongo-wire-server.js';
import { ratioTable, timeHyperfill, writeReport } from './lib/timing.js';

const START = Date.parse('2024-01-01T00:00:00Z');
/** One row a second: ClickHouse 18.16's DateTime has whole seconds, so every source holds the same rows. */
const STEP_MS = 1000;
const DDL = 'CREATE TABLE metrics (time timestamptz NOT NULL, host text NOT NULL, cpu float8, mem float8, n int); CREATE INDEX ON metrics (time)';

function* documents(rows: number): Generator<object[]> {
  let batch: object[] = [];
  for (const chunk of metricsCsv({ rows, hosts: 1000, startMs: START, stepMs: STEP_MS })) {
    for (const line of chunk.split('\n')) {
      if (!line) continue;
      const [time, host, cpu, mem, n] = line.split(',');
      batch.push({ time: new Date(time ?? ''), host, cpu: Number(cpu), mem: Number(mem), n: Number(n) });
    }
    if (batch.length >= 50_000) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rows: { type: 'string' } } });
  const rows = Number(values.rows ?? 1_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'hyperfill-sources-'));
  const pg = await startPostgres({ fast: false });
  const ch = await startClickHouse();
  const mongo = await startMongoWireServer();
  const client = createClient({ url: ch.url });
  try {
    const csv = join(dir, 'metrics.csv');
    await writeMetricsCsv(csv, { rows, hosts: 1000, startMs: START, stepMs: STEP_MS });
    await client.command({ query: 'CREATE TABLE metrics (time DateTime, host String, cpu Float64, mem Float64, n Int32) ENGINE = MergeTree ORDER BY time' });
    await client.insert({ table: 'metrics', values: createReadStream(csv), format: 'CSV', clickhouse_settings: { date_time_input_format: 'best_effort' } });
    for (const batch of documents(rows)) mongo.insert('bench', 'metrics', batch);
    await pg.query(DDL);
    const env = { PGPASSWORD: pg.password };
    const target = pg.publicUrl();
    const until = new Date(START + rows * STEP_MS).toISOString();
    const reset = () => pg.query('TRUNCATE metrics; DROP SCHEMA IF EXISTS hyperfill CASCADE; CHECKPOINT');
    const backfill = (source: string) => ['backfill', '--source', source, '--target', target, '--table', 'metrics', '--time-column', 'time',
      '--until', until, '--parallel', '2', '--allow-plain-target'];
    const check = async (name: string) => {
      const r = await pg.query('SELECT count(*)::int AS n, count(DISTINCT n)::int AS d FROM metrics');
      if (r.rows[0].n !== rows || r.rows[0].d !== rows) throw new Error(`${name} loaded ${r.rows[0].n} rows (${r.rows[0].d} distinct) of ${rows}`);
    };

    const results: Array<{ name: string; seconds: number; note: string }> = [];
    await reset();
    results.push({ name: 'CSV file, hyperfill copy', seconds: await timeHyperfill(['copy', '--connection', target, '--table', 'metrics', '--file', csv], env), note: '' });
    await check('CSV');
    await reset();
    results.push({ name: 'ClickHouse 18.16, hyperfill backfill', seconds: await timeHyperfill(backfill(`clickhouse+http://127.0.0.1:${ch.httpPort}/default`), env), note: '' });
    await check('ClickHouse');
    await reset();
    const cpuBefore = process.cpuUsage();
    const seconds = await timeHyperfill(backfill(`${mongo.url.replace('/?', '/bench?')}&hyperfill.columns=time,host,cpu,mem,n`), env);
    const serverCpu = process.cpuUsage(cpuBefore);
    await check('MongoDB');
    const cpu = (serverCpu.user + serverCpu.system) / 1e6;
    results.push({ name: 'MongoDB (test server), hyperfill backfill', seconds, note: `the test server spent ${cpu.toFixed(2)} s of CPU (${Math.round((cpu / seconds) * 100)}% of a core) on the two shared cores` });

    const table = ratioTable(results, rows, 'CSV path');
    const version = (await pg.query('SHOW server_version')).rows[0].server_version;
    const report = `# Sources benchmark: the same rows from CSV, ClickHouse and MongoDB into PostgreSQL

${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, PostgreSQL ${version} (embedded, durable settings),
ClickHouse 18.16 (Debian), the MongoDB wire-protocol test server (in the benchmark's process), Node ${process.version}.
${rows.toLocaleString('en')} rows (time, host, cpu, mem, n; one a second), into a table with an index on time; backfills with
\`--parallel 2\` and the default window plan. Every source server shares the two cores with PostgreSQL and hyperfill. One run each.

${table}

Reproduce: \`npm run build && node dist/benchmarks/sources-bench.js --rows ${rows}\`
`;
    writeReport('sources', report);
  } finally {
    await client.close();
    await mongo.stop();
    await ch.stop();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`sources benchmark failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
