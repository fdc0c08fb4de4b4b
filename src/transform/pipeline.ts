/**
 * Composes the built-in mappings and a user transform into one function over rows:
 * decoded input fields in, output rows (COPY text or NULL, in output column order)
 * out. Pure: the worker threads and the inline path run the very same code.
 *
 * The built-ins work on an array of values with a layout fixed before the first row
 * (so a rename costs nothing per row); the user transform then sees a row object
 * keyed by the columns the built-ins left, and returns a row, an array of rows
 * (fan-out) or null (drop).
 */
import { encodeTextField } from '../copy-text.js';
import { HyperfillError } from '../errors.js';
import { epochToTimestamp } from './epoch.js';
import { extractJson, parseJsonPath, type PathSegment } from './json-path.js';
import type { MappingSpec } from './mapping.js';
import { RowError } from './row-error.js';
import { parseTemplate, templateColumns } from './template.js';
import { toCopyText } from './to-text.js';

export type Field = string | null;
export type Row = Record<string, unknown>;

/** Where a row came from, for `--set` position references and the transform's ctx. */
export interface RowPosition {
  inputName: string;
  inputIndex: number;
  /** The batch's position in its input (0-based). */
  batch: number;
  /** 1-based row number among the input's loaded rows. */
  row: number;
  /** 1-based physical line where the row starts in its input. */
  readonly line: number;
}

/** What a transform's `ctx` holds: the row's position plus the column names and types. */
export interface TransformContext extends RowPosition {
  /** The row's columns (input columns after the built-in mappings), in order. */
  readonly columns: readonly string[];
  /** The PostgreSQL type of each target column, as format_type prints it (e.g. "timestamp with time zone"). */
  readonly types: Readonly<Record<string, string>>;
  /** The columns the COPY writes: the transform's `columns` export, else `columns`. */
  readonly outputColumns: readonly string[];
}

export interface SetupContext {
  readonly columns: readonly string[];
  readonly types: Readonly<Record<string, string>>;
  readonly outputColumns: readonly string[];
  /** Which worker thread (0 when inline). */
  readonly threadId: number;
}

/** A loaded transform module, normalised (see user-module.ts). */
export interface UserTransform {
  /** The file, for messages. */
  name: string;
  transform: (row: Row, ctx: TransformContext) => unknown;
  setup?: ((ctx: SetupContext) => unknown) | undefined;
  /** Output columns the module declares; default: the columns it is given. */
  columns?: string[] | undefined;
}

export interface CompiledMappings {
  /** Columns after the built-ins, in order: input order (renamed, without dropped ones), then new ones. */
  columns: string[];
  /** Where each of `columns` sits in the value array. */
  slots: number[];
  /** Applies every built-in to one row's values, in place (new columns are appended). */
  apply(values: Field[], position: RowPosition): void;
}

type Step = (values: Field[], position: RowPosition) => void;

/**
 * Checks the mappings against the input columns and compiles them. Errors name the
 * mapping and list the columns it could have meant.
 */
