/** `hyperfill clone`: roles, schema and relational data from a PostgreSQL or TimescaleDB source. */
import { openSource } from '../../connectors/index.js';
import { type Candidate, parseHypertableSpec, suggestCandidates } from '../clone/candidates.js';
import { copyRelationalTables } from '../clone/data-only.js';
import { type CloneResult, runClone } from '../clone/run-clone.js';
import { timescaleInstall } from '../target/timescale.js';
import { type ConnectionConfig, connect, describeConnection, parseConnection, withClient } from '../connection.js';
import { formatTable } from '../progress.js';
import { DEFAULT_CHUNK_ROWS } from '../schema/suggest.js';
import { intervalLabel } from '../schema/ddl.js';
import { shellWord } from '../shell-word.js';
import { quoteIdent } from '../sql.js';
import { durationFlag, intFlag, parseFlags, sourceFlag, usage } from './flags.js';
import type { CommandIO } from './io.js';
import { connectionFlagsNote } from './shared-help.js';
import { type CommandHelp, formatHelp } from './help.js';
import { TARGET_FLAGS, targetFlags, targetHelp } from './target-flags.js';

export const CLONE_HELP: CommandHelp = {
  usage: [
    'clone --source URL --target URL',
    '                [--hypertable TABLE[:TIME_COLUMN[:CHUNK_INTERVAL]] ...]',
    'clone --source URL --suggest',
    'clone --source URL --target URL --data-only --table TABLE ...',
  ],
  about: `Step 1 of the migration, as the guides do it: the source's roles (pg_dumpall --roles-only,
sanitised), then its schema with the relational data (pg_dump | psql, in one transaction).
From PostgreSQL, the --hypertable tables are dumped without data and become hypertables
while empty. From TimescaleDB, chunk data is left out, the load runs in TimescaleDB's restore
mode (timescaledb_pre_restore() / post_restore()), and every job (id >= 1000) is copied
disabled, its state recorded so that \`hyperfill restore-policies\` puts back what the source had.
Everything that would stop the clone is checked before anything changes.`,
  sections: [
    {
      flags: [
        ['--source URL', 'the PostgreSQL or TimescaleDB source (default: HYPERFILL_SOURCE)'],
        ['--hypertable SPEC', 'TABLE[:TIME_COLUMN[:CHUNK_INTERVAL]], repeatable: a table to make a hypertable (time column and interval suggested when left out, as `hyperfill schema` does)'],
        ['--suggest', 'list the tables with a timestamp or date column, largest first, with a suggested time column and chunk interval and what blocks them; changes nothing'],
        ['--no-roles', 'do not copy roles'],
        ['--no-role-passwords', 'copy roles without their passwords (for sources that do not show them)'],
        ['--if-exists error|skip', 'a target that holds the source\'s tables already: stop (default), or skip the load and do the remaining steps (roles, hypertables, jobs), e.g. after a failure'],
        ['--pg-bin DIR', 'where pg_dump, pg_dumpall and psql are (default: the newest suitable on PATH or in /usr/lib/postgresql/*/bin and the like; major version >= the source\'s)'],
        ['--chunk-rows N', `rows a suggested chunk aims at (default ${DEFAULT_CHUNK_ROWS})`],
        ['--control-schema S', 'schema of hyperfill\'s records in the target (default hyperfill)'],
        ['--reporting-period D', 'progress line every D while loading (default: every 2s on a terminal, else off)'],
        ['--json', 'print a JSON summary'],
      ],
    },
    {
      title: 'Cut-over',
      flags: [
        ['--data-only', 'copy the --table tables\' rows again (small relational tables changed since the clone): one transaction per table, TRUNCATE + COPY, or a merge by primary key for a table other tables reference; no client tools needed'],
        ['--table TABLE', 'a table for --data-only, repeatable'],
      ],
    },
    targetHelp({ plainTarget: 'a target without TimescaleDB: candidates stay plain (empty) tables' }),
  ],
  notes: [connectionFlagsNote, 'Client tools run as child processes with argument arrays; passwords reach them in PGPASSWORD.'],
};

