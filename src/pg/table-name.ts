/**
 * Names as a user types them: `schema.table` or `table` (schema public), a part in
 * double quotes when it holds a dot, a quote, a colon or a comma (`"my.schema"."a""b"`),
 * otherwise taken as typed (case kept). Never trusted as SQL: quoteIdent does that.
 */
import { HyperfillError } from '../errors.js';

export interface TableName {
  schema: string;
  table: string;
}

export function parseTableName(text: string, defaultSchema = 'public'): TableName {
  const m = /^(?:"((?:[^"]|"")+)"|([^."]+))(?:\.(?:"((?:[^"]|"")+)"|([^."]+)))?$/.exec(text.trim());
  if (!m) {
    throw new HyperfillError('E_TABLE_NAME', `cannot read ${JSON.stringify(text)} as a table name`, {},
      'write schema.table or table; put a part that holds a dot or a double quote in double quotes, doubling the quotes inside: "my.schema"."say ""hi"""');
  }
  const first = m[1] !== undefined ? m[1].replace(/""/g, '"') : (m[2] ?? '');
  const second = m[3] !== undefined ? m[3].replace(/""/g, '"') : m[4];
  return second === undefined ? { schema: defaultSchema, table: first } : { schema: first, table: second };
}

/** A name part as parseTableName reads it back: quoted unless it is plain letters, digits and _. */
export function formatNamePart(part: string): string {
  return /^[\p{L}\p{N}_$]+$/u.test(part) ? part : `"${part.replace(/"/g, '""')}"`;
}

/** "schema.table", each part quoted only when it needs to be: printable, and read back the same. */
export const displayName = (t: TableName) => `${formatNamePart(t.schema)}.${formatNamePart(t.table)}`;

/**
 * Splits `text` at each `separator` outside double quotes ("a:b":c → "a:b", c). The
 * parts keep their quotes.
 */
export function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (c === separator && !quoted) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** `"a""b"` → `a"b`; a part without quotes stays as typed. */
export function unquoteName(part: string): string {
  const trimmed = part.trim();
  return /^"(?:[^"]|"")*"$/.test(trimmed) ? trimmed.slice(1, -1).replace(/""/g, '"') : trimmed;
}
