/**
 * Built-in mappings, the transforms that need no code: rename (`--map src:dst`), drop
 * (`--drop col`), constant or derived columns (`--set col=value`), epoch to timestamp
 * (`--epoch col:unit`) and JSON path extraction (`--json-path col=src.path`). They come
 * from flags or from a JSON file (`--mapping FILE`) with the same content. This module
 * only parses and validates their syntax; `pipeline.ts` checks them against the columns
 * and applies them. A MappingSpec is plain data, so it crosses into worker threads.
 *
 * They apply in a fixed order: json-path, epoch, set, drop, map. So every step names
 * columns as the input (or an earlier json-path or set) names them, and a rename may
 * take the name of a dropped column.
 */
import { readFileSync } from 'node:fs';
import { HyperfillError } from '../errors.js';
import { EPOCH_UNITS, type EpochUnit } from './epoch.js';
import { parseJsonPath } from './json-path.js';
import { parseTemplate } from './template.js';

export interface MappingSpec {
  /** New (or overwritten) column `column` = the field at `path` of the JSON in column `source`. */
  jsonPath: Array<{ column: string; source: string; path: string }>;
  epoch: Array<{ column: string; unit: EpochUnit }>;
  /** `value` is a template: text with `{column}` references; null is SQL NULL. */
  set: Array<{ column: string; value: string | null }>;
  map: Array<{ from: string; to: string }>;
  drop: string[];
}

export function emptyMappings(): MappingSpec {
  return { jsonPath: [], epoch: [], set: [], map: [], drop: [] };
}

export function hasMappings(spec: MappingSpec): boolean {
  return spec.jsonPath.length + spec.epoch.length + spec.set.length + spec.map.length + spec.drop.length > 0;
}

/** `b` after `a`: a config file's mappings, then the flags'. */
export function mergeMappings(a: MappingSpec, b: MappingSpec): MappingSpec {
  return {
    jsonPath: [...a.jsonPath, ...b.jsonPath], epoch: [...a.epoch, ...b.epoch], set: [...a.set, ...b.set],
    map: [...a.map, ...b.map], drop: [...a.drop, ...b.drop],
  };
}

export interface MappingFlags {
  map?: string[] | undefined;
  drop?: string[] | undefined;
  set?: string[] | undefined;
  epoch?: string[] | undefined;
  jsonPath?: string[] | undefined;
}

/** Parses the repeatable mapping flags; `fail` builds the usage error for a message. */
export function parseMappingFlags(flags: MappingFlags, fail: (message: string) => HyperfillError): MappingSpec {
  const spec = emptyMappings();
  for (const raw of flags.map ?? []) {
    const [from, rawTo] = splitOnce(raw, ':');
    const to = rawTo?.trim();
    if (!from || !to) throw fail(`\`--map\` must be SOURCE:TARGET (e.g. --map ts:time), got "${raw}"`);
    spec.map.push({ from, to });
  }
  for (const raw of flags.drop ?? []) {
    for (const column of raw.split(',').map((s) => s.trim())) {
      if (!column) throw fail(`\`--drop\` must name a column, got "${raw}"`);
      spec.drop.push(column);
    }
  }
  for (const raw of flags.set ?? []) {
    const [column, value] = splitOnce(raw, '=');
    if (!column || value === undefined) throw fail(`\`--set\` must be COLUMN=VALUE (e.g. --set source=sensor-a or --set id={site}-{device}), got "${raw}"`);
    const v = value === '\\N' ? null : value;
    checkTemplate(v, (m) => fail(`\`--set ${raw}\`: ${m}`));
    spec.set.push({ column, value: v });
  }
  for (const raw of flags.epoch ?? []) {
    const [column, rawUnit] = splitOnce(raw, ':');
    const unit = rawUnit?.trim();
    if (!column || !isEpochUnit(unit)) throw fail(`\`--epoch\` must be COLUMN:UNIT with UNIT one of ${EPOCH_UNITS.join(', ')} (e.g. --epoch ts:ms), got "${raw}"`);
    spec.epoch.push({ column, unit });
  }
  for (const raw of flags.jsonPath ?? []) {
    const [column, rest] = splitOnce(raw, '=');
    const [source, path] = splitSourcePath(rest ?? '');
    if (!column || !source || !path) throw fail(`\`--json-path\` must be COLUMN=SOURCE.PATH (e.g. --json-path temp=payload.sensor.temp), got "${raw}"`);
    checkPath(path, (m) => fail(`\`--json-path ${raw}\`: ${m}`));
    spec.jsonPath.push({ column, source, path });
  }
  return spec;
}

const CONFIG_KEYS = ['map', 'drop', 'set', 'epoch', 'jsonPath'] as const;

/**
 * A `--mapping` file: JSON with any of
 * `{"map": {"src": "dst"}, "drop": ["col"], "set": {"col": "value" | null},
 *   "epoch": {"col": "ms"}, "jsonPath": {"col": "source.path.to.field"}}`.
 * Objects keep their key order, which is the order the steps apply in.
 */
