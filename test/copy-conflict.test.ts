/**
 * `copy --on-conflict-do-nothing` and `--on-conflict-update [KEY]` against a real
 * PostgreSQL 18: rows whose key is taken are kept (do nothing) or update the row there
 * (upsert), with binary and text encoding; the counts in --json match what the table
 * holds; with --import-id a rerun changes nothing. Upserts with keys repeated across
 * batches and workers leave the last input row of each key, every time: the expected
 * table is computed here from the input, never by hyperfill.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { runMain } from './helpers/run-main.js';

let server: PostgresServer;

before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
});

/** A small seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

for (const encoding of ['binary', 'text']) {
  test(`--on-conflict-do-nothing keeps the rows already there and the first input row of each key, every time (${encoding})`, async () => {
    for (const seed of [11, 12]) {
      await server.query('DROP TABLE IF EXISTS dn; CREATE TABLE dn (id int PRIMARY KEY, v text, note text DEFAULT $$d$$)');
      await server.query(`INSERT INTO dn (id, v, note) SELECT g, 'old', 'kept' FROM generate_series(1, 50) g`);
      const next = random(seed);
      const rows: Array<[number, string]> = [];
      for (let i = 0; i < 2000; i++) rows.push([1 + Math.floor(next() * 150), `new${i}`]);
      const input = rows.map(([id, v]) => `${id},${v}\n`).join('');
      const run = await runMain(['copy', '--connection', server.url(), '--table', 'dn', '--columns', 'id,v', '--on-conflict-do-nothing',
        '--batch-size', '13', '--workers', '3', '--encoding', encoding, '--json'], input);
      assert.equal(run.code, 0, run.stderr);
      // Expected: ids 1-50 keep what was there; of the others the first input row of each id.
      const expected = new Map<number, [string, string]>();
      for (let id = 1; id <= 50; id++) expected.set(id, ['old', 'kept']);
      for (const [id, v] of rows) if (!expected.has(id)) expected.set(id, [v, 'd']);
      const table = await server.query('SELECT id, v, note FROM dn ORDER BY id');
      assert.deepEqual(table.rows.map((r) => [r.id, r.v, r.note]), [...expected.entries()].sort((a, b) => a[0] - b[0]).map(([id, [v, n]]) => [id, v, n]), `seed ${seed}`);
      const summary = JSON.parse(run.stdout);
      const inserted = expected.size - 50;
      assert.deepEqual([summary.rows, summary.conflict.inserted, summary.conflict.skipped], [rows.length, inserted, rows.length - inserted]);
      assert.equal(summary.conflict.action, 'nothing');
    }
  });

  test(`--on-conflict-update: the last input row of each key wins across batches and workers, every time (${encoding})`, async () => {
    for (const seed of [1, 2, 3]) {
      await server.query('DROP TABLE IF EXISTS up; CREATE TABLE up (k bigint PRIMARY KEY, v int NOT NULL, label text, untouched text DEFAULT $$d$$)');
      await server.query(`INSERT INTO up (k, v, label, untouched) SELECT g, -1, 'before', 'there' FROM generate_series(1, 40, 3) g`);
      // Every write to a row, logged by the server: which connection applied it, in what order.
      await server.query(`DROP TABLE IF EXISTS up_log; CREATE TABLE up_log (n bigserial, k bigint, v int, pid int);
        CREATE OR REPLACE FUNCTION up_log() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN INSERT INTO up_log (k, v, pid) VALUES (NEW.k, NEW.v, pg_backend_pid()); RETURN NEW; END $f$;
        CREATE TRIGGER up_log AFTER INSERT OR UPDATE ON up FOR EACH ROW EXECUTE FUNCTION up_log()`);
      const next = random(seed);
      const lines: string[] = [];
      const last = new Map<number, [number, string]>();
      for (let i = 0; i < 3000; i++) {
        const key = 1 + Math.floor(next() * 60);
        // Keys spelled with leading zeros or a plus sign are the same integer key.
        const spelled = next() < 0.1 ? `00${key}` : next() < 0.05 ? `+${key}` : String(key);
        const label = next() < 0.2 ? '' : `l${i}`;
        lines.push(`${spelled},${i},${label}`);
        last.set(key, [i, label]);
      }
      const run = await runMain(['copy', '--connection', server.url(), '--table', 'up', '--columns', 'k,v,label', '--on-conflict-update',
        '--batch-size', '97', '--workers', '4', '--encoding', encoding, '--json'], `${lines.join('\n')}\n`);
      assert.equal(run.code, 0, run.stderr);
      const before = new Set(Array.from({ length: 14 }, (_, i) => 1 + 3 * i));
      const expected = new Map<number, [number, string | null, string]>();
      for (const k of before) expected.set(k, [-1, 'before', 'there']);
      for (const [k, [v, label]] of last) expected.set(k, [v, label === '' ? null : label, before.has(k) ? 'there' : 'd']);
      const table = await server.query('SELECT k::int AS k, v, label, untouched FROM up ORDER BY k');
      assert.deepEqual(table.rows.map((r) => [r.k, r.v, r.label, r.untouched]),
        [...expected.entries()].sort((a, b) => a[0] - b[0]).map(([k, [v, l, u]]) => [k, v, l, u]), `seed ${seed}`);
      // Each key was written by one connection only, in input order (v is the input row's index).
      const log = await server.query('SELECT k::int AS k, array_agg(v ORDER BY n) AS vs, count(DISTINCT pid)::int AS pids FROM up_log GROUP BY k');
      for (const row of log.rows) {
        assert.equal(row.pids, 1, `seed ${seed}: key ${row.k} was written by ${row.pids} connections`);
        assert.deepEqual(row.vs, [...row.vs].sort((a: number, b: number) => a - b), `seed ${seed}: key ${row.k} written out of input order`);
      }
      assert.ok(new Set((await server.query('SELECT DISTINCT pid FROM up_log')).rows.map((r) => r.pid)).size >= 3, 'keys went to several connections');
      const summary = JSON.parse(run.stdout);
      const updated = [...last.keys()].filter((k) => before.has(k)).length;
      const inserted = last.size - updated;
      // Rows of a key applied by an earlier batch and then updated by a later one count as updates too.
      assert.equal(summary.conflict.inserted, inserted, `seed ${seed}`);
      assert.equal(summary.conflict.inserted + summary.conflict.updated + summary.conflict.skipped, 3000);
      assert.deepEqual(summary.conflict.key, ['k']);
      assert.ok(summary.workers.filter((w: { rows: number }) => w.rows > 0).length >= 3, 'rows went to several workers');
    }
  });
}

test('--on-conflict-update with --import-id: a rerun of the same input loads nothing again and changes nothing', async () => {
  await server.query('DROP TABLE IF EXISTS upi; CREATE TABLE upi (k int, t text, v int, UNIQUE (t, k))');
  const input = Array.from({ length: 500 }, (_, i) => `${i % 37},x${i % 5},${i}\n`).join('');
  const args = ['copy', '--connection', server.url(), '--table', 'upi', '--on-conflict-update', 't,k', '--batch-size', '50', '--workers', '2', '--import-id', 'upsert-1', '--json'];
  const first = await runMain(args, input);
  assert.equal(first.code, 0, first.stderr);
  const expected = new Map<string, number>();
  for (let i = 0; i < 500; i++) expected.set(`${i % 37}|x${i % 5}`, i);
  const check = async () => {
    const r = await server.query('SELECT k, t, v FROM upi');
    assert.equal(r.rows.length, expected.size);
    for (const row of r.rows) assert.equal(row.v, expected.get(`${row.k}|${row.t}`));
  };
  await check();
  await server.query('UPDATE upi SET v = -v');
  const second = await runMain(args, input);
  assert.equal(second.code, 0, second.stderr);
  const summary = JSON.parse(second.stdout);
  assert.equal(summary.rows, 0);
  assert.equal(summary.skippedRows, 500);
  const negated = await server.query('SELECT count(*)::int AS n FROM upi WHERE v > 0');
  assert.equal(negated.rows[0].n, 0, 'the rerun applied no batch again');
});

test('--on-conflict-update names its key: a key that is not unique, none at all, or two to choose from are usage errors', async () => {
  await server.query('DROP TABLE IF EXISTS two; CREATE TABLE two (a int UNIQUE, b int UNIQUE, v int)');
  await server.query('DROP TABLE IF EXISTS none; CREATE TABLE none (a int, v int)');
  let run = await runMain(['copy', '--connection', server.url(), '--table', 'two', '--on-conflict-update'], '1,2,3\n');
  assert.equal(run.code, 2);
  assert.match(run.stderr, /no primary key and 2 unique keys/);
  assert.match(run.stderr, /two_a_key \(a\); two_b_key \(b\)/);
  run = await runMain(['copy', '--connection', server.url(), '--table', 'two', '--on-conflict-update', 'v'], '1,2,3\n');
  assert.equal(run.code, 2);
  assert.match(run.stderr, /no unique key of public\.two is \(v\)/);
  run = await runMain(['copy', '--connection', server.url(), '--table', 'none', '--on-conflict-update'], '1,2\n');
  assert.equal(run.code, 2);
  assert.match(run.stderr, /has no primary key or unique index/);
  run = await runMain(['copy', '--connection', server.url(), '--table', 'two', '--on-conflict-update', 'b', '--columns', 'a,v'], '1,2\n');
  assert.equal(run.code, 2);
  assert.match(run.stderr, /the conflict key column "b" is not among the columns loaded \(a, v\)/);
  run = await runMain(['copy', '--connection', server.url(), '--table', 'two', '--on-conflict-update', 'b', '--on-conflict-do-nothing'], '1,2\n');
  assert.equal(run.code, 2);
  run = await runMain(['copy', '--connection', server.url(), '--table', 'two', '--on-conflict-do-nothing', '--direct-compress', 'on'], '1,2,3\n');
  assert.equal(run.code, 2);
  assert.match(run.stderr, /`--direct-compress on` does not go with --on-conflict/);
  const count = await server.query('SELECT (SELECT count(*) FROM two) + (SELECT count(*) FROM none) AS n');
  assert.equal(Number(count.rows[0].n), 0);
});

test('--on-conflict-update=KEY with hostile column names, and a rejected row still named by its input line', async () => {
  await server.query(`DROP TABLE IF EXISTS "we""ird.t"; CREATE TABLE "we""ird.t" ("k,1" int, "a""b" text, "c.d" int NOT NULL, PRIMARY KEY ("k,1", "a""b"))`);
  const input = '1,x,10\n1,x,11\n2,y,20\n1,x,12\n';
  let run = await runMain(['copy', '--connection', server.url(), '--table', '"we""ird.t"', '--on-conflict-update="k,1","a""b"', '--workers', '2', '--batch-size', '2'], input);
  assert.equal(run.code, 0, run.stderr);
  const r = await server.query(`SELECT "k,1" AS k, "a""b" AS a, "c.d" AS c FROM "we""ird.t" ORDER BY 1`);
  assert.deepEqual(r.rows, [{ k: 1, a: 'x', c: 12 }, { k: 2, a: 'y', c: 20 }]);
  run = await runMain(['copy', '--connection', server.url(), '--table', '"we""ird.t"', '--on-conflict-update', '--workers', '2', '--batch-size', '10'], '3,z,1\n4,w,oops\n5,v,2\n');
  assert.equal(run.code, 1);
  assert.match(run.stderr, /E_BATCH_REJECTED: the target rejected line 2 of stdin/);
  assert.match(run.stderr, /the row reads: 4,w,oops/);
});

describeNative('ON CONFLICT into a hypertable', { timescale: true }, () => {
  let ts: NativeServer;
  before(async () => {
    ts = await startNativePostgres({ timescale: true });
  });
  after(async () => {
    await ts?.stop();
  });

  test('upsert and do-nothing on a hypertable across chunks; a key without the time column is a usage error naming it', async () => {
    await ts.query(`CREATE TABLE m (time timestamptz NOT NULL, device int NOT NULL, value float8, UNIQUE (device, time));
      SELECT create_hypertable('m', 'time', chunk_time_interval => interval '1 hour')`);
    await ts.query(`INSERT INTO m SELECT '2024-01-01'::timestamptz + g * interval '10 minutes', g % 3, -1 FROM generate_series(0, 59) g`);
    const next = random(7);
    const lines: string[] = [];
    const last = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const minute = 10 * Math.floor(next() * 60);
      const device = Math.floor(next() * 3);
      const time = new Date(Date.UTC(2024, 0, 1) + minute * 60_000).toISOString();
      lines.push(`${time},${device},${i}`);
      last.set(`${Date.parse(time)}|${device}`, i);
    }
    const input = `${lines.join('\n')}\n`;
    const run = await runMain(['copy', '--connection', ts.url(), '--table', 'm', '--on-conflict-update', '--batch-size', '300', '--workers', '3', '--json'], input);
    assert.equal(run.code, 0, run.stderr);
    const expected = new Map<string, number>();
    for (let g = 0; g <= 59; g++) expected.set(`${Date.UTC(2024, 0, 1) + g * 600_000}|${g % 3}`, -1);
    for (const [k, v] of last) expected.set(k, v);
    const rows = await ts.query('SELECT time, device, value FROM m');
    assert.equal(rows.rows.length, expected.size);
    for (const r of rows.rows) assert.equal(r.value, expected.get(`${r.time.getTime()}|${r.device}`), `${r.time.toISOString()} ${r.device}`);
    assert.deepEqual(JSON.parse(run.stdout).conflict.key, ['device', 'time']);
    const chunks = await ts.query(`SELECT count(*)::int AS n FROM show_chunks('m')`);
    assert.ok(chunks.rows[0].n >= 10, 'the rows spread over many chunks');

    // Do nothing: what is there stays; only keys new to the table are added.
    const more = `2024-01-01T00:00:00.000Z,0,1000\n2024-01-05T00:00:00.000Z,1,5\n2024-01-05T00:00:00.000Z,1,6\n`;
    const dn = await runMain(['copy', '--connection', ts.url(), '--table', 'm', '--on-conflict-do-nothing', '--import-id', 'dn', '--json'], more);
    assert.equal(dn.code, 0, dn.stderr);
    assert.deepEqual([JSON.parse(dn.stdout).conflict.inserted, JSON.parse(dn.stdout).conflict.skipped], [1, 2]);
    const kept = await ts.query(`SELECT value FROM m WHERE device = 0 AND time = '2024-01-01T00:00:00Z' UNION ALL SELECT value FROM m WHERE time = '2024-01-05T00:00:00Z'`);
    assert.deepEqual(kept.rows.map((r) => r.value), [expected.get(`${Date.UTC(2024, 0, 1)}|0`), 5]);

    const bad = await runMain(['copy', '--connection', ts.url(), '--table', 'm', '--on-conflict-update', 'device'], input);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /no unique key of public\.m is \(device\)/);
    assert.match(bad.stderr, /public\.m is a hypertable: every unique key of one includes its time column "time"/);
  });
});
