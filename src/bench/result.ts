/** What `hyperfill bench` measured: printed as a table, as JSON (--json), and in the report. */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { Recommendation } from './recommend.js';
import type { SourceCellResult } from './source-read.js';
import type { CellResult } from './sweep.js';

export interface MachineInfo {
  cpuModel: string;
  cpus: number;
  memoryBytes: number;
  os: string;
  node: string;
  hyperfill: string;
}

export interface TargetBench {
  /** user@host:port/db: never a password. */
  connection: string;
  serverVersion: string;
  /** Installed TimescaleDB version, or null for a plain PostgreSQL target. */
  timescaledb: string | null;
  /** schema.table of the scratch table. */
  table: string;
  hypertable: boolean;
  kept: boolean;
  dataset: {
    name: 'tsbs-cpu';
    scale: number;
    rowsPerCell: number | null;
    durationSeconds: number | null;
    bytesPerRow: number;
    generatorRowsPerSecond: number;
  };
  cells: CellResult[];
  recommendation: Recommendation;
}

export interface SourceBench {
  connection: string;
  serverVersion: string;
  table: string;
  timeColumn: string | null;
  estimatedRows: number;
  cells: SourceCellResult[];
  recommendation: Recommendation;
}

export interface BenchResult {
  startedAt: string;
  machine: MachineInfo;
  target?: TargetBench | undefined;
  source?: SourceBench | undefined;
  /** With both: which side limits a backfill. */
  limit?: string | undefined;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown', cpus: cpus.length, memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`, node: process.version, hyperfill: packageVersion(),
  };
}

function packageVersion(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
    } catch {
      // try the next layout (dist/src/bench or src/bench)
    }
  }
  return 'unknown';
}

/** The results as JSON, fractions rounded to 3 decimals (rates, seconds, milliseconds). */
export function resultJson(result: BenchResult, indent = 2): string {
  return JSON.stringify(result, (_key, value: unknown) =>
    (typeof value === 'number' && !Number.isInteger(value) ? Math.round(value * 1000) / 1000 : value), indent);
}