export const CLONE_FLAGS = {
  source: { type: 'string' },
  ...TARGET_FLAGS,
  hypertable: { type: 'string', multiple: true },
  suggest: { type: 'boolean' },
  'no-roles': { type: 'boolean' },
  'no-role-passwords': { type: 'boolean' },
  'if-exists': { type: 'string' },
  'pg-bin': { type: 'string' },
  'chunk-rows': { type: 'string' },
  'control-schema': { type: 'string' },
  'reporting-period': { type: 'string' },
  'data-only': { type: 'boolean' },
  table: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function cloneCommand(args: string[], io: CommandIO): Promise<number> {
  const { values: v } = parseFlags(args, CLONE_FLAGS, 'clone');
  if (v.help) {
    io.stdout.write(`${formatHelp(CLONE_HELP)}\n`);
    return 0;
  }
  const sourceUrl = sourceFlag(v.source, 'clone');
  const chunkRows = intFlag(v['chunk-rows'], 'chunk-rows', DEFAULT_CHUNK_ROWS, 'clone');
  const flags = targetFlags(v, 'clone');
  if (v.suggest) return suggest(sourceUrl, (v.target ?? v.connection) === undefined ? undefined : flags.target, chunkRows, v['control-schema'] ?? 'hyperfill', v.json ?? false, io);
  if (v['data-only']) {
    if (!v.table) throw usage('`--data-only` needs the tables: `--table TABLE`, repeatable', 'clone');
    if (v.hypertable) throw usage('`--data-only` copies rows of relational tables: drop `--hypertable`', 'clone');
    const copied = await copyRelationalTables(parseConnection(sourceUrl, 'source'), flags.target, v.table, (line) => io.stderr.write(`${line}\n`));
    io.stdout.write(v.json ? `${JSON.stringify(copied)}\n` : `${formatTable(['table', 'rows', 'how'], copied.map((c) => [c.table, c.rows, c.how]))}\n`);
    return 0;
  }
  if (v.table) throw usage('`--table` goes with `--data-only`; tables to make hypertables are named with `--hypertable`', 'clone');
  const ifExists = v['if-exists'] ?? 'error';
  if (ifExists !== 'error' && ifExists !== 'skip') throw usage(`\`--if-exists\` is error or skip, got "${ifExists}"`, 'clone');
  const result = await runClone({
    source: sourceUrl,
    target: flags.target,
    retry: flags.retry,
    hypertables: (v.hypertable ?? []).map(parseHypertableSpec),
    roles: !v['no-roles'],
    rolePasswords: !v['no-role-passwords'],
    ifExists,
    allowPlainTarget: flags.allowPlainTarget,
    pgBin: v['pg-bin'],
    controlSchema: v['control-schema'] ?? 'hyperfill',
    chunkRows,
    reportingPeriodMs: durationFlag(v['reporting-period'], 'reporting-period', 0, 'clone'),
  }, io);
  io.stdout.write(v.json ? `${JSON.stringify(result)}\n` : `${formatCloneSummary(result)}\n`);
  return 0;
}

export function formatCloneSummary(r: CloneResult): string {
  const lines = [`clone complete: ${r.source} -> ${r.target} (client tools ${r.tools})`];
  if (r.roles) lines.push(`  roles: ${r.roles.created.length} created, ${r.roles.changes.length} statements changed or left out (listed above)`);
  else lines.push('  roles: not copied (--no-roles)');
  lines.push(r.loadedBytes === undefined ? `  schema: already in the target (--if-exists skip), ${r.tables.length} tables`
    : `  schema: ${r.tables.length} tables, ${(r.loadedBytes / 1e6).toFixed(1)} MB of dump loaded in one transaction`);
  for (const h of r.hypertables) lines.push(`  hypertable ${h.table}: ${h.outcome}`);
  if (r.jobs.length > 0) lines.push(`  jobs: ${r.jobs.map((j) => j.jobId).join(', ')} copied disabled; \`hyperfill restore-policies\` puts them back as the source had them`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  lines.push('next: make the application write to both databases, then `hyperfill status` / `hyperfill plan`');
  return lines.join('\n');
}

async function suggest(sourceUrl: string, target: ConnectionConfig | undefined, chunkRows: number, controlSchema: string, json: boolean, io: CommandIO): Promise<number> {
  const targetTs = target === undefined ? undefined : await withClient(target, async (c) => (await timescaleInstall(c))?.version);
  const src = await openSource(sourceUrl, { parallel: 1 });
  const client = await connect(parseConnection(sourceUrl, 'source'), 'source');
  try {
    const hypertables = (await timescaleInstall(client))
      ? (await client.query(`SELECT hypertable_schema AS s, hypertable_name AS t FROM timescaledb_information.hypertables`)).rows
      : [];
    const all = await suggestCandidates(client, src, [controlSchema], targetTs, chunkRows);
    const candidates = all.filter((c) => !hypertables.some((h) => h.s === c.table.schema && h.t === c.table.table));
    if (json) {
      io.stdout.write(`${JSON.stringify(candidates.map((c) => ({ ...c, interval: { value: c.interval.value.toString(), label: intervalLabel(c.interval.value, c.timeType), reason: c.interval.reason }, flag: flagFor(c) })))}\n`);
      return 0;
    }
    io.stdout.write(`${describeConnection(parseConnection(sourceUrl, 'source'))}: ${candidates.length} tables with a timestamp or date column, largest first\n`);
    io.stdout.write(`${formatTable(['table', 'size', 'rows', 'time column', 'chunk interval', 'as a hypertable'],
      candidates.map((c) => [`${c.table.schema}.${c.table.table}`, formatBytes(c.bytes), Math.round(c.rows), c.timeColumn, intervalLabel(c.interval.value, c.timeType),
        c.problems.length > 0 ? `blocked (${c.problems.length}, below)` : flagFor(c)]))}\n`);
    for (const c of candidates) {
      for (const p of c.problems) io.stdout.write(`blocked: ${p}\n`);
      for (const n of c.notes) io.stdout.write(`note: ${n}\n`);
      io.stdout.write(`interval for ${c.table.schema}.${c.table.table}: ${c.interval.reason}\n`);
    }
    return 0;
  } finally {
    await client.end().catch(() => undefined);
    await src.close();
  }
}

const flagFor = (c: Candidate) =>
  `--hypertable ${shellWord(`${specName(c.table.schema)}.${specName(c.table.table)}:${specName(c.timeColumn)}:${shortInterval(intervalLabel(c.interval.value, c.timeType))}`)}`;

/** A name as --hypertable reads it back: bare when plain, else double-quoted. */
const specName = (name: string) => (/^[a-z_][a-z0-9_]*$/.test(name) ? name : quoteIdent(name));

/** "1 day" → "1d", "6 hours" → "6h"; integers stay. */
const shortInterval = (label: string) => label.replace(/^(\d+) (day|hour|minute|second)s?$/, (_, n: string, unit: string) => `${n}${{ day: 'd', hour: 'h', minute: 'm', second: 's' }[unit]}`);

function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  return `${Math.round(n / 1e3)} kB`;
}
