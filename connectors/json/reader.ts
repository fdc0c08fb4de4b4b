/**
 * Documents of one JSON file, streamed: a JSON array of documents, NDJSON / JSON Lines,
 * or concatenated JSON (all read by stream-json's parser in JSON Streaming mode), gzip
 * recognised by its magic bytes. Input is fed to the parser line by line, so each
 * document knows the line it starts on. A syntax error is located exactly (line and
 * column, by stream-json's verifier) and reported as E_JSON_MALFORMED.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { jsonParser } from 'stream-json/parser.js';
import { jsonVerifier } from 'stream-json/utils/verifier.js';
import { HyperfillError } from '../../src/errors.js';
import { kindOf } from '../mongodb/bson-types.js';
import { DocumentAssembler, ExtendedJsonError, isDocument } from './extended-json.js';

export interface PositionedDocument {
  doc: Record<string, unknown>;
  /** 1-based position of the document in its file. */
  number: number;
  /** 1-based line where it starts. */
  line: number;
}

/** stream-chain's "no value" marker, which also tells a parser the input ended. */
const NONE = Symbol.for('object-stream.none');
type ParserOutput = { values: Array<{ name: string; value?: unknown }> } | symbol;

async function isGzip(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await fh.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

async function openText(file: string): Promise<Readable> {
  const raw = createReadStream(file, { highWaterMark: 256 * 1024 });
  if (!(await isGzip(file))) return raw;
  const gunzip = createGunzip();
  raw.on('error', (e) => gunzip.destroy(e));
  return raw.pipe(gunzip);
}

/** Feeds text to `fn` a line at a time (each piece keeps its newline); `onNewline` after each. */
function byLine(text: string, fn: (piece: string) => void, onNewline: () => void): void {
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) {
      if (start < text.length) fn(start === 0 ? text : text.slice(start));
      return;
    }
    fn(text.slice(start, nl + 1));
    onNewline();
    start = nl + 1;
  }
}

/** Where the first syntax error of a file is, by stream-json's verifier; undefined when it finds none. */
export async function locateSyntaxError(file: string): Promise<{ line: number; column: number; message: string } | undefined> {
  const verify = jsonVerifier({ jsonStreaming: true }) as unknown as (chunk: string | symbol) => unknown;
  const decoder = new StringDecoder('utf8');
  let first = true;
  try {
    for await (const chunk of await openText(file)) {
      let text = decoder.write(chunk as Buffer);
      if (first && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
      if (text) verify(text);
    }
    const rest = decoder.end();
    if (rest) verify(rest);
    verify(NONE);
  } catch (e) {
    const err = e as Error & { line?: number; pos?: number };
    if (typeof err.line === 'number') {
      return { line: err.line, column: err.pos ?? 0, message: err.message.replace(/^ERROR at \d+ \(\d+, \d+\): /, '') };
    }
    throw e;
  }
  return undefined;
}

/** The documents of `file`, a chunk's worth at a time. `label` names the file in errors (e.g. "stdin"). */
export async function* readDocuments(file: string, label = file): AsyncGenerator<PositionedDocument[]> {
  const parse = jsonParser({ jsonStreaming: true, streamValues: false }) as unknown as (chunk: string | symbol) => ParserOutput;
  let pending: PositionedDocument[] = [];
  let count = 0;
  const assembler = new DocumentAssembler((value, line) => {
    count++;
    if (!isDocument(value)) {
      throw new HyperfillError('E_JSON_NOT_A_DOCUMENT', `value ${count} of ${label} (line ${line}) is ${article(kindOf(value))}, not a document`,
        { file: label, line, row: count }, 'each top-level value (or each element of a top-level array) must be a JSON object');
    }
    pending.push({ doc: value, number: count, line });
  });
  const feed = (piece: string | symbol) => {
    const out = parse(piece);
    if (typeof out !== 'symbol') assembler.consume(out.values);
  };
  const newline = () => {
    assembler.line++;
  };
  const decoder = new StringDecoder('utf8');
  let first = true;
  let failure: unknown;
  try {
    for await (const chunk of await openText(file)) {
      let text = decoder.write(chunk as Buffer);
      if (first && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
      byLine(text, feed, newline);
      if (pending.length) {
        const out = pending;
        pending = [];
        yield out;
      }
    }
    byLine(decoder.end(), feed, newline);
    feed(NONE);
  } catch (e) {
    failure = e;
  }
  // The documents before a failure still count (a sample may not need the rest).
  if (pending.length) yield pending;
  if (failure !== undefined) throw await explain(failure, file, label, assembler.line, count);
}

async function explain(e: unknown, file: string, label: string, line: number, count: number): Promise<unknown> {
  if (e instanceof HyperfillError) return e;
  if (e instanceof ExtendedJsonError) {
    return new HyperfillError('E_JSON_EXTENDED_JSON', `invalid Extended JSON in ${label} at line ${line}: ${e.message}`,
      { file: label, line, row: count + 1 }, 'see https://www.mongodb.com/docs/manual/reference/mongodb-extended-json/');
  }
  const code = (e as { code?: string }).code;
  if (code === 'Z_DATA_ERROR' || code === 'ENOENT' || code === 'EACCES') return e;
  const where = await locateSyntaxError(file).catch(() => undefined);
  const at = where?.line ?? line;
  const column = where ? `, column ${where.column}` : '';
  const message = where?.message ?? (e as Error).message;
  return new HyperfillError('E_JSON_MALFORMED', `malformed JSON in ${label} at line ${at}${column} (document ${count + 1}): ${message}`,
    { file: label, line: at, col: where?.column, row: count + 1 }, 'fix the document, or cut the file before it', e);
}

function article(kind: string): string {
  return `${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind}`;
}
