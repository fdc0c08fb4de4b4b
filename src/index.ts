/** hyperfill as a library: the same pieces the CLI runs. */
export { type BackfillOptions, type BackfillResult, type RangeSelection, runBackfill } from './backfill/run-backfill.js';
export { type CloneOptions, type CloneResult, runClone } from './clone/run-clone.js';
export { type CopyOptions, type CopyResult, runCopy } from './copy/run-copy.js';
export { type ConnectionConfig, describeConnection, parseConnection } from './connection.js';
export { describeError, type ErrorContext, HyperfillError } from './errors.js';
export type { ReadRequest, Source, SourceColumn, SourceFactory, SourceTableInfo, TimeRange, Window, WindowStream } from './source.js';
export { formatTimeValue, parseTimeValue, type TimeType } from './time-value.js';
export { runVerify, type VerifyOptions, type VerifyResult } from './verify/run-verify.js';
export { type CompareOptions, type CompareResult, type QueryComparison, runCompare } from './compare/run-compare.js';
export { type CompareQuery, parseQueries, readQueryFile } from './compare/query-file.js';
/** The dual writer has its own entry point, `hyperfill/dual-write`; the same export here for convenience. */
export { createDualWriter, type DualWriter, type DualWriterOptions } from './dual-write/index.js';
export { openSource, SOURCES } from '../connectors/index.js';
export { main } from './cli/main.js';
