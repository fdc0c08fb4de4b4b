/**
 * One error family for everything hyperfill reports to a user. `code` is stable
 * (scripts may match on it); `context` says where: file, line, row, batch, window, table.
 * The CLI prints `message`, the context and `hint`, never a stack trace.
 */
export interface ErrorContext {
  file?: string;
  line?: number;
  row?: number;
  batch?: number;
  column?: string;
  table?: string;
  window?: string;
  worker?: number;
  [key: string]: string | number | undefined;
}

export class HyperfillError extends Error {
  readonly code: string;
  readonly context: ErrorContext;
  readonly hint: string | undefined;

  constructor(code: string, message: string, context: ErrorContext = {}, hint?: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'HyperfillError';
    this.code = code;
    this.context = context;
    this.hint = hint;
  }
}

/** Formats an error for a person: message, where it happened, what to do. */
export function describeError(err: unknown): string {
  if (err instanceof HyperfillError) {
    const where = Object.entries(err.context)
      .filter(([, v]) => v !== undefined && v !== '')
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const lines = [`error ${err.code}: ${err.message}`];
    if (where) lines.push(`  at: ${where}`);
    if (err.hint) lines.push(`  hint: ${err.hint}`);
    return lines.join('\n');
  }
  const message = err instanceof Error ? err.message : String(err);
  return `error E_INTERNAL: ${message}\n  hint: this is a bug in hyperfill; rerun with HYPERFILL_DEBUG=1 for a stack trace and report it`;
}
