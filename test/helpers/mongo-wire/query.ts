// The one query engine of the test server: every filter (find, count, aggregate's $match,
// delete, distinct, listCollections) and every sort is evaluated here, on the stored BSON
// bytes, in MongoDB's comparison order (bson-order.ts). Filters follow mongod's rules:
// a dotted path reaches into documents and through arrays (any element may match, and a
// whole array is compared too); comparisons only match values of the operand's type
// bracket; null matches null and missing fields; NaN equals only NaN. An operator this
// engine does not know is refused (BadValue), never approximated by another engine.
import { deserialize, serialize } from 'bson';
import { canonicalRank, compareValues, isNumberType, type Val } from './bson-order.js';
import { findField, T, valueSize, type Hit } from './raw-bson.js';

/** A filter or sort the engine refuses, answered as mongod's BadValue. */
export class QueryError extends Error {}

// ---- values of the query itself ----

const isPlain = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

/** A query operand as stored BSON: numbers keep their BSON type (Int32, Long, Decimal128...). */
export function toVal(operand: unknown): Val {
  const buf = Buffer.from(serialize({ v: operand }));
  return { type: buf[4]!, buf, pos: 7 }; // int32 length, type byte, "v\0"
}

const NULL: Val = toVal(null);
const UNDEFINED: Val = { type: T.undefined, buf: Buffer.alloc(0), pos: 0 };

interface RegexSpec {
  source: string;
  options: string;
}

function regexOf(v: unknown): RegexSpec | undefined {
  if (v instanceof RegExp) return { source: v.source, options: v.flags };
  const r = v as { _bsontype?: string; pattern?: string; options?: string };
  if (r?._bsontype === 'BSONRegExp') return { source: r.pattern!, options: r.options ?? '' };
  return undefined;
}

function compileRegex(spec: RegexSpec): RegExp {
  const unknown = [...spec.options].filter((o) => !'imsu'.includes(o) && !'gy'.includes(o));
  if (unknown.length > 0) throw new QueryError(`regex option(s) ${unknown.join('')} are not supported by this test server`);
  return new RegExp(spec.source, [...new Set(spec.options.replace(/[gy]/g, ''))].join(''));
}

// ---- reading a path from a stored document ----

/** What a dotted path reaches in one document: its values, and whether some branch found nothing. */
interface Reach {
  values: Val[];
  missing: boolean;
}

/** The elements of an array (or fields of a document) at `v`, in order, with their names. */
function* elements(v: Val): Generator<[string, Val]> {
  const { buf } = v;
  const end = v.pos + buf.readInt32LE(v.pos) - 1;
  let p = v.pos + 4;
  while (p < end) {
    const type = buf[p++]!;
    const nameEnd = buf.indexOf(0, p);
    const name = buf.toString('utf8', p, nameEnd);
    const pos = nameEnd + 1;
    yield [name, { type, buf, pos }];
    p = pos + valueSize(buf, type, pos);
  }
}

class PathReader {
  private readonly hit: Hit = { type: 0, pos: 0 };
  private readonly names: Buffer[];

  constructor(readonly parts: string[]) {
    if (parts.some((p) => p === '')) throw new QueryError(`FieldPath field names may not be empty: ${parts.join('.')}`);
    this.names = parts.map((p) => Buffer.from(p, 'utf8'));
  }

  read(doc: Val): Reach {
    const reach: Reach = { values: [], missing: false };
    this.descend(doc, 0, reach);
    if (reach.values.length === 0) reach.missing = true;
    return reach;
  }

  private descend(v: Val, i: number, out: Reach): void {
    if (i === this.parts.length) {
      out.values.push(v);
      return;
    }
    if (v.type === T.document) {
      if (findField(v.buf, v.pos, this.names[i]!, this.hit)) this.descend({ type: this.hit.type, buf: v.buf, pos: this.hit.pos }, i + 1, out);
      else out.missing = true;
      return;
    }
    if (v.type === T.array) {
      // A number picks an element; every element that is a document is looked into too.
      let reached = false;
      for (const [name, e] of elements(v)) {
        if (name === this.parts[i]) {
          this.descend(e, i + 1, out);
          reached = true;
        }
        if (e.type === T.document) {
          this.descend(e, i, out);
          reached = true;
        }
      }
      if (!reached) out.missing = true;
      return;
    }
    out.missing = true;
  }
}

// ---- filters ----

type Predicate = (doc: Val) => boolean;
type ValueTest = (v: Val) => boolean;

