/**
 * What a transform may put in a row, turned into the text PostgreSQL reads for a
 * column: strings as they are, null/undefined as NULL, numbers and bigints in
 * decimal, booleans as true/false, Dates in ISO 8601 (UTC), Buffers as bytea hex,
 * arrays as array literals for array columns, anything else as JSON (json/jsonb).
 */
import { RowError } from './row-error.js';

export function toCopyText(value: unknown, column: string, type: string | undefined): string | null {
  switch (typeof value) {
    case 'string':
      return value;
    case 'undefined':
      return null;
    case 'number':
      return Number.isNaN(value) ? 'NaN' : value === Infinity ? 'Infinity' : value === -Infinity ? '-Infinity' : String(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      return objectText(value, column, type);
    default:
      throw new RowError(`column "${column}" got a ${typeof value}, which has no COPY text form`);
  }
}

function objectText(value: object | null, column: string, type: string | undefined): string | null {
  if (value === null) return null;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new RowError(`column "${column}" got an invalid Date`);
    return value.toISOString();
  }
  if (value instanceof Uint8Array) return `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`;
  if (Array.isArray(value) && type?.endsWith('[]')) return arrayLiteral(value, column);
  try {
    return JSON.stringify(value);
  } catch (err) {
    throw new RowError(`column "${column}" got a value JSON cannot represent: ${(err as Error).message}`);
  }
}

/** `{1,"a b",NULL,{2,3}}` for PostgreSQL array columns. */
function arrayLiteral(items: unknown[], column: string): string {
  const parts = items.map((item) => {
    if (Array.isArray(item)) return arrayLiteral(item, column);
    const text = toCopyText(item, column, undefined);
    if (text === null) return 'NULL';
    return text === '' || /[{}",\\\s]/.test(text) || /^null$/i.test(text) ? `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"` : text;
  });
  return `{${parts.join(',')}}`;
}
