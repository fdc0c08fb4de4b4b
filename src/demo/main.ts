/**
 * `npm run demo`: the whole dual-write and backfill story on embedded PostgreSQL servers,
 * nothing else needed. A source with a day of history is loaded with `hyperfill copy`;
 * `hyperfill clone` prepares the target (schema, the relational `hosts` table with its
 * rows, `metrics` without its rows); the example application dual-writes live metrics to
 * source and target, riding out a stop of the target; then plan, backfill, verify, compare
 * and status bring the target level with the source and say so.
 *
 * clone runs PostgreSQL's own pg_dump and psql, which must be at least as new as the
 * server (the embedded one is PostgreSQL 18). Where they are not installed, the demo says
 * so and prepares the target the other honest way: `hyperfill schema --apply` for the
 * time-series table, and `hyperfill clone --data-only` (plain COPY, no client tools) for
 * the relational one.
 *
 * Ctrl-C (SIGINT, or SIGTERM) stops it cleanly: the signal goes on once to the command or
 * application running (children.ts), which rolls back what it has in flight; then both
 * servers stop and the demo's files (CSV, spool, the servers' data) are removed.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findClientTools } from '../clone/client-tools.js';
import { type PostgresServer, startPostgres } from '../embedded-postgres.js';
import { HyperfillError } from '../errors.js';
import { killChildren, runningChildren, spawnChild, stopChildren } from './children.js';
import { runDualWriteStep } from './dual-write-step.js';
import { METRICS_DDL, writeMetricsCsv } from './generate-csv.js';

const BIN = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
const ROWS = Number(process.env.DEMO_ROWS ?? 1_000_000);
const STEP_MS = 100;

function say(text: string): void {
  process.stderr.write(`\n== ${text}\n`);
}

/** What the demo has made, for the clean-up at the end or after a signal. */
const made: { servers: Promise<PostgresServer[]> | undefined; dir: string | undefined } = { servers: undefined, dir: undefined };
let stopping: NodeJS.Signals | undefined;

async function cleanUp(): Promise<void> {
  const servers = await made.servers?.catch(() => []);
  made.servers = undefined;
  await Promise.all((servers ?? []).map((s) => s.stop()));
  if (made.dir) rmSync(made.dir, { recursive: true, force: true });
  made.dir = undefined;
}

/**
 * The first signal stops the demo in order (children, then servers, then files); a second
 * kills the children at once. embedded-postgres hooks SIGINT and SIGTERM to stop its servers
 * and exit straight away, before any child has finished or a file is removed: its handlers
 * give way to this one.
 */
