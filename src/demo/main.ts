/**
 * `npm run demo`: the whole dual-write and backfill story on an embedded PostgreSQL,
 * nothing else needed. A source with a day of history is loaded with `hyperfill copy`;
 * a target holds what "dual-write" wrote since a recent time; then plan, backfill and
 * verify bring the target level with the source.
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
/** Dual-write began with this row: the target already has everything from here on. */
const DUAL_WRITE_FROM_ROW = Math.floor(ROWS * 0.8);

function say(text: string): void {
  process.stderr.write(`\n== ${text}\n`);
}

/** Runs the CLI like a user would; returns its stdout (stderr goes to the terminal). */
function hyperfill(args: string[], password: string): Promise<string> {
  process.stderr.write(`$ hyperfill ${args.map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, PGPASSWORD: password } });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`hyperfill ${args[0]} exited with ${code}`))));
  });
}

async function demo(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hyperfill-demo-'));
  say('starting an embedded PostgreSQL 18 (no server of your own needed)');
  const server = await startPostgres({ fast: false });
  try {
    const csv = join(dir, 'metrics.csv');
    say(`generating ${ROWS.toLocaleString('en')} rows of host metrics (time, host, cpu, mem, n), one every 100 ms`);
    await writeMetricsCsv(csv, { rows: ROWS, hosts: 1000, startMs: Date.parse('2024-01-01T00:00:00Z'), stepMs: 100, header: true });
    process.stderr.write(`${csv}: ${(statSync(csv).size / 1e6).toFixed(1)} MB\n`);
    const source = server.publicUrl(await server.createDatabase('source').then(() => 'source'));
    const target = server.publicUrl(await server.createDatabase('target').then(() => 'target'));
    for (const db of ['source', 'target']) {
      await server.query(`${METRICS_DDL('metrics')}; CREATE INDEX ON metrics (time)`, [], db);
    }
    const pw = server.password;

    say('1. the source database gets its history: the CSV streamed in over 4 parallel COPY connections');
    await hyperfill(['copy', '--connection', source, '--table', 'metrics', '--file', csv, '--skip-header', '--workers', '4', '--reporting-period', '1s'], pw);

    say(`2. the application dual-writes: the target has every row since row ${DUAL_WRITE_FROM_ROW.toLocaleString('en')}`);
    await hyperfill(['copy', '--connection', target, '--table', 'metrics', '--file', csv, '--skip-lines', String(DUAL_WRITE_FROM_ROW + 1)], pw);

    say('3. plan: where did dual-write begin, and which completion point T is safe?');
    const plan = JSON.parse(await hyperfill(['plan', '--source', source, '--target', target, '--table', 'metrics', '--time-column', 'time', '--max-lateness', '10m', '--json'], pw));
    const until = String(plan[0].suggestedUntil).replace(' ', 'T').replace(/\+00$/, 'Z');
    process.stderr.write(`\nusing --until ${until}\n`);

    say('4. backfill everything older than T, 4 windows at a time, exactly once');
    await hyperfill(['backfill', '--source', source, '--target', target, '--table', 'metrics', '--time-column', 'time', '--until', until,
      '--parallel', '4', '--allow-plain-target', '--reporting-period', '1s'], pw);

    say('5. verify: the same rows on both sides, compared by content, window by window');
    await hyperfill(['verify', '--source', source, '--target', target, '--table', 'metrics', '--time-column', 'time', '--until', until, '--checksum'], pw);

    const check = await server.query('SELECT count(*)::int AS rows, min(time) AS first, max(time) AS last FROM metrics', [], 'target');
    const r = check.rows[0];
    say(`the target holds ${r.rows.toLocaleString('en')} rows from ${r.first.toISOString()} to ${r.last.toISOString()}: ready to switch over`);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

demo().catch((err) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
