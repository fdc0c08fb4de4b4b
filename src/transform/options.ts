/**
 * The transform flags, shared by every command that moves data: spread
 * TRANSFORM_FLAGS into the command's flag spec, add TRANSFORM_HELP to its help's sections,
 * and call parseTransformFlags on the parsed values. Undefined means no transform:
 * the pass-through path, no decoding.
 */
import { availableParallelism } from 'node:os';
import { intFlag, usage } from '../cli/flags.js';
import type { HelpSection } from '../cli/help.js';
import type { OnError } from './batch-transform.js';
import { hasMappings, type MappingSpec, mergeMappings, parseMappingFlags, readMappingFile } from './mapping.js';

export interface TransformSettings {
  /** --transform FILE (JS or TS module). */
  file: string | undefined;
  /** Worker threads; 0 runs the transform inline on the main thread. */
  workers: number;
  mappings: MappingSpec;
  onError: OnError;
  rejects: string | undefined;
}

export const TRANSFORM_FLAGS = {
  transform: { type: 'string' },
  'transform-workers': { type: 'string' },
  map: { type: 'string', multiple: true },
  drop: { type: 'string', multiple: true },
  set: { type: 'string', multiple: true },
  epoch: { type: 'string', multiple: true },
  'json-path': { type: 'string', multiple: true },
  mapping: { type: 'string' },
  'on-error': { type: 'string' },
  rejects: { type: 'string' },
} as const;

export const TRANSFORM_HELP: HelpSection = {
  title: 'Transform (rows are decoded, changed and re-encoded in worker threads)',
  flags: [
    ['--transform FILE', 'a .js/.mjs/.ts module exporting (row, ctx) => row | row[] | null, or { setup(ctx), transform(row, ctx), columns }; null drops the row, an array fans out; ctx has columns, types, outputColumns, line, row'],
    ['--transform-workers N', 'worker threads (default: the number of cores; 0 runs inline)'],
    ['--map SRC:DST', 'rename a column (repeatable)'],
    ['--drop COL', 'drop a column (repeatable, or a,b,c)'],
    ['--set COL=VALUE', 'add or overwrite a column: a constant, or a template like {site}-{device} or {$file}:{$line}; \\N is NULL'],
    ['--epoch COL:UNIT', 'epoch number in s, ms, us or ns to a timestamp'],
    ['--json-path COL=SRC.PATH', 'a field of the JSON in column SRC, e.g. temp=payload.sensor.temp'],
    ['--mapping FILE', 'the same mappings from a JSON file:\n{"map":{"a":"b"},"drop":["c"],"set":{"d":"x"},"epoch":{"ts":"ms"},"jsonPath":{"t":"p.t"}}\n(applied in this order: json-path, epoch, set, drop, map)'],
  ],
};

export interface TransformFlagValues {
  transform?: string | undefined;
  'transform-workers'?: string | undefined;
  map?: string[] | undefined;
  drop?: string[] | undefined;
  set?: string[] | undefined;
  epoch?: string[] | undefined;
  'json-path'?: string[] | undefined;
  mapping?: string | undefined;
  'on-error'?: string | undefined;
  rejects?: string | undefined;
}

export function defaultTransformWorkers(): number {
  return Math.max(1, availableParallelism());
}

/**
 * `workersAlone`: the command also runs other work on the pool (copy's binary
 * encoding), so --transform-workers means something without a transform.
 * --on-error and --rejects mean something without a transform too: they also decide
 * what happens to a row the target rejects (copy, backfill).
 */
export function parseTransformFlags(v: TransformFlagValues, command: string, workersAlone = false): TransformSettings | undefined {
  const fail = (message: string) => usage(message, command);
  const fromFlags = parseMappingFlags({ map: v.map, drop: v.drop, set: v.set, epoch: v.epoch, jsonPath: v['json-path'] }, fail);
  const mappings = v.mapping === undefined ? fromFlags : mergeMappings(readMappingFile(v.mapping), fromFlags);
  if (v.transform === '') throw fail('`--transform` needs a file');
  const active = v.transform !== undefined || hasMappings(mappings);
  const onError = v['on-error'] ?? 'stop';
  if (onError !== 'stop' && onError !== 'skip' && onError !== 'reject') throw fail(`\`--on-error\` must be stop, skip or reject, got "${onError}"`);
  if (!active && !workersAlone && v['transform-workers'] !== undefined) {
    throw fail('`--transform-workers` applies only with --transform or a mapping (--map, --drop, --set, --epoch, --json-path, --mapping)');
  }
  if (onError === 'reject' && v.rejects === undefined) throw fail('`--on-error reject` needs `--rejects FILE`');
  if (v.rejects !== undefined && onError !== 'reject') throw fail('`--rejects` goes with `--on-error reject`');
  if (!active) return undefined;
  return {
    file: v.transform,
    workers: intFlag(v['transform-workers'], 'transform-workers', defaultTransformWorkers(), command, 0),
    mappings,
    onError,
    rejects: v.rejects,
  };
}
