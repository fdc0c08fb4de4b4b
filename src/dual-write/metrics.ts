/**
 * What the dual writer tells the application: counters and gauges as one plain object
 * (`writer.metrics()`, the `metrics` event, the `onMetrics` callback) and events as they
 * happen. No metrics framework: map these onto whatever the application already uses.
 */
import type { HyperfillError } from '../errors.js';
import type { ReplayProgress } from './replay.js';

/**
 * `direct`: writes go to both databases. `spooling`: the secondary failed; writes go to the
 * primary and the spool, replay runs in the background. `draining`: replay is catching up on
 * the last records; new writes wait (within the secondary timeout) to go direct again.
 */
export type DualWriteMode = 'direct' | 'spooling' | 'draining';

export interface DualWriteMetrics {
  mode: DualWriteMode;
  /** Statements written through `query` and inside transactions. */
  writes: number;
  transactions: number;
  /** Writes the primary refused (the application got that error). */
  primaryErrors: number;
  /** Secondary errors and timeouts (the write went to the spool). */
  secondaryFailures: number;
  secondaryTimeouts: number;
  /** Records appended to the spool (statements, transactions, first-write records). */
  spooled: number;
  /** Records in the spool not yet replayed. */
  spoolDepth: number;
  spoolBytes: number;
  /** Records replay applied to the secondary. */
  replayed: number;
  /** How long the oldest record not yet replayed has waited (0 when none). */
  replayLagMs: number;
  /** Timed-out writes whose outcome on the secondary is still unknown. */
  inDoubt: number;
  /** Timed-out writes replayed before their outcome was known: the secondary may have them twice. */
  inDoubtReplayed: number;
  /** The primary refused a write the secondary took: the secondary has a row the primary lacks. */
  divergences: number;
  /** Writes the spool could not take (disk full...): the secondary lacks them. */
  lost: number;
  /** Replay is stopped at this record until the target is fixed. */
  replayBlocked: { seq: number; message: string } | undefined;
}

/** Events a DualWriter emits (it is an EventEmitter). None is 'error': an unhandled one never crashes the application. */
export interface DualWriterEvents {
  'secondary-failure': [{ statement: string; error: unknown; timedOut: boolean }];
  spooled: [{ seq: number; kind: string }];
  replayed: [ReplayProgress];
  /** The spool is empty again and writes go to both databases. */
  drained: [];
  'replay-error': [HyperfillError | Error];
  'spool-error': [{ error: unknown; statement: string }];
  divergence: [{ statement: string; primaryError: unknown }];
  'in-doubt': [{ seq: number; outcome: 'committed' | 'failed' | 'replayed-unsettled' }];
  metrics: [DualWriteMetrics];
}

export function emptyMetrics(): DualWriteMetrics {
  return {
    mode: 'direct', writes: 0, transactions: 0, primaryErrors: 0, secondaryFailures: 0, secondaryTimeouts: 0, spooled: 0,
    spoolDepth: 0, spoolBytes: 0, replayed: 0, replayLagMs: 0, inDoubt: 0, inDoubtReplayed: 0, divergences: 0, lost: 0, replayBlocked: undefined,
  };
}
