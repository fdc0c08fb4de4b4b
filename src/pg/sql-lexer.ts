/**
 * The PostgreSQL lexer: a script split into statements the way psql splits it, each with
 * its tokens, so callers can find a verb, a table, an ORDER BY or a role name without being
 * fooled by strings ('...', E'...' with backslash escapes), quoted identifiers, dollar
 * quotes ($tag$...$tag$) or comments (-- and nested block comments).
 * A `;` ends a statement only at parenthesis depth 0 and outside SQL-standard routine
 * bodies (BEGIN ATOMIC ... END). A backslash at the start of a statement is a psql
 * meta-command (\restrict, \connect): a statement of its own, to the line end.
 * Whitespace and comments are tokens too, so a statement's tokens joined give its text
 * back. It never executes or rewrites anything; COPY ... FROM stdin data is not read.
 */
import { HyperfillError } from '../errors.js';

export type TokenKind =
  | 'word' | 'quoted' | 'string' | 'number' | 'param' | 'placeholder' | 'operator' | 'open' | 'close' | 'comma' | 'dot' | 'semicolon'
  | 'meta'
  // Trivia: kept so the text can be given back, skipped by whatever reads the SQL.
  | 'space' | 'comment';

export interface Token {
  kind: TokenKind;
  /** The token's source text (for `word`, as written; compare with `value`). */
  text: string;
  /** Upper-cased text of a `word`, the identifier of a `quoted`, the name of a `placeholder`; else the text. */
  value: string;
  /** Offsets in the whole script. */
  start: number;
  end: number;
  /** Parenthesis (or bracket) depth the token sits at: 0 is the statement's own level. */
  depth: number;
  /** 1-based line the token starts on. */
  line: number;
}

export interface Statement {
  /** Every token, from the whitespace before it to its closing `;`: joined, they give its text back. */
  tokens: Token[];
  /** The tokens that are SQL: no whitespace, comments or closing `;`. */
  code: Token[];
  /** The statement as written, from its first code token to its last. */
  text: string;
  /** Offset of `text` in the script. */
  start: number;
  /** 1-based line of its first code token. */
  line: number;
  /** A psql meta-command line rather than SQL. */
  meta: boolean;
}

/** An unterminated quote or comment; `offset` and `line` say where it opens. */
export class SqlLexError extends HyperfillError {
  readonly line: number;

  constructor(what: string, opener: string, readonly offset: number, sql: string) {
    const line = lineAt(sql, offset);
    super('E_SQL_UNTERMINATED', `unterminated ${what} (${opener}) starting at line ${line}`, { line });
    this.line = line;
  }
}

/** The statements of `sql`; empty ones (a lone `;`) are dropped. Throws SqlLexError on an unterminated quote or comment. */
export function splitStatements(sql: string): Statement[] {
  const statements: Statement[] = [];
  let tokens: Token[] = [];
  let code: Token[] = [];
  let depth = 0;
  let blocks = 0;
  let line = 1;
  const flush = (meta: boolean) => {
    const first = code[0];
    const last = code[code.length - 1];
    if (first && last) statements.push({ tokens, code, text: sql.slice(first.start, last.end), start: first.start, line: first.line, meta });
    tokens = [];
    code = [];
    blocks = 0;
  };
  for (let at = 0; at < sql.length;) {
    const { kind, end, value } = scan(sql, at, code.length === 0);
    if (kind === 'close') depth = Math.max(0, depth - 1);
    const text = sql.slice(at, end);
    const token: Token = { kind, text, value: value ?? (kind === 'word' ? text.toUpperCase() : text), start: at, end, depth, line };
    if (kind === 'open') depth++;
    tokens.push(token);
    at = end;
    line += newlines(text);
    if (kind === 'semicolon' && depth === 0 && blocks === 0) {
      flush(false);
    } else if (isSignificant(token)) {
      code.push(token);
      if (kind === 'meta') flush(true);
      else if (kind === 'word') blocks = routineBlocks(code, token, blocks);
    }
  }
  flush(false);
  return statements;
}

