/**
 * The one SQL lexer that clone (roles dumps), compare (query files) and dual-write (write
 * statements) share: statements split where psql splits them (checked against psql
 * itself), tokens that give the text back with their offsets, lines and depth, and what
 * the merge brought to each side: E'' strings, :name and numbers in dumps, routine bodies
 * and meta-command lines in compare and dual-write.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sanitiseRoles } from '../src/clone/roles.js';
import { parseQueries } from '../src/compare/query-file.js';
import { withOnConflictDoNothing, writeTargets } from '../src/dual-write/statement.js';
import { HyperfillError } from '../src/errors.js';
import { splitStatements, SqlLexError, statementText, type Token } from '../src/pg/sql-lexer.js';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';

const throwsCode = (f: () => unknown, code: string, check: (err: HyperfillError) => boolean = () => true) =>
  assert.throws(f, (err: unknown) => err instanceof HyperfillError && err.code === code && check(err));

test('every character is in one token, with its offsets, line and parenthesis depth', () => {
  const sql = "SELECT f(a, (b))[1], 'x;y'\n  -- note\nFROM t; \\connect db\nSELECT $1, :name, 2.5e3::int;";
  const statements = splitStatements(sql);
  const tokens = statements.flatMap((s) => s.tokens);
  assert.equal(tokens.map((t) => t.text).join(''), sql);
  tokens.forEach((t, n) => {
    assert.equal(sql.slice(t.start, t.end), t.text);
    assert.equal(t.start, n === 0 ? 0 : tokens[n - 1]?.end);
    assert.equal(t.line, sql.slice(0, t.start).split('\n').length, t.text);
  });
  assert.deepEqual(statements.map((s) => [s.meta, s.line, s.text]), [
    [false, 1, "SELECT f(a, (b))[1], 'x;y'\n  -- note\nFROM t"],
    [true, 3, '\\connect db'],
    [false, 4, 'SELECT $1, :name, 2.5e3::int'],
  ]);
  const [first, , last] = statements;
  const at = (t: Token) => `${t.text}@${t.depth}`;
  assert.deepEqual(first?.code.slice(0, 12).map(at), ['SELECT@0', 'f@0', '(@0', 'a@1', ',@1', '(@1', 'b@2', ')@1', ')@0', '[@0', '1@1', ']@0']);
  assert.deepEqual(last?.code.map((t) => [t.kind, t.value]), [
    ['word', 'SELECT'], ['param', '$1'], ['comma', ','], ['placeholder', 'name'], ['comma', ','], ['number', '2.5e3'], ['operator', '::'], ['word', 'INT'],
  ]);
});

test('a semicolon inside parentheses does not end a statement, as in psql; empty statements are dropped', () => {
  assert.deepEqual(splitStatements('SELECT (1; 2); ;; SELECT 3 -- end\n').map((s) => s.text), ['SELECT (1; 2)', 'SELECT 3']);
});

test('roles dumps: E strings, numbers, :name and :: do not move a statement boundary or change a byte', () => {
  const dump = [
    "ALTER ROLE \"alice\" WITH SUPERUSER CONNECTION LIMIT 10 PASSWORD E'se\\\\cr\\';et';",
    "COMMENT ON ROLE \"alice\" IS E'a :name \\' ; b';",
    "ALTER ROLE \"alice\" SET \"app.x\" TO '1'::text;",
  ].join('\n');
  const { statements, changes } = sanitiseRoles(dump, new Map(), new Set());
  assert.deepEqual(statements.map((s) => [s.line, s.sql.trim()]), [
    [1, "ALTER ROLE \"alice\" WITH CONNECTION LIMIT 10 PASSWORD E'se\\\\cr\\';et';"],
    [2, "COMMENT ON ROLE \"alice\" IS E'a :name \\' ; b';"],
    [3, "ALTER ROLE \"alice\" SET \"app.x\" TO '1'::text;"],
  ]);
  assert.deepEqual(changes, ['role "alice": removed SUPERUSER']);
  assert.equal(splitStatements(dump).map(statementText).join(''), dump);
});

test('compare and dual-write: a routine body (BEGIN ATOMIC ... END) is one statement', () => {
  const script = 'CREATE FUNCTION f() RETURNS void LANGUAGE sql BEGIN ATOMIC INSERT INTO a VALUES (1); DELETE FROM b; END; INSERT INTO c VALUES (2)';
  assert.deepEqual(splitStatements(script).map((s) => s.text), [
    'CREATE FUNCTION f() RETURNS void LANGUAGE sql BEGIN ATOMIC INSERT INTO a VALUES (1); DELETE FROM b; END',
    'INSERT INTO c VALUES (2)',
  ]);
  // Creating the function writes to neither a nor b.
  assert.deepEqual(writeTargets(script).map((t) => t.key), ['c']);
  const keys = [{ table: { schema: 'public', table: 'a' }, columns: ['id'] }];
  assert.equal(withOnConflictDoNothing('CREATE OR REPLACE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC INSERT INTO a VALUES (1); END', keys), undefined);
  throwsCode(() => parseQueries('SELECT 1 AS one;\nCREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\nSELECT 2 AS two;'),
    'E_COMPARE_NOT_A_READ', (err) => err.context.line === 2 && /query 2 /.test(err.message));
  const queries = parseQueries('SELECT CASE WHEN true THEN 1 END AS one;\nSELECT 2 AS two;');
  assert.deepEqual(queries.map((q) => [q.line, q.text]), [[1, 'SELECT CASE WHEN true THEN 1 END AS one'], [2, 'SELECT 2 AS two']]);
});

test('compare: an E string holding :until and ; stays one string; only the placeholder outside it is bound', () => {
  const [query, ...rest] = parseQueries("SELECT E'\\':until;' AS s FROM m WHERE t < :until;");
  assert.equal(rest.length, 0);
  assert.equal(query?.text, "SELECT E'\\':until;' AS s FROM m WHERE t < $1");
  assert.equal(query?.usesUntil, true);
});

test('compare and dual-write: a psql meta-command line is a statement of its own', () => {
  throwsCode(() => parseQueries('\\set x 1\nSELECT 1 AS one;'), 'E_COMPARE_NOT_A_READ', (err) => err.context.line === 1 && err.message.includes('\\set x 1'));
  assert.deepEqual(writeTargets('\\set x 1\nINSERT INTO t VALUES (1)').map((t) => t.key), ['t']);
});

test('an unterminated quote is one error saying where it opens; each caller says what to do', () => {
  const sql = "SELECT 1;\n\nSELECT E'open";
  assert.throws(() => splitStatements(sql), (err: unknown) => err instanceof SqlLexError && err instanceof HyperfillError &&
    err.code === 'E_SQL_UNTERMINATED' && err.line === 3 && err.offset === sql.indexOf("E'open"));
  throwsCode(() => parseQueries(sql, 'q.sql'), 'E_COMPARE_QUERIES', (err) => err.context.line === 3 && err.context.file === 'q.sql');
  throwsCode(() => sanitiseRoles("CREATE ROLE a;\nALTER ROLE a PASSWORD 'hunter2", new Map(), new Set()), 'E_SQL_UNTERMINATED',
    (err) => /line 2 of the dump/.test(err.message) && /run the dump again/.test(err.hint ?? '') && !err.message.includes('hunter2'));
  assert.deepEqual(writeTargets(sql), []);
});

describeNative('statements split where psql splits them', {}, () => {
  let server: NativeServer;
  before(async () => {
    server = await startNativePostgres();
  });
  after(async () => {
    await server?.stop();
  });

  test('psql -e echoes, statement by statement, what the lexer splits', () => {
    // No line ends right after a `;`: a statement split in one place but not the other shows as a moved line break.
    const script = [
      '\\set unused 1',
      "SELECT 'a;b' AS x; SELECT E'it\\'s;' AS y, e'\\\\' AS z;",
      '  SELECT "semi;colon", "q""q" FROM (SELECT 1 AS "semi;colon", 2 AS "q""q") s; SELECT $$ ; $$, $tag$ $$ ; $tag$;',
      '/* outer /* nested ; */ still comment ; */ SELECT 1;',
      '-- a comment ; here',
      'SELECT 2 -- trailing ; comment',
      '  + 3;',
      'SELECT (1; 2);',
      "SELECT ARRAY[1, 2][1:2], '1'::int, :not_a_variable, .5e3;",
      'CREATE FUNCTION lexer_f(x int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN x > 0 THEN 2 END; END;',
      'CREATE OR REPLACE PROCEDURE lexer_p() LANGUAGE sql BEGIN ATOMIC SELECT 1; END;',
      'SELECT CASE WHEN true THEN 1 END; SELECT 4',
    ].join(' \n');
    const psql = spawnSync(join(server.binDir, 'psql'), ['-X', '-q', '-e', '-o', '/dev/null', '-d', server.url()], { input: script, encoding: 'utf8' });
    assert.equal(psql.status, 0, psql.stderr);
    // psql sends a statement without the whitespace and -- comments before it, and echoes each on a line.
    const sent = splitStatements(script).filter((s) => !s.meta).map((s) => {
      const from = s.tokens.findIndex((t) => t.kind !== 'space' && !(t.kind === 'comment' && t.text.startsWith('--')));
      return `${statementText({ tokens: s.tokens.slice(from) })}\n`;
    });
    assert.equal(sent.length, 12);
    assert.equal(sent.join(''), psql.stdout);
  });
});
