/**
 * `--set` values: constant text, or a template with `{column}` references
 * (`{site}-{device}`); `{{` and `}}` are literal braces. Position references name
 * where the row came from: `{$file}`, `{$line}`, `{$row}`, `{$batch}`. A template that
 * is exactly one reference copies that value, NULL included; otherwise a NULL
 * reference makes the whole value NULL (as SQL's `||` does).
 */
export type TemplatePart = { text: string } | { ref: string };

export function parseTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let text = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if ((c === '{' || c === '}') && template[i + 1] === c) {
      text += c;
      i++;
      continue;
    }
    if (c === '}') throw new SyntaxError(`a lone "}" at character ${i + 1} (write "}}" for a literal brace)`);
    if (c !== '{') {
      text += c;
      continue;
    }
    const close = template.indexOf('}', i);
    if (close === -1) throw new SyntaxError(`"{" at character ${i + 1} is never closed (write "{{" for a literal brace)`);
    const ref = template.slice(i + 1, close).trim();
    if (ref === '') throw new SyntaxError(`empty "{}" at character ${i + 1}`);
    if (ref.startsWith('$') && !POSITION_REFS.includes(ref)) throw new SyntaxError(`unknown reference {${ref}}; position references are ${POSITION_REFS.map((r) => `{${r}}`).join(', ')}`);
    if (text) parts.push({ text });
    text = '';
    parts.push({ ref });
    i = close;
  }
  if (text || parts.length === 0) parts.push({ text });
  return parts;
}

export const POSITION_REFS = ['$file', '$line', '$row', '$batch'];

/** Column names a template reads. */
export function templateColumns(parts: readonly TemplatePart[]): string[] {
  return parts.flatMap((p) => ('ref' in p && !p.ref.startsWith('$') ? [p.ref] : []));
}