/** Runs `test` on each value a path reaches, and on the elements of those that are arrays. */
function anyValue(reach: Reach, test: ValueTest): boolean {
  for (const v of reach.values) {
    if (test(v)) return true;
    if (v.type === T.array) for (const [, e] of elements(v)) if (test(e)) return true;
  }
  return false;
}

const isNullish = (v: Val): boolean => v.type === T.null || v.type === T.undefined;

function isNaNValue(v: Val): boolean {
  if (v.type === T.double) return Number.isNaN(v.buf.readDoubleLE(v.pos));
  if (v.type === T.decimal128) return ((v.buf.readUInt8(v.pos + 15) >> 2) & 0x1f) === 0x1f;
  return false;
}

type CompareOp = '$eq' | '$gt' | '$gte' | '$lt' | '$lte';

/** `value op operand` for one value, with mongod's type bracketing and NaN rule. */
function comparison(op: CompareOp, operand: Val): ValueTest {
  const bounded = operand.type !== T.minKey && operand.type !== T.maxKey;
  const rank = canonicalRank(operand.type);
  const operandNaN = isNaNValue(operand);
  const holds = (c: number) => (op === '$eq' ? c === 0 : op === '$gt' ? c > 0 : op === '$gte' ? c >= 0 : op === '$lt' ? c < 0 : c <= 0);
  return (v) => {
    if (bounded && canonicalRank(v.type) !== rank) return false;
    if (isNumberType(v.type) && (operandNaN || isNaNValue(v))) return operandNaN && isNaNValue(v) && (op === '$eq' || op === '$gte' || op === '$lte');
    return holds(compareValues(v, operand));
  };
}

/** Equality to a query value: null matches missing, a regex matches strings. */
function equality(operand: unknown): (reach: Reach) => boolean {
  const regex = regexOf(operand);
  if (regex) {
    const re = compileRegex(regex);
    const same = comparison('$eq', toVal(operand));
    return (reach) => anyValue(reach, (v) => ((v.type === T.string || v.type === T.symbol) && re.test(stringOf(v))) || same(v));
  }
  const val = toVal(operand);
  const eq = comparison('$eq', val);
  if (isNullish(val)) return (reach) => reach.missing || anyValue(reach, isNullish);
  return (reach) => anyValue(reach, eq);
}

function stringOf(v: Val): string {
  return v.buf.toString('utf8', v.pos + 4, v.pos + 3 + v.buf.readInt32LE(v.pos));
}

/** A numeric argument of an operator (bodies keep BSON number types). */
function numberArg(v: unknown, what: string): number {
  if (typeof v === 'number') return v;
  const t = v as { _bsontype?: string; value?: number } | null;
  switch (t?._bsontype) {
    case 'Int32': case 'Double': return t.value!;
    case 'Long': case 'Decimal128': return Number(String(t));
    default: throw new QueryError(`${what} needs a number`);
  }
}

const TYPE_ALIASES: Record<string, number> = {
  double: T.double, string: T.string, object: T.document, array: T.array, binData: T.binary, undefined: T.undefined,
  objectId: T.objectId, bool: T.bool, date: T.date, null: T.null, regex: T.regex, dbPointer: T.dbPointer, javascript: T.code,
  symbol: T.symbol, javascriptWithScope: T.codeWithScope, int: T.int32, timestamp: T.timestamp, long: T.int64,
  decimal: T.decimal128, minKey: T.minKey, maxKey: T.maxKey,
};

function typeTest(spec: unknown): ValueTest {
  const wanted = (Array.isArray(spec) ? spec : [spec]).map((t): ((type: number) => boolean) => {
    if (t === 'number') return isNumberType;
    if (typeof t === 'string') {
      const code = TYPE_ALIASES[t];
      if (code === undefined) throw new QueryError(`Unknown type name alias: ${t}`);
      return (type) => type === code;
    }
    const n = numberArg(t, '$type');
    const code = n === -1 ? T.minKey : n;
    return (type) => type === code;
  });
  return (v) => wanted.some((w) => w(v.type));
}

