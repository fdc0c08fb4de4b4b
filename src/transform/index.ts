/** The transform stage: built-in mappings, user transforms, the worker pool. */
export { BatchTransformer, type BatchInput, type BatchResult, type OnError, type RowProblem, type TransformConfig } from './batch-transform.js';
export { decodeBatch, type InputDialect, RecordIndex } from './decode.js';
export { epochToTimestamp, EPOCH_UNITS, type EpochUnit } from './epoch.js';
export { describeMappings, emptyMappings, hasMappings, type MappingSpec, parseMappingConfig, parseMappingFlags, readMappingFile } from './mapping.js';
export { prepareModuleFile, type ModuleFile } from './module-file.js';
export { parseTransformFlags, TRANSFORM_FLAGS, TRANSFORM_HELP, type TransformSettings } from './options.js';
export { compileMappings, createPipeline, type Field, type Pipeline, type Row, type SetupContext, type TransformContext, type UserTransform } from './pipeline.js';
export { type BatchRunner, createEncodeRunner, createRunner, type EncodeRunner, InlineEncoder, InlineRunner, WorkerPool } from './pool.js';
export { RejectsFile, reasonsPath } from './rejects.js';
export { inputDialect, startTransform, type TransformInput, type TransformRun } from './setup.js';
export { addTotals, locateTransformedRow, type TransformedBatch, TransformStage, type TransformTotals, transformBatch } from './stage.js';
export { transformChunks, type TransformStreamOptions } from './transform-stream.js';
export { loadUserTransform } from './user-module.js';
