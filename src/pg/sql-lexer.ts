/**
 * A small PostgreSQL lexer: enough to split a file into statements, find a statement's
 * verb and table, its top-level ORDER BY, and `:name` placeholders, without being
 * fooled by strings, quoted identifiers, dollar quotes or comments. It never executes
 * or rewrites anything by itself; callers decide what to do with the tokens.
 */

export type TokenKind = 'word' | 'quoted' | 'string' | 'number' | 'param' | 'placeholder' | 'operator' | 'open' | 'close' | 'comma' | 'dot' | 'semicolon';

export interface Token {
  kind: TokenKind;
  /** The token's source text (for `word`, as written; compare with `upper`). */
  text: string;
  /** Upper-cased text of a `word`, the identifier of a `quoted`, the name of a `placeholder`. */
  value: string;
  start: number;
  end: number;
  /** Parenthesis depth the token sits at (0: the statement's own level). */
  depth: number;
}

export class SqlLexError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const OPERATOR_CHARS = '+-*/<>=~!@#%^&|`?:';

/** Tokens of `sql`; whitespace and comments are dropped. Throws SqlLexError on an unterminated quote or comment. */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let depth = 0;
  let i = 0;
  const push = (kind: TokenKind, start: number, end: number, value?: string) => {
    const text = sql.slice(start, end);
    tokens.push({ kind, text, value: value ?? (kind === 'word' ? text.toUpperCase() : text), start, end, depth });
  };
  while (i < sql.length) {
    const c = sql[i] ?? '';
    const next = sql[i + 1] ?? '';
    if (/\s/.test(c)) {
      i++;
    } else if (c === '-' && next === '-') {
      const eol = sql.indexOf('\n', i);
      i = eol < 0 ? sql.length : eol + 1;
    } else if (c === '/' && next === '*') {
      i = skipBlockComment(sql, i);
    } else if (c === "'" || ((c === 'E' || c === 'e') && next === "'")) {
      const start = i;
      i = skipString(sql, c === "'" ? i : i + 1, c !== "'");
      push('string', start, i);
    } else if (c === '"') {
      const start = i;
      let value = '';
      i++;
      for (;;) {
        const q = sql.indexOf('"', i);
        if (q < 0) throw new SqlLexError('unterminated quoted identifier', start);
        value += sql.slice(i, q);
        if (sql[q + 1] === '"') {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      push('quoted', start, i, value);
    } else if (c === '$' && /[0-9]/.test(next)) {
      const start = i;
      i++;
      while (/[0-9]/.test(sql[i] ?? '')) i++;
      push('param', start, i);
    } else if (c === '$') {
      const tag = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i, i + 64));
      if (!tag) {
        push('operator', i, i + 1);
        i++;
        continue;
      }
      const close = sql.indexOf(tag[0], i + tag[0].length);
      if (close < 0) throw new SqlLexError('unterminated dollar-quoted string', i);
      const start = i;
      i = close + tag[0].length;
      push('string', start, i);
    } else if (WORD_START.test(c)) {
      const start = i;
      while (i < sql.length && WORD_PART.test(sql[i] ?? '')) i++;
      push('word', start, i);
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(next))) {
      const m = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(sql.slice(i));
      const start = i;
      i += m?.[0].length ?? 1;
      push('number', start, i);
    } else if (c === ':' && next === ':') {
      push('operator', i, i + 2);
      i += 2;
    } else if (c === ':' && WORD_START.test(next) && sql[i - 1] !== ':') {
      const start = i;
      i++;
      while (i < sql.length && WORD_PART.test(sql[i] ?? '')) i++;
      push('placeholder', start, i, sql.slice(start + 1, i));
    } else if (c === '(' || c === '[') {
      push('open', i, i + 1);
      depth++;
      i++;
    } else if (c === ')' || c === ']') {
      depth = Math.max(0, depth - 1);
      push('close', i, i + 1);
      i++;
    } else if (c === ',') {
      push('comma', i, ++i);
    } else if (c === '.') {
      push('dot', i, ++i);
    } else if (c === ';') {
      push('semicolon', i, ++i);
    } else if (OPERATOR_CHARS.includes(c)) {
      const start = i;
      while (i < sql.length && OPERATOR_CHARS.includes(sql[i] ?? '') && !(sql[i] === '-' && sql[i + 1] === '-') && !(sql[i] === '/' && sql[i + 1] === '*')) i++;
      push('operator', start, i);
    } else {
      push('operator', i, ++i);
    }
  }
  return tokens;
}

