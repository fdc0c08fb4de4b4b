/**
 * `npm run demo` end to end, small: it starts with clone (or, where no pg_dump can dump
 * the embedded PostgreSQL 18, says so and prepares the target with schema --apply and
 * clone --data-only), then the example application dual-writes through a stop of the
 * target, then plan, backfill, verify, compare and status, and ends with the target level
 * with the source.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'node:test';

const DEMO = fileURLToPath(new URL('../src/demo/main.js', import.meta.url));

function runDemo(rows: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DEMO], { env: { ...process.env, DEMO_ROWS: String(rows) }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('the demo runs the whole method, starting with clone', async () => {
  const { code, stderr } = await runDemo(20_000);
  assert.equal(code, 0, stderr.slice(-3000));
  assert.match(stderr, /== 2\. clone: roles, schema and the relational data to the target/);
  if (stderr.includes('clone complete')) {
    assert.match(stderr, /\$ hyperfill clone --source \S+ --target \S+ --hypertable metrics:time --allow-plain-target/);
  } else {
    assert.match(stderr, /clone runs pg_dump, pg_dumpall and psql of PostgreSQL \d+ or newer .* and this machine has none:\n {2}(no pg_dump|.* are older than the source's)/);
    assert.match(stderr, /install the PostgreSQL \d+ client tools/);
    assert.match(stderr, /clone --data-only: public\.hosts: 1000 rows \(truncate \+ copy\)/);
  }
  // The application rode out the target's stop: the spool grew, then drained.
  assert.match(stderr, /the target stops \(a fast shutdown\)/);
  assert.match(stderr, /app: [\d.k]+ rows ingested, spooling, spool [1-9]\d* records/);
  assert.match(stderr, /app: [\d.k]+ rows ingested, direct, spool 0 records, [1-9]\d* secondary failures, [1-9]\d* records replayed; 0 failed requests/);
  const ingested = Number(/the application ingested ([\d,]+) rows; not one request failed/.exec(stderr)?.[1]?.replace(/,/g, ''));
  assert.ok(ingested > 0);
  assert.match(stderr, /"writers":\[\{"writerId":"metrics-demo"/);
  const verify = /verify \(row contents, \d+ windows, backfill plan\): source and target match; source (\d+) rows, target (\d+) rows/.exec(stderr);
  assert.ok(verify, 'verify matched');
  assert.ok(Number(verify[1]) >= 20_000);
  assert.match(stderr, /compare: all 4 queries give the same results on source and target/);
  assert.match(stderr, /dual writers +metrics-demo since /);
  assert.match(stderr, /next: every table is backfilled, verified and its jobs restored/);
  assert.match(stderr, new RegExp(`the target holds ${(20_000 + ingested).toLocaleString('en')} rows from .*, the same as the source: ready to switch`));
});
