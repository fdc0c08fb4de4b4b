/**
 * The example application: a small HTTP service that ingests host metrics and writes
 * them through `hyperfill/dual-write` to the database it uses today (the primary) and
 * the TimescaleDB it migrates to (the secondary). The code an application needs is the
 * `createDualWriter` call and using `writer.query` where it used `pool.query`; the rest
 * is an ordinary service.
 *
 *   POST /metrics   [{"time": "...", "host": "h1", "cpu": 12.5, "mem": 40.1, "n": 7}, ...]  -> 201 {"inserted": n}
 *   GET  /stats     the dual writer's metrics (mode, writes, spool depth, replay lag, ...)
 *   GET  /healthz   200 ok
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { createDualWriter, type DualWriter } from '../../dual-write/index.js';

export interface MetricsServiceOptions {
  primaryUrl: string;
  secondaryUrl: string;
  spoolDir: string;
  writerId: string;
  /** 0 picks a free port. */
  port?: number;
  secondaryTimeoutMs?: number;
}

export interface MetricsService {
  port: number;
  writer: DualWriter;
  close(): Promise<void>;
}

interface Reading {
  time: string;
  host: string;
  cpu: number | null;
  mem: number | null;
  n: number | null;
}

const MAX_BODY_BYTES = 1 << 20;
// One statement per request, whatever its size: arrays bound as parameters.
const INSERT = `INSERT INTO metrics (time, host, cpu, mem, n)
  SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::float8[], $4::float8[], $5::int[])`;

export async function startMetricsService(options: MetricsServiceOptions): Promise<MetricsService> {
  const primary = new pg.Pool({ connectionString: options.primaryUrl, max: 8 });
  const secondary = new pg.Pool({ connectionString: options.secondaryUrl, max: 8, connectionTimeoutMillis: 2000 });
  // A pool emits 'error' when an idle connection dies; the primary's matter to the service's own monitoring.
  primary.on('error', (err) => process.stderr.write(`primary connection lost: ${err.message}\n`));
  const writer = await createDualWriter({
    primary, secondary, spool: { dir: options.spoolDir, fsync: 'group' }, writerId: options.writerId,
    secondaryTimeoutMs: options.secondaryTimeoutMs ?? 1000,
  });
  if (writer.recovery.tornTail) process.stderr.write(`spool: a torn last record was set aside (${writer.recovery.tornTail.savedAs})\n`);
  const server = createServer((req, res) => {
    handle(writer, req, res).catch((err) => reply(res, 500, { error: err instanceof Error ? err.message : String(err) }));
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    writer,
    async close() {
      await closeServer(server);
      await writer.close();
      await Promise.all([primary.end(), secondary.end()]);
    },
  };
}

async function handle(writer: DualWriter, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method === 'GET' && req.url === '/healthz') return reply(res, 200, { ok: true });
  if (req.method === 'GET' && req.url === '/stats') return reply(res, 200, writer.metrics());
  if (req.method !== 'POST' || req.url !== '/metrics') return reply(res, 404, { error: 'POST /metrics, GET /stats, GET /healthz' });
  const body = await readBody(req);
  if (body === undefined) return reply(res, 413, { error: `the body is larger than ${MAX_BODY_BYTES} bytes` });
  let readings: Reading[];
  try {
    readings = parseReadings(body);
  } catch (err) {
    return reply(res, 400, { error: (err as Error).message });
  }
  // The primary's answer is the service's answer; the secondary never fails or stalls it.
  const result = await writer.query(INSERT, [
    readings.map((r) => r.time), readings.map((r) => r.host), readings.map((r) => r.cpu), readings.map((r) => r.mem), readings.map((r) => r.n),
  ]);
  return reply(res, 201, { inserted: result.rowCount });
}

function parseReadings(body: string): Reading[] {
  const value: unknown = JSON.parse(body);
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 || list.length > 10_000) throw new Error('send 1 to 10000 readings');
  return list.map((item, i) => {
    const r = item as Partial<Reading>;
    if (typeof r.time !== 'string' || Number.isNaN(Date.parse(r.time))) throw new Error(`reading ${i}: "time" must be an ISO timestamp`);
    if (typeof r.host !== 'string' || r.host === '') throw new Error(`reading ${i}: "host" must be a non-empty string`);
    for (const key of ['cpu', 'mem', 'n'] as const) {
      if (r[key] !== undefined && r[key] !== null && typeof r[key] !== 'number') throw new Error(`reading ${i}: "${key}" must be a number`);
    }
    return { time: r.time, host: r.host, cpu: r.cpu ?? null, mem: r.mem ?? null, n: r.n ?? null };
  });
}

/** The body as text, or undefined past the limit (memory stays bounded). */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
