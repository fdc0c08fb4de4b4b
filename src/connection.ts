/**
 * Connection settings: a postgres URL or a libpq `key=value` string, falling back to
 * DATABASE_URL and the PG* variables. `describeConnection` is the only way a connection
 * is ever printed: user@host:port/db, never a password.
 */
import { userInfo } from 'node:os';
import pg from 'pg';
import { HyperfillError } from './errors.js';
import { isRetryable } from './pg-errors.js';

export type ConnectionConfig = pg.ClientConfig;

const KEY_MAP: Record<string, keyof pg.ClientConfig> = {
  host: 'host', hostaddr: 'host', port: 'port', dbname: 'database', user: 'user',
  password: 'password', application_name: 'application_name', connect_timeout: 'connectionTimeoutMillis',
};

/** Parses `--connection`; `undefined` means DATABASE_URL, then libpq's PG* variables. */
export function parseConnection(value: string | undefined, role = 'target'): ConnectionConfig {
  const text = value ?? process.env.DATABASE_URL;
  if (text === undefined || text.trim() === '') return fromEnvironment();
  if (/^postgres(ql)?:\/\//i.test(text)) {
    try {
      new URL(text);
    } catch {
      throw new HyperfillError('E_CONNECTION_STRING', `the ${role} connection URL does not parse`, {},
        'use postgres://user@host:5432/dbname (percent-encode special characters in the password)');
    }
    return { connectionString: text };
  }
  if (text.includes('=')) return parseKeyValue(text, role);
  throw new HyperfillError('E_CONNECTION_STRING', `the ${role} connection is neither a postgres:// URL nor a key=value string`, {},
    'examples: postgres://user@host:5432/db or "host=localhost port=5432 dbname=db user=me"');
}

/** Connections that nothing named (no flag, no DATABASE_URL, no PG* variable): libpq's defaults. */
const DEFAULTED = new WeakSet<ConnectionConfig>();

function fromEnvironment(): ConnectionConfig {
  // pg reads PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE itself. Its default user is $USER;
  // libpq's is the OS user, which is what a shell without USER (cron, a container) means too.
  const config: ConnectionConfig = process.env.PGUSER || process.env.USER ? {} : { user: userInfo().username };
  if (!Object.keys(process.env).some((k) => k.startsWith('PG') && process.env[k])) DEFAULTED.add(config);
  return config;
}

/** libpq's `key=value key='quoted value'` form. */
function parseKeyValue(text: string, role: string): ConnectionConfig {
  const config: Record<string, unknown> = {};
  const pattern = /\s*([a-z_]+)\s*=\s*('((?:[^'\\]|\\.)*)'|[^\s]*)/gy;
  let match: RegExpExecArray | null;
  let consumed = 0;
  while ((match = pattern.exec(text)) !== null && match[0].length > 0) {
    consumed = pattern.lastIndex;
    const key = match[1] ?? '';
    const raw = match[3] !== undefined ? match[3].replace(/\\(.)/g, '$1') : (match[2] ?? '');
    if (key === 'sslmode') {
      if (raw !== 'disable') config.ssl = raw === 'require' ? { rejectUnauthorized: false } : true;
      continue;
    }
    const mapped = KEY_MAP[key];
    if (!mapped) {
      throw new HyperfillError('E_CONNECTION_STRING', `unknown key "${key}" in the ${role} connection string`, {},
        `supported keys: ${Object.keys(KEY_MAP).join(', ')}, sslmode`);
    }
    config[mapped] = key === 'port' ? Number(raw) : key === 'connect_timeout' ? Number(raw) * 1000 : raw;
  }
  if (text.slice(consumed).trim() !== '') {
    throw new HyperfillError('E_CONNECTION_STRING', `the ${role} connection string does not parse near "${text.slice(consumed).trim().slice(0, 20)}"`);
  }
  return config as ConnectionConfig;
}

