/**
 * `hyperfill clone` against the migration guide's own pipe, `pg_dump ... | psql -X -v
 * ON_ERROR_STOP=1 --single-transaction`, on the same relational data (native PostgreSQL
 * 15 source and target, Debian's client tools), interleaved, each run into a fresh target
 * database. clone runs the same two programs; what it adds is Node in the pipe (bytes
 * pass through, undecoded) and its checks. Reports wall seconds (best and median) and
 * the CPU seconds of everything each contender ran (/usr/bin/time, children included).
 * Writes benchmarks/results/clone.md.
 *
 *   node dist/benchmarks/clone-bench.js [--rows 1000000] [--rounds 3]
 */
import { spawn } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { startNativePostgres } from '../test/helpers/native-postgres.js';
import { BIN, writeReport } from './lib/timing.js';

const DUMP = '--format=plain --quote-all-identifiers --no-tablespaces --no-owner --no-privileges';

interface Run {
  seconds: number;
  cpu: number;
  rssMb: number;
}

/** One command under /usr/bin/time: wall seconds, user+system CPU of it and its children, peak RSS. */
function timed(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'TIME %U %S %M', command, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /TIME ([\d.]+) ([\d.]+) (\d+)/.exec(stderr);
      if (code !== 0 || !m) return reject(new Error(`${command} failed: ${stderr.slice(-800)}`));
      resolve({ seconds: (performance.now() - started) / 1000, cpu: Number(m[1]) + Number(m[2]), rssMb: Number(m[3]) / 1024 });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rows: { type: 'string' }, rounds: { type: 'string' } } });
  const rows = Number(values.rows ?? 1_000_000);
  const rounds = Number(values.rounds ?? 3);
  const [source, target] = await Promise.all([startNativePostgres({ fast: false }), startNativePostgres({ timescale: true, fast: false })]);
  try {
    await source.createDatabase('app');
    await source.query(`CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, country text);
      CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, amount numeric(12,2), placed date, note text);
      INSERT INTO customers SELECT i, 'customer ' || i, (ARRAY['DE', 'FR', 'US', 'JP'])[1 + i % 4] FROM generate_series(1, 10000) i;
      INSERT INTO orders SELECT i, 1 + i % 10000, round((random() * 1000)::numeric, 2), '2020-01-01'::date + (i % 1500), md5(i::text)
        FROM generate_series(1, ${rows}) i`, [], 'app');
    await source.query('VACUUM ANALYZE', [], 'app');
    const dumpBytes = Number((await source.query(`SELECT pg_database_size('app')::float8 AS b`)).rows[0].b);
    const bin = '/usr/lib/postgresql/15/bin';
    const recipe = (db: string) => `${bin}/pg_dump ${DUMP} --dbname=postgres://postgres@127.0.0.1:${source.port}/app` +
      ` | PGPASSWORD=${target.password} ${bin}/psql -X -q -v ON_ERROR_STOP=1 --single-transaction -f - --dbname=postgres://postgres@127.0.0.1:${target.port}/${db} >/dev/null`;
    const contenders = {
      'pg_dump \\| psql --single-transaction (the guide)': (db: string) => timed('bash', ['-o', 'pipefail', '-c', recipe(db)], { PGPASSWORD: source.password }),
      'hyperfill clone --no-roles': (db: string) => timed(process.execPath, [BIN, 'clone', '--no-roles', '--source', source.url('app'), '--target', target.url(db)], {}),
    };
    const results = new Map<string, Run[]>(Object.keys(contenders).map((k) => [k, []]));
    let n = 0;
    for (let round = 0; round < rounds; round++) {
      for (const [name, run] of Object.entries(contenders)) {
        const db = `t${n++}`;
        await target.createDatabase(db);
        results.get(name)!.push(await run(db));
        const copied = await target.query('SELECT count(*)::int AS n FROM orders', [], db);
        if (copied.rows[0].n !== rows) throw new Error(`${name} loaded ${copied.rows[0].n} of ${rows} rows`);
        await target.query(`DROP DATABASE ${db}`);
      }
    }
    const lines = [...results.entries()].map(([name, runs]) => {
      const wall = runs.map((r) => r.seconds);
      return `| ${name} | ${Math.min(...wall).toFixed(2)} | ${median(wall).toFixed(2)} | ${median(runs.map((r) => r.cpu)).toFixed(2)} | ${Math.round(median(runs.map((r) => r.rssMb)))} |`;
    });
    const version = (await source.query('SHOW server_version')).rows[0].server_version;
    const report = `# Clone benchmark: hyperfill clone against pg_dump | psql

${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, PostgreSQL ${version} source and target
(native clusters, durable settings, one machine), Debian's client tools. Relational data only: ${rows.toLocaleString('en')} orders
and 10,000 customers (${(dumpBytes / 1e6).toFixed(0)} MB on disk in the source), ${rounds} interleaved rounds, each into a fresh database.
CPU is everything the contender ran (pg_dump, psql, and for clone Node), user + system, median; RSS is the peak of the
largest process. Wall times on a shared machine are noisy; the CPU column is what clone adds.

| contender | best s | median s | CPU s | peak RSS MB |
|---|---:|---:|---:|---:|
${lines.join('\n')}

Command: \`node dist/benchmarks/clone-bench.js --rows ${rows} --rounds ${rounds}\`
`;
    writeReport('clone', report);
  } finally {
    await Promise.all([source.stop(), target.stop()]);
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
