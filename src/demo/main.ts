/**
 * `npm run demo`: the whole dual-write and backfill story on an embedded PostgreSQL,
 * nothing else needed. A source with a day of history is loaded with `hyperfill copy`;
 * `hyperfill clone` prepares the target (schema, the relational `hosts` table with its
 * rows, `metrics` without its rows); the target gets what "dual-write" wrote since a
 * recent time; then plan, backfill, verify and status bring the target level with the
 * source and say so.
 *
 * clone runs PostgreSQL's own pg_dump and psql, which must be at least as new as the
 * server (the embedded one is PostgreSQL 18). Where they are not installed, the demo says
 * so and prepares the target the other honest way: `hyperfill schema --apply` for the
 * time-series table, and `hyperfill clone --data-only` (plain COPY, no client tools) for
 * the relational one.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findClientTools } from '../clone/client-tools.js';
import { startPostgres } from '../embedded-postgres.js';
import { HyperfillError } from '../errors.js';
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
    await server.query(`${METRICS_DDL('metrics')}; CREATE INDEX ON metrics (time); ${HOSTS_DDL};
      INSERT INTO hosts SELECT 'host_' || i, 'rack-' || (i % 40) FROM generate_series(0, 999) i`, [], 'source');
    const pw = server.password;

    say('1. the source database gets its history: the CSV streamed in over 4 parallel COPY connections');
    await hyperfill(['copy', '--connection', source, '--table', 'metrics', '--file', csv, '--skip-header', '--workers', '4', '--reporting-period', '1s'], pw);

    say('2. clone: roles, schema and the relational data to the target; metrics goes over empty (the backfill brings its rows)');
    await prepareTarget(server, source, target, pw);

    say(`3. the application dual-writes: the target has every row since row ${DUAL_WRITE_FROM_ROW.toLocaleString('en')}`);
    await hyperfill(['copy', '--connection', target, '--table', 'metrics', '--file', csv, '--skip-lines', String(DUAL_WRITE_FROM_ROW + 1)], pw);

    say('4. plan: where did dual-write begin, and which completion point T is safe?');
    const plan = JSON.parse(await hyperfill(['plan', '--source', source, '--target', target, '--table', 'metrics', '--time-column', 'time', '--max-lateness', '10m', '--json'], pw));
    const until = String(plan[0].suggestedUntil).replace(' ', 'T').replace(/\+00$/, 'Z');
    process.stderr.write(`\nusing --until ${until}\n`);

    say('5. backfill everything older than T, 4 windows at a time, exactly once');
    await hyperfill(['backfill', '--source', source, '--target', target, '--table', 'metrics', '--time-column', 'time', '--until', until,
      '--parallel', '4', '--allow-plain-target', '--reporting-period', '1s'], pw);

    say('6. verify: the same rows on both sides, compared by content, window by window');
    await hyperfill(['verify', '--source', source, '--target', target, '--table', 'metrics', '--time-column', 'time', '--until', until, '--checksum'], pw);

    say('7. status: where the migration stands, per table, and what to do next');
    await hyperfill(['status', '--source', source, '--target', target, '--table', 'metrics', '--time-column', 'time'], pw);

    const check = await server.query('SELECT count(*)::int AS rows, min(time) AS first, max(time) AS last FROM metrics', [], 'target');
    const r = check.rows[0];
    say(`the target holds ${r.rows.toLocaleString('en')} rows from ${r.first.toISOString()} to ${r.last.toISOString()}: ready to switch over`);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const HOSTS_DDL = 'CREATE TABLE hosts (host text PRIMARY KEY, rack text NOT NULL)';

/** clone where PostgreSQL's client tools can dump this server; else schema --apply and clone --data-only. */
async function prepareTarget(server: Awaited<ReturnType<typeof startPostgres>>, source: string, target: string, pw: string): Promise<void> {
  const major = Math.floor(Number((await server.query('SHOW server_version_num')).rows[0].server_version_num) / 10000);
  try {
    findClientTools(['pg_dump', 'pg_dumpall', 'psql'], major);
  } catch (err) {
    if (!(err instanceof HyperfillError)) throw err;
    process.stderr.write(`clone runs pg_dump, pg_dumpall and psql of PostgreSQL ${major} or newer (the embedded server's version), and this machine has none:\n` +
      `  ${err.message}\n  (${err.hint})\n` +
      'so the demo prepares the target the other way: `hyperfill schema --apply` creates metrics, hosts is created by hand, and\n' +
      '`hyperfill clone --data-only` copies its rows (plain COPY, no client tools needed)\n');
    await hyperfill(['schema', '--source', source, '--table', 'metrics', '--time-column', 'time', '--target', target, '--apply', '--plain'], pw);
    await server.query(`CREATE INDEX ON metrics (time); ${HOSTS_DDL}`, [], 'target');
    await hyperfill(['clone', '--source', source, '--target', target, '--data-only', '--table', 'hosts'], pw);
    return;
  }
  // The embedded target has no TimescaleDB: metrics stays a plain table, dumped without its rows.
  await hyperfill(['clone', '--source', source, '--target', target, '--hypertable', 'metrics:time', '--allow-plain-target'], pw);
}

demo().catch((err) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
