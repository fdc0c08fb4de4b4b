/**
 * Whether a record the target rejected is probably a header line (`time,host,cpu`): every
 * field a name (a letter or _ first, no field empty), none a number or a time. Used only to
 * add a hint to an error, never to decide what is loaded.
 */
const NAME = /^[\p{L}_][\p{L}\p{N}_ .()/-]*$/u;

export function looksLikeHeader(record: Buffer, delimiter: string, quote: string): boolean {
  const text = record.toString('utf8').replace(/\r?\n$/, '');
  if (text === '') return false;
  const fields = text.split(delimiter).map((f) => {
    const t = f.trim();
    return t.length >= 2 && t.startsWith(quote) && t.endsWith(quote) ? t.slice(1, -1) : t;
  });
  return fields.every((f) => NAME.test(f));
}
