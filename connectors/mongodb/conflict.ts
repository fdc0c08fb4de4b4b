/** A document the encoder could not write (document-encoding.ts) → the error a user sees. */
import { type ErrorContext, HyperfillError } from '../../src/errors.js';
import type { Conflict } from './document-encoding.js';

/**
 * `prefix` names the source in the code: E_MONGO_TYPE_CONFLICT, E_JSON_TYPE_CONFLICT,
 * E_MONGO_VALUE, E_JSON_VALUE; a string time value in another layout is E_TIME_FORMAT.
 * `position` says where the document is, for sources that know (files): its number and
 * e.g. "line 14 of a.ndjson".
 */
export function conflictError(prefix: 'MONGO' | 'JSON', c: Conflict, context: ErrorContext, position?: { number: number; at: string }): HyperfillError {
  const doc = c.id !== undefined ? `document _id ${c.id}` : position ? `document ${position.number}` : `document ${c.index + 1} of a batch`;
  const at = position ? ` (${position.at})` : '';
  const ctx: ErrorContext = { ...context, column: c.column, field: c.path, bsonType: c.bsonType, pgType: c.pgType };
  if (c.id !== undefined) ctx._id = c.id;
  switch (c.kind) {
    case 'type':
      return new HyperfillError(`E_${prefix}_TYPE_CONFLICT`,
        `${doc}${at} has field "${c.path}" of BSON type ${c.bsonType}, which does not fit column "${c.column}" (${c.pgType})`, ctx,
        `fix the document, filter it out, or give column "${c.column}" a type that holds ${c.bsonType} values (jsonb holds any)`);
    case 'value':
      return new HyperfillError(`E_${prefix}_VALUE`,
        `${doc}${at} has field "${c.path}" (BSON ${c.bsonType}) that column "${c.column}" (${c.pgType}) cannot store: ${c.detail ?? 'invalid value'}`, ctx,
        'fix the document or filter it out');
    case 'time-format':
      return new HyperfillError('E_TIME_FORMAT',
        `${doc}${at} has time field "${c.path}" = ${c.detail?.replace(/^value /, '') ?? '?'}, not in the layout of the sampled time values`, ctx,
        'string times are compared as strings, so every value must share one layout: normalise them, or store BSON dates');
  }
}
