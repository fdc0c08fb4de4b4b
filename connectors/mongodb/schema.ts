/**
 * Columns of a document collection, inferred from a sample: one column per top-level
 * field (first-seen order), plus columns mapped to dot paths (`{sensor_id: 'meta.sensor.id'}`);
 * types unified per field (bson-types.ts), nullable when a sampled document lacks the field
 * or holds null. Shared by the MongoDB and JSON file sources.
 */
import { HyperfillError } from '../../src/errors.js';
import type { SourceColumn, SourceTableInfo } from '../../src/source.js';
import { kindOf, pgTypeForKinds } from './bson-types.js';
import type { ColumnPlan, EncodePlan } from './document-encoding.js';
import { analyzeTimeField, layoutPattern, type TimeField } from './time-field.js';
import { timeColumnHint } from '../../src/time-column-hint.js';
import { type TimeFormat, timeFormatName } from '../../src/time-format.js';
import { compileTimePattern } from '../../src/time-pattern.js';

export interface FieldColumn extends SourceColumn {
  /** Where the value is in a document. */
  path: string[];
  /** BSON kinds seen in the sample, nulls included. */
  kinds: string[];
}

/** What describe() returns for document sources. */
export interface DocumentTableInfo extends SourceTableInfo {
  columns: FieldColumn[];
  time: TimeField;
  /** Every top-level field seen in the sample (also those not made columns). */
  topFields: string[];
  /** Documents sampled to infer the columns. */
  sampled: number;
}

/** Column name → dot path. */
export type FieldMapping = Record<string, string>;

/**
 * Validates a field mapping given as an object or as `column=path` strings
 * (the form of a repeatable `--field` flag).
 */
export function parseFieldMapping(spec: FieldMapping | string[] | undefined, where: string): FieldMapping {
  const out: FieldMapping = {};
  if (spec === undefined) return out;
  const pairs: Array<[string, string]> = Array.isArray(spec)
    ? spec.map((s) => {
      const i = s.indexOf('=');
      if (i <= 0) throw new HyperfillError('E_USAGE', `${where}: a field mapping must look like column=path, got "${s}"`, {}, 'e.g. sensor_id=meta.sensor.id');
      return [s.slice(0, i).trim(), s.slice(i + 1).trim()];
    })
    : Object.entries(spec);
  for (const [column, path] of pairs) {
    if (!column) throw new HyperfillError('E_USAGE', `${where}: a mapped column needs a name`);
    if (typeof path !== 'string' || !path || path.split('.').some((p) => p === '')) {
      throw new HyperfillError('E_USAGE', `${where}: column "${column}" maps to "${String(path)}", which is not a field path`, {}, 'e.g. meta.sensor.id');
    }
    if (Object.hasOwn(out, column)) throw new HyperfillError('E_USAGE', `${where}: column "${column}" is mapped twice`);
    out[column] = path;
  }
  return out;
}

/** A column list given as an array or as comma-separated text. */
export function parseColumns(value: string[] | string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const list = (typeof value === 'string' ? value.split(',') : value).map((c) => c.trim()).filter(Boolean);
  if (list.length === 0) throw new HyperfillError('E_USAGE', '`columns` must name at least one column');
  return list;
}

/** The value at a path (array elements by index), or undefined when missing. */
export function valueAt(doc: unknown, path: readonly string[]): unknown {
  let v = doc;
  for (const key of path) {
    if (v === null || typeof v !== 'object' || v instanceof Date) return undefined;
    const kind = kindOf(v);
    if (kind !== 'object' && kind !== 'array') return undefined;
    v = Object.hasOwn(v, key) ? (v as Record<string, unknown>)[key] : undefined;
  }
  return v;
}

export interface InferOptions {
  /** Printable table name, for messages. */
  table: string;
  fields?: FieldMapping;
  /** Only these columns (top-level fields or mapped columns), plus the time column; default: all. */
  only?: string[];
  /** The time column: a column name, a mapped column, or a dot path. Found when there is exactly one date field. */
  timeColumn?: string;
  /** Whether string time values must share one layout (true for servers that compare them as strings). */
  checkTimeLayout: boolean;
  /** How time values are written (time_format); default auto. */
  timeFormat?: TimeFormat;
}

