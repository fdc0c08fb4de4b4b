/**
 * PostgreSQL's binary COPY framing (the "COPY" page of the manual, "Binary Format"):
 * an 11-byte signature, a flags word and a header-extension length, then per row a
 * 16-bit field count and per field a 32-bit length (-1 for NULL) and the value in the
 * type's send/recv form; a 16-bit -1 ends the data.
 */
import type { BinaryWriter } from './writer.js';

const SIGNATURE = [0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00];

/** Signature, flags (no OIDs) and an empty header extension: 19 bytes. */
export function writeHeader(w: BinaryWriter): void {
  w.ensure(19);
  for (const b of SIGNATURE) w.byte(b);
  w.int32(0);
  w.int32(0);
}

export function writeTrailer(w: BinaryWriter): void {
  w.ensure(2);
  w.int16(-1);
}

/** Built-in type OIDs: fixed in every PostgreSQL version (pg_type.dat). */
export const OID = {
  bool: 16, bytea: 17, name: 19, int8: 20, int2: 21, int4: 23, text: 25, json: 114,
  float4: 700, float8: 701, bpchar: 1042, varchar: 1043, date: 1082, timestamp: 1114,
  timestamptz: 1184, numeric: 1700, uuid: 2950, jsonb: 3802,
} as const;
