/**
 * The roles sanitiser works on tokens, statement by statement: a keyword inside a
 * password literal, a quoted role name or a comment is never taken for one; statements
 * split only where psql splits them. (The same sanitiser against real pg_dumpall output
 * and a real target is in clone-postgres.test.ts.)
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { sanitiseRoles } from '../src/clone/roles.js';
import { splitStatements, statementText } from '../src/pg/sql-lexer.js';
import { HyperfillError } from '../src/errors.js';

const SKIP = new Map([['postgres', 'the bootstrap superuser']]);

test('statements split only at top-level semicolons; the text comes back whole', () => {
  const sql = [
    "SELECT 'a;b' AS x;",
    'SELECT E\'it\\\'s;\' AS y;',
    'SELECT "semi;colon" FROM t;',
    'SELECT $$ ; $$, $tag$ $$ ; $tag$;',
    '/* outer /* nested ; */ still comment ; */ SELECT 1;',
    '-- a comment ; here\nSELECT 2;',
    '\\restrict abc;def',
    'CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END;',
    'SELECT 3',
  ].join('\n');
  const statements = splitStatements(sql);
  assert.equal(statements.map(statementText).join(''), sql);
  const heads = statements.map((s) => statementText(s).trim().split('\n').pop());
  assert.deepEqual(heads, [
    "SELECT 'a;b' AS x;",
    "SELECT E'it\\'s;' AS y;",
    'SELECT "semi;colon" FROM t;',
    'SELECT $$ ; $$, $tag$ $$ ; $tag$;',
    '/* outer /* nested ; */ still comment ; */ SELECT 1;',
    'SELECT 2;',
    '\\restrict abc;def',
    'CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END;',
    'SELECT 3',
  ]);
  assert.deepEqual(statements.map((s) => s.meta), [false, false, false, false, false, false, true, false, false]);
  assert.deepEqual(statements.map((s) => s.line), [1, 2, 3, 4, 5, 7, 8, 9, 10]);
});

test('an unterminated literal is an error naming its line, not a silent cut', () => {
  assert.throws(() => splitStatements("SELECT 1;\nSELECT 'open"), (err: unknown) =>
    err instanceof HyperfillError && err.code === 'E_SQL_UNTERMINATED' && /line 2/.test(err.message));
  assert.throws(() => splitStatements('SELECT $x$ never closed'), (err: unknown) => err instanceof HyperfillError && err.code === 'E_SQL_UNTERMINATED');
});

test('privileged attributes go, everything else stays byte for byte', () => {
  const dump = [
    'CREATE ROLE "alice";',
    `ALTER ROLE "alice" WITH SUPERUSER INHERIT NOCREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:abc=$SUPERUSER;REPLICATION:x=';`,
    'CREATE ROLE "SUPERUSER";',
    'ALTER ROLE "SUPERUSER" WITH NOSUPERUSER NOLOGIN NOREPLICATION NOBYPASSRLS;',
    "ALTER ROLE \"alice\" SET \"search_path\" TO 'replication, superuser';",
    'CREATE ROLE "postgres";',
    'ALTER ROLE "postgres" WITH SUPERUSER LOGIN;',
    'GRANT "SUPERUSER" TO "alice" GRANTED BY "postgres";',
    'GRANT "pg_monitor" TO "postgres" GRANTED BY "alice";',
    'GRANT "we""ird" TO "alice" WITH INHERIT TRUE GRANTED BY "alice";',
    "COMMENT ON ROLE \"postgres\" IS 'admin';",
  ].join('\n');
  const { statements, changes } = sanitiseRoles(dump, SKIP, new Set(['existing']));
  assert.deepEqual(statements.map((s) => s.sql.trim()), [
    'CREATE ROLE "alice";',
    `ALTER ROLE "alice" WITH INHERIT NOCREATEROLE CREATEDB LOGIN PASSWORD 'SCRAM-SHA-256$4096:abc=$SUPERUSER;REPLICATION:x=';`,
    'CREATE ROLE "SUPERUSER";',
    'ALTER ROLE "SUPERUSER" WITH NOLOGIN;',
    "ALTER ROLE \"alice\" SET \"search_path\" TO 'replication, superuser';",
    'GRANT "SUPERUSER" TO "alice";',
    'GRANT "we""ird" TO "alice" WITH INHERIT TRUE;',
  ]);
  assert.deepEqual(statements.filter((s) => s.creates).map((s) => s.creates), ['alice', 'SUPERUSER']);
  assert.deepEqual(changes, [
    'role "alice": removed SUPERUSER, REPLICATION, BYPASSRLS',
    'role "SUPERUSER": removed NOSUPERUSER, NOREPLICATION, NOBYPASSRLS',
    'left out CREATE ROLE "postgres": the bootstrap superuser',
    'left out ALTER ROLE "postgres": the bootstrap superuser',
    'GRANT "SUPERUSER" TO "alice": removed GRANTED BY "postgres"',
    'left out GRANT "pg_monitor" TO "postgres": the bootstrap superuser',
    'GRANT "we""ird" TO "alice" WITH INHERIT TRUE: removed GRANTED BY "alice"',
    'left out COMMENT ON ROLE "postgres": the bootstrap superuser',
  ]);
  assert.ok(changes.every((c) => !c.includes('SCRAM')), 'no password in what is printed');
});

test('roles the target has are not created again, and an ALTER left with nothing to set goes', () => {
  const dump = 'CREATE ROLE "existing";\nALTER ROLE "existing" WITH SUPERUSER;\nALTER ROLE "existing" WITH LOGIN;\n';
  const { statements, changes } = sanitiseRoles(dump, SKIP, new Set(['existing']));
  assert.deepEqual(statements.map((s) => s.sql.trim()), ['ALTER ROLE "existing" WITH LOGIN;']);
  assert.deepEqual(changes, ['left out CREATE ROLE "existing": the target has this role already', 'role "existing": removed SUPERUSER']);
});

test('psql meta-commands are left out: statements run one by one', () => {
  const { statements } = sanitiseRoles('\\restrict k1\nSET client_encoding = \'UTF8\';\n\\unrestrict k1\n', SKIP, new Set());
  assert.deepEqual(statements.map((s) => s.sql.trim()), ["SET client_encoding = 'UTF8';"]);
});