export function inferSchema(docs: readonly Record<string, unknown>[], opts: InferOptions): { columns: FieldColumn[]; time: TimeField; topFields: string[] } {
  const fields = opts.fields ?? {};
  const sources = new Map<string, string[]>(); // column → path
  for (const doc of docs) for (const key of Object.keys(doc)) if (!sources.has(key)) sources.set(key, [key]);
  const topFields = [...sources.keys()];
  for (const [column, path] of Object.entries(fields)) sources.set(column, path.split('.'));
  if (opts.timeColumn && !sources.has(opts.timeColumn)) {
    if (opts.timeColumn.includes('.') || docs.length === 0) sources.set(opts.timeColumn, opts.timeColumn.split('.'));
    else {
      throw new HyperfillError('E_COLUMN_MISSING', `no sampled document of ${opts.table} has a field "${opts.timeColumn}"`, { table: opts.table },
        `fields seen: ${[...sources.keys()].join(', ') || '(none)'}; a nested field is named by its dot path, e.g. meta.ts`);
    }
  }
  const columns: FieldColumn[] = [];
  for (const [name, path] of sources) {
    const kinds = new Set<string>();
    let missing = 0;
    for (const doc of docs) {
      const v = valueAt(doc, path);
      if (v === undefined) missing++;
      kinds.add(kindOf(v));
    }
    if (missing === docs.length) kinds.clear();
    columns.push({ name, path, pgType: pgTypeForKinds(kinds), nullable: missing > 0 || kinds.has('null') || docs.length === 0, kinds: [...kinds] });
  }
  const format = opts.timeFormat ?? { kind: 'auto' };
  const valuesOf = (c: FieldColumn) => docs.map((d) => valueAt(d, c.path)).filter((v) => v !== undefined && v !== null);
  // Columns the time_format reads (auto: only dates are chosen on their own; the hint lists every readable field).
  const readable = columns.filter((c) => {
    const values = valuesOf(c);
    if (values.length === 0) return false;
    try {
      analyzeTimeField(c.name, c.path, values, opts.table, opts.checkTimeLayout, format);
      return true;
    } catch {
      return false;
    }
  });
  let timeName = opts.timeColumn;
  if (!timeName) {
    const chosen = format.kind === 'auto' ? columns.filter((c) => c.pgType === 'timestamptz') : readable;
    if (chosen.length !== 1) {
      const holds = format.kind === 'auto' ? 'dates' : `times as time_format=${timeFormatName(format)} writes them`;
      throw new HyperfillError('E_TIME_COLUMN_REQUIRED', `the time field of ${opts.table} is not known: ${chosen.length ? `${chosen.length} fields hold ${holds}` : `no sampled field holds only ${holds}`}`,
        { table: opts.table }, `${timeColumnHint(readable.map((c) => c.name), 'no sampled field holds times as they are written now')}; ` +
          'time_format says how the times are written (epoch_ms for numbers, a pattern like %Y/%m/%d %H:%M for strings)');
    }
    timeName = chosen[0]!.name;
  }
  const timeCol = columns.find((c) => c.name === timeName)!;
  const time = analyzeTimeField(timeCol.name, timeCol.path, valuesOf(timeCol), opts.table, opts.checkTimeLayout, format);
  timeCol.pgType = time.timeType;
  if (opts.only) {
    const unknown = opts.only.filter((name) => !sources.has(name));
    if (unknown.length > 0) {
      throw new HyperfillError('E_COLUMN_MISSING', `no sampled document of ${opts.table} has field${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `"${n}"`).join(', ')}`,
        { table: opts.table }, `fields seen: ${[...sources.keys()].join(', ') || '(none)'}; to read a field the sample missed, map it: ${unknown[0]}=<path>`);
    }
    const keep = new Set([...opts.only, timeCol.name]);
    return { columns: columns.filter((c) => keep.has(c.name)), time, topFields };
  }
  return { columns, time, topFields };
}

/**
 * The encoding plan for a read: requested columns in order, each with its path and the
 * target's type (falling back to the inferred type). A requested name that is not a
 * column is read as a field path (`a.b`), NULL where missing: document schemas are open.
 */
export function encodePlanFor(table: DocumentTableInfo, columns: readonly string[], targetTypes: readonly string[] | undefined): EncodePlan {
  const plan: ColumnPlan[] = columns.map((name, i) => {
    const col = table.columns.find((c) => c.name === name);
    const pgType = targetTypes?.[i] || col?.pgType || 'jsonb';
    return { name, path: col?.path ?? name.split('.'), pgType };
  });
  const t = table.time;
  const timeIndex = plan.findIndex((c) => c.path.join('.') === t.path.join('.'));
  if (timeIndex < 0) return { columns: plan };
  if (t.kind === 'string' && t.layout) return { columns: plan, timeCheck: { column: timeIndex, pattern: layoutPattern(t.layout) } };
  // Epoch numbers and patterned strings are read as times and written as timestamps.
  if (t.kind === 'epoch') return { columns: plan, time: { column: timeIndex, unit: t.unit ?? 'ms' } };
  if (t.kind === 'pattern') {
    const check = t.fraction !== undefined ? { timeCheck: { column: timeIndex, pattern: compileTimePattern(t.pattern ?? '').fullWidth(t.fraction) } } : {};
    return { columns: plan, time: { column: timeIndex, pattern: t.pattern ?? '' }, ...check };
  }
  return { columns: plan };
}

/**
 * A projection of the plan's paths, or undefined when every sampled top-level field is
 * needed anyway (no projection is cheaper for the server). `_id` is always kept: errors name it.
 */
export function projectionFor(table: DocumentTableInfo, plan: EncodePlan): Record<string, 1> | undefined {
  const top = new Set(plan.columns.map((c) => c.path[0]!));
  if (table.topFields.every((f) => top.has(f) || f === '_id')) return undefined;
  const paths = [...new Set(plan.columns.map((c) => c.path.join('.')))].sort();
  const kept: string[] = [];
  for (const p of paths) if (!kept.some((k) => p.startsWith(`${k}.`))) kept.push(p); // a parent and its child collide
  const projection: Record<string, 1> = {};
  for (const p of kept) projection[p] = 1;
  return projection;
}