const SPACE = /\s+/y;
const WORD = /[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/y;
const PARAM = /\$[0-9]+/y;
const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y;
const NUMBER = /(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/y;
const PLACEHOLDER = /:[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/y;
/** A run of operator characters, not running into a comment. */
const OPERATOR = /(?:[+*<>=~!@#%^&|`?:]|-(?!-)|\/(?!\*))+/y;
const PUNCTUATION: Record<string, TokenKind> = { '(': 'open', '[': 'open', ')': 'close', ']': 'close', ',': 'comma', '.': 'dot', ';': 'semicolon' };

/** End of the match of sticky `pattern` at `at`, or undefined. */
function matchEnd(pattern: RegExp, sql: string, at: number): number | undefined {
  pattern.lastIndex = at;
  return pattern.test(sql) ? pattern.lastIndex : undefined;
}

/** The token starting at `at`. */
function scan(sql: string, at: number, statementStart: boolean): { kind: TokenKind; end: number; value?: string } {
  const c = sql[at];
  const next = sql[at + 1];
  const lineEnd = () => {
    const eol = sql.indexOf('\n', at);
    return eol < 0 ? sql.length : eol;
  };
  let end: number | undefined;
  if ((end = matchEnd(SPACE, sql, at))) return { kind: 'space', end };
  if (c === '-' && next === '-') return { kind: 'comment', end: lineEnd() };
  if (c === '/' && next === '*') return { kind: 'comment', end: blockCommentEnd(sql, at) };
  if (c === '\\' && statementStart) return { kind: 'meta', end: lineEnd() };
  if (c === "'") return { kind: 'string', end: quotedEnd(sql, at, at, false) };
  if ((c === 'E' || c === 'e') && next === "'") return { kind: 'string', end: quotedEnd(sql, at, at + 1, true) };
  if (c === '"') {
    end = quotedEnd(sql, at, at, false);
    return { kind: 'quoted', end, value: sql.slice(at + 1, end - 1).replace(/""/g, '"') };
  }
  if ((end = matchEnd(PARAM, sql, at))) return { kind: 'param', end };
  if ((end = matchEnd(DOLLAR_TAG, sql, at))) {
    const tag = sql.slice(at, end);
    const close = sql.indexOf(tag, end);
    if (close < 0) throw new SqlLexError('dollar-quoted string', tag, at, sql);
    return { kind: 'string', end: close + tag.length };
  }
  if ((end = matchEnd(WORD, sql, at))) return { kind: 'word', end };
  if ((end = matchEnd(NUMBER, sql, at))) return { kind: 'number', end };
  if (c === ':' && next === ':') return { kind: 'operator', end: at + 2 };
  if (sql[at - 1] !== ':' && (end = matchEnd(PLACEHOLDER, sql, at))) return { kind: 'placeholder', end, value: sql.slice(at + 1, end) };
  const punctuation = PUNCTUATION[c ?? ''];
  if (punctuation) return { kind: punctuation, end: at + 1 };
  return { kind: 'operator', end: matchEnd(OPERATOR, sql, at) ?? at + 1 };
}

/**
 * Index after the closing quote of the string or identifier whose quote is at `quote`
 * (the token starts at `at`, before an E). A doubled quote is part of the text, as is a
 * backslash-escaped one in E'...'.
 */
function quotedEnd(sql: string, at: number, quote: number, backslashEscapes: boolean): number {
  const q = sql[quote];
  for (let i = quote + 1; i < sql.length;) {
    const c = sql[i];
    if (backslashEscapes && c === '\\') i += 2;
    else if (c === q && sql[i + 1] === q) i += 2;
    else if (c === q) return i + 1;
    else i++;
  }
  throw new SqlLexError(q === '"' ? 'quoted identifier' : 'string literal', q ?? '', at, sql);
}

/** Index after the block comment opening at `at`; block comments nest. */
function blockCommentEnd(sql: string, at: number): number {
  let nesting = 0;
  for (let i = at; i < sql.length;) {
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
  throw new SqlLexError('block comment', '/*', at, sql);
}

/**
 * psql's rule for SQL-standard routine bodies: in CREATE [OR REPLACE] FUNCTION|PROCEDURE,
 * BEGIN and CASE open a block that END closes; a `;` inside one does not end the statement.
 */
function routineBlocks(code: readonly Token[], word: Token, blocks: number): number {
  if (word.value !== 'BEGIN' && word.value !== 'CASE' && word.value !== 'END') return blocks;
  const [a, b, c, d] = code.slice(0, 4).map((t) => (t.kind === 'word' ? t.value : ''));
  const routine = (w: string | undefined) => w === 'FUNCTION' || w === 'PROCEDURE';
  if (a !== 'CREATE' || !(routine(b) || (b === 'OR' && c === 'REPLACE' && routine(d)))) return blocks;
  return word.value === 'END' ? Math.max(0, blocks - 1) : blocks + 1;
}

const newlines = (text: string) => {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
};

const lineAt = (sql: string, offset: number) => newlines(sql.slice(0, offset)) + 1;

/** Not whitespace or a comment. */
export const isSignificant = (t: Token) => t.kind !== 'space' && t.kind !== 'comment';

/** The statement's text as it was, whitespace and closing `;` included. */
export const statementText = (s: { tokens: readonly Token[] }) => s.tokens.map((t) => t.text).join('');

/** An identifier token's name: unquoted words fold to lower case, quoted ones keep theirs. */
export function identifierName(t: Token): string | undefined {
  if (t.kind === 'quoted') return t.value;
  if (t.kind === 'word') return t.text.toLowerCase();
  return undefined;
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

/** A possibly qualified name starting at token `at`: its parts (unquoted), the token after it, and its offsets in the script. */
export function readName(tokens: readonly Token[], at: number): { parts: string[]; next: number; start: number; end: number } | undefined {
  const parts: string[] = [];
  let i = at;
  for (;;) {
    const t = tokens[i];
    const name = t && identifierName(t);
    if (name === undefined) return undefined;
    parts.push(name);
    i++;
    if (tokens[i]?.kind !== 'dot') break;
    i++;
  }
  return { parts, next: i, start: tokens[at]?.start ?? 0, end: tokens[i - 1]?.end ?? 0 };
}
