/**
 * A target that goes away for good during `copy` (the demo's servers stopped by a Ctrl-C):
 * after --retry-timeout the copy ends naming the target unreachable and what is committed,
 * never "the target rejected lines ..." (nothing was rejected). The input is fed without end
 * until the copy exits, so the server stops while batches are still going in. When the stop
 * lands on a COMMIT, the batch's fate is unknown and the copy says so instead (E_COMMIT_UNKNOWN),
 * with the same committed count.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { BIN } from './helpers/cli.js';
import { startPostgres } from './helpers/postgres.js';

test('the target stopped for good mid-copy: E_CONNECTION_LOST naming it unreachable, with the committed rows', async () => {
  const server = await startPostgres();
  try {
    await server.query('CREATE TABLE t (a int, b text)');
    const child = spawn(process.execPath, [BIN, 'copy', '--connection', server.url(), '--table', 't', '--batch-size', '1000', '--workers', '2', '--retry-timeout', '2s'],
      { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, DATABASE_URL: '' } });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    child.stdin.on('error', () => undefined);
    let row = 0;
    const feed = () => {
      while (!child.stdin.destroyed && child.exitCode === null) {
        if (!child.stdin.write(`${row++},payload\n`)) return child.stdin.once('drain', feed);
      }
    };
    feed();
    const code = new Promise<number | null>((resolve) => child.on('close', resolve));
    for (let n = 0; n === 0;) n = Number((await server.query('SELECT count(*)::int AS n FROM t')).rows[0].n);
    await server.stop();
    assert.equal(await code, 1, stderr);
    assert.match(stderr, /error (E_CONNECTION_LOST: lost the connection to the target, and it is unreachable now: connect ECONNREFUSED|E_COMMIT_UNKNOWN: the connection was lost while committing batch \d+)/);
    assert.match(stderr, /hint: already committed: [1-9]\d* rows/);
    assert.doesNotMatch(stderr, /E_BATCH_REJECTED|rejected/);
  } finally {
    await server.stop();
  }
});
