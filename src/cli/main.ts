/** The `hyperfill` command: dispatches to one file per command, prints errors without stacks. */
import { readFileSync } from 'node:fs';
import { describeError, HyperfillError } from '../errors.js';
import { isRetryable, serverMessage } from '../pg-errors.js';
import { editDistance } from './flags.js';
import type { CommandIO } from './io.js';

type Command = (args: string[], io: CommandIO) => Promise<number>;

// Each command loads when it runs: a copy should not pay for drivers it never uses.
const COMMANDS: Record<string, { load: () => Promise<Command>; summary: string }> = {
  clone: { load: async () => (await import('./clone.js')).cloneCommand, summary: 'copy roles, schema and relational data to the target; big tables become empty hypertables' },
  copy: { load: async () => (await import('./copy.js')).copyCommand, summary: 'stream CSV from stdin or files into a table over parallel COPY' },
  bench: { load: async () => (await import('./bench.js')).benchCommand, summary: 'measure what a target ingests (or a source gives) and which --workers/--batch-size to use' },
  schema: { load: async () => (await import('./schema.js')).schemaCommand, summary: 'print (or --apply) the target DDL for source tables: CREATE TABLE, hypertable, compression' },
  plan: { load: async () => (await import('./plan.js')).planCommand, summary: 'suggest the completion point from where dual-write began' },
  backfill: { load: async () => (await import('./backfill.js')).backfillCommand, summary: 'copy every source row older than the completion point, resumable' },
  verify: { load: async () => (await import('./verify.js')).verifyCommand, summary: 'compare source and target per window: counts, estimates or checksums' },
  replay: { load: async () => (await import('./replay.js')).replayCommand, summary: 'apply a dual writer\'s spool to the target, in order, exactly once' },
  compare: { load: async () => (await import('./compare.js')).compareCommand, summary: 'run the same read queries on source and target: results and latency' },
  status: { load: async () => (await import('./status.js')).statusCommand, summary: 'one screen per table: clone, dual-write, suggested T, backfill, paused jobs, verify, next step' },
  'restore-policies': { load: async () => (await import('./backfill.js')).restorePoliciesCommand, summary: 'put back the jobs backfill or clone left paused (--catch-up: compress their backlog first)' },
};

const HELP = `hyperfill: backfill time-series data into TimescaleDB

Usage: hyperfill <command> [options]
       hyperfill help <command>     (or hyperfill <command> --help): the command's options
       hyperfill --version

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(18)}${c.summary}`).join('\n')}

Exit codes: 0 success, 1 failure, 2 usage error.`;

/** Errors in what the user typed (flags, connection strings, table names): exit 2, as usage errors. */
const USAGE_CODES = new Set(['E_USAGE', 'E_CONNECTION_STRING', 'E_TABLE_NAME', 'E_SOURCE_KIND']);

/** The version in package.json (dist/src/cli/main.js is three levels below it). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[], io: CommandIO): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--version' || first === '-V' || first === 'version') {
    io.stdout.write(`hyperfill ${version()}\n`);
    return 0;
  }
  // `hyperfill help copy` is `hyperfill copy --help`.
  const [name, ...args] = first === 'help' && rest.length > 0 ? [rest[0]!, '--help'] : argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${HELP}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    const near = Object.keys(COMMANDS).filter((c) => editDistance(name.toLowerCase(), c) <= 2);
    const guess = near.length > 0 ? `: did you mean ${near.map((c) => `\`${c}\``).join(' or ')}?` : '';
    io.stderr.write(`error E_USAGE: unknown command "${name}"${guess}\n\n${HELP}\n`);
    return 2;
  }
  try {
    return await (await command.load())(args, io);
  } catch (caught) {
    // A driver's lost-connection error that no step labelled is still a lost connection, not a bug.
    const err = !(caught instanceof HyperfillError) && isRetryable(caught)
      ? new HyperfillError('E_CONNECTION_LOST', `a connection to a server was lost: ${serverMessage(caught)}`, {},
        'hyperfill reconnects for --retry-timeout; check that the servers run, then rerun the same command', caught)
      : caught;
    io.stderr.write(`${describeError(err)}\n`);
    if (process.env.HYPERFILL_DEBUG && err instanceof Error) io.stderr.write(`${err.stack}\n`);
    return err instanceof HyperfillError && USAGE_CODES.has(err.code) ? 2 : 1;
  }
}

