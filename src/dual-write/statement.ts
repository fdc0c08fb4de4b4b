/**
 * What a write statement touches, read from its text: the verb and the table, so the
 * writer can record its first write per table, and so replay can add
 * `ON CONFLICT (key) DO NOTHING` to an INSERT whose table the user named a key for.
 * A statement the lexer cannot read (a broken quote) has no targets: the server will
 * reject it anyway.
 */
import { quoteIdent } from '../sql.js';
import { readName, SqlLexError, splitStatements, type Token, verbIndex } from '../pg/sql-lexer.js';
import type { TableName } from '../pg/table-name.js';

export interface WriteTarget {
  verb: 'INSERT' | 'UPDATE' | 'DELETE' | 'MERGE' | 'TRUNCATE';
  /** The name's parts, unquoted: ['metrics'] or ['public', 'metrics']. */
  parts: string[];
  /** The name as written in the statement (quotes kept): what `to_regclass` reads. */
  text: string;
  /** The parts joined: one key per table as written. */
  key: string;
}

/** The tables a statement (or a script of several) writes to, in order, without repeats. */
export function writeTargets(sql: string): WriteTarget[] {
  let statements;
  try {
    statements = splitStatements(sql);
  } catch (err) {
    if (err instanceof SqlLexError) return [];
    throw err;
  }
  const seen = new Set<string>();
  const targets: WriteTarget[] = [];
  for (const statement of statements) {
    for (const target of statementTargets(sql, statement.code)) {
      if (!seen.has(target.key)) {
        seen.add(target.key);
        targets.push(target);
      }
    }
  }
  return targets;
}

/** The targets of one statement's code tokens; `sql` is the script they come from. */
function statementTargets(sql: string, tokens: readonly Token[]): WriteTarget[] {
  let i = verbIndex(tokens);
  const verb = tokens[i]?.kind === 'word' ? tokens[i]?.value : undefined;
  const at = (n: number) => (tokens[n]?.kind === 'word' ? tokens[n]?.value : undefined);
  const name = (n: number): WriteTarget[] => {
    if (at(n) === 'ONLY') n++;
    const read = readName(tokens, n);
    return read ? [target(verb as WriteTarget['verb'], read.parts, sql.slice(read.start, read.end))] : [];
  };
  switch (verb) {
    case 'INSERT':
    case 'MERGE':
      return at(i + 1) === 'INTO' ? name(i + 2) : [];
    case 'UPDATE':
      return name(i + 1);
    case 'DELETE':
      return at(i + 1) === 'FROM' ? name(i + 2) : [];
    case 'TRUNCATE': {
      i++;
      if (at(i) === 'TABLE') i++;
      const targets: WriteTarget[] = [];
      for (;;) {
        if (at(i) === 'ONLY') i++;
        const read = readName(tokens, i);
        if (!read) break;
        targets.push(target('TRUNCATE', read.parts, sql.slice(read.start, read.end)));
        i = read.next;
        if (tokens[i]?.kind === 'operator' && tokens[i]?.text === '*') i++;
        if (tokens[i]?.kind !== 'comma') break;
        i++;
      }
      return targets;
    }
    default:
      return [];
  }
}

function target(verb: WriteTarget['verb'], parts: string[], text: string): WriteTarget {
  return { verb, parts, text, key: parts.join('.') };
}

/** True when a statement's table is the named one; an unqualified name in the statement matches any schema. */
export function sameTable(statement: readonly string[], named: TableName): boolean {
  const [schema, table] = statement.length >= 2 ? statement.slice(-2) : [undefined, statement[0]];
  return table === named.table && (schema === undefined || schema === named.schema);
}

export interface ConflictKey {
  table: TableName;
  columns: string[];
}

/**
 * The INSERT with `ON CONFLICT (columns) DO NOTHING` added, when it is one INSERT into a
 * table with a key and has no ON CONFLICT of its own; otherwise undefined (leave it as is).
 * The clause goes before a top-level RETURNING, else at the end.
 */
export function withOnConflictDoNothing(sql: string, keys: readonly ConflictKey[]): string | undefined {
  if (keys.length === 0) return undefined;
  let statements;
  try {
    statements = splitStatements(sql);
  } catch {
    return undefined;
  }
  const only = statements[0];
  if (statements.length !== 1 || !only) return undefined;
  const tokens = only.code;
  const targets = statementTargets(sql, tokens);
  const target = targets[0];
  if (!target || target.verb !== 'INSERT') return undefined;
  const key = keys.find((k) => sameTable(target.parts, k.table));
  if (!key) return undefined;
  const top = tokens.filter((t) => t.depth === 0 && t.kind === 'word');
  if (top.some((t, n) => t.value === 'ON' && top[n + 1]?.value === 'CONFLICT')) return undefined;
  const clause = ` ON CONFLICT (${key.columns.map(quoteIdent).join(', ')}) DO NOTHING`;
  const returning = top.find((t) => t.value === 'RETURNING');
  const text = only.text;
  if (!returning) return `${text}${clause}`;
  const cut = returning.start - only.start;
  return `${text.slice(0, cut).trimEnd()}${clause} ${text.slice(cut)}`;
}