export function readMappingFile(path: string): MappingSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new HyperfillError('E_MAPPING_INVALID', `cannot read the mapping file: ${(err as Error).message}`, { file: path }, 'check the path given to --mapping');
  }
  return parseMappingConfig(text, path);
}

export function parseMappingConfig(text: string, file: string): MappingSpec {
  const fail = (message: string) => new HyperfillError('E_MAPPING_INVALID', `${file}: ${message}`, { file },
    'the file is JSON like {"map": {"src": "dst"}, "drop": ["col"], "set": {"col": "value"}, "epoch": {"ts": "ms"}, "jsonPath": {"temp": "payload.temp"}}');
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (err) {
    throw fail(`not valid JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(config)) throw fail('must hold a JSON object');
  const unknown = Object.keys(config).filter((k) => !(CONFIG_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) throw fail(`unknown key ${unknown.map((k) => `"${k}"`).join(', ')}; the keys are ${CONFIG_KEYS.join(', ')}`);
  const spec = emptyMappings();
  for (const [from, to] of stringEntries(config.map, 'map', fail)) {
    if (!from || !to) throw fail('`map` entries must be "source": "target" with non-empty names');
    spec.map.push({ from, to });
  }
  if (config.drop !== undefined) {
    if (!Array.isArray(config.drop) || config.drop.some((c) => typeof c !== 'string' || c === '')) throw fail('`drop` must be an array of column names');
    spec.drop.push(...(config.drop as string[]));
  }
  if (config.set !== undefined) {
    if (!isPlainObject(config.set)) throw fail('`set` must be an object of "column": "value" (or null)');
    for (const [column, value] of Object.entries(config.set)) {
      if (value !== null && typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        throw fail(`\`set.${column}\` must be a string, a number, a boolean or null`);
      }
      const v = value === null ? null : String(value);
      checkTemplate(v, (m) => fail(`\`set.${column}\`: ${m}`));
      spec.set.push({ column, value: v });
    }
  }
  for (const [column, unit] of stringEntries(config.epoch, 'epoch', fail)) {
    if (!isEpochUnit(unit)) throw fail(`\`epoch.${column}\` must be one of ${EPOCH_UNITS.join(', ')}, got "${unit}"`);
    spec.epoch.push({ column, unit });
  }
  for (const [column, full] of stringEntries(config.jsonPath, 'jsonPath', fail)) {
    const [source, path] = splitSourcePath(full);
    if (!source || !path) throw fail(`\`jsonPath.${column}\` must be "source.path.to.field", got "${full}"`);
    checkPath(path, (m) => fail(`\`jsonPath.${column}\`: ${m}`));
    spec.jsonPath.push({ column, source, path });
  }
  return spec;
}

/** A readable list of the mappings, for logs and the import ledger's settings. */
export function describeMappings(spec: MappingSpec): string {
  return [
    ...spec.jsonPath.map((j) => `json-path ${j.column}=${j.source}${j.path.startsWith('[') ? '' : '.'}${j.path}`),
    ...spec.epoch.map((e) => `epoch ${e.column}:${e.unit}`),
    ...spec.set.map((s) => `set ${s.column}=${s.value ?? '\\N'}`),
    ...spec.drop.map((d) => `drop ${d}`),
    ...spec.map.map((m) => `map ${m.from}:${m.to}`),
  ].join('; ');
}

function stringEntries(value: unknown, key: string, fail: (m: string) => HyperfillError): Array<[string, string]> {
  if (value === undefined) return [];
  if (!isPlainObject(value)) throw fail(`\`${key}\` must be an object of "name": "value" strings`);
  return Object.entries(value).map(([k, v]) => {
    if (typeof v !== 'string') throw fail(`\`${key}.${k}\` must be a string`);
    return [k, v];
  });
}

function checkTemplate(value: string | null, fail: (m: string) => HyperfillError): void {
  if (value === null) return;
  try {
    parseTemplate(value);
  } catch (err) {
    throw fail((err as Error).message);
  }
}

function checkPath(path: string, fail: (m: string) => HyperfillError): void {
  try {
    parseJsonPath(path);
  } catch (err) {
    throw fail((err as Error).message);
  }
}

function isEpochUnit(unit: string | undefined): unit is EpochUnit {
  return (EPOCH_UNITS as readonly string[]).includes(unit ?? '');
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at === -1 ? [text.trim(), undefined] : [text.slice(0, at).trim(), text.slice(at + 1)];
}

/** "payload.a.b" → ["payload", "a.b"]; "payload[0].a" → ["payload", "[0].a"]. */
function splitSourcePath(text: string): [string, string] {
  const match = /^([^.[]+)\.?(.*)$/.exec(text.trim());
  return match ? [match[1] ?? '', match[2] ?? ''] : ['', ''];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
