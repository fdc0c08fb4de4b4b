/**
 * The spool: an append-only journal of segment files in one directory, for writes the
 * secondary has not taken yet. A record is acknowledged only once it is on disk
 * (fdatasync): one sync per record (`fsync: 'record'`), or group commit (`'group'`): the
 * records that arrive while a sync runs go to disk together with the next one, after at
 * most `groupCommitMs` more of gathering.
 *
 * Layout of DIR:
 *   spool.json            { format, spoolId, createdAt }: the id replay progress is kept under
 *   lock                  { pid, host }: one process at a time (a dead owner's lock is taken over)
 *   <first seq>.seg       "HFSPOOL1", then records: u32 length, u32 CRC-32 (of seq + payload),
 *                         u64 seq, payload (JSON); little-endian; seqs only grow, gaps allowed
 *   <seg>.torn-<offset>   the bytes of a torn last record, set aside when the journal reopened
 *   replayed              the last seq replay committed (a hint; the target holds the truth)
 *
 * After a crash the last record may be torn (a write the kernel had only partly done, or a
 * CRC that does not match at the very end): opening the journal detects it, keeps its bytes
 * beside the segment, cuts it off and reports it in `tornTail`. It was never acknowledged,
 * so it is never replayed. A bad record anywhere else is corruption: E_SPOOL_CORRUPT.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HyperfillError } from '../errors.js';
import type { SpoolEntry, SpoolRecord } from './spool-entry.js';
import { io, syncDir, writeFully } from './spool-io.js';
import { releaseLock, takeLock } from './spool-lock.js';
import { createSegment, encodeRecord, MAGIC, readSegment, scanTail, type Segment, SEGMENT_NAME, segmentName, type TornTail } from './spool-segment.js';

export type { TornTail } from './spool-segment.js';

export type FsyncMode = 'record' | 'group';

export interface SpoolOptions {
  /** The spool directory (created when missing). */
  dir: string;
  /**
   * `record`: one write and fdatasync per record, one record at a time. `group` (default): the
   * records that arrive while a sync runs share the next write and sync.
   */
  fsync?: FsyncMode;
  /** With `group`: how long a record may wait for others before its sync starts (default 0; the wait is bounded by this plus one sync). */
  groupCommitMs?: number;
  /** A new segment file starts past this size (default 64 MiB); replayed segments are deleted. */
  segmentBytes?: number;
}

const GROUP_MAX_BYTES = 8 << 20;

interface Pending {
  bytes: Buffer;
  seq: number;
  resolve: (seq: number) => void;
  reject: (err: unknown) => void;
}

export class SpoolJournal {
  private readonly segments: Segment[];
  private handle: FileHandle;
  private queue: Pending[] = [];
  private queueBytes = 0;
  private flushing = false;
  private timer: NodeJS.Timeout | undefined;
  private oldestQueuedAt = 0;
  private nextSeq: number;
  private durable: number;
  private replayedSeq: number;
  private closed = false;
  /** Set when a failed write could not be cut back off: nothing more may be appended. */
  private broken: HyperfillError | undefined;
  private idleWaiters: Array<() => void> = [];
  /** Every record before `offset` of `path` has a seq up to `seq`. */
  private readHint: { path: string; offset: number; seq: number } | undefined;
  private readonly fsync: FsyncMode;
  private readonly groupCommitMs: number;
  private readonly segmentBytes: number;

  private constructor(
    readonly dir: string, readonly spoolId: string, segments: Segment[], handle: FileHandle, lastSeq: number, replayedSeq: number,
    readonly tornTail: TornTail | undefined, options: SpoolOptions,
  ) {
    this.segments = segments;
    this.handle = handle;
    this.nextSeq = lastSeq + 1;
    this.durable = lastSeq;
    this.replayedSeq = Math.min(replayedSeq, lastSeq);
    this.fsync = options.fsync ?? 'group';
    this.groupCommitMs = options.groupCommitMs ?? 0;
    this.segmentBytes = options.segmentBytes ?? 64 << 20;
  }

