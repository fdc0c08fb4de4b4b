/**
 * What to say when a table's time column is not known: only the columns that could be it
 * (of a time type: a timestamp, a date, an integer epoch; for document sources, fields whose
 * sampled values the source would accept as times), or why there is none.
 */
export function timeColumnHint(candidates: readonly string[], none: string): string {
  return candidates.length > 0 ? `name it with --time-column (one of: ${candidates.join(', ')})` : none;
}
