/**
 * A SQL script split into statements the way psql splits it: a `;` ends a statement
 * only outside string literals ('...', E'...' with backslash escapes), quoted
 * identifiers ("..."), dollar quotes ($tag$...$tag$), comments (-- and nested block comments)
 * and SQL-standard function bodies (BEGIN ATOMIC ... END). A backslash at the start
 * of a statement is a psql meta-command (\restrict, \connect) and runs to the line end.
 * Every character belongs to exactly one token, so joining the tokens gives the text back.
 * COPY ... FROM stdin data is not read (the roles dumps this serves hold none).
 */
import { HyperfillError } from '../errors.js';

export type TokenKind = 'word' | 'quoted' | 'string' | 'space' | 'comment' | 'punct' | 'meta';

export interface Token {
  kind: TokenKind;
  text: string;
}

export interface Statement {
  tokens: Token[];
  /** A psql meta-command line rather than SQL. */
  meta: boolean;
  /** 1-based line of the statement's first token. */
  line: number;
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

export function splitStatements(sql: string): Statement[] {
  const statements: Statement[] = [];
  let current: Token[] = [];
  let line = 1;
  let startLine = 1;
  let beginDepth = 0;
  const flush = (meta: boolean) => {
    if (current.length > 0) statements.push({ tokens: current, meta, line: startLine });
    current = [];
    beginDepth = 0;
  };
  let i = 0;
  while (i < sql.length) {
    const token = readToken(sql, i, current, line);
    if (!current.some(isSignificant) && isSignificant(token)) startLine = line;
    current.push(token);
    i += token.text.length;
    line += countNewlines(token.text);
    if (token.kind === 'meta') flush(true);
    else if (token.kind === 'word') beginDepth = trackBegin(current, token, beginDepth);
    else if (token.text === ';' && beginDepth === 0) flush(false);
  }
  if (current.some(isSignificant)) flush(false);
  return statements;
}

function readToken(sql: string, i: number, current: Token[], line: number): Token {
  const c = sql[i]!;
  const rest = (end: number, kind: TokenKind): Token => ({ kind, text: sql.slice(i, end) });
  if (/\s/.test(c)) {
    let j = i + 1;
    while (j < sql.length && /\s/.test(sql[j]!)) j++;
    return rest(j, 'space');
  }
  if (c === '-' && sql[i + 1] === '-') {
    const end = sql.indexOf('\n', i);
    return rest(end < 0 ? sql.length : end, 'comment');
  }
  if (c === '/' && sql[i + 1] === '*') return rest(blockCommentEnd(sql, i, line), 'comment');
  if (c === '\\' && !current.some(isSignificant)) {
    const end = sql.indexOf('\n', i);
    return rest(end < 0 ? sql.length : end, 'meta');
  }
  if (c === "'") {
    const previous = current[current.length - 1];
    const escapes = previous?.kind === 'word' && /^[Ee]$/.test(previous.text);
    return rest(quotedEnd(sql, i, "'", escapes, line, 'string literal'), 'string');
  }
  if (c === '"') return rest(quotedEnd(sql, i, '"', false, line, 'quoted identifier'), 'quoted');
  if (c === '$') {
    const tag = DOLLAR_TAG.exec(sql.slice(i, i + 64))?.[0];
    if (tag) {
      const close = sql.indexOf(tag, i + tag.length);
      if (close < 0) throw unterminated('dollar quote', tag, line);
      return rest(close + tag.length, 'string');
    }
  }
  if (WORD_START.test(c)) {
    let j = i + 1;
    while (j < sql.length && WORD_PART.test(sql[j]!)) j++;
    return rest(j, 'word');
  }
  return rest(i + 1, 'punct');
}

/** Index after the closing quote; a doubled quote is part of the text, as is a backslash-escaped one in E'...'. */
function quotedEnd(sql: string, i: number, quote: string, backslashEscapes: boolean, line: number, what: string): number {
  let j = i + 1;
  while (j < sql.length) {
    const c = sql[j]!;
    if (backslashEscapes && c === '\\') j += 2;
    else if (c === quote && sql[j + 1] === quote) j += 2;
    else if (c === quote) return j + 1;
    else j++;
  }
  throw unterminated(what, quote, line);
}

function blockCommentEnd(sql: string, i: number, line: number): number {
  let depth = 0;
  let j = i;
  while (j < sql.length) {
    if (sql[j] === '/' && sql[j + 1] === '*') {
      depth++;
      j += 2;
    } else if (sql[j] === '*' && sql[j + 1] === '/') {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else j++;
  }
  throw unterminated('block comment', '/*', line);
}

/** psql's rule: inside CREATE [OR REPLACE] FUNCTION|PROCEDURE, BEGIN and CASE open a block that END closes. */
function trackBegin(tokens: Token[], token: Token, depth: number): number {
  const word = token.text.toUpperCase();
  if (word !== 'BEGIN' && word !== 'CASE' && word !== 'END') return depth;
  const head = tokens.filter(isSignificant).slice(0, 4).map((t) => t.text.toUpperCase());
  const routine = head[0] === 'CREATE' && (head[1] === 'FUNCTION' || head[1] === 'PROCEDURE' || (head[1] === 'OR' && head[2] === 'REPLACE' && (head[3] === 'FUNCTION' || head[3] === 'PROCEDURE')));
  if (!routine) return depth;
  if (word === 'END') return Math.max(0, depth - 1);
  return depth + 1;
}

function unterminated(what: string, opener: string, line: number): HyperfillError {
  return new HyperfillError('E_SQL_UNTERMINATED', `unterminated ${what} (${opener}) starting at line ${line} of the dump`, { line },
    'the dump is cut short or not SQL: run the dump again');
}

export const isSignificant = (t: Token) => t.kind !== 'space' && t.kind !== 'comment';

const countNewlines = (text: string) => {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
};

/** The statement's text, as it was. */
export const statementText = (s: Statement) => s.tokens.map((t) => t.text).join('');

/** An identifier token's name: unquoted words fold to lower case, quoted ones keep theirs. */
export function identifierName(t: Token): string | undefined {
  if (t.kind === 'quoted') return t.text.slice(1, -1).replace(/""/g, '"');
  if (t.kind === 'word') return t.text.toLowerCase();
  return undefined;
}
