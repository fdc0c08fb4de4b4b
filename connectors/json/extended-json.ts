/**
 * JSON tokens (stream-json's parser) → documents with BSON-typed values, reading
 * MongoDB Extended JSON in both its canonical and relaxed forms (what `mongoexport`
 * writes): `$oid`, `$date` (ISO string, `$numberLong` or legacy number), `$numberLong`,
 * `$numberInt`, `$numberDouble`, `$numberDecimal`, `$binary` (both forms), `$uuid`,
 * `$timestamp`, `$regularExpression` / `$regex`, `$symbol`, `$code`, `$minKey`,
 * `$maxKey`, `$undefined`. Plain numbers keep what their text says: `1` is an int
 * (a long past 32 bits), `1.0` and `1e3` are doubles, as mongoimport reads them.
 */
import { Binary, BSONRegExp, BSONSymbol, Code, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp } from 'bson';

/** A value the Extended JSON rules reject (e.g. `{"$oid": "xyz"}`); the reader adds the position. */
export class ExtendedJsonError extends Error {}

const INT = /^-?\d+$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A JSON number's text as a BSON-typed value: int32 as a JS number, else Long or Double. */
export function jsonNumber(text: string): unknown {
  if (INT.test(text)) {
    if (text.length <= 10) {
      const n = Number(text);
      if (n >= -2147483648 && n <= 2147483647) return n;
    }
    const big = BigInt(text);
    if (big >= INT64_MIN && big <= INT64_MAX) return Long.fromBigInt(big);
  }
  return new Double(Number(text));
}

/** A number-ish value (int, Long, Double) as a JS number, or NaN. */
function numeric(v: unknown): number {
  if (typeof v === 'number') return v;
  const o = v as { _bsontype?: string; value?: number; toNumber?: () => number } | null;
  if (o?._bsontype === 'Long' && o.toNumber) return o.toNumber();
  if (o?._bsontype === 'Double' || o?._bsontype === 'Int32') return o.value ?? NaN;
  return NaN;
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new ExtendedJsonError(`${what} must be a string`);
  return v;
}

function only(keys: string[], n: number, name: string): void {
  if (keys.length !== n) throw new ExtendedJsonError(`${name} must be the only key of its object`);
}

/**
 * The value an object stands for when it is an Extended JSON wrapper; the object
 * itself otherwise. Inner wrappers are already converted (objects close inside out).
 */
export function fromExtendedJson(obj: Record<string, unknown>): unknown {
  const keys = Object.keys(obj);
  const first = keys[0];
  if (first === undefined || first.charCodeAt(0) !== 36 /* $ */ || keys.length > 2) return obj;
  const v = obj[first];
  switch (first) {
    case '$oid': {
      only(keys, 1, '$oid');
      const hex = str(v, '$oid');
      if (!/^[0-9a-fA-F]{24}$/.test(hex)) throw new ExtendedJsonError(`$oid "${hex}" is not 24 hex digits`);
      return new ObjectId(hex);
    }
    case '$date': {
      only(keys, 1, '$date');
      let ms: number;
      if (typeof v === 'string') {
        ms = Date.parse(v);
        if (Number.isNaN(ms) || !/^\d{4}-\d{2}-\d{2}T/.test(v)) throw new ExtendedJsonError(`$date "${v}" is not an ISO 8601 time`);
      } else {
        ms = numeric(v); // {"$numberLong": "..."} (already a Long) or a legacy number
        if (!Number.isInteger(ms)) throw new ExtendedJsonError('$date must be an ISO string, {"$numberLong": "<ms>"} or a whole number of ms');
      }
      const date = new Date(ms);
      if (Number.isNaN(date.getTime())) throw new ExtendedJsonError(`$date ${String(v)} is out of range`);
      return date;
    }
    case '$numberLong': {
      only(keys, 1, '$numberLong');
      const text = str(v, '$numberLong');
      if (!INT.test(text)) throw new ExtendedJsonError(`$numberLong "${text}" is not an integer`);
      const big = BigInt(text);
      if (big < INT64_MIN || big > INT64_MAX) throw new ExtendedJsonError(`$numberLong "${text}" is out of range`);
      return Long.fromBigInt(big);
    }
    case '$numberInt': {
      only(keys, 1, '$numberInt');
      const text = str(v, '$numberInt');
      const n = Number(text);
      if (!INT.test(text) || n < -2147483648 || n > 2147483647) throw new ExtendedJsonError(`$numberInt "${text}" is not a 32-bit integer`);
      return new Int32(n);
    }
    case '$numberDouble': {
      only(keys, 1, '$numberDouble');
      const text = str(v, '$numberDouble');
      const n = text === 'Infinity' ? Infinity : text === '-Infinity' ? -Infinity : text === 'NaN' ? NaN : Number(text);
      if (Number.isNaN(n) && text !== 'NaN') throw new ExtendedJsonError(`$numberDouble "${text}" is not a number`);
      return new Double(n);
    }
    case '$numberDecimal': {
      only(keys, 1, '$numberDecimal');
      const text = str(v, '$numberDecimal');
      try {
        return Decimal128.fromString(text);
      } catch {
        throw new ExtendedJsonError(`$numberDecimal "${text}" is not a decimal`);
      }
    }
    case '$binary': {
      if (typeof v === 'string') {
        // Legacy: {"$binary": "<base64>", "$type": "<hex>"}
        const type = obj.$type;
        if (keys.length !== 2 || typeof type !== 'string') throw new ExtendedJsonError('legacy $binary needs a $type');
        return new Binary(Buffer.from(v, 'base64'), parseInt(type, 16));
      }
      only(keys, 1, '$binary');
      const b = v as { base64?: unknown; subType?: unknown } | null;
      if (!b || typeof b.base64 !== 'string' || typeof b.subType !== 'string') throw new ExtendedJsonError('$binary must be {"base64": "...", "subType": "<hex>"}');
      return new Binary(Buffer.from(b.base64, 'base64'), parseInt(b.subType, 16));
    }
    case '$uuid': {
      only(keys, 1, '$uuid');
      const hex = str(v, '$uuid').replace(/-/g, '');
      if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new ExtendedJsonError(`$uuid "${String(v)}" is not a UUID`);
      return new Binary(Buffer.from(hex, 'hex'), 4);
    }
    case '$timestamp': {
      only(keys, 1, '$timestamp');
      const ts = v as { t?: unknown; i?: unknown } | null;
      const t = numeric(ts?.t);
      const i = numeric(ts?.i);
      if (!Number.isInteger(t) || !Number.isInteger(i)) throw new ExtendedJsonError('$timestamp must be {"t": <seconds>, "i": <increment>}');
      return new Timestamp({ t, i });
    }
    case '$regularExpression': {
      only(keys, 1, '$regularExpression');
      const r = v as { pattern?: unknown; options?: unknown } | null;
      return new BSONRegExp(str(r?.pattern, '$regularExpression.pattern'), str(r?.options ?? '', '$regularExpression.options'));
    }
    case '$regex':
      if (typeof v !== 'string') return obj; // a query operator, not a value
      return new BSONRegExp(v, typeof obj.$options === 'string' ? obj.$options : '');
    case '$symbol':
      only(keys, 1, '$symbol');
      return new BSONSymbol(str(v, '$symbol'));
    case '$code':
      return new Code(str(v, '$code'), keys.length === 2 ? (obj.$scope as Record<string, unknown>) : null);
    case '$minKey':
      only(keys, 1, '$minKey');
      return new MinKey();
    case '$maxKey':
      only(keys, 1, '$maxKey');
      return new MaxKey();
    case '$undefined':
      only(keys, 1, '$undefined');
      return null;
    default:
      return obj;
  }
}

