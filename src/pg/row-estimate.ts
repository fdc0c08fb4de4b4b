/**
 * Rows in a time range of a PostgreSQL table, cheaply. The planner's estimate is cheap
 * and good once the table (or each chunk or partition) was analyzed; before that it is a
 * guess from the page count that can be off a thousandfold (a fresh 100k-row table was
 * "about 394 rows"). Such tables are counted when small and sampled (TABLESAMPLE SYSTEM
 * over about COUNT_PAGES pages) when large, and `estimateBasis` says which.
 */
import type pg from 'pg';
import { qualifiedName } from '../sql.js';
import type { TableName } from './table-name.js';

/** About this many pages (32 MB at 8 kB) are read to count or sample a table without statistics. */
export const COUNT_PAGES = 4096;

export type EstimateMethod = { kind: 'planner' } | { kind: 'count' } | { kind: 'sample'; percent: number };

/**
 * Planner statistics are missing when a relation with data was never analyzed (PostgreSQL
 * 14 and later: reltuples = -1; before: relpages = 0 though the file has pages). The
 * table's chunks or partitions count too (they are its inheritance children).
 */
export async function estimateMethod(client: pg.Client, t: TableName): Promise<EstimateMethod> {
  const r = await client.query<{ pages: string; stale: boolean }>(
    `WITH RECURSIVE tree(oid) AS (SELECT to_regclass($1)::oid UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.oid)
     SELECT coalesce(sum(pg_relation_size(c.oid) / current_setting('block_size')::int), 0)::text AS pages,
            coalesce(bool_or(pg_relation_size(c.oid) > 0 AND (c.reltuples < 0 OR c.relpages = 0)), false) AS stale
     FROM tree JOIN pg_class c ON c.oid = tree.oid`, [qualifiedName(t.schema, t.table)]);
  const row = r.rows[0];
  if (!row?.stale) return { kind: 'planner' };
  const pages = Number(row.pages);
  if (pages <= COUNT_PAGES) return { kind: 'count' };
  return { kind: 'sample', percent: Math.max(0.01, Math.round((COUNT_PAGES / pages) * 10_000) / 100) };
}

/** Rows matching `where` (a condition on the table's own columns), by `method`. */
export async function estimateRows(client: pg.Client, t: TableName, where: string, method: EstimateMethod): Promise<number> {
  const table = qualifiedName(t.schema, t.table);
  if (method.kind === 'planner') {
    const r = await client.query(`EXPLAIN (FORMAT JSON) SELECT 1 FROM ${table} WHERE ${where}`);
    return Number(r.rows[0]['QUERY PLAN'][0].Plan['Plan Rows']);
  }
  const sample = method.kind === 'sample' ? ` TABLESAMPLE SYSTEM (${method.percent})` : '';
  const r = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}${sample} WHERE ${where}`);
  const counted = Number(r.rows[0]?.n ?? 0);
  return method.kind === 'sample' ? Math.round((counted * 100) / method.percent) : counted;
}

/** Words for a person, or undefined for the usual planner estimate. */
export function describeEstimateMethod(method: EstimateMethod): string | undefined {
  const why = 'the table has no planner statistics; it was never analyzed';
  if (method.kind === 'count') return `counted: ${why}`;
  if (method.kind === 'sample') return `sampled ${method.percent}% of its pages: ${why}`;
  return undefined;
}
