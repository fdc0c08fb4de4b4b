/**
 * TimescaleDB to TimescaleDB: a window whose source chunks are all fully compressed and
 * lie inside it is copied as those chunks are (src/target/compressed-chunks.ts): the
 * compressed rows move by binary COPY, with no decompressing on the source and no
 * compressing on the target. Same version, same columns, one time dimension and the same
 * compression settings on both sides, no dual-written rows: any doubt sends the window
 * by rows, with the reason in the summary. All of it runs in the window's transaction.
 */
import type pg from 'pg';
import { HyperfillError } from '../errors.js';
import { isRetryable, serverMessage } from '../pg-errors.js';
import type { CompressedChunkSource, CompressedChunkWindow, Source, WindowStream } from '../source.js';
import { qualifiedName, timeRangeCondition } from '../sql.js';
import {
  CHUNK_COMPRESSED, CHUNK_FROZEN, CHUNK_PARTIAL, COMPRESSED_COPY_MIN_VERSION, type CompressionSettings, type SourceChunk,
  hypertableLayout, placeCompressedChunk, sameSettings, targetChunkFor,
} from '../target/compressed-chunks.js';
import { timescaleVersion, versionAtLeast } from '../target/timescale.js';
import type { PlannedWindow, WindowResult } from './progress-table.js';
import type { BackfillTable } from './window-copier.js';

export const COMPRESSED_CHUNKS = 'compressed chunks';

export interface ChunkCopyTable {
  source: CompressedChunkSource;
  /** The target hypertable's compression settings, which every copied chunk must have been compressed with. */
  settings: CompressionSettings;
}

/** Whether the table's windows may go as compressed chunks; a note when the source has them but they cannot. */
export async function prepareChunkCopy(control: pg.Client, source: Source, table: BackfillTable): Promise<{ setting?: ChunkCopyTable; note?: string }> {
  if (!table.hypertable || table.transform) return {};
  const chunks = await source.compressedChunks?.();
  const from = chunks && (await chunks.layout(table.source));
  if (!chunks || !from?.settings) return {};
  const byRows = (why: string) => ({ note: `${table.key}: compressed source chunks are copied by rows: ${why}` });
  const version = await timescaleVersion(control);
  if (version !== chunks.version) return byRows(`TimescaleDB ${chunks.version} on the source, ${version} on the target`);
  if (!versionAtLeast(version, COMPRESSED_COPY_MIN_VERSION)) return byRows(`TimescaleDB ${version} is older than ${COMPRESSED_COPY_MIN_VERSION}`);
  const to = await hypertableLayout(control, table.target);
  if (!to.settings) return byRows('the target hypertable has no compression enabled');
  if (from.dimensions.length !== 1 || to.dimensions.length !== 1) return byRows('a hypertable has more than one dimension');
  if (JSON.stringify(from.dimensions) !== JSON.stringify(to.dimensions)) return byRows('the time dimensions differ');
  if (JSON.stringify(from.columns) !== JSON.stringify(to.columns)) return byRows('the columns differ (names, types or order)');
  if (!sameSettings(from.settings, to.settings)) return byRows('the compression settings differ');
  return { setting: { source: chunks, settings: to.settings } };
}

/** Copies one compressed stream into a COPY statement on the target; returns the rows the target took. */
export type CopyStream = (read: WindowStream, statement: string) => Promise<number>;

/**
 * Inside the window's transaction (claimed, nothing written yet). `copied` when the
 * window went as compressed chunks; else `fallback` says why not (undefined: nothing
 * compressed to copy, e.g. an empty window).
 */
export async function copyCompressedWindow(client: pg.Client, table: BackfillTable, setting: ChunkCopyTable, window: PlannedWindow,
  copyStream: CopyStream): Promise<{ copied?: Pick<WindowResult, 'rows' | 'method'>; fallback?: string }> {
  const opened = await setting.source.openWindow(table.source, window);
  try {
    if (opened.chunks.length === 0) return {};
    const doubt = await sourceDoubt(opened, setting, window) ?? await targetDoubt(client, table, opened.chunks, window);
    if (doubt) return { fallback: doubt };
    await client.query('SAVEPOINT hyperfill_compressed_chunks');
    try {
      let rows = 0;
      for (const chunk of opened.chunks) {
        const compressed = chunk.compressed!;
        await placeCompressedChunk(client, table.target, chunk, compressed, async (statement) => copyStream(await opened.read(compressed), statement));
        rows += compressed.rows;
      }
      await client.query('RELEASE SAVEPOINT hyperfill_compressed_chunks');
      return { copied: { rows, method: COMPRESSED_CHUNKS } };
    } catch (err) {
      // A lost connection is retried, an interruption stops the run; what the server refused goes by rows.
      if (isRetryable(err) || err instanceof HyperfillError) throw err;
      await client.query('ROLLBACK TO SAVEPOINT hyperfill_compressed_chunks');
      return { fallback: `copying the compressed chunk failed (${serverMessage(err)})` };
    }
  } finally {
    await opened.close();
  }
}

async function sourceDoubt(opened: CompressedChunkWindow, setting: ChunkCopyTable, window: PlannedWindow): Promise<string | undefined> {
  for (const chunk of opened.chunks) {
    if ((chunk.status & CHUNK_COMPRESSED) === 0 || !chunk.compressed) return 'a source chunk is not compressed';
    if ((chunk.status & CHUNK_PARTIAL) !== 0) return 'a source chunk is partially compressed';
    if ((chunk.status & CHUNK_FROZEN) !== 0) return 'a source chunk is frozen';
    if (!sameSettings(chunk.settings, setting.settings)) return 'a source chunk was compressed with other settings';
    const inside = chunk.range.start >= window.start && chunk.range.end <= window.end;
    if (!inside && (await opened.reachesOutside(chunk))) return 'a source chunk reaches beyond the window (--from, --until or --window cut it)';
  }
  return undefined;
}

async function targetDoubt(client: pg.Client, table: BackfillTable, chunks: SourceChunk[], window: PlannedWindow): Promise<string | undefined> {
  const dual = await client.query(`SELECT EXISTS (SELECT 1 FROM ${qualifiedName(table.target.schema, table.target.table)}
    WHERE ${timeRangeCondition(table.timeColumn, table.timeType, window)}) AS any`);
  if (dual.rows[0].any === true) return 'the target has dual-written rows in the window';
  for (const chunk of chunks) {
    const found = await targetChunkFor(client, table.target, table.timeType, chunk);
    if (found.conflict) return found.conflict;
    if (found.chunk && !found.chunk.empty) return 'the target chunk holds rows (outside the window)';
    if (found.chunk && found.chunk.status !== 0) return 'the target chunk is compressed already';
  }
  return undefined;
}
