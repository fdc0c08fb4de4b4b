/**
 * A TSBS-like `cpu` dataset, encoded straight to PostgreSQL text COPY bytes: one row
 * per host every 10 s from 2016-01-01 (TSBS's defaults), ten tags per host (hostname,
 * region, datacenter, rack, os, arch, team, service, service_version,
 * service_environment) and ten metrics per row (usage_user ... usage_guest_nice) that
 * walk randomly within [0, 100]. Deterministic for a seed.
 *
 * The benchmark measures the target, so the generator must cost the client little: the
 * tags of a host and a pool of metric rows (a random walk per host over a few hundred
 * steps, about 64k rows in all) are encoded once; a row is then a timestamp (formatted
 * once per step, shared by every host) plus a pooled tail, copied into the batch's buffer. Hosts keep their own walk,
 * which loops once the pool's steps are used up.
 */
import type { EncodedBatch } from '../batch.js';
import { encodeTextRow } from '../copy-text.js';
import { random } from '../demo/generate-csv.js';
import { qualifiedName, quoteIdent } from '../sql.js';

export const CPU_TAGS = [
  'hostname', 'region', 'datacenter', 'rack', 'os', 'arch', 'team', 'service', 'service_version', 'service_environment',
] as const;
export const CPU_METRICS = [
  'usage_user', 'usage_system', 'usage_idle', 'usage_nice', 'usage_iowait',
  'usage_irq', 'usage_softirq', 'usage_steal', 'usage_guest', 'usage_guest_nice',
] as const;
export const CPU_COLUMNS: readonly string[] = ['time', ...CPU_TAGS, ...CPU_METRICS];

/** The scratch table: tags as text, metrics as double precision, like TSBS with tags inline. */
export function cpuTableDdl(schema: string, table: string): string {
  const columns = [
    'time timestamptz NOT NULL',
    ...CPU_TAGS.map((t) => `${quoteIdent(t)} text`),
    ...CPU_METRICS.map((m) => `${quoteIdent(m)} double precision`),
  ];
  return `CREATE TABLE ${qualifiedName(schema, table)} (${columns.join(', ')})`;
}

const REGIONS = ['us-east-1', 'us-west-1', 'us-west-2', 'eu-west-1', 'eu-central-1', 'ap-southeast-1', 'ap-southeast-2', 'ap-northeast-1', 'sa-east-1'];
const OSES = ['Ubuntu16.10', 'Ubuntu16.04LTS', 'Ubuntu15.10'];
const ARCHES = ['x64', 'x86'];
const TEAMS = ['SF', 'NYC', 'LON', 'CHI'];
const ENVIRONMENTS = ['production', 'staging', 'test'];

/** TSBS's default start (2016-01-01T00:00:00Z) and interval (10 s). */
export const TSBS_START_MS = Date.UTC(2016, 0, 1);
export const TSBS_INTERVAL_MS = 10_000;
const POOL_ROWS = 65_536;

export interface CpuGeneratorOptions {
  /** Hosts: rows per timestamp. */
  scale: number;
  seed?: number;
  startMs?: number;
  intervalMs?: number;
}

export class CpuGenerator {
  readonly scale: number;
  /** Every pooled row tail, back to back, and where each starts (one more entry: the end). */
  private readonly tails: Buffer;
  private readonly tailStart: Uint32Array;
  private readonly poolSteps: number;
  private readonly startMs: number;
  private readonly intervalMs: number;
  private produced = 0;
  private seq = 0;
  private stepText = Buffer.alloc(0);
  private stepOfText = -1;