export function compileMappings(inputColumns: readonly string[], spec: MappingSpec): CompiledMappings {
  const dup = inputColumns.find((c, i) => inputColumns.indexOf(c) !== i);
  if (dup !== undefined) throw mappingError(`the input column "${dup}" appears twice`);
  const names: Array<string | null> = [...inputColumns];
  const find = (name: string) => names.indexOf(name);
  const need = (name: string, what: string) => {
    const slot = find(name);
    if (slot === -1) throw mappingError(`${what}: there is no column "${name}"; the columns are: ${names.filter((n) => n !== null).join(', ')}`);
    return slot;
  };
  const slotFor = (name: string) => {
    const slot = find(name);
    if (slot !== -1) return slot;
    names.push(name);
    return names.length - 1;
  };
  const steps: Step[] = [];

  // JSON documents are parsed once per row and source column, however many paths read them.
  let parsedSlot = -1;
  let parsedFrom: Field | undefined;
  let parsed: unknown;
  for (const j of spec.jsonPath) {
    const what = `--json-path ${j.column}=${j.source}${j.path.startsWith('[') ? '' : '.'}${j.path}`;
    const source = need(j.source, what);
    const path: PathSegment[] = parseJsonPath(j.path);
    const target = slotFor(j.column);
    steps.push((values) => {
      const text = values[source] ?? null;
      if (text === null) {
        values[target] = null;
        return;
      }
      if (parsedSlot !== source || parsedFrom !== text) {
        try {
          parsed = JSON.parse(text);
        } catch (err) {
          throw new RowError(`${what}: column "${j.source}" is not valid JSON (${(err as Error).message})`);
        }
        parsedSlot = source;
        parsedFrom = text;
      }
      values[target] = extractJson(parsed, path);
    });
  }
  for (const e of spec.epoch) {
    const what = `--epoch ${e.column}:${e.unit}`;
    const slot = need(e.column, what);
    steps.push((values) => {
      const v = values[slot] ?? null;
      if (v === null) return;
      try {
        values[slot] = epochToTimestamp(v, e.unit);
      } catch (err) {
        throw new RowError(`${what}: ${(err as Error).message}`);
      }
    });
  }
  for (const s of spec.set) {
    const what = `--set ${s.column}=${s.value ?? '\\N'}`;
    const parts = s.value === null ? [] : parseTemplate(s.value);
    for (const ref of templateColumns(parts)) need(ref, what);
    const compiled = parts.map((p) => ('text' in p ? p.text : p.ref.startsWith('$') ? p.ref : find(p.ref)));
    const target = slotFor(s.column);
    if (s.value === null) steps.push((values) => { values[target] = null; });
    else if (compiled.length === 1 && typeof compiled[0] === 'string' && !compiled[0].startsWith('$')) {
      const constant = compiled[0];
      steps.push((values) => { values[target] = constant; });
    } else {
      steps.push((values, position) => {
        let out = '';
        for (const part of compiled) {
          const v = typeof part === 'number' ? values[part] ?? null : positionRef(part, position) ?? part;
          if (v === null) {
            values[target] = null;
            return;
          }
          out += v;
        }
        values[target] = out;
      });
    }
  }
  for (const d of spec.drop) names[need(d, `--drop ${d}`)] = null;
  for (const m of spec.map) {
    const slot = need(m.from, `--map ${m.from}:${m.to}`);
    const other = find(m.to);
    if (other !== -1 && other !== slot) {
      throw mappingError(`--map ${m.from}:${m.to}: there is a column "${m.to}" already; add --drop ${m.to} to replace it`);
    }
    names[slot] = m.to;
  }

  const slots: number[] = [];
  const columns: string[] = [];
  names.forEach((name, slot) => {
    if (name === null) return;
    slots.push(slot);
    columns.push(name);
  });
  if (columns.length === 0) throw mappingError('the mappings leave no column to load');
  return {
    columns,
    slots,
    apply(values, position) {
      parsedSlot = -1;
      for (const step of steps) step(values, position);
    },
  };
}

function positionRef(ref: string, position: RowPosition): string | undefined {
  switch (ref) {
    case '$file': return position.inputName;
    case '$line': return String(position.line);
    case '$row': return String(position.row);
    case '$batch': return String(position.batch);
    default: return undefined;
  }
}

function mappingError(message: string): HyperfillError {
  return new HyperfillError('E_MAPPING_INVALID', message, {}, 'the mappings apply in this order: json-path, epoch, set, drop, map');
}

/** Where a pipeline puts its output: the encoded rows of one input row, in one call. */
export interface RowSink {
  add(text: string): void;
}

export interface Pipeline {
  /** The COPY's target columns, in order. */
  outputColumns: string[];
  /** Columns the user transform's row object has (the built-ins' output). */
  rowColumns: string[];
  /**
   * One input row (decoded fields, in input column order; the array is reused and
   * changed) to its output rows, encoded as text-format lines and handed to `out`
   * together (a fan-out with one bad row leaves nothing behind). Returns how many rows
   * it produced. Throws RowError, or whatever the transform throws.
   */
  process(fields: Field[], ctx: TransformContext, out: RowSink): number | Promise<number>;
}

/**
 * The whole pipeline. `user` is optional: built-ins alone never build a row object.
 * `types` are the target's column types (for array columns and the transform's ctx).
 * The per-row code that depends on the column names (building the row object,
 * reading and encoding the returned one) is generated once, so every property access
 * is by a constant name: several times faster than looping over names.
 */