function skipBlockComment(sql: string, at: number): number {
  let nesting = 0;
  let i = at;
  while (i < sql.length) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      nesting++;
      i += 2;
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      nesting--;
      i += 2;
      if (nesting === 0) return i;
    } else {
      i++;
    }
  }
  throw new SqlLexError('unterminated block comment', at);
}

/** Index after the closing quote of the string opening at `at` (a `'`). */
function skipString(sql: string, at: number, backslashEscapes: boolean): number {
  let i = at + 1;
  while (i < sql.length) {
    const c = sql[i];
    if (backslashEscapes && c === '\\') {
      i += 2;
    } else if (c === "'") {
      if (sql[i + 1] === "'") i += 2;
      else return i + 1;
    } else {
      i++;
    }
  }
  throw new SqlLexError('unterminated string literal', at);
}

export interface SqlStatement {
  /** The statement without its terminating semicolon, trimmed. */
  text: string;
  /** 1-based line of the statement's first token in the whole text. */
  line: number;
  tokens: Token[];
}

/** Splits a script at top-level semicolons; empty statements are dropped. */
export function splitStatements(sql: string): SqlStatement[] {
  const statements: SqlStatement[] = [];
  let current: Token[] = [];
  const flush = () => {
    const first = current[0];
    const last = current[current.length - 1];
    if (first && last) {
      const offset = first.start;
      statements.push({
        text: sql.slice(first.start, last.end),
        line: sql.slice(0, first.start).split('\n').length,
        tokens: current.map((t) => ({ ...t, start: t.start - offset, end: t.end - offset })),
      });
    }
    current = [];
  };
  for (const token of tokenize(sql)) {
    if (token.kind === 'semicolon' && token.depth === 0) flush();
    else current.push(token);
  }
  flush();
  return statements;
}

/**
 * Index of the first token after an optional leading `WITH ... AS (...)` list: where a
 * statement's own verb is. Returns the tokens' length when the statement has none.
 */
export function verbIndex(tokens: readonly Token[]): number {
  let i = 0;
  if (tokens[0]?.kind !== 'word' || tokens[0].value !== 'WITH') return 0;
  i = 1;
  if (tokens[i]?.value === 'RECURSIVE') i++;
  for (;;) {
    // name [(columns)] AS [NOT] [MATERIALIZED] ( query ) [, ...]
    while (i < tokens.length && !(tokens[i]?.kind === 'open' && tokens[i]?.depth === 0 && tokens[i - 1]?.kind === 'word' &&
      ['AS', 'MATERIALIZED'].includes(tokens[i - 1]?.value ?? ''))) i++;
    i = afterGroup(tokens, i);
    // SEARCH / CYCLE clauses are rare enough to be left to the fallback below.
    if (tokens[i]?.kind === 'comma') {
      i++;
      continue;
    }
    return i;
  }
}

/** Index after the parenthesised group opening at `at` (or `at` when it is not an opening). */
export function afterGroup(tokens: readonly Token[], at: number): number {
  const open = tokens[at];
  if (!open || open.kind !== 'open') return at;
  for (let i = at + 1; i < tokens.length; i++) {
    const t = tokens[i];
    if (t && t.kind === 'close' && t.depth === open.depth) return i + 1;
  }
  return tokens.length;
}

/** A possibly qualified name starting at token `at`: its parts (unquoted), the token after it, and its offsets in the text. */
export function readName(tokens: readonly Token[], at: number): { parts: string[]; next: number; start: number; end: number } | undefined {
  const parts: string[] = [];
  let i = at;
  for (;;) {
    const t = tokens[i];
    if (!t || (t.kind !== 'word' && t.kind !== 'quoted')) return undefined;
    parts.push(t.kind === 'word' ? t.text.toLowerCase() : t.value);
    i++;
    if (tokens[i]?.kind !== 'dot') break;
    i++;
  }
  return { parts, next: i, start: tokens[at]?.start ?? 0, end: tokens[i - 1]?.end ?? 0 };
}
