/**
 * A writer's first write to each table, recorded in the target's control schema so `plan`
 * can put T after the last writer began. The time is taken when the writer first accepts
 * a write for the table, before it reaches either database. The record goes to the
 * secondary ahead of that write, or into the spool ahead of it when the secondary is down.
 */
import { type DualWriteControl, type Queryable } from './control-tables.js';
import type { SpoolEntry } from './spool-entry.js';
import { type WriteTarget, writeTargets } from './statement.js';

type State = 'new' | 'recording' | 'recorded' | 'spooled';

interface TableState {
  text: string;
  firstSeenAt: number;
  state: State;
  pending: Promise<void> | undefined;
  /** Writes to this table were lost: the next record moves the start forward. */
  reset: boolean;
}

const CACHE_LIMIT = 1000;

export class FirstWrites {
  private readonly tables = new Map<string, TableState>();
  private readonly parsed = new Map<string, WriteTarget[]>();
  private created: Promise<unknown> | undefined;

  constructor(private readonly writerId: string, private readonly control: DualWriteControl) {}

  /** The tables a statement writes to (parsed once per distinct text), noting the first sight of each. */
  targets(text: string, now = Date.now()): WriteTarget[] {
    let targets = this.parsed.get(text);
    if (!targets) {
      if (this.parsed.size >= CACHE_LIMIT) this.parsed.clear();
      targets = writeTargets(text);
      this.parsed.set(text, targets);
    }
    for (const t of targets) {
      const state = this.tables.get(t.key);
      if (!state) this.tables.set(t.key, { text: t.text, firstSeenAt: now, state: 'new', pending: undefined, reset: false });
      else if (state.state === 'new' && state.reset && state.firstSeenAt === 0) state.firstSeenAt = now;
    }
    return targets;
  }

  /** True when every table is recorded (or spooled): the usual case, checked without waiting. */
  allRecorded(targets: readonly WriteTarget[]): boolean {
    for (const t of targets) {
      const state = this.tables.get(t.key)?.state;
      if (state !== 'recorded' && state !== 'spooled') return false;
    }
    return true;
  }

  /** Records the tables not yet recorded on the secondary; concurrent writes share one attempt per table. */
  async recordDirect(secondary: Queryable, targets: readonly WriteTarget[]): Promise<void> {
    for (const t of targets) {
      const state = this.tables.get(t.key);
      if (!state || state.state === 'recorded' || state.state === 'spooled') continue;
      if (!state.pending) {
        state.state = 'recording';
        state.pending = this.record(secondary, state).then(
          () => {
            if (state.state === 'recording') state.state = 'recorded';
            state.pending = undefined;
          },
          (err) => {
            if (state.state === 'recording') state.state = 'new';
            state.pending = undefined;
            throw err;
          });
      }
      await state.pending;
    }
  }

  private async record(secondary: Queryable, state: TableState): Promise<void> {
    this.created ??= secondary.query(this.control.createSql()).catch((err) => {
      this.created = undefined;
      throw err;
    });
    await this.created;
    const s = this.control.firstWriteStatement(this.writerId, state.text, state.firstSeenAt, state.reset);
    await secondary.query(s.text, s.values);
    state.reset = false;
  }

  /** Spool entries to write ahead of a spooled write to these tables (each table once). */
  spoolEntries(targets: readonly WriteTarget[], at: number): SpoolEntry[] {
    const entries: SpoolEntry[] = [];
    for (const t of targets) {
      const state = this.tables.get(t.key);
      if (!state || state.state === 'recorded' || state.state === 'spooled') continue;
      entries.push({ kind: 'first-write', at, writerId: this.writerId, table: state.text, firstWriteAt: state.firstSeenAt, reset: state.reset });
      state.state = 'spooled';
      state.reset = false;
    }
    return entries;
  }

  /**
   * Writes to these tables were lost (the spool failed): the secondary is complete for them
   * only from the next write on, so that write is recorded again as a new start.
   */
  reset(targets: readonly WriteTarget[]): void {
    for (const t of targets) {
      const state = this.tables.get(t.key);
      if (!state) continue;
      state.state = 'new';
      state.reset = true;
      state.firstSeenAt = 0;
    }
  }
}