/** The tests of one field's operator object, e.g. `{$gte: a, $lt: b}`. */
function fieldOperators(path: PathReader, ops: Record<string, unknown>): (reach: Reach) => boolean {
  const tests: Array<(reach: Reach) => boolean> = [];
  let regexOptions = '';
  if ('$options' in ops) regexOptions = String(ops.$options);
  for (const [op, arg] of Object.entries(ops)) {
    switch (op) {
      case '$eq':
        tests.push(equality(arg));
        break;
      case '$ne': {
        const eq = equality(arg);
        tests.push((r) => !eq(r));
        break;
      }
      case '$gt': case '$gte': case '$lt': case '$lte': {
        const val = toVal(arg);
        if (isNullish(val)) {
          // null is only equal to null: $gte/$lte null are $eq null, $gt/$lt null match nothing.
          const eq = equality(null);
          tests.push(op === '$gte' || op === '$lte' ? eq : () => false);
          break;
        }
        const test = comparison(op, val);
        tests.push((r) => anyValue(r, test));
        break;
      }
      case '$in': case '$nin': {
        if (!Array.isArray(arg)) throw new QueryError(`${op} needs an array`);
        const each = arg.map((a) => equality(a));
        const any = (r: Reach) => each.some((eq) => eq(r));
        tests.push(op === '$in' ? any : (r) => !any(r));
        break;
      }
      case '$exists': {
        const want = typeof arg === 'boolean' ? arg : numberArg(arg, '$exists') !== 0;
        tests.push((r) => (r.values.length > 0) === want);
        break;
      }
      case '$type': {
        const test = typeTest(arg);
        tests.push((r) => anyValue(r, test));
        break;
      }
      case '$size': {
        const n = numberArg(arg, '$size');
        tests.push((r) => r.values.some((v) => v.type === T.array && [...elements(v)].length === n));
        break;
      }
      case '$all': {
        if (!Array.isArray(arg)) throw new QueryError('$all needs an array');
        const each = arg.map((a) => (isPlain(a) && '$elemMatch' in a ? fieldOperators(path, a) : equality(a)));
        tests.push((r) => each.length > 0 && each.every((t) => t(r)));
        break;
      }
      case '$elemMatch': {
        if (!isPlain(arg)) throw new QueryError('$elemMatch needs an object');
        const keys = Object.keys(arg);
        const valueForm = keys.length > 0 && keys.every((k) => k.startsWith('$') && !['$and', '$or', '$nor'].includes(k));
        const inner: ValueTest = valueForm
          ? ((test) => (e: Val) => test({ values: [e], missing: false }))(fieldOperators(path, arg))
          : ((pred) => (e: Val) => e.type === T.document && pred(e))(compileFilter(arg));
        tests.push((r) => r.values.some((v) => v.type === T.array && [...elements(v)].some(([, e]) => inner(e))));
        break;
      }
      case '$not': {
        const inner = regexOf(arg) ? equality(arg) : isPlain(arg) ? fieldOperators(path, arg) : undefined;
        if (!inner) throw new QueryError('$not needs a regex or a document');
        tests.push((r) => !inner(r));
        break;
      }
      case '$regex': {
        const spec = regexOf(arg) ?? { source: String(arg), options: '' };
        const re = compileRegex({ source: spec.source, options: spec.options + regexOptions });
        tests.push((r) => anyValue(r, (v) => (v.type === T.string || v.type === T.symbol) && re.test(stringOf(v))));
        break;
      }
      case '$options':
        if (!('$regex' in ops)) throw new QueryError('$options needs a $regex');
        break;
      case '$mod': {
        if (!Array.isArray(arg) || arg.length !== 2) throw new QueryError('malformed mod, needs to be an array of two numbers');
        const divisor = Math.trunc(numberArg(arg[0], '$mod'));
        const remainder = Math.trunc(numberArg(arg[1], '$mod'));
        if (divisor === 0) throw new QueryError('divisor cannot be 0');
        tests.push((r) => anyValue(r, (v) => isNumberType(v.type) && !isNaNValue(v) && Math.trunc(numberOf(v)) % divisor === remainder));
        break;
      }
      default:
        throw new QueryError(`unknown operator: ${op}`);
    }
  }
  return (r) => tests.every((t) => t(r));
}

/** A stored number as a JS number (rounded: for $mod only). */
function numberOf(v: Val): number {
  switch (v.type) {
    case T.int32: return v.buf.readInt32LE(v.pos);
    case T.int64: return Number(v.buf.readBigInt64LE(v.pos));
    case T.double: return v.buf.readDoubleLE(v.pos);
    default: return Number(String(deserializeValue(v)));
  }
}

const EXACT = { promoteValues: false, promoteLongs: false, bsonRegExp: true } as const;

/** A stored value as a JS value, BSON types kept (Int32, Long, Decimal128...). */
export function deserializeValue(v: Val): unknown {
  const size = valueSize(v.buf, v.type, v.pos);
  const doc = Buffer.alloc(4 + 1 + 2 + size + 1);
  doc.writeInt32LE(doc.length, 0);
  doc[4] = v.type;
  doc[5] = 0x76; // "v"
  v.buf.copy(doc, 7, v.pos, v.pos + size);
  return deserialize(doc, EXACT).v;
}

