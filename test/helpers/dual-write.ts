/**
 * What the dual-write tests share: pools that survive a server going away, waiting for an
 * event, and the tests' own decoder of spool segment files (independent of the journal's).
 */
import assert from 'node:assert/strict';
import { once, type EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import pg from 'pg';
import type { SpoolEntry } from '../../src/dual-write/spool-entry.js';

/** A pool whose idle connections may die with their server (the writer's own listener is not the test's). */
export function pool(url: string, max = 10): pg.Pool {
  const p = new pg.Pool({ connectionString: url, max });
  p.on('error', () => undefined);
  return p;
}

/**
 * Resolves with the event's arguments. Rejects at once when the writer reports a replay
 * error, and after `ms`, so a test that cannot finish fails instead of hanging.
 */
export async function nextEvent(emitter: EventEmitter, event: string, ms = 120_000): Promise<unknown[]> {
  const timeout = AbortSignal.timeout(ms);
  const failed = new AbortController();
  const onReplayError = (err: Error) => failed.abort(err);
  emitter.on('replay-error', onReplayError);
  try {
    return await once(emitter, event, { signal: AbortSignal.any([timeout, failed.signal]) });
  } catch (err) {
    if (failed.signal.aborted) throw new Error(`replay failed while waiting for "${event}": ${(failed.signal.reason as Error).message}`);
    if (timeout.aborted) throw new Error(`no "${event}" event within ${ms / 1000} s`);
    throw err;
  } finally {
    emitter.off('replay-error', onReplayError);
  }
}

/** The ids a table holds, sorted, with how often each appears. */
export async function idsOf(query: (sql: string) => Promise<pg.QueryResult>, table: string): Promise<{ ids: number[]; duplicates: number }> {
  const r = await query(`SELECT id, count(*)::int AS n FROM ${table} GROUP BY id ORDER BY id`);
  return { ids: r.rows.map((row) => Number(row.id)), duplicates: r.rows.filter((row) => row.n > 1).length };
}

/** The test's own reading of a segment: [start offset, seq, payload JSON] per complete record, and what follows them. */
export function decodeSegment(path: string): { records: Array<{ offset: number; end: number; seq: number; entry: SpoolEntry }>; tailFrom: number; size: number } {
  const data = readFileSync(path);
  assert.equal(data.subarray(0, 8).toString('latin1'), 'HFSPOOL1');
  const records = [];
  let offset = 8;
  while (offset + 16 <= data.length) {
    const length = data.readUInt32LE(offset);
    const end = offset + 16 + length;
    if (end > data.length) break;
    const payload = data.subarray(offset + 16, end);
    if (crc32(payload, crc32(data.subarray(offset + 8, offset + 16))) !== data.readUInt32LE(offset + 4)) break;
    records.push({ offset, end, seq: Number(data.readBigUInt64LE(offset + 8)), entry: JSON.parse(payload.toString('utf8')) as SpoolEntry });
    offset = end;
  }
  return { records, tailFrom: offset, size: data.length };
}

