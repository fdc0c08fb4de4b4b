/**
 * TimescaleDB's catalog for copying a compressed chunk from one database to another as
 * it is: what a source chunk and its compressed table look like, and on the target the
 * sequence that recreates them: create_chunk with the source's slices, a table of the
 * same shape in _timescaledb_internal, the compressed rows by binary COPY, its indexes,
 * create_compressed_chunk, and the unordered status bit. Chunks are matched by their
 * slices, never by name or id (those differ between databases). Read on 2.22 to 2.28:
 * per-chunk compression settings with compress_relid and index exist from 2.22 on.
 */
import type pg from 'pg';
import type { TableName } from '../pg/table-name.js';
import { qualifiedName, quoteIdent, quoteLiteral } from '../sql.js';
import type { TimeRange } from '../source.js';
import { type TimeType, isIntegerTime, timeValueFromDriver } from '../time-value.js';

/** The oldest TimescaleDB whose catalog this module reads (per-chunk settings with `index`). */
export const COMPRESSED_COPY_MIN_VERSION = '2.22.0';

/** Chunk status bits (TimescaleDB's chunk.h). */
export const CHUNK_COMPRESSED = 1;
export const CHUNK_UNORDERED = 2;
export const CHUNK_FROZEN = 4;
export const CHUNK_PARTIAL = 8;

export interface CompressionSettings {
  segmentby: string[];
  orderby: string[];
  orderbyDesc: boolean[];
  orderbyNullsFirst: boolean[];
  /** The sparse index definitions, as JSON text. */
  index: string;
}

/** What must be equal on both sides before a compressed chunk can move as it is. */
export interface HypertableLayout {
  dimensions: Array<{ column: string; type: string }>;
  columns: Array<{ name: string; type: string }>;
  /** The hypertable's compression settings; undefined when compression is not enabled. */
  settings?: CompressionSettings | undefined;
}

export interface CompressedTable {
  name: TableName;
  columns: Array<{ name: string; type: string; storage: string; statsTarget: number }>;
  reloptions: string[];
  /** Each index's definition from `USING` on (the table name left out). */
  indexes: string[];
  /** Its rows (batches) and the rows they hold. */
  batches: number;
  rows: number;
  /** The source's compression_chunk_size row (missing for chunks written by direct compress). */
  uncompressedSizes?: { heap: string; toast: string; index: string } | undefined;
}

export interface SourceChunk {
  name: TableName;
  /** The chunk's range on the time dimension (time values, see time-value.ts). */
  range: TimeRange;
  status: number;
  /** `show_chunk`'s slices, the form `create_chunk` takes. */
  slices: unknown;
  /** The chunk's own compression settings (undefined when it is not compressed). */
  settings?: CompressionSettings | undefined;
  compressed?: CompressedTable | undefined;
}

const SETTINGS_COLUMNS = 's.segmentby, s.orderby, s.orderby_desc, s.orderby_nullsfirst, s.index::text AS index';

function settingsOf(row: Record<string, unknown>): CompressionSettings | undefined {
  if (row.orderby === null && row.segmentby === null && row.index === null) return undefined;
  return {
    segmentby: (row.segmentby as string[] | null) ?? [], orderby: (row.orderby as string[] | null) ?? [],
    orderbyDesc: (row.orderby_desc as boolean[] | null) ?? [], orderbyNullsFirst: (row.orderby_nullsfirst as boolean[] | null) ?? [],
    index: (row.index as string | null) ?? '',
  };
}

