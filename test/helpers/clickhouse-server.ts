// Starts a private ClickHouse server (Debian's 18.16) for one test file: its own
// temp dir, config, ports and logs, so tests never touch a system instance.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

/** A running server; `stop()` kills it and removes its directory. Close clients
 *  first: the server's shutdown waits for open keep-alive connections (global
 *  fetch keeps some), and after 3 s `stop()` kills it hard. */
export interface ClickHouseServer {
  /** `http://127.0.0.1:PORT`, for `createClient({ url })`. */
  url: string;
  httpPort: number;
  tcpPort: number;
  database: string;
  stop(): Promise<void>;
}

export interface StartClickHouseOptions {
  /** Server time zone, used to print DateTime columns without their own zone. Default UTC. */
  timezone?: string;
  /** How long to wait for `/ping` to answer. Default 30 s. */
  startTimeoutMs?: number;
}

const STOP_GRACE_MS = 3_000;
const PORT_RETRIES = 3;

// Servers still running, killed synchronously if the test process exits without stop().
const running = new Map<ChildProcess, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [child, dir] of running) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

/** The server binary, or why there is none; the official packages ship one `clickhouse` multi-tool instead. */
function locateBinary(): { command: string; args: string[] } | string {
  const override = process.env.CLICKHOUSE_SERVER_BIN;
  if (override) return existsSync(override) ? { command: override, args: [] } : `CLICKHOUSE_SERVER_BIN=${override} does not exist`;
  for (const path of ['/usr/sbin/clickhouse-server', '/usr/bin/clickhouse-server']) {
    if (existsSync(path)) return { command: path, args: [] };
  }
  if (existsSync('/usr/bin/clickhouse')) return { command: '/usr/bin/clickhouse', args: ['server'] };
  return 'clickhouse-server is not installed (`bash test/install-servers.sh`, as root, installs it)';
}

function findBinary(): { command: string; args: string[] } {
  const bin = locateBinary();
  if (typeof bin === 'string') throw new Error(bin);
  return bin;
}

/** Undefined when a ClickHouse server can start; otherwise why not, in words. */
export function clickHouseAvailability(): string | undefined {
  const bin = locateBinary();
  return typeof bin === 'string' ? bin : undefined;
}

/**
 * `describe` for a suite that needs a ClickHouse server, as `describeNative` does for
 * PostgreSQL: where none is installed the suite is skipped with the reason in its name,
 * except under CI=true, where it fails.
 */
export function describeClickHouse(name: string, body: () => void): void {
  const missing = clickHouseAvailability();
  if (missing === undefined) describe(`${name} [ClickHouse]`, body);
  else if (process.env.CI === 'true') {
    describe(`${name} [CI: ClickHouse required]`, () => {
      throw new Error(`CI=true and ${missing}`);
    });
  } else describe(`${name} [SKIPPED: ${missing}]`, { skip: missing }, body);
}

/** Asks the kernel for `count` distinct free loopback ports. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
        const s = createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve(s));
      }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

const xml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function configXml(rawDir: string, ports: { http: number; tcp: number; interserver: number }, timezone: string): string {
  const dir = xml(rawDir);
  // Caches default to gigabytes; a test server needs a few MB. No query_log or
  // other system log tables are configured, so nothing grows in the background.
  return `<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>${dir}/server.log</log>
    <errorlog>${dir}/server.err.log</errorlog>
    <size>10M</size>
    <count>1</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${ports.http}</http_port>
  <tcp_port>${ports.tcp}</tcp_port>
  <interserver_http_port>${ports.interserver}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>${xml(timezone)}</timezone>
  <mark_cache_size>33554432</mark_cache_size>
  <uncompressed_cache_size>33554432</uncompressed_cache_size>
  <max_concurrent_queries>32</max_concurrent_queries>
  <mlock_executable>false</mlock_executable>
</yandex>
`;
}

const USERS_XML = `<?xml version="1.0"?>
<yandex>
  <profiles>
    <default><max_memory_usage>2000000000</max_memory_usage></default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries><errors>0</errors><result_rows>0</result_rows>
        <read_rows>0</read_rows><execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
`;

/** Last lines of the server's error log and stderr, for start-up failures. */
function logTail(dir: string): string {
  const parts: string[] = [];
  for (const name of ['stderr.log', 'server.err.log']) {
    try {
      const text = readFileSync(join(dir, name), 'utf8').trim();
      if (text) parts.push(text.split('\n').slice(-15).join('\n'));
    } catch {
      // not written yet
    }
  }
  return parts.join('\n') || '(no output)';
}

