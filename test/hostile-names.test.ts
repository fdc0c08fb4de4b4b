/**
 * Hostile identifiers in every command that emits or runs SQL: schema and table names
 * with a newline followed by SQL, quotes of both kinds, semicolons, comment markers,
 * backslashes, a colon and non-ASCII letters, on a real TimescaleDB. Each command must
 * treat them as names: `schema` output piped into psql creates exactly the table and
 * runs nothing else (a `victim` table survives), and copy, backfill, verify, plan and
 * bench move and compare exactly the rows the server itself holds.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { parseTableSpec } from '../src/backfill/resolve-tables.js';
import { parseTableName } from '../src/pg/table-name.js';
import { quoteLiteral } from '../src/sql.js';
import { describeNative, type NativeServer, startNativePostgres } from './helpers/native-postgres.js';
import { runMain } from './helpers/run-main.js';

const SCHEMA = 'Mixed Case';
const TABLE = 'we"i\'rd\ndrop table victim;--';
const COLON_TABLE = 'x:y \\ ü';
const TIME = 'ti"me\n;--';
const HOST = 'Host "数据"';
const VALUE = "v'al\\ue ✓;";
const UNTIL = '2024-01-08T00:00:00Z';

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
const tableArg = (schema: string, table: string) => `${q(schema)}.${q(table)}`;
const COLUMNS = `${q(TIME)} timestamptz NOT NULL, ${q(HOST)} text, ${q(VALUE)} float8`;
/** 20k rows, one a minute from Jan 1 (about two weeks). */
const FILL = (table: string) => `INSERT INTO ${table} SELECT '2024-01-01'::timestamptz + i * interval '1 minute', 'h' || (i % 7) || E' \\\\ "q";',
  i / 3.0 FROM generate_series(0, 19999) i`;

test('table specs and names: quotes protect colons and dots', () => {
  assert.deepEqual(parseTableSpec('"Mixed Case"."x:y"'), { source: '"Mixed Case"."x:y"', target: '"Mixed Case"."x:y"' });
  assert.deepEqual(parseTableSpec('"a:b".c:"d:e"'), { source: '"a:b".c', target: '"d:e"' });
  assert.deepEqual(parseTableSpec('events:public.events'), { source: 'events', target: 'public.events' });
  assert.deepEqual(parseTableName('"Mixed Case"."x:y"'), { schema: 'Mixed Case', table: 'x:y' });
  assert.deepEqual(parseTableName('"a.b"."c""d"'), { schema: 'a.b', table: 'c"d' });
});

