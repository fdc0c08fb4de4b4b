/**
 * The demo's dual-write step: the example application (src/demo/dual-write-app) runs as its
 * own process and ingests live metrics through `hyperfill/dual-write`; the target is stopped
 * for a few seconds (the application's writes go to its spool, none fails), then started
 * again (replay drains the spool in the background). Returns once the load has stopped and
 * the application has exited with its spool empty.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { DualWriteMetrics } from '../dual-write/index.js';
import type { PostgresServer } from '../embedded-postgres.js';
import { formatCount } from '../progress.js';
import { spawnChild } from './children.js';
import { random } from './generate-csv.js';

const APP = fileURLToPath(new URL('./dual-write-app/main.js', import.meta.url));
const HOSTS = 50;

export interface DualWriteStepOptions {
  sourceUrl: string;
  targetUrl: string;
  targetServer: PostgresServer;
  spoolDir: string;
  say: (text: string) => void;
}

export async function runDualWriteStep(options: DualWriteStepOptions): Promise<{ rows: number }> {
  const { say } = options;
  const app = spawnChild('the example application', process.execPath, [APP], {
    env: { ...process.env, PRIMARY_URL: options.sourceUrl, SECONDARY_URL: options.targetUrl, SPOOL_DIR: options.spoolDir, WRITER_ID: 'metrics-demo', PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(app, 'exit');
  try {
    const port = await listeningPort(app);
    const base = `http://127.0.0.1:${port}`;
    process.stderr.write(`the example application listens on ${base} (POST /metrics, GET /stats); it writes through hyperfill/dual-write\n`);
    const load = new Load(base);
    const loading = load.run();
    loading.catch(() => undefined); // awaited below; a stopped application must not crash the demo first
    const show = async () => {
      process.stderr.write(`   app: ${describe(await stats(base), load.rows)}\n`);
    };
    await pause(3000, show);
    say('the target stops (a fast shutdown): the application keeps writing; what the target misses goes to the spool');
    await options.targetServer.halt();
    await pause(4000, show);
    say('the target is back: the spool is replayed in order, in the background; writes go to both databases again once it is empty');
    await options.targetServer.resume();
    const deadline = Date.now() + 120_000;
    for (let m = await stats(base); m.mode !== 'direct' || m.spoolDepth > 0; m = await stats(base)) {
      if (Date.now() > deadline) throw new Error('the spool did not drain within 2 minutes');
      await pause(500, show);
    }
    await show();
    await pause(2000, show);
    load.stop();
    await loading;
    const final = await stats(base);
    process.stderr.write(`   app: ${describe(final, load.rows)}; ${load.failures} failed requests\n`);
    if (load.failures > 0) throw new Error(`${load.failures} requests to the application failed`);
    app.kill('SIGTERM');
    const [code] = await exited;
    if (code !== 0) throw new Error(`the example application exited with ${code}`);
    return { rows: load.rows };
  } finally {
    if (app.exitCode === null && app.signalCode === null) app.kill('SIGKILL');
  }
}

/** Posts a batch of readings for every host every 100 ms, one request at a time. */
class Load {
  rows = 0;
  failures = 0;
  private stopped = false;
  private readonly rand = random(7);
  private readonly cpu = Array.from({ length: HOSTS }, () => this.rand() * 100);

  constructor(private readonly base: string) {}

  async run(): Promise<void> {
    while (!this.stopped) {
      const time = new Date().toISOString();
      const readings = this.cpu.map((c, h) => {
        this.cpu[h] = Math.min(100, Math.max(0, c + (this.rand() - 0.5) * 8));
        return { time, host: `host_${String(h).padStart(4, '0')}`, cpu: Number((this.cpu[h] ?? 0).toFixed(2)), mem: Number((40 + this.rand() * 20).toFixed(2)), n: this.rows + h };
      });
      const started = Date.now();
      const res = await fetch(`${this.base}/metrics`, { method: 'POST', body: JSON.stringify(readings), headers: { 'content-type': 'application/json' } });
      const body = (await res.json()) as { inserted?: number; error?: string };
      if (res.status === 201) this.rows += body.inserted ?? 0;
      else {
        this.failures++;
        process.stderr.write(`   POST /metrics: ${res.status} ${body.error ?? ''}\n`);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - (Date.now() - started))));
    }
  }

  stop(): void {
    this.stopped = true;
  }
}

async function stats(base: string): Promise<DualWriteMetrics> {
  return (await (await fetch(`${base}/stats`)).json()) as DualWriteMetrics;
}

function describe(m: DualWriteMetrics, rows: number): string {
  return `${formatCount(rows)} rows ingested, ${m.mode}, spool ${m.spoolDepth} records` +
    `${m.replayLagMs > 0 ? `, oldest waiting ${(m.replayLagMs / 1000).toFixed(1)} s` : ''}, ` +
    `${m.secondaryFailures} secondary failures, ${m.replayed} records replayed`;
}

/** Waits `ms`, showing the application's state every second. */
async function pause(ms: number, show: () => Promise<void>): Promise<void> {
  for (let left = ms; left > 0; left -= 1000) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(1000, left)));
    await show();
  }
}

async function listeningPort(app: ChildProcess): Promise<number> {
  const lines = createInterface({ input: app.stdout as NodeJS.ReadableStream });
  const exit = once(app, 'exit').then(([code]) => {
    throw new Error(`the example application exited with ${code} before listening`);
  });
  const line = (async () => {
    for await (const text of lines) {
      const port = (JSON.parse(text) as { listening?: number }).listening;
      if (port) return port;
    }
    throw new Error('the example application did not say where it listens');
  })();
  return Promise.race([line, exit]);
}