  /** Opens (or creates) the spool in `options.dir`, taking its lock and repairing a torn tail. */
  static async open(options: SpoolOptions): Promise<SpoolJournal> {
    validateOptions(options);
    const dir = options.dir;
    await io(() => mkdir(dir, { recursive: true, mode: 0o700 }), 'create the spool directory', dir);
    await takeLock(dir);
    try {
      const names = (await io(() => readdir(dir), 'list the spool directory', dir)).filter((n) => SEGMENT_NAME.test(n)).sort();
      const spoolId = await readOrCreateMeta(dir, names.length > 0);
      if (names.length === 0) {
        await createSegment(dir, 1);
        names.push(segmentName(1));
      }
      const segments: Segment[] = names.map((n) => ({ firstSeq: Number(SEGMENT_NAME.exec(n)?.[1]), path: join(dir, n), size: 0 }));
      for (const s of segments.slice(0, -1)) s.size = (await io(() => stat(s.path), 'read', s.path)).size;
      const last = segments[segments.length - 1] as Segment;
      const scan = await scanTail(last);
      last.size = scan.end;
      const handle = await io(() => open(last.path, 'r+'), 'open', last.path);
      const replayed = await readReplayedHint(dir);
      return new SpoolJournal(dir, spoolId, segments, handle, scan.lastSeq, replayed, scan.torn, options);
    } catch (err) {
      await releaseLock(dir);
      throw err;
    }
  }

  /** The last seq handed out (some may still be on their way to disk). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** The last seq on disk: records up to here can be read and replayed. */
  get durableSeq(): number {
    return this.durable;
  }

  /** Records on disk not yet known to be replayed (markers included). */
  get pendingRecords(): number {
    return Math.max(0, this.durable - this.replayedSeq);
  }

  get replayed(): number {
    return this.replayedSeq;
  }

  /** Bytes of the spool's segment files. */
  get bytes(): number {
    return this.segments.reduce((sum, s) => sum + s.size, 0);
  }

  /** True while records wait for their sync. */
  get busy(): boolean {
    return this.queue.length > 0 || this.flushing;
  }

