/**
 * BSON value kinds (named as MongoDB's `$type` aliases: "int", "long", "double",
 * "decimal", "date", "objectId", ...), how a sample of kinds becomes one PostgreSQL
 * column type, and which target types accept which kinds. Shared by the MongoDB and
 * the JSON file sources, and by the encoding workers.
 */

/** BSON element type byte → kind. */
export const BSON_KIND_BY_TYPE: Readonly<Record<number, string>> = {
  0x01: 'double', 0x02: 'string', 0x03: 'object', 0x04: 'array', 0x05: 'binData',
  0x06: 'undefined', 0x07: 'objectId', 0x08: 'bool', 0x09: 'date', 0x0a: 'null',
  0x0b: 'regex', 0x0c: 'dbPointer', 0x0d: 'javascript', 0x0e: 'symbol',
  0x0f: 'javascriptWithScope', 0x10: 'int', 0x11: 'timestamp', 0x12: 'long',
  0x13: 'decimal', 0xff: 'minKey', 0x7f: 'maxKey',
};

/** The kind of a decoded value (bson classes told apart by `_bsontype`, so either bson build works). */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  switch (typeof value) {
    case 'string': return 'string';
    case 'boolean': return 'bool';
    case 'number': return Number.isInteger(value) && value >= -2147483648 && value <= 2147483647 ? 'int' : 'double';
    case 'bigint': return 'long';
    default: break;
  }
  if (value instanceof Date) return 'date';
  if (Array.isArray(value)) return 'array';
  if (value instanceof Uint8Array) return 'binData';
  switch ((value as { _bsontype?: string })._bsontype) {
    case 'Int32': return 'int';
    case 'Long': return 'long';
    case 'Double': return 'double';
    case 'Decimal128': return 'decimal';
    case 'ObjectId': return 'objectId';
    case 'Binary': return 'binData';
    case 'Timestamp': return 'timestamp';
    case 'BSONRegExp': return 'regex';
    case 'BSONSymbol': return 'symbol';
    case 'Code': return (value as { scope?: unknown }).scope ? 'javascriptWithScope' : 'javascript';
    case 'MinKey': return 'minKey';
    case 'MaxKey': return 'maxKey';
    case 'DBPointer': return 'dbPointer';
    default: return 'object'; // plain documents, DBRef
  }
}

const NUMERIC = ['int', 'long', 'double', 'decimal'];

/**
 * A Decimal128's text (as bson prints it: `1700000000000`, `1.7E+12`, `12.000`) as an
 * exact integer; undefined when it has a fraction, or is NaN or infinite.
 */
export function wholeDecimal(text: string): bigint | undefined {
  const m = /^([+-]?)(\d+)(?:\.(\d+))?(?:E([+-]?\d+))?$/i.exec(text);
  if (!m) return undefined;
  const digits = m[2]! + (m[3] ?? '');
  const exponent = Number(m[4] ?? 0) - (m[3]?.length ?? 0);
  let value: bigint;
  if (exponent >= 0) value = BigInt(digits) * 10n ** BigInt(exponent);
  else {
    const cut = digits.length + exponent;
    if (!/^0*$/.test(digits.slice(Math.max(0, cut)))) return undefined;
    value = cut > 0 ? BigInt(digits.slice(0, cut)) : 0n;
  }
  return m[1] === '-' ? -value : value;
}
const TEXTUAL = ['string', 'objectId', 'symbol'];

/**
 * One PostgreSQL type for the kinds seen in a field (nulls and missing values excluded):
 * numbers widen (int → integer, + long → bigint, + double → double precision,
 * + decimal → numeric); strings, ObjectIds and symbols are text; documents and arrays
 * jsonb; any other mixture (or a field never seen with a value) is jsonb, which holds
 * every BSON value losslessly as relaxed Extended JSON.
 */
export function pgTypeForKinds(kinds: Iterable<string>): string {
  const set = new Set([...kinds].filter((k) => k !== 'null' && k !== 'undefined'));
  if (set.size === 0) return 'jsonb';
  const all = (list: string[]) => [...set].every((k) => list.includes(k));
  if (all(NUMERIC)) {
    if (set.has('decimal')) return 'numeric';
    if (set.has('double')) return 'double precision';
    if (set.has('long')) return 'bigint';
    return 'integer';
  }
  if (all(TEXTUAL)) return 'text';
  if (set.size === 1) {
    const only = [...set][0]!;
    switch (only) {
      case 'date': return 'timestamptz';
      case 'bool': return 'boolean';
      case 'binData': return 'bytea';
      case 'javascript': return 'text';
      default: return 'jsonb';
    }
  }
  return 'jsonb';
}

/** How a target column's type takes values; see encodeValue in document-encoding.ts. */
export type TargetFamily =
  | 'int2' | 'int4' | 'int8' | 'numeric' | 'float4' | 'float8'
  | 'timestamptz' | 'timestamp' | 'date' | 'bool' | 'text' | 'json' | 'bytea' | 'uuid' | 'other';

/** Maps a PostgreSQL type name (format_type, udt_name or alias, with or without modifiers). */
export function targetFamily(pgType: string): TargetFamily {
  const t = pgType.toLowerCase().trim().replace(/\s*\(.*?\)/g, '').replace(/\s+/g, ' ');
  if (t.endsWith('[]')) return 'other';
  switch (t) {
    case 'smallint': case 'int2': return 'int2';
    case 'integer': case 'int': case 'int4': return 'int4';
    case 'bigint': case 'int8': return 'int8';
    case 'numeric': case 'decimal': return 'numeric';
    case 'real': case 'float4': return 'float4';
    case 'double precision': case 'float8': case 'float': return 'float8';
    case 'timestamptz': case 'timestamp with time zone': return 'timestamptz';
    case 'timestamp': case 'timestamp without time zone': return 'timestamp';
    case 'date': return 'date';
    case 'boolean': case 'bool': return 'bool';
    case 'text': case 'character varying': case 'varchar': case 'character': case 'char': case 'bpchar':
    case 'name': case 'citext': return 'text';
    case 'json': case 'jsonb': return 'json';
    case 'bytea': return 'bytea';
    case 'uuid': return 'uuid';
    default: return 'other';
  }
}
