/**
 * ClickHouse column types: a parser for type strings as DESCRIBE prints them
 * (`Array(Nullable(String))`, `DateTime64(3, 'Europe/Berlin')`, `Enum8('a' = 1)`,
 * `Tuple(a Int32, b String)`, `Map(String, UInt64)`, ...) and their mapping to
 * PostgreSQL. Everything here is pure data, so it can be sent to worker threads.
 */
import { HyperfillError } from '../../src/errors.js';
import type { TimeType } from '../../src/time-value.js';

export type ChType =
  | { kind: 'int'; bits: 8 | 16 | 32 | 64 | 128 | 256; signed: boolean }
  | { kind: 'float'; bits: 32 | 64 }
  | { kind: 'decimal'; precision: number; scale: number }
  | { kind: 'string' }
  | { kind: 'fixedstring'; length: number }
  | { kind: 'uuid' }
  | { kind: 'bool' }
  | { kind: 'ipv4' }
  | { kind: 'ipv6' }
  | { kind: 'date' }
  | { kind: 'datetime'; timezone?: string }
  | { kind: 'datetime64'; precision: number; timezone?: string }
  | { kind: 'enum'; values: Array<[string, number]> }
  | { kind: 'nothing' }
  | { kind: 'nullable'; inner: ChType }
  | { kind: 'lowcardinality'; inner: ChType }
  | { kind: 'array'; inner: ChType }
  | { kind: 'tuple'; elements: Array<{ name?: string; type: ChType }> }
  | { kind: 'map'; key: ChType; value: ChType };

/**
 * How a column's bytes get from ClickHouse's TabSeparated output to PostgreSQL text COPY:
 * - `text`: already PostgreSQL-compatible (possibly after a SELECT expression, see select.ts);
 *   flows as bytes.
 * - `json`: ClickHouse prints a literal (`(1,'a')`, `[[1],[2]]`, `{'k':1}`) that Node turns
 *   into JSON for a jsonb column (literal.ts), row by row.
 */
export type OutputKind = 'text' | 'json';

export interface ColumnMapping {
  pgType: string;
  nullable: boolean;
  output: OutputKind;
}

// ---------------------------------------------------------------- parsing

type Token =
  | { t: 'ident'; v: string }
  | { t: 'string'; v: string }
  | { t: 'number'; v: string }
  | { t: 'punct'; v: '(' | ')' | ',' | '=' };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(' || c === ')' || c === ',' || c === '=') {
      tokens.push({ t: 'punct', v: c });
      i++;
    } else if (c === "'" || c === '`' || c === '"') {
      // Quoted string (enum names, time zones) or quoted identifier (tuple element names).
      let v = '';
      i++;
      for (;;) {
        if (i >= text.length) throw typeError(text, 'unterminated quote');
        const d = text[i] as string;
        if (d === '\\' && i + 1 < text.length) {
          const e = text[i + 1] as string;
          v += ({ n: '\n', t: '\t', r: '\r', '0': '\0', b: '\b', f: '\f' } as Record<string, string>)[e] ?? e;
          i += 2;
        } else if (d === c && text[i + 1] === c) {
          v += c;
          i += 2;
        } else if (d === c) {
          i++;
          break;
        } else {
          v += d;
          i++;
        }
      }
      tokens.push(c === "'" ? { t: 'string', v } : { t: 'ident', v });
    } else if (/[-+0-9]/.test(c)) {
      const m = /^[-+]?\d+(\.\d+)?/.exec(text.slice(i));
      if (!m) throw typeError(text, `unexpected "${c}"`);
      tokens.push({ t: 'number', v: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(text.slice(i)) as RegExpExecArray;
      tokens.push({ t: 'ident', v: m[0] });
      i += m[0].length;
    } else {
      throw typeError(text, `unexpected "${c}"`);
    }
  }
  return tokens;
}

/** A generic node: `Name(arg, ...)`; an argument is a type (maybe named), a string, a number, or `'name' = n`. */
interface Node {
  name: string;
  args: Arg[];
}
type Arg =
  | { a: 'type'; type: Node; field?: string }
  | { a: 'string'; v: string }
  | { a: 'number'; v: string }
  | { a: 'enum'; name: string; value: number };

