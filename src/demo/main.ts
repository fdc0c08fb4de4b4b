/**
 * `npm run demo`: the whole path on an embedded PostgreSQL, nothing else needed.
 * Generates a time-series CSV, streams it through `hyperfill copy`, shows the result.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '../embedded-postgres.js';
import { METRICS_DDL, writeMetricsCsv } from './generate-csv.js';

const BIN = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
const ROWS = Number(process.env.DEMO_ROWS ?? 1_000_000);

function say(text: string): void {
  process.stderr.write(`\n== ${text}\n`);
}

function hyperfill(args: string[], password: string): Promise<number> {
  process.stderr.write(`$ hyperfill ${args.map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: 'inherit', env: { ...process.env, PGPASSWORD: password } });
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}

async function demo(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hyperfill-demo-'));
  say('starting an embedded PostgreSQL 18 (no server of your own needed)');
  const server = await startPostgres({ fast: false });
  try {
    const csv = join(dir, 'metrics.csv');
    say(`generating ${ROWS.toLocaleString('en')} rows of host metrics (time, host, cpu, mem, n)`);
    await writeMetricsCsv(csv, { rows: ROWS, hosts: 1000, startMs: Date.parse('2024-01-01T00:00:00Z'), stepMs: 100, header: true });
    process.stderr.write(`${csv}: ${(statSync(csv).size / 1e6).toFixed(1)} MB\n`);
    await server.query(METRICS_DDL('metrics'));
    await server.query('CREATE INDEX ON metrics (time DESC)');

    say('copying it in with 4 parallel COPY workers');
    const code = await hyperfill(['copy', '--connection', server.publicUrl(), '--table', 'metrics', '--file', csv,
      '--skip-header', '--workers', '4', '--reporting-period', '1s'], server.password);
    if (code !== 0) throw new Error(`hyperfill copy exited with ${code}`);

    const check = await server.query('SELECT count(*)::int AS rows, min(time) AS first, max(time) AS last FROM metrics');
    const r = check.rows[0];
    say(`the target holds ${r.rows.toLocaleString('en')} rows from ${r.first.toISOString()} to ${r.last.toISOString()}`);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

demo().catch((err) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
