/**
 * `npm run demo` end to end, small: it starts with clone (or, where no pg_dump can dump
 * the embedded PostgreSQL 18, says so and prepares the target with schema --apply and
 * clone --data-only), then dual-write, plan, backfill, verify and status, and ends with
 * the target level with the source.
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
  assert.match(stderr, /verify \(row contents, \d+ windows, backfill plan\): source and target match; source 20000 rows, target 20000 rows/);
  assert.match(stderr, /next: every table is backfilled, verified and its jobs restored/);
  assert.match(stderr, /the target holds 20,000 rows from 2024-01-01T00:00:00\.000Z/);
});
