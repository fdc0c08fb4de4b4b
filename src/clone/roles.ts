/**
 * The roles of a `pg_dumpall --roles-only` dump, made loadable by a target whose user is
 * not a superuser, statement by statement on the tokens (a password literal or a quoted
 * role name can never be mistaken for a keyword):
 * - statements about roles the target keeps for itself (its bootstrap `postgres`, the
 *   user hyperfill connects as) are left out, as are CREATE ROLE for roles it already has;
 * - SUPERUSER, REPLICATION and BYPASSRLS (and their NO forms) are removed: only a
 *   superuser may grant them;
 * - `GRANTED BY role` is removed: the grantor may not exist, or not be usable, there.
 * Every change is described for the user, never with a password.
 */
import { HyperfillError } from '../errors.js';
import { type Statement, type Token, identifierName, isSignificant, SqlLexError, splitStatements, statementText } from '../pg/sql-lexer.js';

export interface RoleStatement {
  sql: string;
  /** Line in the dump, and a short description without any password, for errors. */
  line: number;
  label: string;
  /** The role a CREATE ROLE statement creates. */
  creates?: string;
}

export interface SanitisedRoles {
  statements: RoleStatement[];
  /** What was changed or left out, one line each. */
  changes: string[];
}

/** Roles whose statements are left out, with the reason said to the user. */
export type SkippedRoles = Map<string, string>;

const PRIVILEGED = new Set(['SUPERUSER', 'NOSUPERUSER', 'REPLICATION', 'NOREPLICATION', 'BYPASSRLS', 'NOBYPASSRLS']);
const ROLE_NOUNS = new Set(['ROLE', 'USER', 'GROUP']);

export function sanitiseRoles(dump: string, skipped: SkippedRoles, existing: ReadonlySet<string>): SanitisedRoles {
  const statements: RoleStatement[] = [];
  const changes: string[] = [];
  for (const statement of dumpStatements(dump)) {
    if (statement.meta) continue; // \restrict and friends guard psql sessions; statements run one by one here
    const outcome = sanitiseStatement(statement, skipped, existing);
    changes.push(...outcome.changes);
    if (outcome.sql === undefined) continue;
    statements.push({ sql: outcome.sql, line: statement.line, label: label(statement), ...(outcome.creates ? { creates: outcome.creates } : {}) });
  }
  return { statements, changes };
}

function dumpStatements(dump: string): Statement[] {
  try {
    return splitStatements(dump);
  } catch (err) {
    if (!(err instanceof SqlLexError)) throw err;
    throw new HyperfillError(err.code, `${err.message} of the dump`, err.context, 'the dump is cut short or not SQL: run the dump again', err);
  }
}

interface Outcome {
  sql: string | undefined;
  creates?: string;
  changes: string[];
}