/** One GET /ping on a fresh connection: the server's shutdown waits for idle
 *  keep-alive connections (fetch's would add seconds to every stop). */
function ping(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get(`${url}/ping`, { agent: false, headers: { connection: 'close' }, timeout: 1_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(res.statusCode === 200 && body.trim() === 'Ok.'));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

async function killServer(child: ChildProcess, gone: Promise<void>): Promise<void> {
  child.ref(); // keep Node alive until the exit is seen
  child.kill('SIGTERM');
  // Clean shutdown takes under a second, but waits for clients' idle keep-alive sockets.
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await gone;
  clearTimeout(timer);
}

type Attempt = { server: ClickHouseServer } | { portInUse: true };

async function attempt(
  bin: { command: string; args: string[] },
  timezone: string,
  timeoutMs: number,
): Promise<Attempt> {
  const dir = mkdtempSync(join(tmpdir(), 'hyperfill-ch-'));
  const [http, tcp, interserver] = (await freePorts(3)) as [number, number, number];
  const configFile = join(dir, 'config.xml');
  writeFileSync(configFile, configXml(dir, { http, tcp, interserver }, timezone));
  writeFileSync(join(dir, 'users.xml'), USERS_XML);

  // Output goes to a file, not a pipe: nothing to drain, and the child can be
  // unref'd so a test that forgets stop() still lets Node exit (the exit hook kills it).
  const out = openSync(join(dir, 'stderr.log'), 'w');
  const serverArgs = [...bin.args, `--config-file=${configFile}`];
  // setpriv (util-linux, always on Debian) makes the kernel kill the server if
  // Node dies by a signal, when no 'exit' handler runs.
  const setpriv = existsSync('/usr/bin/setpriv');
  const child = setpriv
    ? spawn('/usr/bin/setpriv', ['--pdeathsig', 'SIGKILL', '--', bin.command, ...serverArgs], { stdio: ['ignore', out, out] })
    : spawn(bin.command, serverArgs, { stdio: ['ignore', out, out] });
  closeSync(out);
  child.unref();
  installExitHook();
  running.set(child, dir);

  // Settles on exit, or on a failed spawn (which emits 'error' and no 'exit').
  let spawnError: Error | undefined;
  let ended = false;
  const gone = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (err) => {
      spawnError = err;
      resolve();
    });
  }).then(() => {
    ended = true;
  });

  const remove = (): void => {
    running.delete(child);
    rmSync(dir, { recursive: true, force: true });
  };

  const url = `http://127.0.0.1:${http}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ping(url)) break;
    if (ended || Date.now() > deadline) {
      const why = spawnError
        ? `could not run ${bin.command}: ${spawnError.message}`
        : ended
          ? `exited with ${child.exitCode ?? child.signalCode} during start-up`
          : `did not answer ${url}/ping within ${timeoutMs} ms`;
      await killServer(child, gone);
      const tail = logTail(dir);
      remove();
      if (/Address already in use/.test(tail)) return { portInUse: true };
      throw new Error(`clickhouse-server ${why}\n--- server log tail ---\n${tail}`);
    }
    await sleep(50);
  }

  let stopping: Promise<void> | undefined;
  return {
    server: {
      url,
      httpPort: http,
      tcpPort: tcp,
      database: 'default',
      stop: () => (stopping ??= killServer(child, gone).then(remove)),
    },
  };
}

/** Starts a fresh server; call `stop()` when done (e.g. in `after`). */
export async function startClickHouse(options: StartClickHouseOptions = {}): Promise<ClickHouseServer> {
  const bin = findBinary();
  const timezone = options.timezone ?? 'UTC';
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  // A port found free can be taken by someone else before the server binds it.
  for (let i = 0; i < PORT_RETRIES; i++) {
    const result = await attempt(bin, timezone, timeoutMs);
    if ('server' in result) return result.server;
  }
  throw new Error(`clickhouse-server could not bind free ports after ${PORT_RETRIES} tries`);
}
