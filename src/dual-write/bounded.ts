/**
 * Secondary work with a deadline. The caller stops waiting at the deadline but the work
 * goes on: `late` says how it ended, and `issued` whether the statement had been sent
 * (after that, only its eventual answer tells whether the secondary has it).
 */
export interface BoundedOutcome {
  ok: boolean;
  error: unknown;
  timedOut: boolean;
  /** The statement was sent before the deadline: its fate is unknown until `late` settles. */
  issued: boolean;
  late: Promise<unknown>;
}

export class SecondaryTimeout extends Error {
  constructor(ms: number) {
    super(`the secondary did not answer within ${ms} ms`);
    this.name = 'SecondaryTimeout';
  }
}

/** Thrown inside the work when the deadline passed before the statement was sent: it is not sent. */
export class NotSent extends Error {
  constructor() {
    super('not sent: the deadline had passed');
    this.name = 'NotSent';
  }
}

/**
 * Runs `work` with `timeoutMs`. `work` calls `send()` right before it sends the statement;
 * `send()` throws NotSent when the deadline has already passed, so late work never starts.
 */
export function bounded(timeoutMs: number, work: (send: () => void) => Promise<unknown>): Promise<BoundedOutcome> {
  let issued = false;
  let timedOut = false;
  const late = work(() => {
    if (timedOut) throw new NotSent();
    issued = true;
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      timedOut = true;
      resolve({ ok: false, error: new SecondaryTimeout(timeoutMs), timedOut: true, issued, late });
    }, timeoutMs);
    late.then(
      () => {
        clearTimeout(timer);
        resolve({ ok: true, error: undefined, timedOut: false, issued, late });
      },
      (error) => {
        clearTimeout(timer);
        resolve({ ok: false, error, timedOut: false, issued, late });
      });
  });
}

/** A promise with its resolve outside. */
export class Deferred<T> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;

  constructor() {
    this.promise = new Promise<T>((resolve) => {
      this.resolve = resolve;
    });
  }
}