interface Frame {
  /** The object or array being built; undefined for a top-level array of documents. */
  value: Record<string, unknown> | unknown[] | undefined;
  key: string;
  /** Keys seen (objects). */
  keys: number;
  /** The first key starts with `$`: maybe an Extended JSON wrapper. */
  dollar: boolean;
}

type Token = { name: string; value?: unknown };

/**
 * Builds documents from parser tokens. Top-level objects are documents (NDJSON,
 * concatenated JSON), and so are the elements of a top-level array (`mongoexport
 * --jsonArray`). `onDocument(value, startLine)` gets each one (converted from Extended
 * JSON); a top-level value that is not a document is passed too, for the caller to refuse.
 */
export class DocumentAssembler {
  private readonly stack: Frame[] = [];
  /** The line where the document being built began. */
  private docLine = 0;
  line = 1;

  constructor(private readonly onDocument: (doc: unknown, line: number) => void) {}

  /** Depth inside the current document (0: between documents). */
  get idle(): boolean {
    return this.stack.length === 0 || (this.stack.length === 1 && this.stack[0]!.value === undefined);
  }

  consume(tokens: readonly Token[]): void {
    const stack = this.stack;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      switch (t.name) {
        case 'startObject':
          if (this.idle) this.docLine = this.line;
          stack.push({ value: {}, key: '', keys: 0, dollar: false });
          break;
        case 'startArray':
          if (stack.length === 0) stack.push({ value: undefined, key: '', keys: 0, dollar: false }); // a top-level array of documents
          else {
            if (this.idle) this.docLine = this.line;
            stack.push({ value: [], key: '', keys: 0, dollar: false });
          }
          break;
        case 'endObject': {
          const frame = stack.pop()!;
          this.add(frame.dollar && frame.keys <= 2 ? fromExtendedJson(frame.value as Record<string, unknown>) : frame.value);
          break;
        }
        case 'endArray': {
          const frame = stack.pop()!;
          if (frame.value !== undefined) this.add(frame.value);
          break;
        }
        case 'keyValue': {
          const frame = stack[stack.length - 1]!;
          const key = t.value as string;
          if (frame.keys++ === 0 && key.charCodeAt(0) === 36) frame.dollar = true;
          frame.key = key;
          break;
        }
        case 'stringValue':
          this.scalar(t.value);
          break;
        case 'numberValue':
          this.scalar(jsonNumber(t.value as string));
          break;
        case 'nullValue':
          this.scalar(null);
          break;
        case 'trueValue':
          this.scalar(true);
          break;
        case 'falseValue':
          this.scalar(false);
          break;
        default:
          break; // streamed chunks (not requested)
      }
    }
  }

  private scalar(v: unknown): void {
    if (this.idle) this.docLine = this.line;
    this.add(v);
  }

  private add(v: unknown): void {
    const parent = this.stack[this.stack.length - 1];
    if (!parent || parent.value === undefined) {
      this.onDocument(v, this.docLine);
      return;
    }
    if (Array.isArray(parent.value)) parent.value.push(v);
    else if (parent.key === '__proto__') Object.defineProperty(parent.value, parent.key, { value: v, enumerable: true, writable: true, configurable: true });
    else parent.value[parent.key] = v;
  }
}

/** True for a plain document (not an array, not a converted scalar such as a Date). */
export function isDocument(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) && (v as { _bsontype?: string })._bsontype === undefined;
}
