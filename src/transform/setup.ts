/**
 * Starts the transform for one run: checks the mappings against the input columns
 * (on the main thread, before any thread starts), compiles a TypeScript module,
 * starts the runner and asks it which columns the COPY writes (which loads the
 * module and runs its setup, so a broken module fails before any input is read).
 */
import type { TransformConfig } from './batch-transform.js';
import type { InputDialect } from './decode.js';
export { type DialectFlags, inputDialect } from './input-dialect.js';
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
