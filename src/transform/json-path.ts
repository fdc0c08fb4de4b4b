/**
 * JSON path extraction for `--json-path col=source.a.b[0]["key.with.dots"]`: keys
 * separated by dots, array indexes in brackets, quoted keys in brackets. A missing
 * field or a JSON null gives NULL; strings come out as they are, numbers and booleans
 * as JSON prints them, objects and arrays as JSON text (for json/jsonb columns).
 */
export type PathSegment = string | number;

export function parseJsonPath(path: string): PathSegment[] {
  const segments: PathSegment[] = [];
  let i = 0;
  const fail = (why: string) => new SyntaxError(`bad JSON path "${path}" at character ${i + 1}: ${why}`);
  while (i < path.length) {
    const c = path[i];
    if (c === '.') {
      if (i === 0 || i === path.length - 1 || path[i + 1] === '.') throw fail('empty key');
      i++;
      continue;
    }
    if (c === '[') {
      const close = path.indexOf(']', i);
      if (close === -1) throw fail('"[" without "]"');
      const inner = path.slice(i + 1, close);
      if (/^\d+$/.test(inner)) segments.push(Number(inner));
      else if (/^"(?:[^"\\]|\\.)*"$/.test(inner)) segments.push(JSON.parse(inner) as string);
      else throw fail('brackets hold an index like [0] or a quoted key like ["a.b"]');
      i = close + 1;
      continue;
    }
    let end = i;
    while (end < path.length && path[end] !== '.' && path[end] !== '[') end++;
    segments.push(path.slice(i, end));
    i = end;
  }
  if (segments.length === 0) throw fail('empty path');
  return segments;
}

/** The field at `path` of an already parsed document, as COPY text (or null). */
export function extractJson(document: unknown, path: readonly PathSegment[]): string | null {
  let node: unknown = document;
  for (const segment of path) {
    if (node === null || typeof node !== 'object') return null;
    node = (node as Record<string | number, unknown>)[segment];
    if (node === undefined) return null;
  }
  if (node === null || node === undefined) return null;
  if (typeof node === 'string') return node;
  if (typeof node === 'object') return JSON.stringify(node);
  return String(node);
}
