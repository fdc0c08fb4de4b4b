/**
 * ClickHouse source URLs, validated in one place:
 *
 *   clickhouse://user:password@host:8123/database        (HTTP)
 *   clickhouse+http://user:password@host:8123/database   (the same, explicit)
 *   clickhouse+https://user:password@host:8443/database  (HTTPS)
 *
 * hyperfill speaks ClickHouse's HTTP interface, not the native TCP protocol (port
 * 9000). Plain http:// and https:// URLs are not taken: they say nothing about what
 * answers there. Defaults: port 8123 (8443 for https), user `default`, database
 * `default`; the password may come from CLICKHOUSE_PASSWORD instead of the URL.
 * Query parameters: `request_timeout` (ms until the server starts answering, default
 * 300000) and `compression` (`none`, the default, or `gzip`).
 */
import { HyperfillError } from '../../src/errors.js';

export interface ClickHouseConfig {
  /** http(s)://host:port, no credentials. */
  url: string;
  username: string;
  password: string;
  database: string;
  requestTimeoutMs: number;
  compression: boolean;
  /** For messages: the URL without its password. */
  display: string;
}

const SCHEMES: Record<string, 'http' | 'https'> = { 'clickhouse:': 'http', 'clickhouse+http:': 'http', 'clickhouse+https:': 'https' };
const PARAMS = ['request_timeout', 'compression'];

/** True for the URL schemes this connector takes. */
export function isClickHouseUrl(url: string): boolean {
  return /^clickhouse(\+https?)?:\/\//i.test(url.trim());
}

export function parseClickHouseUrl(text: string, env: NodeJS.ProcessEnv = process.env): ClickHouseConfig {
  const bad = (why: string, hint = 'e.g. clickhouse://default:secret@localhost:8123/mydb') =>
    new HyperfillError('E_CONNECTION_STRING', `invalid ClickHouse URL: ${why}`, { source: redact(text) }, hint);
  let u: URL;
  try {
    u = new URL(text.trim());
  } catch {
    throw bad('it is not a URL');
  }
  const protocol = SCHEMES[u.protocol.toLowerCase()];
  if (!protocol) throw bad(`the scheme must be clickhouse://, clickhouse+http:// or clickhouse+https://, not ${u.protocol}//`);
  if (!u.hostname) throw bad('no host');
  const port = u.port === '' ? (protocol === 'https' ? 8443 : 8123) : Number(u.port);
  if (port === 9000 || port === 9440) {
    throw bad(`port ${port} is ClickHouse's native protocol, which hyperfill does not speak`,
      'use the HTTP port: 8123 (or 8443 with clickhouse+https://)');
  }
  const segments = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (segments.length > 1) throw bad(`the path names one database, got "${u.pathname}"`);
  const database = segments[0] ?? 'default';
  const username = u.username ? decodeURIComponent(u.username) : 'default';
  const password = u.password ? decodeURIComponent(u.password) : (env.CLICKHOUSE_PASSWORD ?? '');
  let requestTimeoutMs = 300_000;
  let compression = false;
  for (const [key, value] of u.searchParams) {
    if (key === 'request_timeout') {
      if (!/^\d+$/.test(value) || Number(value) <= 0) throw bad('`request_timeout` must be a positive number of milliseconds');
      requestTimeoutMs = Number(value);
    } else if (key === 'compression') {
      if (value !== 'none' && value !== 'gzip') throw bad('`compression` must be none or gzip');
      compression = value === 'gzip';
    } else {
      throw bad(`unknown parameter "${key}"`, `known parameters: ${PARAMS.join(', ')}`);
    }
  }
  const host = u.hostname.includes(':') && !u.hostname.startsWith('[') ? `[${u.hostname}]` : u.hostname;
  return {
    url: `${protocol}://${host}:${port}`,
    username,
    password,
    database,
    requestTimeoutMs,
    compression,
    display: `clickhouse${protocol === 'https' ? '+https' : ''}://${encodeURIComponent(username)}@${host}:${port}/${encodeURIComponent(database)}`,
  };
}

/** The URL with any password replaced, for messages. */
export function redact(text: string): string {
  return text.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@');
}
