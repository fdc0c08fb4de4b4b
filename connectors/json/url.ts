/** Which URLs the JSON source takes: apart from config.ts, so choosing a connector loads no parser. */
export const SCHEME = /^(json|ndjson|jsonl):(.*)$/is;
const EXTENSION = /\.(json|ndjson|jsonl)(\.gz)?$/i;
/** `?key=value&...` at the end of a path. */
export const QUERY = /\?((?:[A-Za-z][\w.]*=[^&]*)(?:&[A-Za-z][\w.]*=[^&]*)*)$/;

export function acceptsJsonUrl(rawUrl: string): boolean {
  if (SCHEME.test(rawUrl)) return true;
  const url = rawUrl.replace(QUERY, '');
  if (/^file:/i.test(url)) return EXTENSION.test(url);
  // A bare path; never a libpq key=value string (those always hold an `=`).
  return !/^[a-z][a-z0-9+.-]*:/i.test(url) && !url.includes('=') && EXTENSION.test(url);
}