class Parser {
  private pos = 0;
  constructor(private readonly tokens: Token[], private readonly text: string) {}

  parse(): Node {
    const node = this.node();
    if (this.pos !== this.tokens.length) throw typeError(this.text, 'unexpected text after the type');
    return node;
  }

  private peek(offset = 0): Token | undefined {
    return this.tokens[this.pos + offset];
  }

  private next(): Token {
    const t = this.tokens[this.pos++];
    if (!t) throw typeError(this.text, 'unexpected end');
    return t;
  }

  private expect(v: string): void {
    const t = this.next();
    if (t.t !== 'punct' || t.v !== v) throw typeError(this.text, `expected "${v}"`);
  }

  private node(): Node {
    const t = this.next();
    if (t.t !== 'ident') throw typeError(this.text, 'expected a type name');
    const node: Node = { name: t.v, args: [] };
    const open = this.peek();
    if (open?.t === 'punct' && open.v === '(') {
      this.pos++;
      const close = this.peek();
      if (!(close?.t === 'punct' && close.v === ')')) {
        for (;;) {
          node.args.push(this.arg());
          const sep = this.next();
          if (sep.t === 'punct' && sep.v === ')') break;
          if (!(sep.t === 'punct' && sep.v === ',')) throw typeError(this.text, 'expected "," or ")"');
        }
      } else {
        this.pos++;
      }
    }
    return node;
  }

  private arg(): Arg {
    const t = this.peek();
    if (!t) throw typeError(this.text, 'unexpected end');
    if (t.t === 'string') {
      this.pos++;
      const eq = this.peek();
      if (eq?.t === 'punct' && eq.v === '=') {
        this.pos++;
        const n = this.next();
        if (n.t !== 'number') throw typeError(this.text, 'expected an enum value');
        return { a: 'enum', name: t.v, value: Number(n.v) };
      }
      return { a: 'string', v: t.v };
    }
    if (t.t === 'number') {
      this.pos++;
      return { a: 'number', v: t.v };
    }
    // `name Type` (a named tuple element or a Nested field) or just `Type`.
    const after = this.peek(1);
    if (t.t === 'ident' && after?.t === 'ident') {
      this.pos++;
      return { a: 'type', field: t.v, type: this.node() };
    }
    return { a: 'type', type: this.node() };
  }
}

function typeError(text: string, why: string): HyperfillError {
  return new HyperfillError('E_CLICKHOUSE_TYPE', `cannot read the ClickHouse type "${text}": ${why}`);
}

const INTS: Record<string, { bits: 8 | 16 | 32 | 64 | 128 | 256; signed: boolean }> = {
  Int8: { bits: 8, signed: true }, Int16: { bits: 16, signed: true }, Int32: { bits: 32, signed: true },
  Int64: { bits: 64, signed: true }, Int128: { bits: 128, signed: true }, Int256: { bits: 256, signed: true },
  UInt8: { bits: 8, signed: false }, UInt16: { bits: 16, signed: false }, UInt32: { bits: 32, signed: false },
  UInt64: { bits: 64, signed: false }, UInt128: { bits: 128, signed: false }, UInt256: { bits: 256, signed: false },
};

/** Parses a ClickHouse type string (as DESCRIBE or toTypeName print it). */
export function parseClickHouseType(text: string): ChType {
  return fromNode(new Parser(tokenize(text), text).parse(), text);
}