const UNSUPPORTED = new Set(['$expr', '$where', '$text', '$jsonSchema', '$near', '$nearSphere', '$geoWithin', '$geoIntersects', '$sampleRate']);

/** A filter document compiled to a test of a stored document. Throws QueryError when it is invalid. */
export function compileFilter(filter: Record<string, unknown>): Predicate {
  const parts: Predicate[] = [];
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' || key === '$or' || key === '$nor') {
      if (!Array.isArray(value) || value.length === 0) throw new QueryError(`${key} argument must be a non-empty array`);
      const subs = value.map((sub) => {
        if (!isPlain(sub)) throw new QueryError(`${key} argument's entries must be objects`);
        return compileFilter(sub);
      });
      parts.push(key === '$and' ? (d) => subs.every((s) => s(d)) : key === '$or' ? (d) => subs.some((s) => s(d)) : (d) => !subs.some((s) => s(d)));
      continue;
    }
    if (key === '$comment') continue;
    if (UNSUPPORTED.has(key)) throw new QueryError(`${key} is not supported by this test server`);
    if (key.startsWith('$')) throw new QueryError(`unknown top level operator: ${key}`);
    const path = new PathReader(key.split('.'));
    const operators = isPlain(value) && Object.keys(value).length > 0 && Object.keys(value)[0]!.startsWith('$');
    const test = operators ? fieldOperators(path, value as Record<string, unknown>) : equality(value);
    parts.push((d) => test(path.read(d)));
  }
  return (d) => parts.every((p) => p(d));
}

/** The values a dotted path reaches, the elements of arrays among them listed instead (as distinct wants). */
export function valuesAt(doc: Val, key: string): Val[] {
  const out: Val[] = [];
  for (const v of new PathReader(key.split('.')).read(doc).values) {
    if (v.type === T.array) for (const [, e] of elements(v)) out.push(e);
    else out.push(v);
  }
  return out;
}

// ---- sorting ----

export interface SortKey {
  path: PathReader;
  direction: 1 | -1;
}

/** A sort specification such as `{t: -1, _id: 1}`. */
export function compileSort(spec: Record<string, unknown>): SortKey[] {
  const keys = Object.entries(spec).map(([field, dir]): SortKey => {
    const n = typeof dir === 'object' && dir !== null && !('_bsontype' in dir) ? NaN : numberArg(dir, 'sort');
    if (n !== 1 && n !== -1) throw new QueryError(`$sort key ordering must be 1 (for ascending) or -1 (for descending): ${field}`);
    if (field.startsWith('$')) throw new QueryError(`sorting by ${field} is not supported by this test server`);
    return { path: new PathReader(field.split('.')), direction: n };
  });
  if (keys.length === 0) throw new QueryError('$sort stage must have at least one sort key');
  return keys;
}

/**
 * The value a document sorts by for one key: an array contributes its smallest element
 * ascending and its largest descending (an empty array sorts below null); a missing
 * field sorts as null.
 */
export function sortValue(doc: Val, key: SortKey): Val {
  const reach = key.path.read(doc);
  const candidates: Val[] = reach.missing ? [NULL] : [];
  for (const v of reach.values) {
    if (v.type !== T.array) candidates.push(v);
    else {
      const items = [...elements(v)].map(([, e]) => e);
      candidates.push(...(items.length > 0 ? items : [UNDEFINED]));
    }
  }
  let best = candidates[0]!;
  for (const c of candidates) if (compareValues(c, best) * key.direction < 0) best = c;
  return best;
}

/**
 * Orders documents by `keys`. Documents that tie come back in an order that is neither
 * insertion order nor its reverse (mongod promises no order for ties, so nothing may rely on one).
 */
export function sortDocuments<D>(docs: Array<{ doc: D; at: Val; seq: number }>, keys: SortKey[]): D[] {
  const rows = docs.map((d) => ({ doc: d.doc, values: keys.map((k) => sortValue(d.at, k)), tie: scramble(d.seq) }));
  rows.sort((a, b) => {
    for (let i = 0; i < keys.length; i++) {
      const c = compareValues(a.values[i]!, b.values[i]!) * keys[i]!.direction;
      if (c !== 0) return c;
    }
    return a.tie - b.tie;
  });
  return rows.map((r) => r.doc);
}

/** A fixed permutation of sequence numbers (a multiplicative hash). */
export function scramble(seq: number): number {
  let x = Math.imul(seq ^ 0x5bd1e995, 0x9e3779b1);
  x ^= x >>> 15;
  return Math.imul(x, 0x85ebca6b) >>> 0;
}
