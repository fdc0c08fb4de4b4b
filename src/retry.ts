/** Exponential backoff for work that failed because a connection went away. */
import { isRetryable } from './pg-errors.js';

export interface RetryPolicy {
  /** Give up once this much time has passed since the first failure (ms). */
  timeoutMs: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { timeoutMs: 60_000, initialDelayMs: 100, maxDelayMs: 5_000 };

/**
 * Runs `attempt` until it succeeds, it fails with a non-retryable error, or the policy's
 * time runs out. `onRetry` hears each retryable failure (to reconnect, to log).
 */
export async function withRetry<T>(
  attempt: () => Promise<T>,
  policy: RetryPolicy,
  onRetry: (err: unknown, attemptNumber: number, delayMs: number) => Promise<void> | void = () => undefined,
): Promise<T> {
  let firstFailure: number | undefined;
  let delay = policy.initialDelayMs;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (!isRetryable(err)) throw err;
      firstFailure ??= Date.now();
      if (Date.now() - firstFailure + delay > policy.timeoutMs) throw err;
      await onRetry(err, n, delay);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, policy.maxDelayMs);
    }
  }
}
