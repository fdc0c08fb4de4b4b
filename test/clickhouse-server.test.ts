// The ClickHouse harness starts a real server that @clickhouse/client can
// create tables in, insert into, and stream from in the formats hyperfill reads.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, type ClickHouseClient, type DataFormat } from '@clickhouse/client';
import { describeClickHouse, startClickHouse, type ClickHouseServer } from './helpers/clickhouse-server.js';

const rows = [
  { ts: '2023-08-10 11:59:59', device: 'a', temp: 21.5, hits: -3 },
  { ts: '2023-08-10 12:00:00', device: 'tab\there', temp: 0.125, hits: 2147483647 },
  { ts: '2023-08-10 12:00:01', device: "line\nback\\slash 'q' \"dq\" é€", temp: -1e-7, hits: 0 },
];

/** Streams a query and joins the rows' text, one per line, as the server sent them.
 *  (The client splits rows at every newline, even inside quoted CSV fields, so
 *  only the joined text is meaningful for CSV.) */
async function streamText(client: ClickHouseClient, query: string, format: DataFormat): Promise<string> {
  const resultSet = await client.query({ query, format });
  let text = '';
  for await (const batch of resultSet.stream()) {
    for (const row of batch as { text: string }[]) text += row.text + '\n';
  }
  return text;
}

describeClickHouse('clickhouse test server', () => {
  let server: ClickHouseServer;
  let client: ClickHouseClient;

  before(async () => {
    server = await startClickHouse();
    client = createClient({ url: server.url, database: server.database });
  });

  after(async () => {
    await client?.close();
    await server?.stop();
  });

  test('answers on loopback with its own ports', async () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(server.httpPort, server.tcpPort);
    assert.deepEqual(await client.ping(), { success: true });
  });

  test('MergeTree table round-trips rows in TabSeparated, CSV and JSONEachRow', async () => {
    await client.command({
      query: `CREATE TABLE metrics (ts DateTime, device String, temp Float64, hits Int32)
              ENGINE = MergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (device, ts)`,
    });
    await client.insert({ table: 'metrics', values: rows, format: 'JSONEachRow' });

    const select = 'SELECT ts, device, temp, hits FROM metrics ORDER BY ts';

    // Same escapes as PostgreSQL's text COPY format (\' is read back as ' there too).
    assert.equal(
      await streamText(client, select, 'TabSeparated'),
      '2023-08-10 11:59:59\ta\t21.5\t-3\n' +
        '2023-08-10 12:00:00\ttab\\there\t0.125\t2147483647\n' +
        "2023-08-10 12:00:01\tline\\nback\\\\slash \\'q\\' \"dq\" é€\t-1e-7\t0\n",
    );

    // CSV keeps the newline raw inside quotes and doubles double quotes.
    assert.equal(
      await streamText(client, select, 'CSV'),
      '"2023-08-10 11:59:59","a",21.5,-3\n' +
        '"2023-08-10 12:00:00","tab\there",0.125,2147483647\n' +
        '"2023-08-10 12:00:01","line\nback\\slash \'q\' ""dq"" é€",-1e-7,0\n',
    );

    const resultSet = await client.query({ query: select, format: 'JSONEachRow' });
    const parsed: unknown[] = [];
    for await (const batch of resultSet.stream()) {
      for (const row of batch) parsed.push(row.json());
    }
    assert.deepEqual(parsed, rows);
  });

  test('a second server can run beside the first', async () => {
    const other = await startClickHouse();
    try {
      assert.notEqual(other.httpPort, server.httpPort);
      const c = createClient({ url: other.url });
      const rs = await c.query({ query: 'SELECT count() AS n FROM system.tables WHERE database = \'default\'', format: 'JSONEachRow' });
      assert.deepEqual(await rs.json(), [{ n: '0' }]);
      await c.close();
    } finally {
      await other.stop();
    }
  });
});
