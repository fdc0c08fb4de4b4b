/**
 * Step 1 of a clone: the source's roles into the target. `pg_dumpall --roles-only
 * --quote-all-identifiers`, sanitised (roles.ts), then run statement by statement so a
 * refusal names the role. Roles the target has already are not created again, so a rerun
 * after a failure carries on where it stopped.
 */
import type pg from 'pg';
import type { ConnectionConfig } from '../connection.js';
import { HyperfillError } from '../errors.js';
import { serverMessage } from '../pg-errors.js';
import { captureTool, lastLines } from './child.js';
import type { ClientTools } from './client-tools.js';
import { libpqConnection } from './libpq-env.js';
import { sanitiseRoles } from './roles.js';

export interface RolesResult {
  created: string[];
  /** What the sanitiser changed or left out. */
  changes: string[];
}

export async function cloneRoles(tools: ClientTools, source: ConnectionConfig, target: pg.Client, withPasswords: boolean): Promise<RolesResult> {
  const from = libpqConnection(source, 'hyperfill-clone');
  const args = ['--roles-only', '--quote-all-identifiers', ...(withPasswords ? [] : ['--no-role-passwords']),
    ...(from.database ? ['-l', from.database] : []), ...from.args];
  const dumped = await captureTool(tools.path('pg_dumpall'), args, from.env);
  if (dumped.code !== 0) {
    const authid = /pg_authid/.test(dumped.stderr);
    throw new HyperfillError('E_ROLES_DUMP_FAILED', `pg_dumpall --roles-only failed (exit ${dumped.code}):\n    ${lastLines(dumped.stderr)}`, {},
      authid ? 'the source user may not read role passwords (pg_authid): add --no-role-passwords (set the passwords on the target afterwards), or --no-roles'
        : 'fix the cause, or pass --no-roles and create the roles on the target yourself');
  }
  const me = (await target.query('SELECT current_user AS me')).rows[0].me as string;
  const existing = new Set((await target.query('SELECT rolname FROM pg_roles')).rows.map((r) => r.rolname as string));
  const skipped = new Map([
    [me, 'the role hyperfill connects to the target as keeps its own attributes and password'],
    ['postgres', 'the bootstrap superuser, which the target has and manages itself'],
  ]);
  const { statements, changes } = sanitiseRoles(dumped.stdout, skipped, existing);
  const created: string[] = [];
  for (const s of statements) {
    try {
      await target.query(s.sql);
      if (s.creates) created.push(s.creates);
    } catch (err) {
      throw roleFailure(err, s.label, s.line, me, created);
    }
  }
  return { created, changes };
}

function roleFailure(err: unknown, label: string, line: number, me: string, created: string[]): HyperfillError {
  const code = (err as { code?: string }).code;
  const sofar = created.length > 0 ? `roles created so far stay (${created.join(', ')}); a rerun skips them` : 'no role was created';
  const where = { statement: label, line };
  if (code === '42501') {
    return new HyperfillError('E_ROLE_PERMISSION', `the target user "${me}" may not run ${label}: ${serverMessage(err)}`, where,
      `connect to the target as a superuser or a role with CREATEROLE, create the role there yourself, or pass --no-roles; ${sofar}`, err);
  }
  return new HyperfillError('E_ROLES_LOAD', `the target refused ${label}: ${serverMessage(err)}`, where,
    `create or fix the role on the target yourself and rerun, or pass --no-roles; ${sofar}`, err);
}
