/**
 * The SQL reading dual-write and compare rely on: statements split at top-level semicolons
 * only, the table a write statement targets, ON CONFLICT added to the right INSERTs only,
 * and compare's query file (read queries, :until, ORDER BY keys).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseQueries } from '../src/compare/query-file.js';
import { withOnConflictDoNothing, writeTargets } from '../src/dual-write/statement.js';
import { splitStatements, SqlLexError } from '../src/pg/sql-lexer.js';
import { HyperfillError } from '../src/errors.js';

test('statements split at top-level semicolons, never inside strings, identifiers, dollar quotes or comments', () => {
  const sql = `SELECT 'a;b', "x;y" FROM t; -- c;d
INSERT INTO t VALUES ($$;$$, E'\\';') /* ; /* nested ; */ */;
SELECT $tag$ ; $ $tag$;;
`;
  const statements = splitStatements(sql).map((s) => s.text);
  assert.deepEqual(statements, [
    `SELECT 'a;b', "x;y" FROM t`,
    `INSERT INTO t VALUES ($$;$$, E'\\';')`,
    'SELECT $tag$ ; $ $tag$',
  ]);
  assert.equal(splitStatements(sql)[1]?.line, 2);
  assert.throws(() => splitStatements(`SELECT 'open`), SqlLexError);
  assert.throws(() => splitStatements('SELECT 1 /* open'), SqlLexError);
});

test('the tables write statements target, as written and unquoted', () => {
  const names = (sql: string) => writeTargets(sql).map((t) => [t.verb, t.parts.join('.'), t.text]);
  assert.deepEqual(names('INSERT INTO metrics (time, v) VALUES ($1, $2)'), [['INSERT', 'metrics', 'metrics']]);
  assert.deepEqual(names('insert into Public."My Table" select * from x'), [['INSERT', 'public.My Table', 'Public."My Table"']]);
  assert.deepEqual(names('UPDATE ONLY s.t SET v = 1 WHERE id = 2'), [['UPDATE', 's.t', 's.t']]);
  assert.deepEqual(names('DELETE FROM t WHERE time < now()'), [['DELETE', 't', 't']]);
  assert.deepEqual(names('WITH x AS (SELECT 1), y AS MATERIALIZED (SELECT 2) INSERT INTO t SELECT * FROM x'), [['INSERT', 't', 't']]);
  assert.deepEqual(names('TRUNCATE TABLE a, ONLY b.c'), [['TRUNCATE', 'a', 'a'], ['TRUNCATE', 'b.c', 'b.c']]);
  assert.deepEqual(names('INSERT INTO a VALUES (1); UPDATE b SET x = 1; INSERT INTO a VALUES (2)'), [['INSERT', 'a', 'a'], ['UPDATE', 'b', 'b']]);
  assert.deepEqual(names('SELECT * FROM t'), []);
  assert.deepEqual(names(`INSERT INTO t VALUES ('unterminated`), []);
});

test('ON CONFLICT DO NOTHING goes into INSERTs into a keyed table that have none, before RETURNING', () => {
  const keys = [{ table: { schema: 'public', table: 'metrics' }, columns: ['time', 'host'] }];
  assert.equal(withOnConflictDoNothing('INSERT INTO metrics VALUES ($1, $2)', keys),
    'INSERT INTO metrics VALUES ($1, $2) ON CONFLICT ("time", "host") DO NOTHING');
  assert.equal(withOnConflictDoNothing('INSERT INTO public.metrics (time) VALUES ($1) RETURNING (SELECT 1), time;', keys),
    'INSERT INTO public.metrics (time) VALUES ($1) ON CONFLICT ("time", "host") DO NOTHING RETURNING (SELECT 1), time');
  assert.equal(withOnConflictDoNothing('INSERT INTO metrics VALUES (1) ON CONFLICT (time) DO UPDATE SET v = 2', keys), undefined);
  assert.equal(withOnConflictDoNothing('INSERT INTO other.metrics VALUES (1)', keys), undefined);
  assert.equal(withOnConflictDoNothing('INSERT INTO events VALUES (1)', keys), undefined);
  assert.equal(withOnConflictDoNothing('UPDATE metrics SET v = 1', keys), undefined);
  assert.equal(withOnConflictDoNothing(`INSERT INTO metrics VALUES ('returning')`, keys),
    `INSERT INTO metrics VALUES ('returning') ON CONFLICT ("time", "host") DO NOTHING`);
  assert.equal(withOnConflictDoNothing('INSERT INTO metrics VALUES (1); INSERT INTO metrics VALUES (2)', keys), undefined);
});

test('compare reads one named read query per statement, binds :until, and finds ORDER BY keys', () => {
  const queries = parseQueries(`-- hourly
SELECT date_trunc('hour', time) AS hour, avg(cpu) FROM m WHERE time < :until GROUP BY 1 ORDER BY hour DESC NULLS LAST;

SELECT host, count(*) OVER (ORDER BY time) FROM m;
WITH x AS (SELECT * FROM m ORDER BY time) SELECT * FROM x ORDER BY 2, x.host;
SELECT time::date, ':until' FROM m ORDER BY lower(host) LIMIT 5;
`);
  assert.equal(queries.length, 4);
  const [hourly, windowed, cte, expression] = queries as [typeof queries[number], typeof queries[number], typeof queries[number], typeof queries[number]];
  assert.equal(hourly.name, 'hourly');
  assert.equal(hourly.line, 2);
  assert.equal(hourly.usesUntil, true);
  assert.match(hourly.text, /WHERE time < \$1 GROUP BY/);
  assert.deepEqual([hourly.ordered, hourly.orderKeys], [true, ['hour']]);
  assert.deepEqual([windowed.name, windowed.ordered], ['query 2', false]);
  assert.deepEqual([cte.ordered, cte.orderKeys], [true, [2, 'host']]);
  assert.deepEqual([expression.usesUntil, expression.ordered, expression.orderKeys], [false, true, undefined]);
  assert.match(expression.text, /time::date, ':until'/);
  for (const [sql, code] of [['DELETE FROM m', 'E_COMPARE_NOT_A_READ'], ['SELECT $1', 'E_COMPARE_QUERIES'], ['  -- nothing\n', 'E_COMPARE_QUERIES'], [`SELECT 'x`, 'E_COMPARE_QUERIES']] as const) {
    assert.throws(() => parseQueries(sql), (err: unknown) => err instanceof HyperfillError && err.code === code, sql);
  }
});