  /** Appends one record; resolves with its seq once it is on disk. */
  append(entry: SpoolEntry): Promise<number> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.closed) return Promise.reject(new HyperfillError('E_SPOOL_CLOSED', 'the spool is closed', { file: this.dir }));
    const seq = this.nextSeq++;
    let bytes: Buffer;
    try {
      bytes = encodeRecord(seq, entry);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      if (this.queue.length === 0) this.oldestQueuedAt = performance.now();
      this.queue.push({ bytes, seq, resolve, reject });
      this.queueBytes += bytes.length;
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.flushing || this.timer || this.queue.length === 0) return;
    const waited = performance.now() - this.oldestQueuedAt;
    if (this.fsync === 'record' || this.queueBytes >= GROUP_MAX_BYTES || waited >= this.groupCommitMs) {
      void this.flush();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.groupCommitMs - waited);
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    const batch: Pending[] = [];
    let bytes = 0;
    const limit = this.fsync === 'record' ? 1 : Infinity;
    while (this.queue.length > 0 && batch.length < limit && (batch.length === 0 || bytes + (this.queue[0]?.bytes.length ?? 0) <= GROUP_MAX_BYTES)) {
      const p = this.queue.shift() as Pending;
      batch.push(p);
      bytes += p.bytes.length;
    }
    this.queueBytes -= bytes;
    if (this.queue.length > 0) this.oldestQueuedAt = performance.now();
    try {
      await this.rotateIfFull(bytes, (batch[0] as Pending).seq);
      const segment = this.segments[this.segments.length - 1] as Segment;
      const data = batch.length === 1 ? (batch[0] as Pending).bytes : Buffer.concat(batch.map((p) => p.bytes), bytes);
      try {
        await writeFully(this.handle, data, segment.size);
        await this.handle.datasync();
      } catch (err) {
        // Leave no partial record behind: a later append must not follow garbage.
        const failure = new HyperfillError('E_SPOOL_WRITE', `cannot write to the spool: ${(err as Error).message}`, { file: segment.path },
          'free disk space or fix the spool directory\'s permissions; the writes were not spooled', err);
        await this.handle.truncate(segment.size).catch(() => {
          this.broken = failure;
        });
        throw failure;
      }
      segment.size += bytes;
      this.durable = (batch[batch.length - 1] as Pending).seq;
      for (const p of batch) p.resolve(p.seq);
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      this.flushing = false;
      this.schedule();
      if (!this.busy) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private async rotateIfFull(incoming: number, firstSeq: number): Promise<void> {
    const current = this.segments[this.segments.length - 1] as Segment;
    if (current.size <= MAGIC.length || current.size + incoming <= this.segmentBytes) return;
    const path = await createSegment(this.dir, firstSeq);
    const handle = await io(() => open(path, 'r+'), 'open', path);
    await this.handle.close().catch(() => undefined);
    this.handle = handle;
    this.segments.push({ firstSeq, path, size: MAGIC.length });
  }

  /**
   * The records after `afterSeq` that are on disk now, in order, up to `untilSeq`. Reading
   * a segment checks every record; a bad one is E_SPOOL_CORRUPT.
   */
  async *read(afterSeq: number, untilSeq = this.durable): AsyncGenerator<SpoolRecord> {
    for (let n = 0; n < this.segments.length; n++) {
      const segment = this.segments[n] as Segment;
      const nextFirst = this.segments[n + 1]?.firstSeq;
      if (nextFirst !== undefined && nextFirst - 1 <= afterSeq) continue;
      if (segment.firstSeq > untilSeq) return;
      // Where the previous read of this segment stopped: replay reads the growing tail again and again.
      const hint = this.readHint;
      const from = hint && hint.path === segment.path && hint.seq <= afterSeq ? hint.offset : MAGIC.length;
      for await (const { record, end } of readSegment(segment.path, segment.size, from, afterSeq)) {
        if (record.seq > untilSeq) return;
        this.readHint = { path: segment.path, offset: end, seq: record.seq };
        yield record;
      }
    }
  }

  /** Replay committed everything up to `seq`: remember it and delete segments wholly replayed. */
  async markReplayed(seq: number): Promise<void> {
    if (seq <= this.replayedSeq) return;
    this.replayedSeq = seq;
    await writeFile(join(this.dir, 'replayed'), `${seq}\n`).catch(() => undefined);
    while (this.segments.length > 1) {
      const [first, second] = this.segments as [Segment, Segment];
      if (second.firstSeq - 1 > seq) break;
      await unlink(first.path).catch(() => undefined);
      this.segments.shift();
    }
  }

  /** Waits for queued records to reach disk, then releases the spool. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.flush();
    }
    if (this.busy) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.handle.close().catch(() => undefined);
    await releaseLock(this.dir);
  }
}

function validateOptions(options: SpoolOptions): void {
  const bad = (message: string) => new HyperfillError('E_DUAL_WRITE_OPTIONS', message, {}, 'see the dual-write section of the README');
  if (typeof options.dir !== 'string' || options.dir === '') throw bad('`spool.dir` must name a directory');
  if (options.fsync !== undefined && options.fsync !== 'record' && options.fsync !== 'group') throw bad('`spool.fsync` must be "record" or "group"');
  if (options.groupCommitMs !== undefined && !(options.groupCommitMs >= 0 && options.groupCommitMs <= 1000)) {
    throw bad('`spool.groupCommitMs` must be between 0 and 1000');
  }
  if (options.segmentBytes !== undefined && !(options.segmentBytes >= 4096)) throw bad('`spool.segmentBytes` must be at least 4096');
}

async function readOrCreateMeta(dir: string, hasSegments: boolean): Promise<string> {
  const path = join(dir, 'spool.json');
  if (existsSync(path)) {
    let meta: { format?: number; spoolId?: string };
    try {
      meta = JSON.parse(await readFile(path, 'utf8'));
    } catch (err) {
      throw new HyperfillError('E_SPOOL_CORRUPT', `cannot read spool.json: ${(err as Error).message}`, { file: path }, undefined, err);
    }
    if (meta.format !== 1 || typeof meta.spoolId !== 'string') {
      throw new HyperfillError('E_SPOOL_VERSION', 'spool.json is not a format this hyperfill reads', { file: path }, 'replay it with the hyperfill version that wrote it');
    }
    return meta.spoolId;
  }
  if (hasSegments) {
    throw new HyperfillError('E_SPOOL_CORRUPT', 'the spool has segment files but no spool.json (its id, under which replay progress is kept)', { file: path },
      'restore spool.json; without it replay cannot tell which records the target already has');
  }
  const spoolId = randomUUID();
  const tmp = `${path}.tmp`;
  await io(() => writeFile(tmp, `${JSON.stringify({ format: 1, spoolId, createdAt: new Date().toISOString() })}\n`, { flush: true }), 'write', tmp);
  await rename(tmp, path);
  await syncDir(dir);
  return spoolId;
}

async function readReplayedHint(dir: string): Promise<number> {
  try {
    const n = Number((await readFile(join(dir, 'replayed'), 'utf8')).trim());
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  } catch {
    return 0;
  }
}