  constructor(options: CpuGeneratorOptions) {
    if (!(options.scale >= 1)) throw new RangeError('scale must be at least 1');
    this.scale = options.scale;
    this.startMs = options.startMs ?? TSBS_START_MS;
    this.intervalMs = options.intervalMs ?? TSBS_INTERVAL_MS;
    const rand = random(options.seed ?? 42);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
    const tags = Array.from({ length: this.scale }, (_, h) => {
      const region = pick(REGIONS);
      return [
        `host_${h}`, region, `${region}${pick(['a', 'b', 'c'])}`, String(Math.floor(rand() * 100)), pick(OSES), pick(ARCHES),
        pick(TEAMS), String(Math.floor(rand() * 20)), String(Math.floor(rand() * 2)), pick(ENVIRONMENTS),
      ];
    });
    this.poolSteps = Math.max(1, Math.ceil(POOL_ROWS / this.scale));
    const walks = tags.map(() => CPU_METRICS.map(() => rand() * 100));
    const tails: string[] = [];
    for (let s = 0; s < this.poolSteps; s++) {
      for (let h = 0; h < this.scale; h++) {
        const walk = walks[h] ?? [];
        for (let m = 0; m < walk.length; m++) walk[m] = clamp((walk[m] ?? 0) + (rand() - 0.5) * 10, 0, 100);
        // The tail starts with the tab that follows the time field.
        tails.push(`\t${encodeTextRow([...(tags[h] ?? []), ...walk.map((v) => v.toFixed(2))])}`);
      }
    }
    this.tailStart = new Uint32Array(tails.length + 1);
    let at = 0;
    tails.forEach((t, i) => {
      this.tailStart[i] = at;
      at += t.length;
    });
    this.tailStart[tails.length] = at;
    this.tails = Buffer.from(tails.join(''), 'latin1');
  }

  /** Rows produced since the last reset. */
  get rows(): number {
    return this.produced;
  }

  /** Starts the dataset again from its first row (each benchmark cell loads the same rows). */
  reset(): void {
    this.produced = 0;
    this.seq = 0;
  }

  /** The next `rows` rows as one COPY-ready batch. */
  next(rows: number): EncodedBatch {
    const first = this.produced;
    const tailStart = this.tailStart;
    // Two passes: the exact size, then the bytes, copied into one buffer.
    let size = 0;
    for (let i = first; i < first + rows; i++) {
      const step = Math.floor(i / this.scale);
      const tail = (step % this.poolSteps) * this.scale + (i - step * this.scale);
      size += this.timeText(step).length + (tailStart[tail + 1] ?? 0) - (tailStart[tail] ?? 0);
    }
    const data = Buffer.allocUnsafe(size);
    let at = 0;
    for (let i = first; i < first + rows; i++) {
      const step = Math.floor(i / this.scale);
      const tail = (step % this.poolSteps) * this.scale + (i - step * this.scale);
      at += this.timeText(step).copy(data, at);
      at += this.tails.copy(data, at, tailStart[tail] ?? 0, tailStart[tail + 1] ?? 0);
    }
    this.produced += rows;
    return {
      seq: this.seq++, inputIndex: 0, inputName: 'tsbs-cpu', data, rows,
      firstLine: first + 1, lastLine: first + rows, firstRow: first + 1,
    };
  }

  private timeText(step: number): Buffer {
    if (step !== this.stepOfText) {
      this.stepOfText = step;
      this.stepText = Buffer.from(`${new Date(this.startMs + step * this.intervalMs).toISOString().slice(0, 19).replace('T', ' ')}+00`, 'latin1');
    }
    return this.stepText;
  }
}

/** Rows per second the generator alone reaches on this machine (one core), for context. */
export function measureGenerator(scale: number, rows = 200_000): { rowsPerSecond: number; bytesPerRow: number } {
  const generator = new CpuGenerator({ scale });
  generator.next(20_000); // warm up the JIT
  generator.reset();
  const started = performance.now();
  let bytes = 0;
  for (let done = 0; done < rows; done += 10_000) bytes += generator.next(Math.min(10_000, rows - done)).data.length;
  const seconds = Math.max((performance.now() - started) / 1000, 1e-6);
  return { rowsPerSecond: rows / seconds, bytesPerRow: bytes / rows };
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