function fromNode(node: Node, text: string): ChType {
  const args = node.args;
  const typeArg = (i: number): ChType => {
    const a = args[i];
    if (a?.a !== 'type') throw typeError(text, `${node.name} expects a type as argument ${i + 1}`);
    return fromNode(a.type, text);
  };
  const numArg = (i: number): number => {
    const a = args[i];
    if (a?.a !== 'number') throw typeError(text, `${node.name} expects a number as argument ${i + 1}`);
    return Number(a.v);
  };
  const stringArg = (i: number): string | undefined => {
    const a = args[i];
    if (a === undefined) return undefined;
    if (a.a !== 'string') throw typeError(text, `${node.name} expects a quoted string as argument ${i + 1}`);
    return a.v;
  };
  const int = INTS[node.name];
  if (int) return { kind: 'int', ...int };
  switch (node.name) {
    case 'Float32': return { kind: 'float', bits: 32 };
    case 'Float64': return { kind: 'float', bits: 64 };
    case 'Decimal': return { kind: 'decimal', precision: numArg(0), scale: args.length > 1 ? numArg(1) : 0 };
    case 'Decimal32': return { kind: 'decimal', precision: 9, scale: numArg(0) };
    case 'Decimal64': return { kind: 'decimal', precision: 18, scale: numArg(0) };
    case 'Decimal128': return { kind: 'decimal', precision: 38, scale: numArg(0) };
    case 'Decimal256': return { kind: 'decimal', precision: 76, scale: numArg(0) };
    case 'String': return { kind: 'string' };
    case 'FixedString': return { kind: 'fixedstring', length: numArg(0) };
    case 'UUID': return { kind: 'uuid' };
    case 'Bool': case 'Boolean': return { kind: 'bool' };
    case 'IPv4': return { kind: 'ipv4' };
    case 'IPv6': return { kind: 'ipv6' };
    case 'Date': case 'Date32': return { kind: 'date' };
    case 'DateTime': {
      const timezone = stringArg(0);
      return timezone === undefined ? { kind: 'datetime' } : { kind: 'datetime', timezone };
    }
    case 'DateTime64': {
      const timezone = stringArg(1);
      const precision = numArg(0);
      return timezone === undefined ? { kind: 'datetime64', precision } : { kind: 'datetime64', precision, timezone };
    }
    case 'Enum8': case 'Enum16': case 'Enum':
      return { kind: 'enum', values: args.map((a) => {
        if (a.a !== 'enum') throw typeError(text, `${node.name} expects 'name' = value pairs`);
        return [a.name, a.value] as [string, number];
      }) };
    case 'Nothing': return { kind: 'nothing' };
    case 'Nullable': return { kind: 'nullable', inner: typeArg(0) };
    case 'LowCardinality': return { kind: 'lowcardinality', inner: typeArg(0) };
    case 'Array': return { kind: 'array', inner: typeArg(0) };
    case 'Tuple':
      return { kind: 'tuple', elements: args.map((a, i) => {
        if (a.a !== 'type') throw typeError(text, `Tuple expects types as argument ${i + 1}`);
        return a.field === undefined ? { type: fromNode(a.type, text) } : { name: a.field, type: fromNode(a.type, text) };
      }) };
    // Nested(a T, b U) is stored (and printed) as an array of named tuples.
    case 'Nested':
      return { kind: 'array', inner: { kind: 'tuple', elements: args.map((a, i) => {
        if (a.a !== 'type' || a.field === undefined) throw typeError(text, `Nested expects "name Type" as argument ${i + 1}`);
        return { name: a.field, type: fromNode(a.type, text) };
      }) } };
    case 'Map': return { kind: 'map', key: typeArg(0), value: typeArg(1) };
    default:
      throw new HyperfillError('E_CLICKHOUSE_TYPE', `the ClickHouse type ${node.name} is not supported`, {},
        'supported: integers, floats, Decimal, String, FixedString, UUID, Date, DateTime, DateTime64, Enum, Nullable, LowCardinality, Array, Tuple, Map, Nested');
  }
}

// ---------------------------------------------------------------- mapping

/** The type under Nullable and LowCardinality wrappers. */
export function unwrap(type: ChType): ChType {
  return type.kind === 'nullable' || type.kind === 'lowcardinality' ? unwrap(type.inner) : type;
}

export function isNullable(type: ChType): boolean {
  if (type.kind === 'nullable') return true;
  if (type.kind === 'lowcardinality') return isNullable(type.inner);
  return false;
}

/** Scalars: types an element of a PostgreSQL array can hold as is. */
export function isScalar(type: ChType): boolean {
  const k = unwrap(type).kind;
  return k !== 'array' && k !== 'tuple' && k !== 'map';
}

