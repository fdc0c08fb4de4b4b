/**
 * The fault suite for copy, on a native PostgreSQL 15: the target restarted fast,
 * crashed (`-m immediate`) or its hyperfill backends terminated, with and without
 * --import-id, at the first batch, in the middle of the run, and (with --import-id)
 * while the import is marked complete. Every run ends complete and exact by itself, or
 * with a clear error after which a rerun is; never E_INTERNAL, never a hang.
 *
 * Moments are held by locks the test takes (helpers/faults.ts): a SHARE lock on the table
 * holds every worker at its next COPY (once it is granted, no batch's transaction is open,
 * so none is committing), a row lock on the import's record holds the completion mark. For
 * the middle of the run the input comes on stdin, its second part only once the lock is
 * held, so batches are still to come whatever the machine's speed. synchronous_commit is
 * on: a crash must not lose a batch the server acknowledged.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, type Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { metricsCsv } from '../src/demo/generate-csv.js';
import { type CliResult, runCli, runCliDuring } from './helpers/cli.js';
import { type Fault, injectFault, LockHolder, Watcher } from './helpers/faults.js';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';

const ROWS = 60_000;
const WORKERS = 2;
const HANG_MS = 180_000;
const FAULTS: Fault[] = ['restart fast', 'restart immediate', 'terminate'];
const DDL = (t: string) => `CREATE TABLE ${t} (time timestamptz, host text, cpu float8, mem float8, n int)`;
const DIGEST = (t: string) => `SELECT count(*)::int AS c, count(DISTINCT n)::int AS d,
  md5(string_agg(concat_ws('|', time, host, cpu, mem, n), ',' ORDER BY n)) AS h FROM ${t}`;

type Moment = 'first batch' | 'mid-run' | 'completion mark';

describeNative('fault suite: copy', {}, () => {
  let server: NativeServer;
  let url: string;
  let dir: string;
  let csv: string;
  let input: Buffer;
  let firstPart = 0;
  let tables = 0;
  const matrix: string[] = [];

  before(async () => {
    server = await startNativePostgres({ settings: { synchronous_commit: 'on' } });
    url = await server.createDatabase('copy');
    dir = mkdtempSync(join(tmpdir(), 'hyperfill-copy-faults-'));
    csv = join(dir, 'metrics.csv');
    writeFileSync(csv, [...metricsCsv({ rows: ROWS, hosts: 20, startMs: Date.UTC(2024, 0, 1), stepMs: 1000 })].join(''));
    input = readFileSync(csv);
    // Mid-run, stdin gets the first 20k lines, the rest once the moment is held.
    for (let line = 0; line < 20_000; line++) firstPart = input.indexOf(0x0a, firstPart) + 1;
    // The reference: the same file through the server's own COPY, in one statement.
    await server.query(DDL('reference'), [], 'copy');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await pipeline(Readable.from([input]), client.query(copyFrom('COPY reference FROM STDIN WITH (FORMAT csv)')));
    } finally {
      await client.end();
    }
  });
  after(async () => {
    if (matrix.length > 0) console.log(`fault matrix (copy):\n${matrix.join('\n')}`);
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const copyArgs = (table: string, ...extra: string[]) => ['copy', '--connection', url, '--table', table, '--file', csv,
    '--batch-size', '2000', '--workers', String(WORKERS), ...extra];

  async function freshTable(): Promise<string> {
    const table = `t_${++tables}`;
    await server.query(DDL(table), [], 'copy');
    return table;
  }

  function checkRun(run: CliResult): void {
    assert.equal(run.hung, false, `the run did not end by itself:\n${run.stderr}`);
    assert.doesNotMatch(run.stderr, /E_INTERNAL/);
    assert.doesNotMatch(run.stderr, /\n\s+at .*\.js:\d+/, 'no stack trace');
  }

  async function assertExact(table: string): Promise<void> {
    const [t, r] = [await server.query(DIGEST(table), [], 'copy'), await server.query(DIGEST('reference'), [], 'copy')];
    assert.equal(t.rows[0].c, t.rows[0].d, 'no row twice');
    assert.deepEqual(t.rows[0], r.rows[0], 'the table holds exactly the input');
  }

  /** Holds the run at `moment`, then injects `fault`; mid-run, the input's rest goes to `stdin` once the lock is held. */
  async function holdAndFault(moment: Moment, fault: Fault, table: string, importId: string | undefined, early: LockHolder | undefined, alive: () => boolean,
    stdin: Writable | null): Promise<void> {
    const w = new Watcher(server, 'copy');
    let lock = early;
    try {
      if (moment === 'completion mark') {
        await w.until('the import was recorded', 'SELECT count(*)::int AS n FROM hyperfill.copy_import WHERE import_id = $1', [importId], (r: { n: number }) => r.n > 0, alive);
        // FOR NO KEY UPDATE: batches still record themselves (their foreign key takes KEY SHARE), the final UPDATE waits.
        lock = await LockHolder.take(server, 'copy', 'SELECT 1 FROM hyperfill.copy_import WHERE import_id = $1 FOR NO KEY UPDATE', [importId]);
        await w.untilBackends('the completion mark waited', `wait_event_type = 'Lock' AND query LIKE 'UPDATE%copy_import%'`, 1, alive);
      } else {
        if (moment === 'mid-run') {
          await w.until('5 batches were committed', `SELECT count(*)::int AS n FROM ${table}`, [], (r: { n: number }) => r.n >= 10_000, alive);
          lock = await LockHolder.take(server, 'copy', `LOCK TABLE ${table} IN SHARE MODE`);
          await lock.acquired;
          stdin?.end(input.subarray(firstPart));
          await w.untilBackends('a worker waited at its COPY', `wait_event_type = 'Lock' AND query LIKE 'COPY%FROM STDIN%'`, 1, alive);
        } else {
          await w.untilBackends('every worker waited at its COPY', `wait_event_type = 'Lock' AND query LIKE 'COPY%FROM STDIN%'`, WORKERS, alive);
        }
      }
      await injectFault(server, fault, w);
    } finally {
      await lock?.release();
      await w.close();
    }
  }

  const cases: Array<[Moment, boolean]> = [['first batch', false], ['first batch', true], ['mid-run', false], ['mid-run', true], ['completion mark', true]];
  for (const [moment, withImportId] of cases) {
    for (const fault of FAULTS) {
      test(`copy${withImportId ? ' --import-id' : ''}: ${fault} at the ${moment}`, async () => {
        const table = await freshTable();
        const importId = withImportId ? `faults-${table}` : undefined;
        const midRun = moment === 'mid-run';
        const args = copyArgs(table, ...(importId ? ['--import-id', importId] : [])).filter((a, i, all) => !midRun || (a !== '--file' && all[i - 1] !== '--file'));
        // At the first batch the lock is taken before the run starts.
        const early = moment === 'first batch' ? await LockHolder.take(server, 'copy', `LOCK TABLE ${table} IN SHARE MODE`) : undefined;
        await early?.acquired;
        const run = await runCliDuring(args, (alive, child) => {
          if (midRun) child.stdin?.write(input.subarray(0, firstPart));
          return holdAndFault(moment, fault, table, importId, early, alive, child.stdin);
        }, { hangAfterMs: HANG_MS, ...(midRun ? { stdin: 'open' as const } : {}) });
        checkRun(run);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.stdout, `COPY ${ROWS}\n`);
        await assertExact(table);
        // A statement the fault cut short is retried (and said); one that had just finished is not.
        const retried = /connection lost/.test(run.stderr) ? ', after a retry' : '';
        matrix.push(`| copy${withImportId ? ' --import-id' : ''} | ${fault} | ${moment} | complete and exact by itself${retried} |`);
      });
    }
  }

  test('copy --import-id: the target down longer than --retry-timeout: a clear error that says what is committed, then a rerun completes', async () => {
    const table = await freshTable();
    const args = copyArgs(table, '--import-id', `outage-${table}`);
    const run = await runCliDuring([...args, '--retry-timeout', '2s'], async (alive) => {
      const w = new Watcher(server, 'copy');
      await w.until('5 batches were committed', `SELECT count(*)::int AS n FROM ${table}`, [], (r: { n: number }) => r.n >= 10_000, alive);
      const lock = await LockHolder.take(server, 'copy', `LOCK TABLE ${table} IN SHARE MODE`);
      await w.untilBackends('every worker waited at its COPY', `wait_event_type = 'Lock' AND query LIKE 'COPY%FROM STDIN%'`, WORKERS, alive);
      await w.close();
      await server.halt('fast');
      await lock.release();
    }, { hangAfterMs: HANG_MS }).finally(() => server.resume());
    checkRun(run);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /error E_CONNECTION_LOST: lost the connection to the target/);
    const committed = Number(/already committed: (\d+) rows/.exec(run.stderr)?.[1]);
    const inTable = await server.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`, [], 'copy');
    assert.equal(committed, inTable.rows[0]?.n, 'the error says exactly what is committed');
    const again = await runCli(args, { hangAfterMs: HANG_MS });
    checkRun(again);
    assert.equal(again.code, 0, again.stderr);
    await assertExact(table);
    matrix.push('| copy --import-id | halted beyond --retry-timeout 2s | mid-run | E_CONNECTION_LOST with the committed rows, then a rerun complete and exact |');
  });
});