describeNative('hostile identifiers', { timescale: true }, () => {
  let server: NativeServer;
  let source: string;
  let target: string;

  before(async () => {
    server = await startNativePostgres({ timescale: true });
    source = await server.createDatabase('source');
    target = await server.createDatabase('target');
    for (const db of ['source', 'target']) await server.query('CREATE TABLE victim (x int); INSERT INTO victim VALUES (1)', [], db);
    await server.query(`CREATE SCHEMA ${q(SCHEMA)};
      CREATE TABLE ${tableArg(SCHEMA, TABLE)} (${COLUMNS}); ${FILL(tableArg(SCHEMA, TABLE))};
      CREATE TABLE ${tableArg(SCHEMA, COLON_TABLE)} (${COLUMNS}); ${FILL(tableArg(SCHEMA, COLON_TABLE))};
      ANALYZE`, [], 'source');
  });
  after(async () => {
    await server?.stop();
  });

  async function victimsSurvive(): Promise<void> {
    for (const db of ['source', 'target']) {
      const r = await server.query<{ n: number }>('SELECT count(*)::int AS n FROM victim', [], db);
      assert.equal(r.rows[0]?.n, 1, `victim intact in ${db}`);
    }
  }

  /** count and a digest of every row, computed by the server, of the rows before UNTIL (or all). */
  async function digest(db: string, schema: string, table: string, all = false): Promise<{ n: number; h: string }> {
    const r = await server.query<{ n: number; h: string }>(`SELECT count(*)::int AS n,
      md5(coalesce(string_agg(concat_ws('|', ${q(TIME)}, ${q(HOST)}, ${q(VALUE)}), ',' ORDER BY ${q(TIME)}), '')) AS h
      FROM ${tableArg(schema, table)} ${all ? '' : `WHERE ${q(TIME)} < '${UNTIL}'`}`, [], db);
    return r.rows[0]!;
  }

  test('quoteLiteral reads back the same string whatever standard_conforming_strings says', async () => {
    const client = new pg.Client({ connectionString: server.url('source') });
    await client.connect();
    try {
      for (const scs of ['on', 'off']) {
        await client.query(`SET standard_conforming_strings = ${scs}`);
        for (const value of [TABLE, VALUE, "a\\'; drop table victim; --", '\\', "'\\'", 'naïve ✓ 数据']) {
          const r = await client.query(`SELECT ${quoteLiteral(value)}::text AS v`);
          assert.equal(r.rows[0].v, value, `standard_conforming_strings=${scs}: ${JSON.stringify(value)}`);
        }
      }
    } finally {
      await client.end();
    }
    await victimsSurvive();
  });

  test('schema: the printed DDL piped into psql creates exactly the hypertable and runs nothing else', async () => {
    await server.query('CREATE DATABASE piped');
    await server.query('CREATE TABLE victim (x int); INSERT INTO victim VALUES (1)', [], 'piped');
    for (const flags of [[], ['--compression']]) {
      const printed = await runMain(['schema', '--source', source, '--table', tableArg(SCHEMA, TABLE), '--time-column', TIME, ...flags]);
      assert.equal(printed.code, 0, printed.stderr);
      await server.query(`DROP SCHEMA IF EXISTS ${q(SCHEMA)} CASCADE`, [], 'piped');
      const psql = spawnSync('psql', [server.url('piped'), '-X', '-q', '-v', 'ON_ERROR_STOP=1'], { input: printed.stdout, encoding: 'utf8' });
      assert.equal(psql.status, 0, psql.stderr);
      const victim = await server.query<{ n: number }>('SELECT count(*)::int AS n FROM victim', [], 'piped');
      assert.equal(victim.rows[0]?.n, 1, `psql ran only the DDL (flags: ${flags.join(' ') || 'none'})`);
      const made = await server.query<{ hypertable_name: string; compression_enabled: boolean }>(
        'SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_schema = $1', [SCHEMA], 'piped');
      assert.deepEqual(made.rows, [{ hypertable_name: TABLE, compression_enabled: flags.length > 0 }]);
      const columns = await server.query<{ attname: string }>(`SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 ORDER BY attnum`,
        [tableArg(SCHEMA, TABLE)], 'piped');
      assert.deepEqual(columns.rows.map((c) => c.attname), [TIME, HOST, VALUE]);
    }
  });

  test('schema --apply, copy, backfill, verify and plan move exactly the rows', async () => {
    // The target tables, made by schema --apply (one with a colon in its name, given as SRC:DST).
    for (const [src, dst] of [[TABLE, TABLE], [COLON_TABLE, COLON_TABLE], [TABLE, 'copy; target\\']] as const) {
      const applied = await runMain(['schema', '--source', source, '--table', `${tableArg(SCHEMA, src)}:${tableArg(SCHEMA, dst)}`,
        '--time-column', TIME, '--target', target, '--apply', '--compression']);
      assert.equal(applied.code, 0, applied.stderr);
    }
    // Dual-write began on Jan 7: the target holds those rows already.
    for (const table of [TABLE, COLON_TABLE]) {
      const rows = await server.query(`SELECT * FROM ${tableArg(SCHEMA, table)} WHERE ${q(TIME)} >= '2024-01-07'`, [], 'source');
      await server.query(`INSERT INTO ${tableArg(SCHEMA, table)} SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::float8[])`,
        [rows.rows.map((r) => r[TIME]), rows.rows.map((r) => r[HOST]), rows.rows.map((r) => r[VALUE])], 'target');
    }
    const control = 'ctl "s";\n--';
    for (const table of [TABLE, COLON_TABLE]) {
      const args = ['--source', source, '--target', target, '--table', tableArg(SCHEMA, table), '--time-column', TIME, '--until', UNTIL, '--control-schema', control];
      const run = await runMain(['backfill', ...args, '--window', '1d']);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(await digest('target', SCHEMA, table), await digest('source', SCHEMA, table), `${JSON.stringify(table)}: target equals source before --until`);
      for (const mode of [[], ['--checksum']]) {
        const verify = await runMain(['verify', ...args, ...mode]);
        assert.equal(verify.code, 0, verify.stdout + verify.stderr);
        assert.match(verify.stdout, /source and target match/);
      }
      const planned = await runMain(['plan', '--source', source, '--target', target, '--table', tableArg(SCHEMA, table), '--time-column', TIME]);
      assert.equal(planned.code, 0, planned.stderr);
      assert.match(planned.stdout, /2024-01-01 00:00:00\+00/, 'plan found the first row in the target');
      const jobs = await server.query<{ scheduled: boolean }>(`SELECT scheduled FROM timescaledb_information.jobs WHERE hypertable_schema = $1 AND proc_name = 'policy_compression'`, [SCHEMA], 'target');
      assert.ok(jobs.rows.length > 0 && jobs.rows.every((j) => j.scheduled), 'policies restored');
    }
    // copy: the server's own CSV of the source table into the third target table.
    const csv = await server.query<{ line: string }>(`SELECT concat_ws(',', to_char(${q(TIME)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
      '"' || replace(${q(HOST)}, '"', '""') || '"', ${q(VALUE)}::text) AS line FROM ${tableArg(SCHEMA, TABLE)} ORDER BY 1`, [], 'source');
    const copy = await runMain(['copy', '--connection', target, '--schema', SCHEMA, '--table', 'copy; target\\', '--columns', [TIME, HOST, VALUE].map(q).join(','),
      '--import-id', 'id "x";\n--', '--control-schema', control, '--batch-size', '3000'], `${csv.rows.map((r) => r.line).join('\n')}\n`);
    assert.equal(copy.code, 0, copy.stderr);
    assert.equal(copy.stdout, 'COPY 20000\n');
    assert.deepEqual(await digest('target', SCHEMA, 'copy; target\\', true), await digest('source', SCHEMA, TABLE, true));
    await victimsSurvive();
  });

  test('bench: a scratch schema and a source table with hostile names', async () => {
    const scratch = 'bench "s";\n--';
    const toTarget = await runMain(['bench', '--target', target, '--schema', scratch, '--workers', '1', '--batch-size', '1000', '--rows', '3000']);
    assert.equal(toTarget.code, 0, toTarget.stderr);
    const left = await server.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1', [scratch], 'target');
    assert.equal(left.rows[0]?.n, 0, 'the scratch table was dropped');
    const fromSource = await runMain(['bench', '--source', source, '--table', tableArg(SCHEMA, TABLE), '--time-column', TIME, '--workers', '1,2', '--rows', '5000']);
    assert.equal(fromSource.code, 0, fromSource.stderr);
    await victimsSurvive();
  });
});