/** user@host:port/database: safe to print. */
export function describeConnection(config: ConnectionConfig): string {
  let user = config.user ?? process.env.PGUSER ?? (DEFAULTED.has(config) ? process.env.USER : undefined);
  let host = config.host ?? process.env.PGHOST ?? 'localhost';
  let port: string | number | undefined = config.port ?? process.env.PGPORT ?? 5432;
  let database = config.database ?? process.env.PGDATABASE;
  if (config.connectionString) {
    const url = new URL(config.connectionString);
    user = decodeURIComponent(url.username) || user;
    host = url.hostname || url.searchParams.get('host') || host;
    port = url.port || port;
    database = decodeURIComponent(url.pathname.replace(/^\//, '')) || database;
  }
  return `${user ? `${user}@` : ''}${host}:${port}/${database ?? user ?? ''}`;
}

/** "hyperfill" or "hyperfill control": what each connection does shows in pg_stat_activity (unless the user named it). */
function applicationName(config: ConnectionConfig, purpose: string | undefined): string {
  return config.application_name ?? (purpose ? `hyperfill ${purpose}` : 'hyperfill');
}

/** Opens one client with errors a person can act on. */
export async function connect(config: ConnectionConfig, role = 'target', purpose?: string): Promise<pg.Client> {
  const client = new pg.Client({ ...config, application_name: applicationName(config, purpose) });
  // An idle client whose server goes away emits 'error'; the next query reports it.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return client;
  } catch (err) {
    await client.end().catch(() => undefined);
    throw connectionError(err, config, role);
  }
}

export function connectionError(err: unknown, config: ConnectionConfig, role: string): HyperfillError {
  const e = err as { code?: string; message?: string };
  const where = { [role]: describeConnection(config) };
  if (DEFAULTED.has(config)) {
    const code = e.code === '28P01' || e.code === '28000' ? 'E_AUTH' : e.code === '3D000' ? 'E_DATABASE_MISSING' : role === 'source' ? 'E_SOURCE_UNREACHABLE' : 'E_TARGET_UNREACHABLE';
    return new HyperfillError(code, `no ${role} was named (no --${role} or --connection, no DATABASE_URL, no PG* variable), so hyperfill tried ` +
      `libpq's defaults, ${describeConnection(config)}, and that failed: ${e.message ?? String(err)}`, where,
      `name the ${role}: --${role} postgres://user@host:5432/db, or set DATABASE_URL (or PGHOST, PGPORT, PGUSER, PGDATABASE, with PGPASSWORD to keep the password out of the process list)`, err);
  }
  if (e.code === '28P01' || e.code === '28000') {
    return new HyperfillError('E_AUTH', `the ${role} refused the login: ${e.message}`, where, 'check the user and password (PGPASSWORD or ~/.pgpass)', err);
  }
  if (e.code === '3D000') {
    return new HyperfillError('E_DATABASE_MISSING', `the ${role} has no such database: ${e.message}`, where, 'create it first or fix the database name', err);
  }
  const reason = e.message ?? String(err);
  const code = role === 'source' ? 'E_SOURCE_UNREACHABLE' : 'E_TARGET_UNREACHABLE';
  return new HyperfillError(code, `cannot connect to the ${role}: ${reason}`, where, 'check that the server runs and the host and port are right', err);
}

/**
 * A connection that was up and went away (restart, crash, pg_terminate_backend, network),
 * as an error that says which server; retryable (pg-errors.ts), so a retried step reconnects.
 */
export function lostConnection(err: unknown, config: ConnectionConfig, role: string, reconnecting = false): HyperfillError {
  if (err instanceof HyperfillError) return err;
  // Reconnecting failed: the server is not there (stopped, crashed, unreachable), whatever the last batch was doing.
  const now = reconnecting ? `, and it is unreachable now` : '';
  return new HyperfillError('E_CONNECTION_LOST', `lost the connection to the ${role}${now}: ${(err as Error).message ?? String(err)}`,
    { [role]: describeConnection(config) }, `hyperfill reconnects for --retry-timeout; check that the ${role} runs, then rerun the same command`, err);
}

/** Opens, uses and always closes one client (errors are made readable by `connect`). */
export async function withClient<T>(config: ConnectionConfig, use: (client: pg.Client) => Promise<T>, role = 'target'): Promise<T> {
  const client = await connect(config, role);
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface LazyClientOptions {
  /** Runs once after each connect, e.g. SET TIME ZONE. */
  setup?: string | undefined;
  /** 'target' or 'source': named in lost-connection errors. */
  role?: string | undefined;
  /** Shown in pg_stat_activity as "hyperfill <purpose>". */
  purpose?: string | undefined;
}

/**
 * One connection of a command: opened on first use, forgotten once lost (the server
 * closed it, or a query failed for a lost connection) and opened again on the next
 * use. Connect errors stay raw so retry logic can classify them.
 */
export class LazyClient {
  private client: pg.Client | undefined;
  private connecting: pg.Client | undefined;
  private readonly options: LazyClientOptions;

  /** `setup` (or options.setup) runs once after each connect, e.g. SET TIME ZONE. */
  constructor(private readonly config: ConnectionConfig, options: string | LazyClientOptions = {}) {
    this.options = typeof options === 'string' ? { setup: options } : options;
  }

  async get(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new pg.Client({ ...this.config, application_name: applicationName(this.config, this.options.purpose) });
    client.on('error', () => undefined);
    // A connection the server closed is forgotten at once: the next use opens a new one.
    client.once('end', () => {
      if (this.client === client) this.client = undefined;
    });
    this.connecting = client;
    try {
      await client.connect();
      if (this.options.setup) await client.query(this.options.setup);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    } finally {
      this.connecting = undefined;
    }
    this.client = client;
    return client;
  }

  /**
   * Runs `use` on the connection. A lost connection is dropped, and its error says which
   * server was lost (E_CONNECTION_LOST, retryable); other errors pass unchanged.
   */
  async use<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
    const role = this.options.role ?? 'target';
    let client: pg.Client;
    try {
      client = await this.get();
    } catch (err) {
      throw isRetryable(err) ? lostConnection(err, this.config, role, true) : connectionError(err, this.config, role);
    }
    try {
      return await use(client);
    } catch (err) {
      if (!isRetryable(err)) throw err;
      const ours = (client as unknown as { _ended?: boolean })._ended === true || this.client !== client;
      this.drop();
      throw ours ? lostConnection(err, this.config, role) : err;
    }
  }

  /**
   * Asks the server to cancel the statement in flight, if any (it fails with SQLSTATE
   * 57014 and its transaction can be rolled back); a connection still opening is closed.
   * For stopping at once on a signal: the server would otherwise finish a long
   * statement before it noticed the client had gone.
   */
  cancel(): void {
    this.connecting?.end().catch(() => undefined);
    const client = this.client as unknown as { processID?: number; secretKey?: number; host?: string; port?: number } | undefined;
    if (!client?.processID || client.secretKey === undefined) return;
    const con = new pg.Connection() as pg.Connection & { connect(port: number | string, host?: string): void; cancel(pid: number, key: number): void };
    con.on('error', () => undefined);
    con.on('connect', () => con.cancel(client.processID!, client.secretKey!));
    const host = client.host ?? 'localhost';
    if (host.startsWith('/')) con.connect(`${host}/.s.PGSQL.${client.port ?? 5432}`);
    else con.connect(client.port ?? 5432, host);
  }

  /** Forgets a connection that failed; it is closed in the background. */
  drop(): void {
    const client = this.client;
    this.client = undefined;
    client?.end().catch(() => undefined);
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.connecting?.end().catch(() => undefined);
    await client?.end().catch(() => undefined);
  }
}
