/**
 * Hypertable candidates: source tables that become hypertables in the target, dumped
 * without their data (the backfill brings it). Each has a time column and a chunk
 * interval, given (`--hypertable TABLE[:TIME_COLUMN[:CHUNK_INTERVAL]]`) or suggested the
 * way `hyperfill schema` suggests them. What would make the conversion or the load fail
 * is found here, before anything is changed:
 * - a unique key (primary key, unique constraint or index) without the time column:
 *   TimescaleDB requires every unique key of a hypertable to include it;
 * - a foreign key into the table: TimescaleDB (2.16+) allows one only by a key that
 *   includes the time column, and since the table is empty until the backfill, rows of
 *   the referencing table would fail the dump's own constraint check;
 * - a partitioned table, which create_hypertable does not take.
 */
import type pg from 'pg';
import { HyperfillError } from '../errors.js';
import { type TableName, displayName, parseTableName } from '../pg/table-name.js';
import type { ChunkInterval } from '../schema/ddl.js';
import { DEFAULT_CHUNK_ROWS, parseChunkInterval, suggestChunkInterval } from '../schema/suggest.js';
import type { Source } from '../source.js';
import { versionAtLeast } from '../target/timescale.js';
import { qualifiedName, quoteIdent } from '../sql.js';
import { type TimeType, isIntegerTime } from '../time-value.js';

export interface HypertableSpec {
  table: string;
  timeColumn: string | undefined;
  interval: string | undefined;
}

export interface Candidate {
  table: TableName;
  timeColumn: string;
  timeType: TimeType;
  interval: ChunkInterval;
  /** On-disk size with indexes and the planner's row estimate, from the source. */
  bytes: number;
  rows: number;
  /** What blocks the conversion, each with what to do. */
  problems: string[];
  notes: string[];
}

/** "metrics", "public.metrics:time", "metrics:time:1d", with ':' inside double quotes kept. */
export function parseHypertableSpec(text: string): HypertableSpec {
  const parts: string[] = [''];
  let quoted = false;
  for (const c of text) {
    if (c === '"') quoted = !quoted;
    if (c === ':' && !quoted) parts.push('');
    else parts[parts.length - 1] += c;
  }
  const [table = '', column, interval] = parts;
  if (table.trim() === '' || parts.length > 3 || column === '' || interval === '') {
    throw new HyperfillError('E_USAGE', `\`--hypertable\` takes TABLE[:TIME_COLUMN[:CHUNK_INTERVAL]], got "${text}"`, {},
      'e.g. --hypertable metrics, --hypertable public.metrics:time, --hypertable metrics:time:1d (quote names holding ":" with double quotes)');
  }
  const unquote = (s: string | undefined) => (s !== undefined && /^".*"$/.test(s) ? s.slice(1, -1).replace(/""/g, '"') : s);
  return { table: table.trim(), timeColumn: unquote(column?.trim()), interval: interval?.trim() };
}

interface TableFacts {
  oid: number;
  schema: string;
  name: string;
  kind: string;
  bytes: number;
  rows: number;
}

/** Resolves the specs on the source: time column, interval, size and problems. `targetTs`: the target's TimescaleDB version. */
export async function resolveCandidates(client: pg.Client, source: Source, specs: HypertableSpec[], targetTs: string | undefined, chunkRows = DEFAULT_CHUNK_ROWS): Promise<Candidate[]> {
  const facts = await Promise.all(specs.map((s) => tableFacts(client, parseTableName(s.table))));
  const oids = new Set(facts.map((f) => f.oid));
  const candidates: Candidate[] = [];
  for (const [i, spec] of specs.entries()) {
    const f = facts[i]!;
    const timeColumn = spec.timeColumn ?? (await suggestTimeColumn(client, f.oid));
    if (!timeColumn) {
      throw new HyperfillError('E_TIME_COLUMN_REQUIRED', `${f.schema}.${f.name} has no timestamp or date column to suggest as its time column`, { table: `${f.schema}.${f.name}` },
        'name it: --hypertable TABLE:TIME_COLUMN[:CHUNK_INTERVAL] (integer time columns need the interval too)');
    }
    const info = await source.describe(qualifiedName(f.schema, f.name), timeColumn);
    const interval = spec.interval !== undefined ? { value: parseChunkInterval(spec.interval, info.timeType), reason: 'given with --hypertable' }
      : await suggestInterval(source, info, chunkRows);
    const candidate: Candidate = { table: { schema: f.schema, table: f.name }, timeColumn, timeType: info.timeType, interval, bytes: f.bytes, rows: f.rows, problems: [], notes: [] };
    await findProblems(client, f, candidate, oids, targetTs);
    candidates.push(candidate);
  }
  return candidates;
}

/** `clone --suggest`: every ordinary table with a timestamp or date column, largest first. */
export async function suggestCandidates(client: pg.Client, source: Source, exclude: string[], targetTs: string | undefined, chunkRows = DEFAULT_CHUNK_ROWS): Promise<Candidate[]> {
  const r = await client.query(
    `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname NOT LIKE '\\_timescaledb%'
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
       AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                   AND a.atttypid IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype))
     ORDER BY pg_total_relation_size(c.oid) DESC, 1, 2`, [['information_schema', ...exclude]]);
  const specs = r.rows.map((row) => ({ table: qualifiedName(row.schema, row.name), timeColumn: undefined, interval: undefined }));
  return resolveCandidates(client, source, specs, targetTs, chunkRows);
}

