/**
 * `hyperfill backfill` PostgreSQL → PostgreSQL against the migration guide's recipe,
 * `psql -c "\copy (SELECT ...) TO STDOUT" | psql -c "\copy ... FROM STDIN"`, on one
 * server (a source and a target database), the same 1M-row table, one run each.
 * Writes benchmarks/results/backfill.md.
 *
 *   node dist/benchmarks/backfill-bench.js [--rows 1000000]
 */
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { startPostgres } from '../src/embedded-postgres.js';
import { ratioTable, timeCommand, timeHyperfill, writeReport } from './lib/timing.js';

const DDL = 'CREATE TABLE metrics (time timestamptz NOT NULL, host text, cpu float8, mem float8, n int); CREATE INDEX ON metrics (time)';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rows: { type: 'string' } } });
  const rows = Number(values.rows ?? 1_000_000);
  const server = await startPostgres({ fast: false });
  try {
    await server.createDatabase('source');
    await server.createDatabase('target');
    await server.query(DDL, [], 'source');
    await server.query(DDL, [], 'target');
    await server.query(`INSERT INTO metrics SELECT '2024-01-01'::timestamptz + i * interval '100 ms', 'host_' || (i % 1000),
      round((random() * 100)::numeric, 2), round((random() * 100)::numeric, 2), i FROM generate_series(0, ${rows - 1}) i`, [], 'source');
    await server.query('VACUUM ANALYZE metrics', [], 'source');
    const until = new Date(Date.parse('2024-01-01T00:00:00Z') + rows * 100).toISOString();
    const env = { PGPASSWORD: server.password };
    const source = server.publicUrl('source');
    const target = server.publicUrl('target');
    const reset = () => server.query('TRUNCATE metrics; DROP SCHEMA IF EXISTS hyperfill CASCADE; CHECKPOINT', [], 'target');

    const results: Array<{ name: string; seconds: number }> = [];
    await reset();
    const recipe = `psql "${source}" -c "\\copy (SELECT * FROM metrics WHERE time < '${until}') TO STDOUT" | psql "${target}" -c "\\copy metrics FROM STDIN"`;
    results.push({ name: 'psql \\copy \\| psql \\copy (the recipe)', seconds: await timeCommand('bash', ['-o', 'pipefail', '-c', recipe], env) });
    for (const parallel of [1, 2, 4]) {
      await reset();
      const seconds = await timeHyperfill(['backfill', '--source', source, '--target', target, '--table', 'metrics',
        '--time-column', 'time', '--until', until, '--parallel', String(parallel), '--allow-plain-target'], env);
      const copied = await server.query('SELECT count(*)::int AS n FROM metrics', [], 'target');
      if (copied.rows[0].n !== rows) throw new Error(`backfill --parallel ${parallel} copied ${copied.rows[0].n} of ${rows} rows`);
      results.push({ name: `hyperfill backfill --parallel ${parallel}`, seconds });
    }
    const version = (await server.query('SHOW server_version')).rows[0].server_version;
    const table = ratioTable(results, rows, 'recipe');
    const report = `# Backfill benchmark: PostgreSQL to PostgreSQL

${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, PostgreSQL ${version} (embedded, durable settings),
Node ${process.version}. ${rows.toLocaleString('en')} rows (time timestamptz, host text, cpu float8, mem float8, n int; index on time),
a source and a target database on the same server, one run each.

${table}

Reproduce: \`npm run build && node dist/benchmarks/backfill-bench.js --rows ${rows}\`
`;
    writeReport('backfill', report);
  } finally {
    await server.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`backfill benchmark failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
