/**
 * A command's own connection to a server, for the steps around the data path (checks,
 * the plan, pausing and restoring policies, marking a run complete). A lost connection
 * (a restart, fast or a crash, or a terminated backend) is reopened and the step run
 * again, within --retry-timeout, so it costs a retry, not the run. A step must therefore
 * be one transaction, or statements that are safe to repeat.
 *
 * A signal stops a step at once (its statement in flight is cancelled); `cleanup` steps,
 * which put back what a run changed, still run after one, for a bounded time.
 */
import type pg from 'pg';
import { type ConnectionConfig, connectionError, LazyClient } from './connection.js';
import { HyperfillError } from './errors.js';
import { type RetryPolicy, retryStep } from './retry.js';

/** After a signal, a cleanup step is retried this long at most: orchestrators send SIGKILL soon after SIGTERM. */
export const STOPPING_RETRY_MS = 10_000;

export interface ControlOptions {
  role: 'target' | 'source';
  retry: RetryPolicy;
  /** Aborts steps (cancelling their statement in flight) when a signal arrives. */
  signal?: AbortSignal | undefined;
  /** Runs after each connect, e.g. SET TIME ZONE 'UTC'. */
  setup?: string | undefined;
  onRetry?: ((err: unknown, delayMs: number) => void) | undefined;
  /** Shown in pg_stat_activity as "hyperfill <purpose>" (default "control"). */
  purpose?: string | undefined;
}

export class ControlConnection {
  private readonly client: LazyClient;

  constructor(readonly config: ConnectionConfig, private readonly options: ControlOptions) {
    this.client = new LazyClient(config, { setup: options.setup, role: options.role, purpose: options.purpose ?? 'control' });
  }

  /** Connects now. The first connection fails at once: a wrong host or password is not worth waiting for. */
  async open(): Promise<void> {
    try {
      await this.client.get();
    } catch (err) {
      throw connectionError(err, this.config, this.options.role);
    }
  }

  /** Runs `step`; after a lost connection, reconnects and runs it again. */
  run<T>(step: (client: pg.Client) => Promise<T>): Promise<T> {
    return this.attempt(step, this.options.retry, this.options.signal);
  }

  /**
   * A step that must run even after a signal: putting back what the run changed. Retried
   * like any other, but once a signal has come, only until STOPPING_RETRY_MS after it
   * (one deadline for every cleanup step of the connection).
   */
  cleanup<T>(step: (client: pg.Client) => Promise<T>): Promise<T> {
    return this.attempt(step, this.options.retry, this.stopDeadline());
  }

  private deadline: AbortController | undefined;

  /** Aborts STOPPING_RETRY_MS after the signal (never without one). */
  private stopDeadline(): AbortSignal | undefined {
    const signal = this.options.signal;
    if (!signal) return undefined;
    if (!this.deadline) {
      const deadline = new AbortController();
      this.deadline = deadline;
      const start = () => {
        const timer = setTimeout(() => deadline.abort(new HyperfillError('E_STOPPING',
          `gave up ${STOPPING_RETRY_MS / 1000} s after the signal: the ${this.options.role} did not answer`)), STOPPING_RETRY_MS);
        timer.unref();
      };
      if (signal.aborted) start();
      else signal.addEventListener('abort', start, { once: true });
    }
    return this.deadline.signal;
  }

  close(): Promise<void> {
    return this.client.close();
  }

  private async attempt<T>(step: (client: pg.Client) => Promise<T>, retry: RetryPolicy, signal: AbortSignal | undefined): Promise<T> {
    const cancel = () => this.client.cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      return await retryStep(() => this.client.use(step), retry, signal, this.options.onRetry);
    } catch (err) {
      // A statement cancelled for the signal fails with 57014: the signal is the reason.
      if (signal?.aborted) throw signal.reason;
      throw err;
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
  }
}
