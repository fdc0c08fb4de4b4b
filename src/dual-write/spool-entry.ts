/**
 * What one spool record holds. Values are stored as pg itself would send them
 * (`prepareValue`: text, or bytes for a Buffer), so a replayed statement reaches the
 * server with exactly the parameters the live one had, whatever the JavaScript types were.
 */
import { createRequire } from 'node:module';

const pgUtils = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue(value: unknown): string | Buffer | null };

/** A parameter as stored: text, NULL, or bytes in base64. */
export type StoredValue = string | null | { b64: string };

export interface StoredStatement {
  text: string;
  values: StoredValue[];
}

export type SpoolEntry =
  /** One statement the primary committed and the secondary did not (or may not have). */
  | { kind: 'statement'; at: number; statement: StoredStatement }
  /** A transaction the primary committed: its statements, replayed in one transaction. */
  | { kind: 'transaction'; at: number; statements: StoredStatement[] }
  /** The writer's first write to a table (or its first after writes were lost, `reset`). */
  | { kind: 'first-write'; at: number; writerId: string; table: string; firstWriteAt: number; reset: boolean }
  /** A timed-out statement (record `seq`) that the secondary did commit after all: replay skips it. */
  | { kind: 'settled'; at: number; seq: number };

/** A record read back: its position in the spool and what it holds. */
export interface SpoolRecord {
  seq: number;
  entry: SpoolEntry;
}

export function storeStatement(text: string, values: readonly unknown[] | undefined): StoredStatement {
  return { text, values: (values ?? []).map(storeValue) };
}

function storeValue(value: unknown): StoredValue {
  const prepared = pgUtils.prepareValue(value);
  if (prepared === null || prepared === undefined) return null;
  if (Buffer.isBuffer(prepared)) return { b64: prepared.toString('base64') };
  return String(prepared);
}

export function loadValues(values: readonly StoredValue[]): Array<string | Buffer | null> {
  return values.map((v) => (v === null || typeof v === 'string' ? v : Buffer.from(v.b64, 'base64')));
}

/** The statements a record runs, in order (none for a `settled` marker). */
export function entryStatements(entry: SpoolEntry): StoredStatement[] {
  if (entry.kind === 'statement') return [entry.statement];
  if (entry.kind === 'transaction') return entry.statements;
  return [];
}
