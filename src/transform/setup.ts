/**
 * Starts the transform for one run: checks the mappings against the input columns
 * (on the main thread, before any thread starts), compiles a TypeScript module,
 * starts the runner and asks it which columns the COPY writes (which loads the
 * module and runs its setup, so a broken module fails before any input is read).
 */
import { HyperfillError } from '../errors.js';
import type { TransformConfig } from './batch-transform.js';
import type { InputDialect } from './decode.js';
import { describeMappings } from './mapping.js';
import { type ModuleFile, prepareModuleFile } from './module-file.js';
import type { TransformSettings } from './options.js';
import { compileMappings } from './pipeline.js';
import { type BatchRunner, createRunner } from './pool.js';

export interface TransformRun {
  runner: BatchRunner;
  /** The COPY's target columns. */
  outputColumns: string[];
  dialect: InputDialect;
  /** Names the transform in messages: the file, or "mappings". */
  name: string;
  /** What identifies the transform in the import ledger's settings. */
  ledgerSettings: { transform: string | undefined; mappings: string | undefined };
  close(): Promise<void>;
}

export interface TransformInput {
  /** Names of the input's fields, in order. */
  columns: string[];
  /** Target column types by name. */
  types: Record<string, string>;
  dialect: InputDialect;
}

export async function startTransform(settings: TransformSettings, input: TransformInput): Promise<TransformRun> {
  compileMappings(input.columns, settings.mappings);
  let module: ModuleFile | undefined;
  if (settings.file !== undefined) module = await prepareModuleFile(settings.file);
  const config: TransformConfig = {
    module: module && { url: module.url, name: module.name }, inputColumns: input.columns, types: input.types,
    mappings: settings.mappings, dialect: input.dialect, onError: settings.onError,
  };
  const runner = await createRunner(config, settings.workers);
  const close = async () => {
    await runner.destroy();
    module?.cleanup();
  };
  try {
    const outputColumns = await runner.describe();
    const mappings = describeMappings(settings.mappings);
    return {
      runner, outputColumns, dialect: input.dialect, name: module?.name ?? 'mappings', close,
      ledgerSettings: { transform: module?.path, mappings: mappings || undefined },
    };
  } catch (err) {
    await close();
    throw err;
  }
}

export interface DialectFlags {
  format: 'csv' | 'text';
  delimiter: string | undefined;
  quote: string;
  escape: string;
  copyOptions: string | undefined;
}

/**
 * How the input is decoded. The rows are re-encoded for COPY, so of `--copy-options`
 * only NULL still means something (it says which input fields are NULL).
 */
export function inputDialect(flags: DialectFlags): InputDialect {
  let nullString = flags.format === 'csv' ? '' : '\\N';
  for (const option of splitOptions(flags.copyOptions ?? '')) {
    const match = /^NULL\s+'((?:[^']|'')*)'$/i.exec(option);
    if (match) nullString = (match[1] ?? '').replace(/''/g, "'");
    else if (!/^CSV$/i.test(option)) {
      throw new HyperfillError('E_USAGE', `with a transform, --copy-options may only set NULL '...', not "${option}"`, {},
        'the rows are decoded and re-encoded, so other COPY options do not reach the input; do that work in the transform');
    }
  }
  return {
    format: flags.format, delimiter: flags.delimiter ?? (flags.format === 'csv' ? ',' : '\t'),
    quote: flags.quote, escape: flags.escape, nullString,
  };
}

/** "NULL 'a,b', FORCE_NULL (x, y)" → ["NULL 'a,b'", "FORCE_NULL (x, y)"]. */
function splitOptions(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let current = '';
  for (const c of text) {
    if (c === "'") quoted = !quoted;
    else if (!quoted && c === '(') depth++;
    else if (!quoted && c === ')') depth--;
    if (c === ',' && !quoted && depth === 0) {
      out.push(current.trim());
      current = '';
    } else current += c;
  }
  out.push(current.trim());
  return out.filter((s) => s.length > 0);
}
