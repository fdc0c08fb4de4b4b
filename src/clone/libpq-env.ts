/**
 * How a client program (pg_dump, psql) reaches a server: a `--dbname` connection string
 * without the password, and the password in PGPASSWORD. A command line is visible to
 * every user of the machine (ps); the environment of a process is not.
 */
import type { ConnectionConfig } from '../connection.js';

export interface LibpqConnection {
  /** `--dbname=...`, or nothing when libpq's own PG* variables say everything. */
  args: string[];
  env: NodeJS.ProcessEnv;
  database: string | undefined;
}

export function libpqConnection(config: ConnectionConfig, applicationName = 'hyperfill'): LibpqConnection {
  const env: NodeJS.ProcessEnv = { ...process.env, PGAPPNAME: applicationName };
  if (config.connectionString) {
    const url = new URL(config.connectionString);
    const password = url.password ? decodeURIComponent(url.password) : url.searchParams.get('password');
    url.password = '';
    url.searchParams.delete('password');
    if (password) env.PGPASSWORD = password;
    const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || undefined;
    return { args: [`--dbname=${url.toString()}`], env, database };
  }
  const parts: string[] = [];
  const add = (key: string, value: unknown) => {
    if (value !== undefined && value !== null && value !== '') parts.push(`${key}=${conninfoValue(String(value))}`);
  };
  add('host', config.host);
  add('port', config.port);
  add('dbname', config.database);
  add('user', config.user);
  if (config.ssl) add('sslmode', 'require');
  if (config.connectionTimeoutMillis) add('connect_timeout', Math.ceil(config.connectionTimeoutMillis / 1000));
  if (typeof config.password === 'string' && config.password !== '') env.PGPASSWORD = config.password;
  return { args: parts.length > 0 ? [`--dbname=${parts.join(' ')}`] : [], env, database: config.database ?? process.env.PGDATABASE };
}

/** libpq's quoting: single quotes around the value, backslash before ' and \. */
function conninfoValue(value: string): string {
  return /^[^\s'\\]+$/.test(value) ? value : `'${value.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}
