/**
 * The pass-through of a source's COPY OUT into a target's COPY IN as CopyData messages
 * (src/pg/copy-out-frames.ts, copy-in-frames.ts), on a real server: the target ends up
 * with exactly the source's rows in binary and text format, also when a proxy cuts the
 * server's bytes into pieces of 1 to 11 bytes (every header and message split), with
 * notices between the rows, and with rows larger than a socket read. A failure on either
 * side fails the pipeline, rolls the target's COPY back and leaves the target connection
 * usable. The expected rows are the server's own (md5 over the table in SQL).
 */
import assert from 'node:assert/strict';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { CopyInFrames } from '../src/pg/copy-in-frames.js';
import { CopyOutFrames } from '../src/pg/copy-out-frames.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';

let server: PostgresServer;
let proxy: Server;
let proxyPort = 0;
const ROWS = 20_000;
const TABLE = 'CREATE TABLE t (id int, name text, v float8, b bytea, ts timestamptz, CONSTRAINT no_7000 CHECK (id <> 7000 OR name <> \'poison\'))';

before(async () => {
  server = await startPostgres();
  await server.createDatabase('src');
  await server.query(`${TABLE}; INSERT INTO t SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE 'row ' || i || E'\\t"tab\\\\slash\\nline" é' || repeat('x', i % 50) END,
    i / 3.0, decode(md5(i::text), 'hex'), '2024-01-01'::timestamptz + i * interval '1 second' FROM generate_series(1, ${ROWS}) i;
    CREATE FUNCTION noisy(i int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN IF i % 100 = 0 THEN RAISE NOTICE 'row %', i; END IF; RETURN i; END $$;`, [], 'src');
  proxy = choppingProxy(server.port);
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyPort = (proxy.address() as { port: number }).port;
});
after(async () => {
  proxy?.close();
  await server?.stop();
});

/** Forwards to the server, handing the server's bytes back in pieces of 1-11 bytes, one piece per event-loop turn. */
function choppingProxy(port: number): Server {
  let seed = 7;
  const next = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return 1 + (seed % 11); };
  return createServer((client: Socket) => {
    const upstream = netConnect(port, '127.0.0.1');
    client.pipe(upstream);
    const queue: Buffer[] = [];
    let sending = false;
    const pump = () => {
      const chunk = queue.shift();
      if (!chunk) { sending = false; upstream.resume(); return; }
      const n = Math.min(next(), chunk.length);
      client.write(chunk.subarray(0, n));
      if (n < chunk.length) queue.unshift(chunk.subarray(n));
      setImmediate(pump);
    };
    upstream.on('data', (d: Buffer) => {
      queue.push(d);
      upstream.pause();
      if (!sending) { sending = true; setImmediate(pump); }
    });
    const close = () => { client.destroy(); upstream.destroy(); };
    upstream.on('close', close);
    client.on('close', close);
    upstream.on('error', close);
    client.on('error', close);
  });
}

async function client(database: string, port = server.port): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: server.password, database });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/** A fresh target database `name`, and clients on the source (through the proxy when `chopped`) and on it, closed after `use`. */
async function withPair(name: string, chopped: boolean, use: (source: pg.Client, target: pg.Client) => Promise<void>): Promise<void> {
  await server.createDatabase(name);
  await server.query(TABLE, [], name);
  const [source, target] = [await client('src', chopped ? proxyPort : server.port), await client(name)];
  try {
    await use(source, target);
  } finally {
    await Promise.all([source.end().catch(() => undefined), target.end()]);
  }
}

const DIGEST = `SELECT count(*)::int AS n, md5(string_agg(t::text, '|' ORDER BY id)) AS h FROM t`;

/** Source COPY OUT → target COPY IN in one transaction; returns both sides' row counts. */
async function passThrough(source: pg.Client, target: pg.Client, copyOut: string, copyIn: string): Promise<{ sent: number | undefined; took: number }> {
  await target.query('BEGIN');
  try {
    const out = source.query(new CopyOutFrames(copyOut));
    const sink = target.query(new CopyInFrames(copyIn));
    await pipeline(out, sink);
    const sent = await out.rowCount;
    await target.query('COMMIT');
    return { sent, took: sink.rowCount };
  } catch (err) {
    await target.query('ROLLBACK');
    throw err;
  }
}