export function createPipeline(inputColumns: readonly string[], spec: MappingSpec, user: UserTransform | undefined,
  types: Readonly<Record<string, string>> = {}): Pipeline {
  const mappings = compileMappings(inputColumns, spec);
  const inputCount = inputColumns.length;
  const { slots, columns } = mappings;
  const checkCount = (fields: Field[]) => {
    if (fields.length !== inputCount) {
      throw new RowError(`the row has ${fields.length} field${fields.length === 1 ? '' : 's'}, expected ${inputCount} (${inputColumns.join(', ')})`);
    }
  };
  if (!user) {
    const encode = fieldsEncoder(slots);
    return {
      outputColumns: columns,
      rowColumns: columns,
      process(fields, ctx, out) {
        checkCount(fields);
        mappings.apply(fields, ctx);
        out.add(encode(fields));
        return 1;
      },
    };
  }
  const outputColumns = user.columns ?? columns;
  const buildRow = rowBuilder(columns, slots);
  const encodeRow = rowEncoder(outputColumns, outputColumns.map((c) => types[c]));
  const encodeResult = (result: unknown, out: RowSink): number => {
    if (result === null) return 0;
    if (result === undefined) throw new RowError('the transform returned undefined: return the row, an array of rows, or null to drop it');
    if (!Array.isArray(result)) {
      out.add(encodeRow(asRow(result)));
      return 1;
    }
    let text = '';
    for (const row of result) text += encodeRow(asRow(row));
    if (result.length > 0) out.add(text);
    return result.length;
  };
  return {
    outputColumns,
    rowColumns: columns,
    process(fields, ctx, out) {
      checkCount(fields);
      mappings.apply(fields, ctx);
      const result = user.transform(buildRow(fields), ctx);
      if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
        return (result as Promise<unknown>).then((r) => encodeResult(r, out));
      }
      return encodeResult(result, out);
    },
  };
}

function asRow(value: unknown): Row {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new RowError(`the transform returned ${describeValue(value)} where a row object belongs`);
  return value as Row;
}

/**
 * encodeTextField (copy-text.ts) for the common case in one scan: text without a byte
 * that needs escaping (or is NUL, which it refuses) is its own encoding.
 */
const SPECIAL = /[\\\t\n\r\0]/;
function enc(value: string | null | undefined): string {
  if (value === null || value === undefined) return '\\N';
  return SPECIAL.test(value) ? encodeTextField(value) : value;
}

/** A property key in generated code; `__proto__` must be computed to be an own property. */
const key = (name: string) => (name === '__proto__' ? `[${JSON.stringify(name)}]` : JSON.stringify(name));

/** fields → text-format line of the fields at `slots`. */
function fieldsEncoder(slots: readonly number[]): (fields: Field[]) => string {
  const parts = slots.map((slot) => `enc(f[${slot}])`).join(" + '\\t' + ");
  return new Function('enc', `return function encodeFields(f) { return ${parts} + '\\n'; };`)(enc) as (fields: Field[]) => string;
}

/** fields → the row object the transform gets, keys in column order. */
function rowBuilder(columns: readonly string[], slots: readonly number[]): (fields: Field[]) => Row {
  const props = columns.map((c, i) => `${key(c)}: f[${slots[i]}]`).join(', ');
  return new Function(`return function buildRow(f) { return { ${props} }; };`)() as (fields: Field[]) => Row;
}

/**
 * A returned row → its text-format line, reading each output column by name; a key
 * that is no output column is an error (a typo would otherwise load NULLs).
 */
function rowEncoder(columns: readonly string[], types: ReadonlyArray<string | undefined>): (row: Row) => string {
  const known = new Set(columns);
  const extra = (row: Row): void => {
    const unknown = Object.keys(row).filter((k) => !known.has(k));
    if (unknown.length > 0) {
      throw new RowError(`the transform returned column${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}, not among the output columns (${columns.join(', ')}); export \`columns\` from the transform module to declare its output`);
    }
  };
  const body = columns.map((c, i) => {
    const name = JSON.stringify(c);
    return `const v${i} = r[${name}]; if (v${i} !== undefined) n++;`;
  }).join('\n');
  const line = columns.map((c, i) => `enc(typeof v${i} === 'string' ? v${i} : text(v${i}, ${JSON.stringify(c)}, types[${i}]))`).join(" + '\\t' + ");
  return new Function('enc', 'text', 'types', 'extra', `return function encodeRow(r) {
    let n = 0;
    ${body}
    if (n !== Object.keys(r).length) extra(r);
    return ${line} + '\\n';
  };`)(enc, toCopyText, types, extra) as (row: Row) => string;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value} (${String(value).slice(0, 40)})`;
}
