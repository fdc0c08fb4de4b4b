/**
 * Which target columns have a binary encoder: built-in types by OID (the same in
 * every PostgreSQL version), and one-dimensional arrays of them. Anything else
 * (domains, enums, intervals, user types) has none, and the batch goes as text.
 */
import { OID } from './copy-binary.js';

/** Encoder kinds: small integers, so the row loop can switch on them. */
export const Kind = {
  int2: 1, int4: 2, int8: 3, float4: 4, float8: 5, numeric: 6, bool: 7, text: 8, name: 9,
  json: 10, jsonb: 11, bytea: 12, uuid: 13, date: 14, timestamp: 15, timestamptz: 16, array: 17,
} as const;
export type ScalarKind = Exclude<(typeof Kind)[keyof typeof Kind], typeof Kind.array>;

/** Plain data: it crosses into worker threads. */
export interface ColumnEncoding {
  name: string;
  kind: number;
  /** Arrays: the element's kind and type OID (the binary array names it). */
  elementKind: number;
  elementOid: number;
}

const BY_OID = new Map<number, ScalarKind>([
  [OID.int2, Kind.int2], [OID.int4, Kind.int4], [OID.int8, Kind.int8], [OID.float4, Kind.float4], [OID.float8, Kind.float8],
  [OID.numeric, Kind.numeric], [OID.bool, Kind.bool], [OID.text, Kind.text], [OID.varchar, Kind.text], [OID.bpchar, Kind.text],
  [OID.name, Kind.name], [OID.json, Kind.json], [OID.jsonb, Kind.jsonb], [OID.bytea, Kind.bytea], [OID.uuid, Kind.uuid],
  [OID.date, Kind.date], [OID.timestamp, Kind.timestamp], [OID.timestamptz, Kind.timestamptz],
]);

export interface ColumnType {
  name: string;
  pgType: string;
  typeOid: number;
  elementOid: number;
}

/** The encoder for a column, or why there is none. */
export function columnEncoding(column: ColumnType): ColumnEncoding | string {
  const scalar = BY_OID.get(column.typeOid);
  if (scalar !== undefined) return { name: column.name, kind: scalar, elementKind: 0, elementOid: 0 };
  const element = column.elementOid !== 0 ? BY_OID.get(column.elementOid) : undefined;
  if (element !== undefined) return { name: column.name, kind: Kind.array, elementKind: element, elementOid: column.elementOid };
  return `column "${column.name}" has type ${column.pgType}, which has no binary encoder`;
}

/** True when some column needs the session's time zone (zone-less timestamptz values). */
export function needsZone(columns: readonly ColumnEncoding[]): boolean {
  return columns.some((c) => c.kind === Kind.timestamptz || c.elementKind === Kind.timestamptz);
}
