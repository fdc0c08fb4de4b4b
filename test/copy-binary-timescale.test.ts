/**
 * Binary encoding into TimescaleDB hypertables (the target hyperfill exists for): the
 * hypertable holds exactly what the server's own CSV COPY puts into an identical one,
 * across chunks, and every batch went as binary.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { metricsCsv } from '../src/demo/generate-csv.js';
import { copyBytes } from '../src/pg/copy-bytes.js';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';
import { runMain } from './helpers/run-main.js';

describeNative('binary encoding into hypertables', { timescale: true }, () => {
  let server: NativeServer;
  let client: pg.Client;

  before(async () => {
    server = await startNativePostgres({ timescale: true });
    client = new pg.Client({ connectionString: server.url() });
    await client.connect();
  });
  after(async () => {
    await client?.end();
    await server?.stop();
  });

  test('a hypertable over many chunks equals the server\'s own COPY, every batch binary', async () => {
    const input = [...metricsCsv({ rows: 50_000, hosts: 20, startMs: Date.UTC(2024, 0, 1), stepMs: 60_000 })].join('');
    for (const name of ['expected', 'actual']) {
      await client.query(`DROP TABLE IF EXISTS ${name}; CREATE TABLE ${name} (time timestamptz NOT NULL, host text NOT NULL, cpu float8, mem float8, n int)`);
      await client.query(`SELECT create_hypertable('${name}', 'time', chunk_time_interval => interval '1 day')`);
    }
    await copyBytes(client, 'COPY expected FROM STDIN (FORMAT csv)', Buffer.from(input));
    const run = await runMain(['copy', '--connection', server.url(), '--table', 'actual', '--encoding', 'binary', '--batch-size', '5000', '--json'], input);
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.equal(summary.rows, 50_000);
    assert.equal(summary.encoding.binaryBatches, summary.batches);
    const digest = async (table: string) => (await client.query(`SELECT count(*)::int AS n, md5(string_agg(x::text, ',' ORDER BY n)) AS d FROM ${table} x`)).rows[0];
    assert.deepEqual(await digest('actual'), await digest('expected'));
    const chunks = await client.query(`SELECT count(*)::int AS n FROM show_chunks('actual')`);
    assert.ok(chunks.rows[0].n > 30, 'the rows spread over many chunks');
  });
});
