/**
 * On a machine without ClickHouse, `npm test` must still pass: the ClickHouse suites say
 * in their names that they were skipped and why (as the native PostgreSQL ones do), and
 * under CI=true the same suites fail instead, so a CI machine cannot skip them unnoticed.
 * The missing server is simulated with CLICKHOUSE_SERVER_BIN naming no file; the suite
 * file runs in a child `node --test` as `npm test` runs it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SUITE = fileURLToPath(new URL('./clickhouse-server.test.js', import.meta.url));
const NOWHERE = '/nonexistent/clickhouse-server';

function runSuite(env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    // A child of a test inherits NODE_TEST_CONTEXT, which would make its runner run nothing.
    const { NODE_TEST_CONTEXT: _, ...parent } = process.env;
    const child = spawn(process.execPath, ['--test', '--test-reporter=spec', SUITE], {
      env: { ...parent, CLICKHOUSE_SERVER_BIN: NOWHERE, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

test('without clickhouse-server the ClickHouse suites are skipped, saying why', async () => {
  const { code, output } = await runSuite({ CI: '' });
  assert.equal(code, 0, output);
  assert.match(output, new RegExp(`clickhouse test server \\[SKIPPED: CLICKHOUSE_SERVER_BIN=${NOWHERE} does not exist\\]`));
  assert.match(output, /fail 0/);
});

test('under CI=true a missing clickhouse-server fails the ClickHouse suites', async () => {
  const { code, output } = await runSuite({ CI: 'true' });
  assert.notEqual(code, 0, output);
  assert.match(output, /clickhouse test server \[CI: ClickHouse required\]/);
  assert.match(output, new RegExp(`CI=true and CLICKHOUSE_SERVER_BIN=${NOWHERE} does not exist`));
});