async function tableFacts(client: pg.Client, t: TableName): Promise<TableFacts> {
  const r = await client.query(
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relkind AS kind,
            pg_total_relation_size(c.oid)::float8 AS bytes, greatest(c.reltuples, 0)::float8 AS rows
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)`, [qualifiedName(t.schema, t.table)]);
  const row = r.rows[0];
  if (!row) {
    throw new HyperfillError('E_TABLE_MISSING', `--hypertable ${displayName(t)}: no such table in the source`, { table: displayName(t) }, 'check the name (schema.table)');
  }
  return row;
}

/** A timestamp or date column: the one that leads an index first, then NOT NULL ones, then the first. */
async function suggestTimeColumn(client: pg.Client, oid: number): Promise<string | undefined> {
  const r = await client.query(
    `SELECT a.attname AS name FROM pg_attribute a
     WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype)
     ORDER BY EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indkey[0] = a.attnum) DESC, a.attnotnull DESC, a.attnum LIMIT 1`, [oid]);
  return r.rows[0]?.name;
}

async function suggestInterval(source: Source, info: Parameters<Source['extent']>[0], chunkRows: number): Promise<ChunkInterval> {
  try {
    const s = await suggestChunkInterval(source, info, chunkRows);
    return { value: s.value, reason: s.reason };
  } catch (err) {
    if (err instanceof HyperfillError && isIntegerTime(info.timeType)) {
      throw new HyperfillError('E_USAGE', `${info.name}: ${err.message}`, { table: info.name },
        `give the interval in the column's own unit: --hypertable ${info.name}:${info.timeColumn}:86400000 (a day of milliseconds, say)`);
    }
    throw err;
  }
}

async function findProblems(client: pg.Client, f: TableFacts, c: Candidate, candidateOids: Set<number>, targetTs: string | undefined): Promise<void> {
  const t = quoteIdent(c.timeColumn);
  const name = `${f.schema}.${f.name}`;
  const leave = 'or leave the table relational (no --hypertable for it)';
  if (f.kind === 'p') c.problems.push(`${name} is a partitioned table, which create_hypertable does not take: ${leave}`);
  const unique = await client.query(
    `SELECT coalesce(con.conname, ic.relname) AS name,
            coalesce(pg_get_constraintdef(con.oid), pg_get_indexdef(i.indexrelid)) AS def
     FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
     LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attname = $2
     WHERE i.indrelid = $1 AND i.indisunique AND NOT (a.attnum = ANY (i.indkey)) ORDER BY 1`, [f.oid, c.timeColumn]);
  for (const u of unique.rows) {
    c.problems.push(`unique key "${u.name}" (${u.def}) of ${name} lacks the time column ${t}: every unique key of a hypertable must include it. ` +
      `On the source, make the key include ${t} (e.g. PRIMARY KEY (id, ${t})), ${leave}`);
  }
  const foreign = await client.query(
    `SELECT con.conname AS name, con.conrelid::int AS from_oid, format('%s.%s', n.nspname, r.relname) AS from_table, pg_get_constraintdef(con.oid) AS def,
            EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = con.confrelid AND a.attname = $2 AND a.attnum = ANY (con.confkey)) AS by_time
     FROM pg_constraint con JOIN pg_class r ON r.oid = con.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace
     WHERE con.contype = 'f' AND con.confrelid = $1 ORDER BY 1`, [f.oid, c.timeColumn]);
  const dropIt = `drop the foreign key on the source before cloning (and add it on the target once the backfill is done), ${leave}`;
  for (const fk of foreign.rows) {
    const what = `foreign key "${fk.name}" of ${fk.from_table} (${fk.def}) references ${name}`;
    if (!fk.by_time) {
      c.problems.push(`${what} without its time column ${t}: a hypertable can be referenced only by a key that includes it. Either ${dropIt}`);
    } else if (targetTs !== undefined && !versionAtLeast(targetTs, '2.16.0')) {
      c.problems.push(`${what}: TimescaleDB ${targetTs} on the target cannot reference a hypertable by foreign key (2.16 and later can). Either ${dropIt}`);
    } else if (!candidateOids.has(fk.from_oid) && (await hasRows(client, fk.from_oid))) {
      c.problems.push(`${what}, and ${fk.from_table} has rows while ${name} stays empty until the backfill: the dump's constraint check would fail. Either ${dropIt}`);
    } else {
      c.notes.push(`${what} by a key with the time column: kept`);
    }
  }
}

async function hasRows(client: pg.Client, oid: number): Promise<boolean> {
  const name = (await client.query('SELECT $1::int::regclass::text AS name', [oid])).rows[0].name as string;
  const r = await client.query(`SELECT EXISTS (SELECT 1 FROM ${name}) AS any`);
  return r.rows[0].any === true;
}
