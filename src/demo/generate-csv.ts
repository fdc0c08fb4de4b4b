/**
 * Realistic time-series CSV for the demo and the benchmarks: one reading per host
 * every few seconds, a random walk per metric, rows in time order. Deterministic for
 * a given seed, written with backpressure in chunks of many lines.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

export interface GenerateOptions {
  rows: number;
  hosts: number;
  /** First timestamp and the spacing between consecutive rows. */
  startMs: number;
  stepMs: number;
  seed?: number;
  header?: boolean;
}

export const METRICS_COLUMNS = ['time', 'host', 'cpu', 'mem', 'n'] as const;
export const METRICS_DDL = (table: string) =>
  `CREATE TABLE ${table} (time timestamptz NOT NULL, host text NOT NULL, cpu float8, mem float8, n int)`;

const LINES_PER_CHUNK = 5000;

/** A small fast PRNG (mulberry32) so the data is the same on every run. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Yields CSV text in chunks: time,host,cpu,mem,n. */
export function* metricsCsv(options: GenerateOptions): Generator<string> {
  const rand = random(options.seed ?? 42);
  const cpu = Array.from({ length: options.hosts }, () => rand() * 100);
  const mem = Array.from({ length: options.hosts }, () => 20 + rand() * 60);
  if (options.header) yield `${METRICS_COLUMNS.join(',')}\n`;
  let lines: string[] = [];
  for (let i = 0; i < options.rows; i++) {
    const h = i % options.hosts;
    cpu[h] = clamp((cpu[h] ?? 0) + (rand() - 0.5) * 8, 0, 100);
    mem[h] = clamp((mem[h] ?? 0) + (rand() - 0.5) * 2, 0, 100);
    const time = new Date(options.startMs + i * options.stepMs).toISOString();
    lines.push(`${time},host_${String(h).padStart(4, '0')},${(cpu[h] ?? 0).toFixed(2)},${(mem[h] ?? 0).toFixed(2)},${i}`);
    if (lines.length === LINES_PER_CHUNK) {
      yield `${lines.join('\n')}\n`;
      lines = [];
    }
  }
  if (lines.length > 0) yield `${lines.join('\n')}\n`;
}

export async function writeMetricsCsv(path: string, options: GenerateOptions): Promise<void> {
  const out = createWriteStream(path);
  for (const chunk of metricsCsv(options)) {
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
