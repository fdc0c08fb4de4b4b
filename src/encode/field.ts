/** One field's text to its binary COPY form, by the column's encoder kind. */
import { encodeArray, type ElementEncoder } from './array.js';
import { encodeBool } from './boolean.js';
import { type ColumnEncoding, Kind } from './column-types.js';
import { encodeDate, encodeTimestamp, encodeTimestamptz } from './datetime.js';
import { encodeFloat4, encodeFloat8 } from './float.js';
import { encodeInt2, encodeInt4, encodeInt8 } from './integer.js';
import { encodeNumeric } from './numeric.js';
import { encodeBytea, encodeJsonb, encodeName, encodeText } from './text.js';
import type { ZoneTable } from './time-zone.js';
import { encodeUuid } from './uuid.js';
import type { BinaryWriter } from './writer.js';

/**
 * Writes the field (its length word and value) and returns true, or returns false
 * when the encoder is not certain the server would read the text this way; the
 * writer's contents are then abandoned. The writer must have room for 8 bytes per
 * input byte plus 64 (numeric and arrays of short numbers grow most).
 */
export function encodeField(w: BinaryWriter, kind: number, src: Uint8Array, start: number, end: number, zone: ZoneTable): boolean {
  switch (kind) {
    case Kind.int2: return encodeInt2(w, src, start, end);
    case Kind.int4: return encodeInt4(w, src, start, end);
    case Kind.int8: return encodeInt8(w, src, start, end);
    case Kind.float4: return encodeFloat4(w, src, start, end);
    case Kind.float8: return encodeFloat8(w, src, start, end);
    case Kind.numeric: return encodeNumeric(w, src, start, end);
    case Kind.bool: return encodeBool(w, src, start, end);
    case Kind.text: case Kind.json: return encodeText(w, src, start, end);
    case Kind.name: return encodeName(w, src, start, end);
    case Kind.jsonb: return encodeJsonb(w, src, start, end);
    case Kind.bytea: return encodeBytea(w, src, start, end);
    case Kind.uuid: return encodeUuid(w, src, start, end);
    case Kind.date: return encodeDate(w, src, start, end);
    case Kind.timestamp: return encodeTimestamp(w, src, start, end);
    case Kind.timestamptz: return encodeTimestamptz(w, src, start, end, zone);
    default: return false;
  }
}

/** Arrays: the element encoder is made once per column. */
export function arrayEncoder(column: ColumnEncoding, zone: ZoneTable, arrayNulls: boolean):
  (w: BinaryWriter, src: Uint8Array, start: number, end: number) => boolean {
  const kind = column.elementKind;
  const element: ElementEncoder = (w, src, start, end) => encodeField(w, kind, src, start, end, zone);
  return (w, src, start, end) => encodeArray(w, src, start, end, column.elementOid, element, arrayNulls);
}