/** The PostgreSQL type of a scalar (not wrapped). */
function scalarPgType(type: ChType): string {
  switch (type.kind) {
    case 'int':
      if (type.bits === 8) return 'smallint';
      if (type.bits === 16) return type.signed ? 'smallint' : 'integer';
      if (type.bits === 32) return type.signed ? 'integer' : 'bigint';
      // UInt64 goes up to 18446744073709551615, past bigint: numeric(20,0) always, so no value can fail.
      if (type.bits === 64) return type.signed ? 'bigint' : 'numeric(20,0)';
      return type.bits === 128 ? 'numeric(39,0)' : 'numeric(78,0)';
    case 'float': return type.bits === 32 ? 'real' : 'double precision';
    case 'decimal': return `numeric(${type.precision},${type.scale})`;
    case 'string': case 'fixedstring': case 'enum': case 'nothing': return 'text';
    case 'uuid': return 'uuid';
    case 'bool': return 'boolean';
    case 'ipv4': case 'ipv6': return 'inet';
    case 'date': return 'date';
    case 'datetime': case 'datetime64': return 'timestamp with time zone';
    default: throw new Error(`not a scalar: ${type.kind}`);
  }
}

/**
 * The PostgreSQL column for a ClickHouse type: scalars map to their type; an array of
 * scalars to an array of it (`Array(Nullable(Int32))` → `integer[]`); arrays of arrays,
 * tuples, maps and arrays of tuples (Nested) to jsonb.
 */
export function mapClickHouseType(type: ChType): ColumnMapping {
  const nullable = isNullable(type);
  const base = unwrap(type);
  if (base.kind === 'array' && isScalar(base.inner)) {
    return { pgType: `${scalarPgType(unwrap(base.inner))}[]`, nullable, output: 'text' };
  }
  if (base.kind === 'array' || base.kind === 'tuple' || base.kind === 'map') return { pgType: 'jsonb', nullable, output: 'json' };
  return { pgType: scalarPgType(base), nullable, output: 'text' };
}

/** A time column's TimeType and window domain, or undefined when the type cannot be one. */
export function timeTypeOfClickHouse(type: ChType): TimeType | undefined {
  if (type.kind === 'lowcardinality') return timeTypeOfClickHouse(type.inner);
  switch (type.kind) {
    case 'datetime': case 'datetime64': return 'timestamptz';
    case 'date': return 'date';
    case 'int':
      if (type.bits > 64) return undefined;
      // A UInt64 epoch (e.g. milliseconds) is read as bigint: epochs are far below 2^63.
      if (type.bits === 64 || (type.bits === 32 && !type.signed)) return 'bigint';
      if (type.bits === 32 || (type.bits === 16 && !type.signed)) return 'integer';
      return 'smallint';
    default: return undefined;
  }
}

/** Prints a type back (for messages and tests). */
export function formatClickHouseType(type: ChType): string {
  const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  switch (type.kind) {
    case 'int': return `${type.signed ? '' : 'U'}Int${type.bits}`;
    case 'float': return `Float${type.bits}`;
    case 'decimal': return `Decimal(${type.precision}, ${type.scale})`;
    case 'string': return 'String';
    case 'fixedstring': return `FixedString(${type.length})`;
    case 'uuid': return 'UUID';
    case 'bool': return 'Bool';
    case 'ipv4': return 'IPv4';
    case 'ipv6': return 'IPv6';
    case 'date': return 'Date';
    case 'datetime': return type.timezone === undefined ? 'DateTime' : `DateTime(${q(type.timezone)})`;
    case 'datetime64': return `DateTime64(${type.precision}${type.timezone === undefined ? '' : `, ${q(type.timezone)}`})`;
    case 'enum': return `Enum16(${type.values.map(([n, v]) => `${q(n)} = ${v}`).join(', ')})`;
    case 'nothing': return 'Nothing';
    case 'nullable': return `Nullable(${formatClickHouseType(type.inner)})`;
    case 'lowcardinality': return `LowCardinality(${formatClickHouseType(type.inner)})`;
    case 'array': return `Array(${formatClickHouseType(type.inner)})`;
    case 'tuple': return `Tuple(${type.elements.map((e) => (e.name === undefined ? '' : `${e.name} `) + formatClickHouseType(e.type)).join(', ')})`;
    case 'map': return `Map(${formatClickHouseType(type.key)}, ${formatClickHouseType(type.value)})`;
  }
}
