/**
 * Which failures a retried step runs again: a connection lost after it was up (any
 * source or the target), never one that could not be opened in the first place (a wrong
 * host fails at once), nor any other error of hyperfill's own.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toHyperfillError } from '../connectors/clickhouse/source.js';
import { connectionError, lostConnection } from '../src/connection.js';
import { HyperfillError } from '../src/errors.js';
import { isRetryable } from '../src/pg-errors.js';

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });

test('a lost connection is retryable and names the server; one never opened is not', () => {
  const lost = lostConnection(reset, { connectionString: 'postgres://me:secret@db.example:5433/app' }, 'source');
  assert.equal(lost.code, 'E_CONNECTION_LOST');
  assert.match(lost.message, /lost the connection to the source: read ECONNRESET/);
  assert.equal(lost.context.source, 'me@db.example:5433/app', 'never the password');
  assert.equal(isRetryable(lost), true);
  const never = connectionError(refused, {}, 'target');
  assert.equal(never.code, 'E_TARGET_UNREACHABLE');
  assert.equal(isRetryable(never), false);
  // hyperfill's own errors are judged by their code, not by words in their message.
  assert.equal(isRetryable(new HyperfillError('E_COPY_FAILED', 'Connection terminated unexpectedly')), false);
});

test('ClickHouse: a network failure after connecting is a lost connection (retried), before it is unreachable', () => {
  const config = { display: 'default@ch:8123/db' } as Parameters<typeof toHyperfillError>[1];
  assert.equal(isRetryable(toHyperfillError(reset, config, 'query', {})), true);
  assert.equal(toHyperfillError(reset, config, 'query', {}).code, 'E_CONNECTION_LOST');
  assert.equal(toHyperfillError(refused, config, 'connect', {}).code, 'E_SOURCE_UNREACHABLE');
  assert.equal(isRetryable(toHyperfillError(refused, config, 'connect', {})), false);
});
