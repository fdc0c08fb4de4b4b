/**
 * Segment files: "HFSPOOL1", then records, each a u32 length, a u32 CRC-32 of seq + payload,
 * a u64 seq and the payload (JSON), little-endian. Encoding, checked reading, and the
 * check of the last segment when a spool reopens, which sets a torn last record aside.
 */
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { HyperfillError } from '../errors.js';
import type { SpoolEntry, SpoolRecord } from './spool-entry.js';
import { io, syncDir } from './spool-io.js';

export const MAGIC = Buffer.from('HFSPOOL1');
const HEADER_BYTES = 16;
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;
const READ_CHUNK = 1 << 20;
export const SEGMENT_NAME = /^(\d{20})\.seg$/;

export interface TornTail {
  file: string;
  /** Where the torn record began: the segment now ends here. */
  offset: number;
  bytes: number;
  /** The torn bytes, kept for inspection. */
  savedAs: string;
  reason: string;
}

export interface Segment {
  firstSeq: number;
  path: string;
  /** Bytes known to be complete records (on disk, synced, for the segment being written). */
  size: number;
}

export function encodeRecord(seq: number, entry: SpoolEntry): Buffer {
  const payload = Buffer.from(JSON.stringify(entry));
  if (payload.length > MAX_RECORD_BYTES) {
    throw new HyperfillError('E_SPOOL_RECORD_TOO_LARGE', `a spool record would take ${payload.length} bytes, more than ${MAX_RECORD_BYTES}`, {},
      'write smaller transactions (fewer or smaller rows per statement)');
  }
  const record = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  record.writeUInt32LE(payload.length, 0);
  record.writeBigUInt64LE(BigInt(seq), 8);
  payload.copy(record, HEADER_BYTES);
  record.writeUInt32LE(crc32(payload, crc32(record.subarray(8, 16))), 4);
  return record;
}

/** A failure says whether it can be a torn write: one that ends exactly where the file does. */
type Parsed = { ok: true; record: SpoolRecord; next: number } | { ok: false; reason: string; tornPossible: boolean };

/** Reads the record at `offset` of `buf` (which holds the file from `base`); `fileEnd` is where the readable bytes end. */
function parseRecord(buf: Buffer, at: number, fileOffset: number, fileEnd: number, parseAfter = -1): Parsed {
  if (fileOffset + HEADER_BYTES > fileEnd) return { ok: false, reason: 'the record header is cut short', tornPossible: true };
  const length = buf.readUInt32LE(at);
  if (length > MAX_RECORD_BYTES) return { ok: false, reason: `the record claims ${length} bytes`, tornPossible: false };
  if (fileOffset + HEADER_BYTES + length > fileEnd) return { ok: false, reason: `the record needs ${length} bytes, the file ends first`, tornPossible: true };
  const payload = buf.subarray(at + HEADER_BYTES, at + HEADER_BYTES + length);
  const expected = buf.readUInt32LE(at + 4);
  if (crc32(payload, crc32(buf.subarray(at + 8, at + 16))) !== expected) {
    return { ok: false, reason: 'the record\'s CRC does not match', tornPossible: fileOffset + HEADER_BYTES + length === fileEnd };
  }
  const seq = Number(buf.readBigUInt64LE(at + 8));
  // Records replay skips are checked (CRC) but not decoded.
  if (seq <= parseAfter) return { ok: true, record: { seq, entry: undefined as unknown as SpoolEntry }, next: HEADER_BYTES + length };
  let entry: SpoolEntry;
  try {
    entry = JSON.parse(payload.toString('utf8')) as SpoolEntry;
  } catch {
    return { ok: false, reason: 'the record is not JSON', tornPossible: false };
  }
  return { ok: true, record: { seq, entry }, next: HEADER_BYTES + length };
}

/**
 * Records after `afterSeq` of one segment, from byte `from` up to `limit`, each with the
 * offset after it; read in chunks (memory: one chunk or one record).
 */