function onSignal(signal: NodeJS.Signals): void {
  if (stopping) {
    process.stderr.write(`\n${signal} again: killing ${runningChildren().join(', ') || 'nothing left'}\n`);
    killChildren();
    return;
  }
  stopping = signal;
  const children = runningChildren();
  process.stderr.write(`\n== ${signal}: stopping the demo: ${children.length > 0 ? `${children.join(' and ')} first (rolling back what is in flight), then ` : ''}` +
    `the servers; then its files are removed\n`);
  void (async () => {
    await stopChildren(signal, 20_000);
    const dir = made.dir;
    await cleanUp();
    process.stderr.write(`demo stopped: nothing is left running${dir ? `, ${dir} and the servers' data are removed` : ''}\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  })();
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.removeAllListeners(signal);
  process.on(signal, onSignal);
}

/** Runs the CLI like a user would; returns its stdout (stderr goes to the terminal). */
function hyperfill(args: string[], password: string): Promise<string> {
  process.stderr.write(`$ hyperfill ${args.map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawnChild(`hyperfill ${args[0]}`, process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, PGPASSWORD: password } });
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`hyperfill ${args[0]} exited with ${code}`))));
  });
}

async function demo(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hyperfill-demo-'));
  made.dir = dir;
  say('starting two embedded PostgreSQL 18 servers: the database the application uses today (source) and the new one (target)');
  made.servers = Promise.all([startPostgres({ fast: false }), startPostgres({ fast: false })]);
  const [server, targetServer] = (await made.servers) as [PostgresServer, PostgresServer];
  try {
    const csv = join(dir, 'metrics.csv');
    say(`generating ${ROWS.toLocaleString('en')} rows of host metrics (time, host, cpu, mem, n), one every ${STEP_MS} ms, up to now`);
    const historyStart = Math.floor((Date.now() - ROWS * STEP_MS) / 1000) * 1000;
    await writeMetricsCsv(csv, { rows: ROWS, hosts: 1000, startMs: historyStart, stepMs: STEP_MS, header: true });
    process.stderr.write(`${csv}: ${(statSync(csv).size / 1e6).toFixed(1)} MB\n`);
    const source = server.publicUrl(await server.createDatabase('source').then(() => 'source'));
    const target = targetServer.publicUrl(await targetServer.createDatabase('target').then(() => 'target'));
    await server.query(`${METRICS_DDL('metrics')}; CREATE INDEX ON metrics (time); ${HOSTS_DDL};
      INSERT INTO hosts SELECT 'host_' || i, 'rack-' || (i % 40) FROM generate_series(0, 999) i`, [], 'source');
    // Both servers have the same password: one PGPASSWORD serves the commands against either.
    const pw = server.password;

    say('1. the source database gets its history: the CSV streamed in over 4 parallel COPY connections');
    await hyperfill(['copy', '--connection', source, '--table', 'metrics', '--file', csv, '--skip-header', '--workers', '4', '--reporting-period', '1s'], pw);

    say('2. clone: roles, schema and the relational data to the target; metrics goes over empty (the backfill brings its rows)');
    await prepareTarget(server, targetServer, source, target, pw);

    // ---- dual-write: the example application (src/demo/dual-write-app), the target stopped for a while ----
    say('3. the application dual-writes live metrics to source and target through hyperfill/dual-write');
    const live = await runDualWriteStep({ sourceUrl: server.url('source'), targetUrl: targetServer.url('target'), targetServer, spoolDir: join(dir, 'spool'), say });
    process.stderr.write(`the application ingested ${live.rows.toLocaleString('en')} rows; not one request failed while the target was down\n`);
    // ---- end of dual-write ----

    say('4. plan: where did dual-write begin (the writer recorded it in the target), and which completion point T is safe?');
    const plan = JSON.parse(await hyperfill(['plan', '--source', source, '--target', target, '--table', 'metrics', '--time-column', 'time',
      '--max-lateness', '2s', '--align', '1s', '--json'], pw));
    const until = String(plan[0].suggestedUntil).replace(' ', 'T').replace(/\+00$/, 'Z');
    process.stderr.write(`\nusing --until ${until}\n`);

    say('5. backfill everything older than T, 4 windows at a time, exactly once');
    await hyperfill(['backfill', '--source', source, '--target', target, '--table', 'metrics', '--time-column', 'time', '--until', until,
      '--parallel', '4', '--allow-plain-target', '--reporting-period', '1s'], pw);

    say('6. verify: the same rows on both sides, compared by content, window by window');
    await hyperfill(['verify', '--source', source, '--target', target, '--table', 'metrics', '--time-column', 'time', '--until', until, '--checksum'], pw);

    say('7. compare: the application\'s read queries on both databases, results and latency');
    const queries = join(dir, 'queries.sql');
    writeFileSync(queries, DEMO_QUERIES);
    await hyperfill(['compare', '--source', source, '--target', target, '--queries', queries, '--until', until, '--repeat', '5',
      '--report', join(dir, 'compare.html')], pw);

    say('8. status: where the migration stands, per table, and what to do next');
    await hyperfill(['status', '--source', source, '--target', target, '--table', 'metrics', '--time-column', 'time'], pw);

    const check = await targetServer.query('SELECT count(*)::int AS rows, min(time) AS first, max(time) AS last FROM metrics', [], 'target');
    const r = check.rows[0];
    say(`the target holds ${r.rows.toLocaleString('en')} rows from ${r.first.toISOString()} to ${r.last.toISOString()}, the same as the source: ready to switch`);
  } finally {
    // After a signal, onSignal cleans up once the children have stopped.
    if (!stopping) await cleanUp();
  }
}

const HOSTS_DDL = 'CREATE TABLE hosts (host text PRIMARY KEY, rack text NOT NULL)';

/** clone where PostgreSQL's client tools can dump this server; else schema --apply and clone --data-only. */
async function prepareTarget(server: PostgresServer, targetServer: PostgresServer, source: string, target: string, pw: string): Promise<void> {
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
    await targetServer.query(`CREATE INDEX ON metrics (time); ${HOSTS_DDL}`, [], 'target');
    await hyperfill(['clone', '--source', source, '--target', target, '--data-only', '--table', 'hosts'], pw);
    return;
  }
  // The embedded target has no TimescaleDB: metrics stays a plain table, dumped without its rows.
  await hyperfill(['clone', '--source', source, '--target', target, '--hypertable', 'metrics:time', '--allow-plain-target'], pw);
}

/** What a dashboard over these metrics asks. */
const DEMO_QUERIES = `-- rows and load per host
SELECT host, count(*), avg(cpu), max(mem) FROM metrics GROUP BY host ORDER BY host;
-- hourly load
SELECT date_trunc('hour', time) AS hour, count(*), avg(cpu), max(cpu) FROM metrics GROUP BY 1 ORDER BY hour;
-- the latest readings
SELECT time, host, cpu, mem FROM metrics ORDER BY time DESC, host LIMIT 50;
-- what the backfill copied (before T)
SELECT count(*), sum(n), min(time), max(time) FROM metrics WHERE time < :until;
`;

demo().catch(async (err) => {
  if (stopping) return; // a child stopped by the signal: onSignal says what happened
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  await cleanUp();
  process.exitCode = 1;
});
