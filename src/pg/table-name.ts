/** "schema.table" or "table" (schema public), as the user typed it; never trusted as SQL. */
export interface TableName {
  schema: string;
  table: string;
}

export function parseTableName(text: string, defaultSchema = 'public'): TableName {
  const m = /^(?:"((?:[^"]|"")+)"|([^."]+))(?:\.(?:"((?:[^"]|"")+)"|([^."]+)))?$/.exec(text.trim());
  if (!m) return { schema: defaultSchema, table: text };
  const first = m[1] !== undefined ? m[1].replace(/""/g, '"') : (m[2] ?? '');
  const second = m[3] !== undefined ? m[3].replace(/""/g, '"') : m[4];
  return second === undefined ? { schema: defaultSchema, table: first } : { schema: first, table: second };
}

export const displayName = (t: TableName) => `${t.schema}.${t.table}`;
