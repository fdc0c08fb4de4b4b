/**
 * The benchmark as a file a browser opens without a server: `.html` (chart, tables,
 * recommendation, machine, and the results as JSON in a non-executable
 * `<script type="application/json">` block) or `.svg` (the chart alone). Everything is
 * inline: no scripts, fonts, styles or images from elsewhere.
 */
import { extname } from 'node:path';
import { escapeXml, jsonForScript, niceMax, writeReportFile } from '../html.js';
import { formatCount } from '../progress.js';
import { type BenchResult, resultJson } from './result.js';

export type ReportFormat = 'html' | 'svg';

export function reportFormat(path: string): ReportFormat | undefined {
  const ext = extname(path).toLowerCase();
  if (ext === '.html' || ext === '.htm') return 'html';
  if (ext === '.svg') return 'svg';
  return undefined;
}

export async function writeReport(path: string, result: BenchResult): Promise<void> {
  const format = reportFormat(path);
  await writeReportFile(path, format === 'svg' ? renderSvg(result, true) : renderHtml(result));
}

interface Series {
  label: string;
  dashed: boolean;
  points: Array<{ x: number; y: number; note: string; recommended: boolean }>;
}

// Colour-blind-safe (Okabe-Ito).
const COLOURS = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#000000', '#F0E442'];

function chartSeries(result: BenchResult): Series[] {
  const series: Series[] = [];
  const target = result.target;
  if (target) {
    const rec = target.recommendation;
    const sizes = [...new Set(target.cells.map((c) => c.batchSize))].sort((a, b) => a - b);
    for (const size of sizes) {
      series.push({
        label: `batch ${size.toLocaleString('en-US')}`, dashed: false,
        points: target.cells.filter((c) => c.batchSize === size).sort((a, b) => a.workers - b.workers).map((c) => ({
          x: c.workers, y: c.rowsPerSecond, recommended: c.workers === rec.workers && c.batchSize === rec.batchSize,
          note: `${c.workers} workers, batch ${c.batchSize}: ${Math.round(c.rowsPerSecond)} rows/s, ${c.mbPerSecond.toFixed(1)} MB/s, ` +
            `p50 ${c.latencyMs.p50.toFixed(1)} ms, p99 ${c.latencyMs.p99.toFixed(1)} ms, client CPU ${c.clientCpuPercent.toFixed(0)}%`,
        })),
      });
    }
  }
  const source = result.source;
  if (source) {
    series.push({
      label: `source read (${source.table})`, dashed: true,
      points: [...source.cells].sort((a, b) => a.readers - b.readers).map((c) => ({
        x: c.readers, y: c.rowsPerSecond, recommended: false,
        note: `${c.readers} readers: ${Math.round(c.rowsPerSecond)} rows/s, ${c.mbPerSecond.toFixed(1)} MB/s, client CPU ${c.clientCpuPercent.toFixed(0)}%`,
      })),
    });
  }
  return series;
}

