/** Comparing tables across servers with their own SQL: a count and an order-independent digest of the rows' text. */
import type { PostgresServer } from './postgres.js';

export async function rows(server: PostgresServer, db: string, sql: string, params: unknown[] = []): Promise<any[]> {
  return (await server.query(sql, params, db)).rows;
}

export async function digest(server: PostgresServer, db: string, table: string, where = 'true'): Promise<{ n: number; md5: string | null }> {
  const [r] = await rows(server, db, `SELECT count(*)::int AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS md5 FROM ${table} t WHERE ${where}`);
  return r;
}
