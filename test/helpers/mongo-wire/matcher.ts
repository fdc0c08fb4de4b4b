// A compiled filter, tested on stored documents (the engine is query.ts).
import type { Document } from 'bson';
import { compileFilter, QueryError } from './query.js';
import { T } from './raw-bson.js';

export class Matcher {
  readonly matchesAll: boolean;
  private readonly predicate: ReturnType<typeof compileFilter>;

  /** Throws QueryError when the filter is invalid or uses what this server does not support. */
  constructor(filter: Document | undefined | null) {
    const f = filter ?? {};
    if (typeof f !== 'object' || Array.isArray(f)) throw new QueryError('filter must be an object');
    this.matchesAll = Object.keys(f).length === 0;
    this.predicate = compileFilter(f);
  }

  /** Whether the stored document at `start` matches. */
  test(buf: Buffer, start: number): boolean {
    return this.matchesAll || this.predicate({ type: T.document, buf, pos: start });
  }
}