/** The chart: rows/s against workers (equally spaced), one line per batch size. */
export function renderSvg(result: BenchResult, standalone = false): string {
  const series = chartSeries(result);
  const width = 760;
  const height = 440;
  const m = { left: 78, right: 190, top: 44, bottom: 56 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const yMax = niceMax(Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.y))) * 1.05);
  const pad = 24;
  const xAt = (x: number) => m.left + (xs.length === 1 ? plotW / 2 : pad + (xs.indexOf(x) / (xs.length - 1)) * (plotW - 2 * pad));
  const yAt = (y: number) => m.top + plotH - (y / yMax) * plotH;
  const f = (n: number) => n.toFixed(1);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="chart-title" font-family="system-ui, sans-serif" font-size="12">`);
  const title = result.target ? 'hyperfill bench: rows/s against --workers, one line per --batch-size' : 'hyperfill bench: source rows/s against parallel readers';
  out.push(`<title id="chart-title">${escapeXml(title)}</title>`);
  if (standalone) out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${m.left}" y="24" font-size="15" font-weight="bold">${escapeXml(title)}</text>`);
  // Grid and y axis.
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5;
    const y = f(yAt(v));
    out.push(`<line x1="${m.left}" x2="${m.left + plotW}" y1="${y}" y2="${y}" stroke="#dddddd"/>`);
    out.push(`<text x="${m.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(formatCount(v))}</text>`);
  }
  out.push(`<text transform="translate(18 ${f(m.top + plotH / 2)}) rotate(-90)" text-anchor="middle">rows/s</text>`);
  // x axis.
  out.push(`<line x1="${m.left}" x2="${m.left + plotW}" y1="${m.top + plotH}" y2="${m.top + plotH}" stroke="#333333"/>`);
  for (const x of xs) {
    out.push(`<text x="${f(xAt(x))}" y="${m.top + plotH + 20}" text-anchor="middle">${x}</text>`);
  }
  const xLabel = result.target ? (result.source ? 'workers (target) / readers (source)' : 'workers') : 'readers';
  out.push(`<text x="${f(m.left + plotW / 2)}" y="${height - 14}" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  // Lines, points (with tooltips), legend.
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length] ?? '#000000';
    const path = s.points.map((p) => `${f(xAt(p.x))},${f(yAt(p.y))}`).join(' ');
    out.push(`<g class="series" data-label="${escapeXml(s.label)}">`);
    out.push(`<polyline points="${path}" fill="none" stroke="${colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const p of s.points) {
      out.push(`<circle cx="${f(xAt(p.x))}" cy="${f(yAt(p.y))}" r="${p.recommended ? 6 : 4}" fill="${p.recommended ? '#ffffff' : colour}" stroke="${colour}" stroke-width="${p.recommended ? 3 : 1}" data-workers="${p.x}" data-rows-per-second="${Math.round(p.y)}"><title>${escapeXml(p.note)}</title></circle>`);
    }
    out.push('</g>');
    const ly = m.top + 10 + i * 22;
    const lx = m.left + plotW + 20;
    out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${lx + 30}" y="${ly}" dominant-baseline="middle">${escapeXml(s.label)}</text>`);
  });
  if (result.target) {
    const ly = m.top + 10 + series.length * 22;
    const lx = m.left + plotW + 20;
    out.push(`<circle cx="${lx + 12}" cy="${ly}" r="6" fill="#ffffff" stroke="#333333" stroke-width="3"/>`);
    out.push(`<text x="${lx + 30}" y="${ly}" dominant-baseline="middle">recommended</text>`);
  }
  out.push('</svg>');
  const svg = out.join('\n');
  return standalone ? `<?xml version="1.0" encoding="UTF-8"?>\n${svg}\n` : svg;
}

