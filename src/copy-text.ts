/**
 * PostgreSQL's text COPY format, both ways: `\N` is NULL, and backslash, tab,
 * newline and carriage return are escaped. The encoder is what every decoded row
 * goes through on its way back to COPY bytes.
 */

const NEEDS_ESCAPE = /[\\\t\n\r]/;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** One field: null → \N; text is escaped. */
export function encodeTextField(value: string | null | undefined): string {
  if (value === null || value === undefined) return '\\N';
  if (value.includes('\0')) throw new TypeError('a NUL byte cannot be stored in a PostgreSQL text value');
  return NEEDS_ESCAPE.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => ESCAPES[c] ?? c) : value;
}

/** One row, newline-terminated. */
export function encodeTextRow(values: ReadonlyArray<string | null | undefined>): string {
  let line = '';
  for (let i = 0; i < values.length; i++) line += (i === 0 ? '' : '\t') + encodeTextField(values[i]);
  return `${line}\n`;
}

/** Splits one text-format line (without its newline) into fields; `\N` → null. */
export function decodeTextRow(line: string): Array<string | null> {
  const out: Array<string | null> = [];
  for (const raw of line.split('\t')) {
    if (raw === '\\N') out.push(null);
    else out.push(raw.includes('\\') ? unescapeText(raw) : raw);
  }
  return out;
}

const UNESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

function unescapeText(field: string): string {
  return field.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x' && e.length > 1) return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]+$/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return UNESCAPES[e] ?? e;
  });
}
