/** The row digest `verify --checksum` computes the same way in source and target. */
import type pg from 'pg';
import { quoteIdent } from '../sql.js';

/**
 * Row count and an order-independent digest (a sum of 64-bit hashes of each row's
 * text) of the rows matching `where`. Both sides run it with TimeZone UTC and the
 * same float output, so equal rows give equal digests.
 */
export async function windowChecksum(client: pg.Client, table: string, where: string, columns: string[]): Promise<string> {
  await client.query('SET LOCAL extra_float_digits = 1');
  const row = `ROW(${columns.map(quoteIdent).join(', ')})::text`;
  const r = await client.query(
    `SELECT count(*) AS n, coalesce(sum(('x' || substr(md5(${row}), 1, 16))::bit(64)::bigint::numeric), 0) AS digest
     FROM ${table} WHERE ${where}`);
  return `${r.rows[0].n}:${r.rows[0].digest}`;
}