export function renderHtml(result: BenchResult): string {
  const parts: string[] = [];
  const { target, source } = result;
  parts.push('<!doctype html>', '<html lang="en">', '<head>', '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">', '<title>hyperfill bench</title>',
    `<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #ddd; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.recommended td { font-weight: bold; background: #eef6ff; }
.recommendation { font-size: 1.1rem; padding: 0.6rem 0.8rem; background: #eef6ff; border-left: 4px solid #0072B2; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }
dt { color: #555; }
</style>`, '</head>', '<body>', '<h1>hyperfill bench</h1>');
  if (target) parts.push(`<p class="recommendation" id="recommendation">${escapeXml(target.recommendation.text)}</p>`);
  if (source) parts.push(`<p class="recommendation" id="source-summary">${escapeXml(source.recommendation.text)}</p>`);
  if (result.limit) parts.push(`<p class="recommendation" id="limit">${escapeXml(result.limit)}</p>`);
  parts.push(renderSvg(result));
  if (target) {
    parts.push('<h2>Target: COPY into a scratch table</h2>');
    parts.push(`<p>${escapeXml(`${target.hypertable ? `hypertable (TimescaleDB ${target.timescaledb})` : 'plain PostgreSQL table (the target has no TimescaleDB)'} ` +
      `on ${target.connection}, PostgreSQL ${target.serverVersion}. Data: TSBS-like cpu, ${target.dataset.scale} hosts, ` +
      `${target.dataset.rowsPerCell !== null ? `${target.dataset.rowsPerCell.toLocaleString('en-US')} rows` : ''}` +
      `${target.dataset.rowsPerCell !== null && target.dataset.durationSeconds !== null ? ' or ' : ''}` +
      `${target.dataset.durationSeconds !== null ? `${target.dataset.durationSeconds} s` : ''} per cell, ` +
      `${target.dataset.bytesPerRow.toFixed(0)} bytes per row in COPY text format; the generator alone makes ${formatCount(target.dataset.generatorRowsPerSecond)} rows/s.`)}</p>`);
    const repeated = target.cells.some((c) => c.runs);
    parts.push(htmlTable(
      ['workers', 'batch size', 'rows', 'seconds', 'rows/s', ...(repeated ? ['rows/s of each run'] : []), 'MB/s', 'batch p50 ms', 'batch p99 ms', 'client CPU %'],
      target.cells.map((c) => ({
        recommended: c.workers === target.recommendation.workers && c.batchSize === target.recommendation.batchSize,
        cells: [c.workers, c.batchSize, c.rows, c.seconds.toFixed(2), Math.round(c.rowsPerSecond), ...(repeated ? [(c.runs ?? []).map(Math.round).join(', ')] : []),
          c.mbPerSecond.toFixed(1), c.latencyMs.p50.toFixed(1), c.latencyMs.p99.toFixed(1), c.clientCpuPercent.toFixed(0)],
      }))));
  }
  if (source) {
    parts.push('<h2>Source: reading with COPY TO STDOUT</h2>');
    parts.push(`<p>${escapeXml(`${source.table} on ${source.connection}, PostgreSQL ${source.serverVersion}` +
      `${source.timeColumn ? `, windows on ${source.timeColumn}` : ''}; about ${Math.round(source.estimatedRows).toLocaleString('en-US')} rows in the table.`)}</p>`);
    const repeated = source.cells.some((c) => c.runs);
    parts.push(htmlTable(['readers', 'rows', 'seconds', 'rows/s', ...(repeated ? ['rows/s of each run'] : []), 'MB/s', 'client CPU %'],
      source.cells.map((c) => ({
        recommended: false,
        cells: [c.readers, c.rows, c.seconds.toFixed(2), Math.round(c.rowsPerSecond), ...(repeated ? [(c.runs ?? []).map(Math.round).join(', ')] : []),
          c.mbPerSecond.toFixed(1), c.clientCpuPercent.toFixed(0)],
      }))));
  }
  const mc = result.machine;
  parts.push('<h2>Machine</h2>', '<dl>',
    ...[['started', result.startedAt], ['client CPU', `${mc.cpus} × ${mc.cpuModel}`], ['client memory', `${(mc.memoryBytes / 2 ** 30).toFixed(1)} GiB`],
      ['client OS', mc.os], ['Node.js', mc.node], ['hyperfill', mc.hyperfill]]
      .map(([k, v]) => `<dt>${escapeXml(k ?? '')}</dt><dd>${escapeXml(v ?? '')}</dd>`), '</dl>');
  parts.push('<p>Hover a point for its numbers. The results as JSON are in this file, in the element <code>#hyperfill-bench-data</code>.</p>');
  parts.push(`<script type="application/json" id="hyperfill-bench-data">${jsonForHtml(result)}</script>`);
  parts.push('</body>', '</html>', '');
  return parts.join('\n');
}

function htmlTable(header: string[], rows: Array<{ recommended: boolean; cells: Array<string | number> }>): string {
  const head = `<tr>${header.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr>`;
  const body = rows.map((r) => `<tr${r.recommended ? ' class="recommended"' : ''}>${r.cells.map((c) => `<td class="n">${escapeXml(String(c))}</td>`).join('')}</tr>`);
  return `<table>\n<thead>${head}</thead>\n<tbody>\n${body.join('\n')}\n</tbody>\n</table>`;
}

export { escapeXml };

/** JSON that cannot end its <script> element early. */
function jsonForHtml(value: BenchResult): string {
  return jsonForScript(resultJson(value));
}
