/**
 * `compare --report FILE.html`: one page a browser opens from disk (no scripts, nothing
 * fetched): the verdict, then per query its result comparison, a latency chart (every run
 * as a dot, p50/p95/p99 marked, source above target), and the query; the whole result as
 * JSON in a non-executable `<script type="application/json">` block.
 */
import { escapeXml, jsonForScript, niceMax, writeReportFile } from '../html.js';
import type { CompareResult, QueryComparison, Side } from './run-compare.js';

const COLOURS: Record<Side, string> = { source: '#E69F00', target: '#0072B2' };

export async function writeCompareReport(path: string, result: CompareResult): Promise<void> {
  await writeReportFile(path, renderCompareHtml(result));
}

export function renderCompareHtml(result: CompareResult): string {
  const differ = result.queries.filter((q) => !q.match).length;
  const parts = ['<!doctype html>', '<html lang="en">', '<head>', '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">', '<title>hyperfill compare</title>',
    `<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.6rem 0; }
th, td { padding: 0.2rem 0.6rem; border-bottom: 1px solid #ddd; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 0.6rem; overflow-x: auto; }
.verdict { font-size: 1.1rem; padding: 0.6rem 0.8rem; border-left: 4px solid; }
.match { background: #eefaf3; border-color: #009E73; }
.differ { background: #fff1ec; border-color: #D55E00; }
section { margin: 2rem 0; }
</style>`, '</head>', '<body>', '<h1>hyperfill compare</h1>',
    `<p class="verdict ${result.verdict}" id="verdict">${escapeXml(result.verdict === 'match'
      ? `All ${result.queries.length} queries give the same results on source and target.`
      : `${differ} of ${result.queries.length} queries differ between source and target.`)}</p>`,
    `<p>${escapeXml(`source ${result.source}, target ${result.target}; ${result.repeat} run(s) per query per side on ${result.concurrency} ` +
      `connection(s) per side; numbers equal within a relative ${result.tolerance}` +
      `${result.until ? `; :until = ${result.until}` : ''}.`)}</p>`];
  for (const q of result.queries) parts.push(renderQuery(q));
  parts.push(`<script type="application/json" id="hyperfill-compare-data">${jsonForScript(JSON.stringify(result))}</script>`, '</body>', '</html>', '');
  return parts.join('\n');
}

function renderQuery(q: QueryComparison): string {
  const out = [`<section class="query" id="query-${q.index}">`, `<h2>${escapeXml(`${q.index}. ${q.name}`)}</h2>`];
  const outcome = q.errors.source || q.errors.target
    ? `error: ${[q.errors.source && `source: ${q.errors.source}`, q.errors.target && `target: ${q.errors.target}`].filter(Boolean).join('; ')}`
    : q.match ? `same results (${q.rows.source} rows, compared as ${q.comparedAs})`
      : `DIFFERENT: source ${q.rows.source} rows, target ${q.rows.target} rows (compared as ${q.comparedAs})`;
  out.push(`<p class="verdict ${q.match ? 'match' : 'differ'}">${escapeXml(outcome)}</p>`);
  if (q.differences.length > 0) {
    out.push('<table><thead><tr><th>difference</th><th>source row</th><th>target row</th></tr></thead><tbody>');
    for (const d of q.differences) {
      const row = (r: Array<string | null> | undefined, n: number | undefined) => (r ? `${n ?? ''}: (${r.map((v) => v ?? 'NULL').join(', ')})` : '');
      out.push(`<tr><td>${escapeXml(d.detail)}</td><td>${escapeXml(row(d.source, d.sourceRow))}</td><td>${escapeXml(row(d.target, d.targetRow))}</td></tr>`);
    }
    out.push('</tbody></table>');
  }
  out.push(latencyChart(q));
  out.push('<table><thead><tr><th>latency ms</th><th>runs</th><th>p50</th><th>p95</th><th>p99</th><th>max</th></tr></thead><tbody>');
  for (const side of ['source', 'target'] as const) {
    const l = q.latencyMs[side];
    out.push(`<tr><td>${side}</td>${[l.runs, l.p50, l.p95, l.p99, l.max].map((v, i) => `<td class="n">${i === 0 ? v : v.toFixed(2)}</td>`).join('')}</tr>`);
  }
  out.push('</tbody></table>', `<pre>${escapeXml(q.query)}</pre>`, '</section>');
  return out.join('\n');
}

/** Every run as a dot on a millisecond axis, one row per side, ticks at p50, p95 and p99. */
function latencyChart(q: QueryComparison): string {
  const width = 760;
  const height = 150;
  const m = { left: 70, right: 30, top: 28, bottom: 36 };
  const plotW = width - m.left - m.right;
  const all = [...q.samplesMs.source, ...q.samplesMs.target];
  const xMax = niceMax(Math.max(...all, 0.001) * 1.05);
  const xAt = (v: number) => m.left + (v / xMax) * plotW;
  const rowY: Record<Side, number> = { source: m.top + 22, target: m.top + 62 };
  const f = (n: number) => n.toFixed(1);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" font-family="system-ui, sans-serif" font-size="12">`,
    `<title>${escapeXml(`latency of ${q.name}, ms`)}</title>`];
  for (let i = 0; i <= 5; i++) {
    const v = (xMax * i) / 5;
    out.push(`<line x1="${f(xAt(v))}" x2="${f(xAt(v))}" y1="${m.top}" y2="${height - m.bottom}" stroke="#dddddd"/>`);
    out.push(`<text x="${f(xAt(v))}" y="${height - m.bottom + 16}" text-anchor="middle">${escapeXml(formatMs(v))}</text>`);
  }
  out.push(`<text x="${f(m.left + plotW / 2)}" y="${height - 4}" text-anchor="middle">milliseconds per run</text>`);
  for (const side of ['source', 'target'] as const) {
    const y = rowY[side];
    const l = q.latencyMs[side];
    out.push(`<text x="${m.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${side}</text>`);
    out.push(`<g class="runs" data-side="${side}">`);
    for (const v of q.samplesMs[side]) {
      out.push(`<circle cx="${f(xAt(v))}" cy="${y}" r="3.5" fill="${COLOURS[side]}" fill-opacity="0.45"><title>${escapeXml(`${side}: ${v.toFixed(2)} ms`)}</title></circle>`);
    }
    out.push('</g>');
    if (l.runs > 0) {
      for (const [label, v] of [['p50', l.p50], ['p95', l.p95], ['p99', l.p99]] as const) {
        out.push(`<line x1="${f(xAt(v))}" x2="${f(xAt(v))}" y1="${y - 12}" y2="${y + 12}" stroke="${COLOURS[side]}" stroke-width="2" data-mark="${label}"><title>${escapeXml(`${side} ${label}: ${v.toFixed(2)} ms`)}</title></line>`);
      }
    }
  }
  out.push('</svg>');
  return out.join('\n');
}

function formatMs(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}
