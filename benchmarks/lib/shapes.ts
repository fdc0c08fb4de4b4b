/**
 * The data the copy benchmark loads. *metrics*: time timestamptz, host text, cpu and mem
 * float8, n int (the demo's generator), where parsing floats and timestamps is much of
 * the server's work. *text*: time, host, a 200-byte quoted message with commas and
 * doubled quotes, n: where parsing is cheap and the bytes dominate.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { METRICS_DDL, random, writeMetricsCsv } from '../../src/demo/generate-csv.js';

export interface Shape {
  name: string;
  describe: string;
  ddl(table: string): string;
  write(path: string, rows: number): Promise<void>;
}

const START_MS = Date.parse('2024-01-01T00:00:00Z');

export const METRICS: Shape = {
  name: 'metrics',
  describe: 'time timestamptz, host text, cpu float8, mem float8, n int; one B-tree index on time',
  ddl: (table) => `${METRICS_DDL(table)} WITH (autovacuum_enabled = false); CREATE INDEX ${table}_time ON ${table} (time)`,
  write: (path, rows) => writeMetricsCsv(path, { rows, hosts: 1000, startMs: START_MS, stepMs: 100, seed: 42 }),
};

const WORDS = ['sensor', 'reading', 'ok,', 'warning,', 'value', '"quoted"', 'retry', 'at', 'node', 'said "hi",', 'level', 'é✓', 'disk', 'full,', 'queue'];

export const TEXT: Shape = {
  name: 'text',
  describe: 'time timestamptz, host text, msg text (200 bytes, quoted, with commas and quotes), n int; one B-tree index on time',
  ddl: (table) => `CREATE TABLE ${table} (time timestamptz NOT NULL, host text NOT NULL, msg text, n int) WITH (autovacuum_enabled = false);
    CREATE INDEX ${table}_time ON ${table} (time)`,
  async write(path, rows) {
    const rand = random(7);
    const out = createWriteStream(path, { mode: 0o644 });
    let lines: string[] = [];
    for (let i = 0; i < rows; i++) {
      let msg = '';
      while (msg.length < 200) msg += `${WORDS[Math.floor(rand() * WORDS.length)]} `;
      msg = msg.slice(0, 200);
      const time = new Date(START_MS + i * 100).toISOString();
      lines.push(`${time},host_${String(i % 1000).padStart(4, '0')},"${msg.replace(/"/g, '""')}",${i}`);
      if (lines.length === 5000) {
        if (!out.write(`${lines.join('\n')}\n`)) await once(out, 'drain');
        lines = [];
      }
    }
    if (lines.length > 0) out.write(`${lines.join('\n')}\n`);
    out.end();
    await once(out, 'finish');
  },
};

export const SHAPES = [METRICS, TEXT];
