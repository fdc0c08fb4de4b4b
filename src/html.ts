/**
 * Pieces of the self-contained HTML and SVG reports (`bench --report`, `compare --report`):
 * escaping, round axis maxima, and data embedded as non-executable JSON.
 */
import { writeFile } from 'node:fs/promises';
import { HyperfillError } from './errors.js';

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/** A round axis maximum at or above `v`: 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * power >= v) return m * power;
  return 10 * power;
}

/** JSON text that cannot end its <script type="application/json"> element early. */
export function jsonForScript(json: string): string {
  return json.replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

export async function writeReportFile(path: string, text: string): Promise<void> {
  try {
    await writeFile(path, text);
  } catch (err) {
    throw new HyperfillError('E_REPORT', `cannot write the report ${path}: ${(err as Error).message}`, { file: path }, undefined, err);
  }
}
