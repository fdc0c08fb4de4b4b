/**
 * Opens one input (a path, or '-' for stdin) as a stream of byte chunks. Gzip is
 * recognised by its magic bytes, not by the file name, and inflated in the stream.
 * A reader that copies what it needs before asking for the next chunk may ask for
 * `reuseChunks`: a plain file is then read into one buffer, over and over.
 */
import { createReadStream, promises as fs } from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { HyperfillError } from '../errors.js';

export interface Input {
  /** 'stdin' or the path as given. */
  name: string;
  /** Size on disk when known (compressed size for gzip): for the ETA. */
  size: number | undefined;
  /** Raw bytes read so far (before inflating): for progress against `size`. */
  bytesRead(): number;
  /** Decompressed chunks. */
  chunks(): AsyncIterable<Buffer>;
}

const GZIP_MAGIC = [0x1f, 0x8b];
const CHUNK_BYTES = 1 << 20;
const READ_IN_PLACE_BYTES = 256 << 10;

export interface InputOptions {
  /** Each chunk may be overwritten by the next one (plain files): copy before asking for more. */
  reuseChunks?: boolean;
}

export async function openInput(path: string, stdin: NodeJS.ReadableStream = process.stdin, options: InputOptions = {}): Promise<Input> {
  const isStdin = path === '-';
  const name = isStdin ? 'stdin' : path;
  let size: number | undefined;
  if (!isStdin) {
    try {
      const stat = await fs.stat(path);
      if (stat.isDirectory()) throw new HyperfillError('E_INPUT_UNREADABLE', `${path} is a directory, not a file`, { file: path });
      size = stat.isFile() ? stat.size : undefined;
    } catch (err) {
      if (err instanceof HyperfillError) throw err;
      throw new HyperfillError('E_INPUT_MISSING', `cannot open input: ${(err as Error).message}`, { file: path }, 'check the path given to --file');
    }
  }
  let read = 0;
  if (!isStdin && size !== undefined && options.reuseChunks && !(await startsWithGzipMagic(path))) {
    return { name, size, bytesRead: () => read, chunks: () => readInPlace(path, (n) => { read += n; }) };
  }
  const raw = isStdin ? stdin : createReadStream(path, { highWaterMark: CHUNK_BYTES });
  return {
    name,
    size,
    bytesRead: () => read,
    chunks: () => inflateIfGzip(counted(raw as AsyncIterable<Buffer>, (n) => { read += n; }), name),
  };
}

async function startsWithGzipMagic(path: string): Promise<boolean> {
  const handle = await fs.open(path, 'r');
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
  } finally {
    await handle.close();
  }
}

/** A plain file, read into one buffer again and again: no allocation per chunk. */
async function* readInPlace(path: string, add: (n: number) => void): AsyncGenerator<Buffer> {
  const handle = await fs.open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafeSlow(READ_IN_PLACE_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) return;
      add(bytesRead);
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

async function* counted(source: AsyncIterable<Buffer | string>, add: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    add(buffer.length);
    yield buffer;
  }
}

async function* inflateIfGzip(source: AsyncGenerator<Buffer>, name: string): AsyncGenerator<Buffer> {
  const first = await source.next();
  if (first.done) return;
  const head = first.value;
  if (!(head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1])) {
    yield head;
    yield* source;
    return;
  }
  async function* again(): AsyncGenerator<Buffer> {
    yield head;
    yield* source;
  }
  const gunzip = createGunzip({ chunkSize: CHUNK_BYTES });
  // pipeline, not pipe: a read error upstream must end the inflater too.
  pipeline(Readable.from(again(), { objectMode: false }), gunzip, () => undefined);
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (err) {
    throw new HyperfillError('E_GZIP_CORRUPT', `the gzip stream is damaged: ${(err as Error).message}`, { file: name },
      'check the file with `gzip -t`; a truncated download or a partial copy is the usual cause');
  }
}
