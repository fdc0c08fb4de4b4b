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
 * time runs out. `onRetry` hears each retryable failure (to reconnect, to log). Once
 * `signal` aborts, no attempt starts and no wait goes on: its reason is thrown.
 */
export async function withRetry<T>(
  attempt: () => Promise<T>,
  policy: RetryPolicy,
  onRetry: (err: unknown, attemptNumber: number, delayMs: number) => Promise<void> | void = () => undefined,
  signal?: AbortSignal,
): Promise<T> {
  let firstFailure: number | undefined;
  let delay = policy.initialDelayMs;
  for (let n = 1; ; n++) {
    signal?.throwIfAborted();
    try {
      return await attempt();
    } catch (err) {
      if (!isRetryable(err) || signal?.aborted) throw err;
      firstFailure ??= Date.now();
      if (Date.now() - firstFailure + delay > policy.timeoutMs) throw err;
      await onRetry(err, n, delay);
      await abortableDelay(delay, signal);
      delay = Math.min(delay * 2, policy.maxDelayMs);
    }
  }
}

/** Waits `ms`, or until `signal` aborts (then throws its reason). */
export function abortableDelay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * `promise`, or the signal's reason as soon as it aborts, whichever comes first. The
 * promise is left to settle on its own (its rejection handled): the caller closes the
 * connection it runs on, which ends it.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  promise.catch(() => undefined);
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * One step of a command (a query, a check) retried like withRetry, that a signal ends at
 * once even while an attempt still waits on the server (a lock, a long scan).
 */
export function retryStep<T>(step: () => Promise<T>, policy: RetryPolicy, signal: AbortSignal | undefined,
  onRetry?: (err: unknown, delayMs: number) => void): Promise<T> {
  return withRetry(() => untilAborted(step(), signal), policy, (err, _n, delay) => onRetry?.(err, delay), signal);
}
