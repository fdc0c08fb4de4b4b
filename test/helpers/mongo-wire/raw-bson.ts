// Reading and writing BSON bytes directly. Stored documents stay as the bytes the
// client sent, so serving them is a copy, and simple filters read one field in place.

/** BSON element type bytes used here. */
export const T = {
  double: 0x01,
  string: 0x02,
  document: 0x03,
  array: 0x04,
  binary: 0x05,
  undefined: 0x06,
  objectId: 0x07,
  bool: 0x08,
  date: 0x09,
  null: 0x0a,
  regex: 0x0b,
  dbPointer: 0x0c,
  code: 0x0d,
  symbol: 0x0e,
  codeWithScope: 0x0f,
  int32: 0x10,
  timestamp: 0x11,
  int64: 0x12,
  decimal128: 0x13,
  minKey: 0xff,
  maxKey: 0x7f,
} as const;

/** Size in bytes of the value of type `type` starting at `pos`. */
export function valueSize(buf: Buffer, type: number, pos: number): number {
  switch (type) {
    case T.double:
    case T.date:
    case T.int64:
    case T.timestamp:
      return 8;
    case T.string:
    case T.code:
    case T.symbol:
      return 4 + buf.readInt32LE(pos);
    case T.document:
    case T.array:
    case T.codeWithScope:
      return buf.readInt32LE(pos);
    case T.binary:
      return 5 + buf.readInt32LE(pos);
    case T.undefined:
    case T.null:
    case T.minKey:
    case T.maxKey:
      return 0;
    case T.objectId:
      return 12;
    case T.bool:
      return 1;
    case T.int32:
      return 4;
    case T.decimal128:
      return 16;
    case T.regex: {
      let p = buf.indexOf(0, pos) + 1;
      p = buf.indexOf(0, p) + 1;
      return p - pos;
    }
    case T.dbPointer:
      return 4 + buf.readInt32LE(pos) + 12;
    default:
      throw new Error(`unknown BSON type 0x${type.toString(16)}`);
  }
}

/** Where a field's value was found: its type and the offset of its value. */
export interface Hit {
  type: number;
  pos: number;
}

/**
 * Looks up a top-level field of the document at `start` by its UTF-8 name.
 * Fills `hit` and returns true when found. No allocation: this runs per document.
 */
export function findField(buf: Buffer, start: number, name: Uint8Array, hit: Hit): boolean {
  const end = start + buf.readInt32LE(start) - 1;
  let p = start + 4;
  const n = name.length;
  while (p < end) {
    const type = buf[p++]!;
    let matched = true;
    let i = 0;
    while (buf[p] !== 0) {
      if (matched && (i >= n || buf[p] !== name[i])) matched = false;
      p++;
      i++;
    }
    p++; // the name's NUL
    if (matched && i === n) {
      hit.type = type;
      hit.pos = p;
      return true;
    }
    p += valueSize(buf, type, p);
  }
  return false;
}

/** Reads an int64 (or a date) as a number; exact while |value| < 2^53. */
export function readInt64AsNumber(buf: Buffer, pos: number): number {
  return buf.readInt32LE(pos + 4) * 4294967296 + buf.readUInt32LE(pos);
}

/** True when the int64 at `pos` fits a double exactly. */
export function int64IsSafe(buf: Buffer, pos: number): boolean {
  const hi = buf.readInt32LE(pos + 4);
  return hi < 0x200000 && hi >= -0x200000;
}

/** A Buffer over the same memory (bson's serialize is typed as returning Uint8Array). */
export function asBuffer(u8: Uint8Array): Buffer {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

/** A stored document: bytes `buf[start, start + len)`. */
export interface RawDoc {
  buf: Buffer;
  start: number;
  len: number;
}

/** The raw documents of a BSON array value at `pos` (as sent in a command body). */
export function arrayDocs(buf: Buffer, pos: number): RawDoc[] {
  const out: RawDoc[] = [];
  const end = pos + buf.readInt32LE(pos) - 1;
  let p = pos + 4;
  while (p < end) {
    const type = buf[p++]!;
    p = buf.indexOf(0, p) + 1;
    const size = valueSize(buf, type, p);
    if (type === T.document) out.push({ buf, start: p, len: size });
    p += size;
  }
  return out;
}

// Array keys "0", "1", ... as bytes, cached because every batch writes them.
const keyCache: Buffer[] = [];
function arrayKey(i: number): Buffer {
  let k = keyCache[i];
  if (k === undefined) {
    k = Buffer.from(String(i), 'latin1');
    if (i < 100_000) keyCache[i] = k;
  }
  return k;
}

/** Bytes one document adds to a BSON array at index `i`: type, key, NUL, document. */
export function arrayEntrySize(i: number, docLen: number): number {
  return 2 + arrayKey(i).length + docLen;
}

/**
 * Builds `{cursor: {<batchField>: [docs], id, ns}, ok: 1.0}` after `prefix` bytes of
 * room (the wire header), copying document bytes straight into one buffer.
 */
export function cursorReply(
  prefix: number,
  batchField: 'firstBatch' | 'nextBatch',
  docs: readonly RawDoc[],
  id: bigint,
  ns: string,
): Buffer {
  let arrayLen = 5;
  for (let i = 0; i < docs.length; i++) arrayLen += arrayEntrySize(i, docs[i]!.len);
  const nsLen = Buffer.byteLength(ns);
  const fieldLen = Buffer.byteLength(batchField);
  const cursorLen = 4 + (2 + fieldLen + arrayLen) + (1 + 3 + 8) + (1 + 3 + 4 + nsLen + 1) + 1;
  const bodyLen = 4 + (1 + 7 + cursorLen) + (1 + 3 + 8) + 1;
  const out = Buffer.allocUnsafe(prefix + bodyLen);
  let p = prefix;
  p = out.writeInt32LE(bodyLen, p);
  out[p++] = T.document;
  p += out.write('cursor\0', p, 'latin1');
  p = out.writeInt32LE(cursorLen, p);
  out[p++] = T.array;
  p += out.write(batchField, p, 'latin1');
  out[p++] = 0;
  p = out.writeInt32LE(arrayLen, p);
  for (let i = 0; i < docs.length; i++) {
    const d = docs[i]!;
    out[p++] = T.document;
    p += arrayKey(i).copy(out, p);
    out[p++] = 0;
    p += d.buf.copy(out, p, d.start, d.start + d.len);
  }
  out[p++] = 0; // end of array
  out[p++] = T.int64;
  p += out.write('id\0', p, 'latin1');
  p = out.writeBigInt64LE(id, p);
  out[p++] = T.string;
  p += out.write('ns\0', p, 'latin1');
  p = out.writeInt32LE(nsLen + 1, p);
  p += out.write(ns, p, 'utf8');
  out[p++] = 0;
  out[p++] = 0; // end of cursor
  out[p++] = T.double;
  p += out.write('ok\0', p, 'latin1');
  p = out.writeDoubleLE(1, p);
  out[p++] = 0;
  if (p !== out.length) throw new Error(`cursor reply size mismatch: ${p} != ${out.length}`);
  return out;
}
