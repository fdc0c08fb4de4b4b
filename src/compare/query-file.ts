/**
 * The read queries `compare` runs: one per statement of a .sql file. A `-- comment` line
 * right above a query names it. `:until` stands for the completion point (a bind
 * parameter, typed by its context); a top-level ORDER BY makes the result an ordered list.
 */
import { readFile } from 'node:fs/promises';
import { HyperfillError } from '../errors.js';
import { afterGroup, readName, SqlLexError, splitStatements, type Token, verbIndex } from '../pg/sql-lexer.js';

export interface CompareQuery {
  /** 1-based, in file order. */
  index: number;
  name: string;
  line: number;
  /** As written in the file. */
  original: string;
  /** What runs: `:until` replaced by `$1`. */
  text: string;
  usesUntil: boolean;
  /** The query has a top-level ORDER BY. */
  ordered: boolean;
  /**
   * The ORDER BY items as output columns (a name or a 1-based position), when every item is
   * one: rows with equal keys may come in any order. Undefined when an item is an expression.
   */
  orderKeys: Array<string | number> | undefined;
}

const READ_VERBS = new Set(['SELECT', 'WITH', 'VALUES', 'TABLE']);

export async function readQueryFile(path: string): Promise<CompareQuery[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new HyperfillError('E_COMPARE_QUERIES', `cannot read the queries file: ${(err as Error).message}`, { file: path },
      'give a .sql file with one read query per statement', err);
  }
  return parseQueries(text, path);
}

export function parseQueries(sql: string, file = 'queries'): CompareQuery[] {
  let statements;
  try {
    statements = splitStatements(sql);
  } catch (err) {
    if (!(err instanceof SqlLexError)) throw err;
    throw new HyperfillError('E_COMPARE_QUERIES', `the queries file does not parse: ${err.message}`,
      { file, line: err.line }, 'close the quote or comment that starts there');
  }
  if (statements.length === 0) {
    throw new HyperfillError('E_COMPARE_QUERIES', 'the queries file holds no query', { file }, 'write one read query per statement, each ending with ;');
  }
  const lines = sql.split('\n');
  return statements.map((s, n) => {
    const tokens = s.code;
    const first = tokens[0];
    const verb = first?.kind === 'open' ? 'SELECT' : first?.value;
    if (!first || first.kind === 'string' || !READ_VERBS.has(verb ?? '')) {
      throw new HyperfillError('E_COMPARE_NOT_A_READ', `query ${n + 1} is not a read query (it starts with "${first?.text ?? ''}")`, { file, line: s.line },
        'compare runs SELECT, WITH, VALUES and TABLE queries only, in read-only transactions');
    }
    const param = tokens.find((t) => t.kind === 'param');
    if (param) {
      throw new HyperfillError('E_COMPARE_QUERIES', `query ${n + 1} has a parameter ${param.text}: compare has none to give it`, { file, line: s.line },
        'write values into the query, and :until for the completion point');
    }
    const until = tokens.filter((t) => t.kind === 'placeholder' && t.value === 'until');
    let text = s.text;
    for (const t of [...until].reverse()) text = `${text.slice(0, t.start - s.start)}$1${text.slice(t.end - s.start)}`;
    const order = orderBy(tokens);
    return {
      index: n + 1, name: queryName(lines, s.line) ?? `query ${n + 1}`, line: s.line, original: s.text, text,
      usesUntil: until.length > 0, ordered: order !== undefined, orderKeys: order?.keys,
    };
  });
}

/** The comment line right above the query, if any. */
function queryName(lines: readonly string[], line: number): string | undefined {
  const above = lines[line - 2]?.trim();
  const m = above === undefined ? null : /^--\s*(.+?)\s*$/.exec(above);
  return m?.[1];
}

/**
 * The top-level ORDER BY, if any, with its items as output columns (`keys` undefined when
 * some item is an expression).
 */
function orderBy(tokens: readonly Token[]): { keys: Array<string | number> | undefined } | undefined {
  const start = verbIndex(tokens);
  let at = -1;
  for (let i = start; i < tokens.length; i++) {
    const t = tokens[i] as Token;
    if (t.kind === 'open') {
      i = afterGroup(tokens, i) - 1;
      continue;
    }
    if (t.kind === 'word' && t.value === 'ORDER' && tokens[i + 1]?.value === 'BY') at = i + 2;
  }
  if (at < 0) return undefined;
  const items: Token[][] = [[]];
  for (let i = at; i < tokens.length; i++) {
    const t = tokens[i] as Token;
    if (t.depth === 0 && t.kind === 'word' && ['LIMIT', 'OFFSET', 'FETCH', 'FOR'].includes(t.value)) break;
    if (t.depth === 0 && t.kind === 'comma') items.push([]);
    else items[items.length - 1]?.push(t);
  }
  const keys: Array<string | number> = [];
  for (const item of items) {
    const words = trimDirection(item);
    const last = words[words.length - 1];
    const name = readName(words, 0);
    if (words.length === 1 && last?.kind === 'number' && /^\d+$/.test(last.text)) keys.push(Number(last.text));
    else if (name && name.next === words.length) keys.push(name.parts[name.parts.length - 1] as string);
    else return { keys: undefined };
  }
  return { keys };
}

/** An ORDER BY item without ASC/DESC, NULLS FIRST/LAST or USING op. */
function trimDirection(item: Token[]): Token[] {
  const out = [...item];
  for (;;) {
    const last = out[out.length - 1];
    const before = out[out.length - 2];
    if (last?.kind === 'word' && (last.value === 'ASC' || last.value === 'DESC')) out.pop();
    else if (last?.kind === 'word' && (last.value === 'FIRST' || last.value === 'LAST') && before?.value === 'NULLS') out.splice(-2);
    else if (last?.kind === 'operator' && before?.value === 'USING') out.splice(-2);
    else return out;
  }
}
