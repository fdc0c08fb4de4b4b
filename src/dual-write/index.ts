/**
 * `hyperfill/dual-write`: write to the old and the new database at once from a Node
 * application, with a durable spool for the writes the new one misses.
 */
export { createDualWriter, DualWriter, type DualWriteDatabase, type DualWriterOptions, type DualWriterRecovery } from './writer.js';
export type { TransactionQuery } from './transaction.js';
export type { DualWriteMetrics, DualWriteMode, DualWriterEvents } from './metrics.js';
export { type SpoolOptions, type FsyncMode, SpoolJournal, type TornTail } from './spool-journal.js';
export type { SpoolEntry, SpoolRecord, StoredStatement, StoredValue } from './spool-entry.js';
export { replaySpool, type ReplayOptions, type ReplayProgress, type ReplayTarget, type ReplayClient } from './replay.js';
export { DualWriteControl, DEFAULT_CONTROL_SCHEMA, type FirstWrite } from './control-tables.js';
export { type ConflictKey, withOnConflictDoNothing, writeTargets, type WriteTarget } from './statement.js';
export { HyperfillError } from '../errors.js';