export function sameSettings(a: CompressionSettings | undefined, b: CompressionSettings | undefined): boolean {
  return a !== undefined && b !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

export async function hypertableLayout(client: pg.Client, table: TableName): Promise<HypertableLayout> {
  const ref = qualifiedName(table.schema, table.table);
  const dims = await client.query(
    `SELECT d.column_name AS column, d.column_type::text AS type FROM _timescaledb_catalog.dimension d
     JOIN _timescaledb_catalog.hypertable h ON h.id = d.hypertable_id WHERE h.schema_name = $1 AND h.table_name = $2 ORDER BY d.id`,
    [table.schema, table.table]);
  const cols = await client.query(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
     WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, [ref]);
  const s = await client.query(`SELECT ${SETTINGS_COLUMNS} FROM _timescaledb_catalog.compression_settings s WHERE s.relid = to_regclass($1)`, [ref]);
  return { dimensions: dims.rows, columns: cols.rows, settings: s.rows[0] ? settingsOf(s.rows[0]) : undefined };
}

/** The hypertable's chunks that overlap `range`, with what a copy needs of the compressed ones. */
export async function chunksWithLayout(client: pg.Client, table: TableName, timeType: TimeType, range: TimeRange): Promise<SourceChunk[]> {
  const integer = isIntegerTime(timeType);
  const r = await client.query(
    `SELECT c.id, c.schema_name, c.table_name, c.status, cc.schema_name AS cschema, cc.table_name AS ctable,
            (SELECT slices FROM _timescaledb_functions.show_chunk(format('%I.%I', c.schema_name, c.table_name)::regclass)) AS slices,
            ${integer ? 'i.range_start_integer AS lo, i.range_end_integer AS hi' : 'i.range_start AS lo, i.range_end AS hi'},
            ${SETTINGS_COLUMNS}, z.uncompressed_heap_size::text AS heap, z.uncompressed_toast_size::text AS toast, z.uncompressed_index_size::text AS idx
     FROM _timescaledb_catalog.chunk c
     JOIN _timescaledb_catalog.hypertable h ON h.id = c.hypertable_id
     JOIN timescaledb_information.chunks i ON i.chunk_schema = c.schema_name AND i.chunk_name = c.table_name
     LEFT JOIN _timescaledb_catalog.chunk cc ON cc.id = c.compressed_chunk_id
     LEFT JOIN _timescaledb_catalog.compression_settings s ON s.relid = format('%I.%I', c.schema_name, c.table_name)::regclass
     LEFT JOIN _timescaledb_catalog.compression_chunk_size z ON z.chunk_id = c.id
     WHERE h.schema_name = $1 AND h.table_name = $2 ORDER BY lo`, [table.schema, table.table]);
  const chunks: SourceChunk[] = [];
  for (const row of r.rows) {
    const chunkRange = { start: timeValueFromDriver(row.lo, integer ? timeType : 'timestamptz'), end: timeValueFromDriver(row.hi, integer ? timeType : 'timestamptz') };
    if (chunkRange.end <= range.start || chunkRange.start >= range.end) continue;
    const compressedName = row.ctable ? { schema: row.cschema, table: row.ctable } : undefined;
    chunks.push({
      name: { schema: row.schema_name, table: row.table_name }, range: chunkRange, status: row.status, slices: row.slices,
      settings: settingsOf(row),
      compressed: compressedName && (await compressedTable(client, compressedName, row.heap === null ? undefined : { heap: row.heap, toast: row.toast, index: row.idx })),
    });
  }
  return chunks;
}

async function compressedTable(client: pg.Client, name: TableName, uncompressedSizes: CompressedTable['uncompressedSizes']): Promise<CompressedTable> {
  const ref = qualifiedName(name.schema, name.table);
  const cols = await client.query(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type, attstorage AS storage, attstattarget AS stats
     FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, [ref]);
  const rel = await client.query(`SELECT coalesce(reloptions, '{}') AS reloptions FROM pg_class WHERE oid = $1::regclass`, [ref]);
  const idx = await client.query(
    `SELECT substr(d, strpos(d, ' USING ') + 7) AS def FROM (SELECT pg_get_indexdef(indexrelid) AS d FROM pg_index WHERE indrelid = $1::regclass ORDER BY indexrelid) x`, [ref]);
  const counts = await client.query(`SELECT count(*)::text AS batches, coalesce(sum(_ts_meta_count), 0)::text AS rows FROM ONLY ${ref}`);
  return {
    name, reloptions: rel.rows[0].reloptions, indexes: idx.rows.map((row) => row.def),
    columns: cols.rows.map((c) => ({ name: c.name, type: c.type, storage: c.storage, statsTarget: c.stats === null ? -1 : Number(c.stats) })),
    batches: Number(counts.rows[0].batches), rows: Number(counts.rows[0].rows), uncompressedSizes,
  };
}

/** True when the chunk holds rows outside `window` (it reaches beyond the window's edges). */
export async function chunkRowsOutside(client: pg.Client, chunk: TableName, condition: string): Promise<boolean> {
  const r = await client.query(`SELECT EXISTS (SELECT 1 FROM ${qualifiedName(chunk.schema, chunk.table)} WHERE NOT (${condition})) AS outside`);
  return r.rows[0].outside === true;
}

/** The binary COPY that reads a compressed table's rows. */
export function compressedRowsCopyOut(table: CompressedTable): string {
  const cols = table.columns.map((c) => quoteIdent(c.name)).join(', ');
  return `COPY (SELECT ${cols} FROM ONLY ${qualifiedName(table.name.schema, table.name.table)}) TO STDOUT WITH (FORMAT binary)`;
}

/** The target's chunk with exactly these slices, or why there can be none: another chunk overlaps differently. */
export async function targetChunkFor(client: pg.Client, hypertable: TableName, timeType: TimeType, chunk: SourceChunk):
Promise<{ chunk?: { name: TableName; status: number; empty: boolean } ; conflict?: string }> {
  const integer = isIntegerTime(timeType);
  const r = await client.query(
    `SELECT c.schema_name, c.table_name, c.status, ${integer ? 'i.range_start_integer AS lo, i.range_end_integer AS hi' : 'i.range_start AS lo, i.range_end AS hi'}
     FROM _timescaledb_catalog.chunk c JOIN _timescaledb_catalog.hypertable h ON h.id = c.hypertable_id
     JOIN timescaledb_information.chunks i ON i.chunk_schema = c.schema_name AND i.chunk_name = c.table_name
     WHERE h.schema_name = $1 AND h.table_name = $2`, [hypertable.schema, hypertable.table]);
  for (const row of r.rows) {
    const start = timeValueFromDriver(row.lo, integer ? timeType : 'timestamptz');
    const end = timeValueFromDriver(row.hi, integer ? timeType : 'timestamptz');
    if (end <= chunk.range.start || start >= chunk.range.end) continue;
    if (start !== chunk.range.start || end !== chunk.range.end) return { conflict: 'the target has a chunk over the same time with other bounds' };
    const name = { schema: row.schema_name, table: row.table_name };
    const rows = await client.query(`SELECT EXISTS (SELECT 1 FROM ONLY ${qualifiedName(name.schema, name.table)}) AS any`);
    return { chunk: { name, status: row.status, empty: rows.rows[0].any !== true } };
  }
  return {};
}

/**
 * On the target, inside the caller's transaction: the chunk with the source's slices,
 * its compressed table filled by `copyRows` (given the COPY FROM statement; returns the
 * rows it took), indexes, catalog rows and status. Returns the chunk's name.
 */
export async function placeCompressedChunk(client: pg.Client, hypertable: TableName, source: SourceChunk, table: CompressedTable,
  copyRows: (statement: string) => Promise<number>): Promise<TableName> {
  const created = await client.query(
    `SELECT chunk_id, schema_name, table_name FROM _timescaledb_functions.create_chunk($1::regclass, $2::jsonb)`,
    [qualifiedName(hypertable.schema, hypertable.table), JSON.stringify(source.slices)]);
  const chunk = { id: Number(created.rows[0].chunk_id), schema: created.rows[0].schema_name as string, table: created.rows[0].table_name as string };
  // create_compressed_chunk records the table as living in _timescaledb_internal, whatever its real schema.
  const name = { schema: '_timescaledb_internal', table: `compress${chunk.table}`.length <= 63 ? `compress${chunk.table}` : `compress_chunk_${chunk.id}` };
  const ref = qualifiedName(name.schema, name.table);
  const columns = [];
  for (const c of table.columns) columns.push(`${quoteIdent(c.name)} ${await checkedType(client, c.type)}`);
  const options = table.reloptions.filter((o) => /^[a-z_]+=[A-Za-z0-9_.]+$/.test(o));
  await client.query(`CREATE TABLE ${ref} (${columns.join(', ')})${options.length > 0 ? ` WITH (${options.join(', ')})` : ''}`);
  // Per-column storage (compressed_data: EXTERNAL, text: EXTENDED, ...) and statistics targets as the source has them.
  const alters = table.columns.flatMap((c) => {
    const storage = ({ p: 'PLAIN', e: 'EXTERNAL', m: 'MAIN', x: 'EXTENDED' } as Record<string, string>)[c.storage];
    const column = `ALTER COLUMN ${quoteIdent(c.name)}`;
    return [...(storage ? [`${column} SET STORAGE ${storage}`] : []), ...(c.statsTarget >= 0 ? [`${column} SET STATISTICS ${Math.floor(c.statsTarget)}`] : [])];
  });
  if (alters.length > 0) await client.query(`ALTER TABLE ${ref} ${alters.join(', ')}`);
  const copied = await copyRows(`COPY ${ref} (${table.columns.map((c) => quoteIdent(c.name)).join(', ')}) FROM STDIN WITH (FORMAT binary, FREEZE)`);
  if (copied !== table.batches) throw new Error(`the source's compressed table ${qualifiedName(table.name.schema, table.name.table)} has ${table.batches} rows but COPY took ${copied}`);
  for (const def of table.indexes) await client.query(`CREATE INDEX ON ${ref} USING ${await checkedIndexDefinition(client, def)}`);
  const sizes = await client.query(
    `SELECT pg_relation_size(c.oid)::text AS heap, coalesce(pg_relation_size(nullif(c.reltoastrelid, 0)), 0)::text AS toast, pg_indexes_size(c.oid)::text AS idx
     FROM pg_class c WHERE c.oid = $1::regclass`, [ref]);
  const before = table.uncompressedSizes ?? { heap: '0', toast: '0', index: '0' };
  await client.query(`SELECT _timescaledb_functions.create_compressed_chunk($1::regclass, $2::regclass, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [qualifiedName(chunk.schema, chunk.table), ref, before.heap, before.toast, before.index,
      sizes.rows[0].heap, sizes.rows[0].toast, sizes.rows[0].idx, table.rows, table.batches]);
  // The one direct catalog write: batches that overlap must be marked so, or ordered reads return wrong rows.
  if ((source.status & CHUNK_UNORDERED) !== 0) {
    await client.query(`UPDATE _timescaledb_catalog.chunk SET status = status | ${CHUNK_UNORDERED} WHERE id = $1`, [chunk.id]);
  }
  await client.query(`ANALYZE ${ref}`);
  return { schema: chunk.schema, table: chunk.table };
}

/** A type name read from the source, accepted only when the target parses it as a type (nothing else goes into the DDL). */
async function checkedType(client: pg.Client, type: string): Promise<string> {
  const r = await client.query('SELECT to_regtype($1) IS NOT NULL AS ok', [type]);
  if (r.rows[0].ok !== true) throw new Error(`the target has no type ${quoteLiteral(type)}`);
  return type;
}

/** An index definition from the source ("btree (a, b DESC)"), accepted only in that plain form. */
async function checkedIndexDefinition(client: pg.Client, def: string): Promise<string> {
  const m = /^(\w+) \(((?:"(?:[^"]|"")+"|[\w]+)(?: (?:ASC|DESC))?(?: NULLS (?:FIRST|LAST))?(?:, (?:"(?:[^"]|"")+"|[\w]+)(?: (?:ASC|DESC))?(?: NULLS (?:FIRST|LAST))?)*)\)$/.exec(def);
  if (!m) throw new Error(`an index of the source's compressed chunk is not a plain column index: ${def}`);
  const am = await client.query('SELECT EXISTS (SELECT 1 FROM pg_am WHERE amname = $1) AS ok', [m[1]]);
  if (am.rows[0].ok !== true) throw new Error(`the target has no index method ${m[1]}`);
  return def;
}