function sanitiseStatement(statement: Statement, skipped: SkippedRoles, existing: ReadonlySet<string>): Outcome {
  const tokens = [...statement.tokens];
  const sig = tokens.filter(isSignificant);
  const words = sig.map((t) => (t.kind === 'word' ? t.text.toUpperCase() : ''));
  const keep = (changes: string[] = []): Outcome => ({ sql: statementText({ ...statement, tokens }), changes });
  const leaveOut = (why: string): Outcome => ({ sql: undefined, changes: [why] });

  const roleCommand = (words[0] === 'CREATE' || words[0] === 'ALTER') && ROLE_NOUNS.has(words[1] ?? '');
  if (roleCommand) {
    const role = sig[2] ? identifierName(sig[2]) : undefined;
    if (role === undefined) return keep();
    const label = `${words[0]} ROLE ${quoted(role)}`;
    const skip = skipped.get(role);
    if (skip) return leaveOut(`left out ${label}: ${skip}`);
    if (words[0] === 'CREATE' && existing.has(role)) return leaveOut(`left out ${label}: the target has this role already`);
    if (words[0] === 'ALTER' && ['SET', 'RESET', 'RENAME', 'IN'].includes(words[3] ?? '')) return keep();
    const removed = removeWords(tokens, (t) => t.kind === 'word' && PRIVILEGED.has(t.text.toUpperCase()));
    const changes = removed.length > 0 ? [`role ${quoted(role)}: removed ${removed.join(', ')}`] : [];
    if (words[0] === 'ALTER' && !hasOptions(tokens)) return { sql: undefined, changes };
    return { ...keep(changes), ...(words[0] === 'CREATE' ? { creates: role } : {}) };
  }

  if (words[0] === 'GRANT' && !words.includes('ON')) {
    const named = sig.filter((t) => t.kind === 'quoted' || (t.kind === 'word' && !GRANT_WORDS.has(t.text.toUpperCase())));
    const grantorAt = words.findIndex((w, i) => w === 'GRANTED' && words[i + 1] === 'BY');
    const grantor = grantorAt >= 0 ? sig[grantorAt + 2] : undefined;
    const involved = named.filter((t) => t !== grantor).map(identifierName).find((r) => r !== undefined && skipped.has(r));
    const summary = oneLine(sig.filter((t) => t !== grantor).map((t) => t.text).join(' ').replace(/ ;$/, '').replace(/ GRANTED BY$/i, ''));
    if (involved !== undefined) return leaveOut(`left out ${summary}: ${skipped.get(involved)}`);
    if (grantor) {
      const start = tokens.indexOf(sig[grantorAt]!);
      const end = tokens.indexOf(grantor);
      const from = tokens[start - 1]?.kind === 'space' ? start - 1 : start;
      tokens.splice(from, end - from + 1);
      return keep([`${summary}: removed GRANTED BY ${grantor.text}`]);
    }
    return keep();
  }

  const onRole = (words[0] === 'COMMENT' || (words[0] === 'SECURITY' && words[1] === 'LABEL')) ? words.findIndex((w, i) => w === 'ON' && ROLE_NOUNS.has(words[i + 1] ?? '')) : -1;
  if (onRole >= 0) {
    const role = sig[onRole + 2] ? identifierName(sig[onRole + 2]!) : undefined;
    if (role !== undefined && skipped.has(role)) return leaveOut(`left out ${words[0]} ON ROLE ${quoted(role)}: ${skipped.get(role)}`);
  }
  return keep();
}

const GRANT_WORDS = new Set(['GRANT', 'TO', 'WITH', 'ADMIN', 'INHERIT', 'SET', 'OPTION', 'TRUE', 'FALSE', 'GRANTED', 'BY']);

/** Removes matching top-level words with the space before each; returns them upper-cased. */
function removeWords(tokens: Token[], match: (t: Token) => boolean): string[] {
  const removed: string[] = [];
  for (let i = tokens.length - 1; i >= 0; i--) {
    if (!match(tokens[i]!)) continue;
    removed.unshift(tokens[i]!.text.toUpperCase());
    const from = tokens[i - 1]?.kind === 'space' ? i - 1 : i;
    tokens.splice(from, i - from + 1);
  }
  return removed;
}

/** After `ALTER ROLE name [WITH]`, is anything left to set? Drops a dangling WITH. */
function hasOptions(tokens: Token[]): boolean {
  const sig = tokens.filter(isSignificant);
  const rest = sig.slice(3).filter((t) => t.text !== ';');
  if (rest.length === 1 && rest[0]!.kind === 'word' && rest[0]!.text.toUpperCase() === 'WITH') return false;
  return rest.length > 0;
}

/** The statement's first words up to a literal: `ALTER ROLE "alice"`, `GRANT "r" TO "u"`. */
function label(statement: Statement): string {
  const sig = statement.tokens.filter(isSignificant);
  const end = sig.findIndex((t) => t.kind === 'string' || t.text === ';' || ['WITH', 'PASSWORD', 'GRANTED'].includes(t.text.toUpperCase()));
  return oneLine(sig.slice(0, end < 0 ? 6 : Math.min(end, 6)).map((t) => t.text).join(' '));
}

const quoted = (role: string) => `"${role.replace(/"/g, '""')}"`;
const oneLine = (text: string) => text.replace(/\s+/g, ' ').slice(0, 200);