for (const format of ['binary', 'text'] as const) {
  for (const chopped of [false, true]) {
    test(`${format} format${chopped ? ', server bytes cut into 1-11 byte pieces' : ''}: the target holds exactly the source's rows`, async () => {
      await withPair(`t_${format}_${chopped ? 'chopped' : 'whole'}`, chopped, async (source, target) => {
        const counts = await passThrough(source, target, `COPY (SELECT * FROM t) TO STDOUT WITH (FORMAT ${format})`, `COPY t FROM STDIN WITH (FORMAT ${format})`);
        assert.deepEqual(counts, { sent: ROWS, took: ROWS });
        assert.deepEqual((await target.query(DIGEST)).rows[0], (await server.query(DIGEST, [], 'src')).rows[0]);
        assert.equal((await source.query('SELECT 41 + 1 AS n')).rows[0].n, 42, 'the source connection is pg\'s again');
      });
    });
  }
}

test('notices between the rows are dropped, not forwarded', async () => {
  await withPair('t_notices', true, async (source, target) => {
    const counts = await passThrough(source, target, 'COPY (SELECT noisy(id), name, v, b, ts FROM t) TO STDOUT WITH (FORMAT binary)', 'COPY t FROM STDIN WITH (FORMAT binary)');
    assert.deepEqual(counts, { sent: ROWS, took: ROWS });
    assert.deepEqual((await target.query(DIGEST)).rows[0], (await server.query(DIGEST, [], 'src')).rows[0]);
  });
});

test('rows larger than a socket read arrive whole', async () => {
  await withPair('t_large', false, async (source, target) => {
    const select = `SELECT i, repeat(md5(i::text), 40000 + i), i::float8, NULL::bytea, NULL::timestamptz FROM generate_series(1, 5) i`;
    const counts = await passThrough(source, target, `COPY (${select}) TO STDOUT WITH (FORMAT binary)`, 'COPY t FROM STDIN WITH (FORMAT binary)');
    assert.deepEqual(counts, { sent: 5, took: 5 });
    const sizes = await target.query('SELECT id, length(name) AS n, md5(name) AS h FROM t ORDER BY id');
    const expected = await server.query(`SELECT i AS id, length(repeat(md5(i::text), 40000 + i)) AS n, md5(repeat(md5(i::text), 40000 + i)) AS h FROM generate_series(1, 5) i`, [], 'src');
    assert.deepEqual(sizes.rows, expected.rows);
  });
});

test('a source error mid-COPY fails the pipeline; the target rolls back and both connections stay usable', async () => {
  await withPair('t_source_error', true, async (source, target) => {
    const select = 'SELECT CASE WHEN id = 15000 THEN id / 0 ELSE id END, name, v, b, ts FROM t';
    await assert.rejects(passThrough(source, target, `COPY (${select}) TO STDOUT WITH (FORMAT binary)`, 'COPY t FROM STDIN WITH (FORMAT binary)'),
      /division by zero/);
    assert.equal((await target.query('SELECT count(*)::int AS n FROM t')).rows[0].n, 0, 'nothing of the failed COPY is in the target');
    assert.equal((await source.query('SELECT 1 AS n')).rows[0].n, 1);
  });
});

test('a target error mid-COPY fails the pipeline with the server\'s message; the target connection stays usable', async () => {
  await withPair('t_target_error', false, async (source, target) => {
    const select = `SELECT id, CASE WHEN id = 7000 THEN 'poison' ELSE name END, v, b, ts FROM t`;
    await assert.rejects(passThrough(source, target, `COPY (${select}) TO STDOUT WITH (FORMAT text)`, 'COPY t FROM STDIN WITH (FORMAT text)'),
      /violates check constraint "no_7000"/);
    assert.equal((await target.query('SELECT count(*)::int AS n FROM t')).rows[0].n, 0);
  });
});