export async function* readSegment(path: string, limit: number, from: number, afterSeq: number): AsyncGenerator<{ record: SpoolRecord; end: number }> {
  const handle = await io(() => open(path, 'r'), 'open', path);
  let buf = Buffer.alloc(0);
  let bufStart = 0;
  // Makes buf hold [from, from + length), as far as the readable bytes go.
  const ensure = async (from: number, length: number) => {
    if (from >= bufStart && from + length <= bufStart + buf.length) return;
    const size = Math.min(Math.max(length, READ_CHUNK), limit - from);
    buf = Buffer.alloc(size);
    const { bytesRead } = await handle.read(buf, 0, size, from);
    buf = buf.subarray(0, bytesRead);
    bufStart = from;
  };
  try {
    let offset = from;
    while (offset < limit) {
      await ensure(offset, HEADER_BYTES);
      const length = limit - offset >= HEADER_BYTES ? buf.readUInt32LE(offset - bufStart) : 0;
      if (length <= MAX_RECORD_BYTES) await ensure(offset, HEADER_BYTES + length);
      const parsed = parseRecord(buf, offset - bufStart, offset, Math.min(limit, bufStart + buf.length), afterSeq);
      if (!parsed.ok) {
        throw new HyperfillError('E_SPOOL_CORRUPT', `the spool is damaged: ${parsed.reason}`, { file: path, offset },
          'replay stops before this record; the records after it cannot be trusted: keep the directory for inspection');
      }
      offset += parsed.next;
      if (parsed.record.seq > afterSeq) yield { record: parsed.record, end: offset };
    }
  } finally {
    await handle.close();
  }
}

/** Finds the end of the last good record of the segment being written; sets aside a torn tail. */
export async function scanTail(segment: Segment): Promise<{ end: number; lastSeq: number; torn: TornTail | undefined }> {
  const data = await io(() => readFile(segment.path), 'read', segment.path);
  const emptySeq = segment.firstSeq - 1;
  if (data.length < MAGIC.length || !data.subarray(0, MAGIC.length).equals(MAGIC)) {
    if (MAGIC.subarray(0, data.length).equals(data.subarray(0, MAGIC.length))) {
      // Created but its header never finished: an empty segment.
      const torn = data.length > 0 ? await setAside(segment.path, data, 0, 'the segment header is cut short') : undefined;
      await writeFile(segment.path, MAGIC, { flush: true });
      return { end: MAGIC.length, lastSeq: emptySeq, torn };
    }
    throw new HyperfillError('E_SPOOL_CORRUPT', 'this file is not a hyperfill spool segment', { file: segment.path },
      'keep only hyperfill spool files in the spool directory');
  }
  let offset = MAGIC.length;
  let lastSeq = emptySeq;
  while (offset < data.length) {
    const parsed = parseRecord(data, offset, offset, data.length);
    if (!parsed.ok) {
      // A torn write keeps its beginning (the header), so only the record at the very end
      // can be torn; zeros to the end are a write whose data never reached the disk.
      if (!parsed.tornPossible && !data.subarray(offset).every((b) => b === 0)) {
        throw new HyperfillError('E_SPOOL_CORRUPT', `the spool is damaged before its end: ${parsed.reason}`, { file: segment.path, offset },
          'keep the directory for inspection; `hyperfill replay` can replay the records before this offset');
      }
      const torn = await setAside(segment.path, data, offset, parsed.reason);
      return { end: offset, lastSeq, torn };
    }
    lastSeq = parsed.record.seq;
    offset += parsed.next;
  }
  return { end: offset, lastSeq, torn: undefined };
}

async function setAside(path: string, data: Buffer, offset: number, reason: string): Promise<TornTail> {
  const savedAs = `${path}.torn-${offset}`;
  await writeFile(savedAs, data.subarray(offset), { flush: true });
  const handle = await open(path, 'r+');
  try {
    await handle.truncate(offset);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { file: path, offset, bytes: data.length - offset, savedAs, reason };
}

export function segmentName(firstSeq: number): string {
  return `${String(firstSeq).padStart(20, '0')}.seg`;
}

export async function createSegment(dir: string, firstSeq: number): Promise<string> {
  const path = join(dir, segmentName(firstSeq));
  await io(() => writeFile(path, MAGIC, { flag: 'wx', flush: true }), 'create', path);
  await syncDir(dir);
  return path;
}
