/**
 * `hyperfill bench` without a database: the generator's rows, the recommendation's
 * choices and wording, percentiles, and that reports are self-contained and well formed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { recommend, whichSideLimits } from '../src/bench/recommend.js';
import { renderHtml, renderSvg } from '../src/bench/report.js';
import type { BenchResult } from '../src/bench/result.js';
import { percentile } from '../src/bench/sweep.js';
import { CPU_COLUMNS, CpuGenerator } from '../src/bench/tsbs-cpu.js';
import { decodeTextRow } from '../src/copy-text.js';

test('generator: TSBS-like cpu rows in text COPY format, deterministic, one row per host per 10 s', () => {
  const a = new CpuGenerator({ scale: 3 });
  const batch = a.next(7);
  assert.equal(batch.rows, 7);
  const lines = batch.data.toString('latin1').split('\n');
  assert.equal(lines.pop(), '', 'newline-terminated');
  assert.equal(lines.length, 7);
  const rows = lines.map(decodeTextRow);
  for (const row of rows) {
    assert.equal(row.length, CPU_COLUMNS.length);
    for (const metric of row.slice(11)) assert.ok(Number(metric) >= 0 && Number(metric) <= 100, String(metric));
  }
  assert.deepEqual(rows.map((r) => r[0]), [
    '2016-01-01 00:00:00+00', '2016-01-01 00:00:00+00', '2016-01-01 00:00:00+00',
    '2016-01-01 00:00:10+00', '2016-01-01 00:00:10+00', '2016-01-01 00:00:10+00', '2016-01-01 00:00:20+00',
  ]);
  assert.deepEqual(rows.map((r) => r[1]), ['host_0', 'host_1', 'host_2', 'host_0', 'host_1', 'host_2', 'host_0']);
  // A host keeps its tags.
  assert.deepEqual(rows[0]?.slice(1, 11), rows[3]?.slice(1, 11));
  const next = a.next(2);
  assert.equal(next.seq, 1);
  assert.equal(next.firstRow, 8);
  // Same seed, same bytes; reset starts over.
  const b = new CpuGenerator({ scale: 3 });
  assert.deepEqual(b.next(7).data, batch.data);
  a.reset();
  assert.deepEqual(a.next(7).data, batch.data);
  assert.notDeepEqual(new CpuGenerator({ scale: 3, seed: 7 }).next(7).data, batch.data);
});

test('generator: many batches stay row-aligned past the pooled walk', () => {
  const g = new CpuGenerator({ scale: 1000 });
  let rows = 0;
  for (let i = 0; i < 30; i++) {
    const batch = g.next(5000);
    const text = batch.data.toString('latin1');
    assert.equal(text.split('\n').length - 1, 5000);
    rows += batch.rows;
  }
  assert.equal(rows, 150_000);
});

test('percentile: nearest rank', () => {
  assert.equal(percentile([], 0.5), 0);
  assert.equal(percentile([5], 0.99), 5);
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(sorted, 0.5), 50);
  assert.equal(percentile(sorted, 0.99), 99);
});

const cell = (workers: number, batchSize: number, rowsPerSecond: number, clientCpuPercent = 10) =>
  ({ workers, batchSize, rowsPerSecond, mbPerSecond: rowsPerSecond * 150 / 1e6, clientCpuPercent });

test('recommend: the best cell, phrased with the flags to use', () => {
  const r = recommend([cell(1, 1000, 100_000), cell(2, 1000, 200_000), cell(4, 1000, 512_000), cell(8, 1000, 500_000)]);
  assert.equal(r.workers, 4);
  assert.equal(r.batchSize, 1000);
  assert.match(r.text, /^use --workers 4 --batch-size 1000: 512\.0k rows\/s \(76\.8 MB\/s\); more workers did not help$/);
});

test('recommend: fewer workers, then a smaller batch, win when within 5% of the best', () => {
  const r = recommend([
    cell(1, 5000, 100_000), cell(2, 5000, 300_000), cell(4, 5000, 310_000), cell(8, 5000, 290_000),
    cell(2, 20000, 298_000), cell(4, 20000, 305_000),
  ]);
  assert.deepEqual([r.workers, r.batchSize], [2, 5000]);
  assert.deepEqual([r.best.workers, r.best.batchSize], [4, 5000]);
  assert.equal(r.text, 'use --workers 2 --batch-size 5000: 300.0k rows/s (45.0 MB/s); more workers did not help (at most +3.3%); larger batches did not help');
  const diagonal = recommend([cell(2, 5000, 300_000), cell(4, 20000, 310_000), cell(2, 20000, 250_000), cell(4, 5000, 200_000)]);
  assert.deepEqual([diagonal.workers, diagonal.batchSize], [2, 5000]);
  assert.match(diagonal.text, /the fastest cell \(--workers 4 --batch-size 20000: 310\.0k rows\/s\) was only 3\.3% faster; more workers made it slower; larger batches were slower$/);
});

test('recommend: says when rows/s still rose at the edge of the sweep, and when more workers hurt', () => {
  const rising = recommend([cell(1, 1000, 100_000), cell(2, 1000, 180_000), cell(1, 5000, 120_000), cell(2, 5000, 250_000)]);
  assert.deepEqual([rising.workers, rising.batchSize], [2, 5000]);
  assert.match(rising.text, /still rose at the most workers tried: try more/);
  assert.match(rising.text, /still rose at the largest --batch-size tried: try larger/);
  const hurt = recommend([cell(1, 1000, 300_000), cell(2, 1000, 200_000)]);
  assert.match(hurt.text, /use --workers 1 --batch-size 1000: 300\.0k rows\/s .*; more workers made it slower$/);
  const busy = recommend([cell(1, 1000, 300_000, 95)]);
  assert.match(busy.text, /this client used 95% of a core/);
});

test('recommend: source readers, and which side limits', () => {
  const r = recommend([
    { workers: 1, rowsPerSecond: 400_000, mbPerSecond: 40, clientCpuPercent: 30 },
    { workers: 4, rowsPerSecond: 1_200_000, mbPerSecond: 120, clientCpuPercent: 60 },
    { workers: 8, rowsPerSecond: 1_210_000, mbPerSecond: 121, clientCpuPercent: 60 },
  ], undefined, 'source');
  assert.equal(r.text, 'the source reads 1.20M rows/s (120.0 MB/s) with 4 parallel readers; more readers did not help (at most +0.8%)');
  assert.match(whichSideLimits(1_200_000, 512_000), /^the target limits the backfill/);
  assert.match(whichSideLimits(200_000, 512_000), /^the source limits the backfill/);
  assert.match(whichSideLimits(500_000, 512_000), /about even/);
});

function sampleResult(): BenchResult {
  const cells = [
    [1, 1000, 101_234], [2, 1000, 182_345], [1, 5000, 121_000], [2, 5000, 250_123],
  ].map(([workers = 0, batchSize = 0, rowsPerSecond = 0]) => ({
    workers, batchSize, rows: 10_000, bytes: 1_500_000, batches: 10_000 / batchSize, seconds: 10_000 / rowsPerSecond, rowsPerSecond,
    mbPerSecond: rowsPerSecond * 150 / 1e6, latencyMs: { p50: 3.2, p99: 7.9 }, clientCpuSeconds: 0.01, clientCpuPercent: 12, retries: 0,
  }));
  return {
    startedAt: '2026-11-21T12:00:00.000Z',
    machine: { cpuModel: 'Test CPU <&>', cpus: 2, memoryBytes: 2 ** 33, os: 'Linux', node: 'v20', hyperfill: '0.1.0' },
    target: {
      connection: 'postgres@127.0.0.1:5432/postgres', serverVersion: '18.4', timescaledb: null, table: 'hyperfill_bench.t', hypertable: false, kept: false,
      dataset: { name: 'tsbs-cpu', scale: 10, rowsPerCell: 10_000, durationSeconds: null, bytesPerRow: 150, generatorRowsPerSecond: 4e6 },
      cells, recommendation: recommend(cells),
    },
  };
}

test('report: HTML is self-contained, holds every measured number and the recommendation', () => {
  const result = sampleResult();
  const html = renderHtml(result);
  assert.match(html, /^<!doctype html>/);
  assert.doesNotMatch(html, /<script[^>]*\bsrc=|<link\b|@import|url\(|https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'nothing is loaded from elsewhere');
  assert.doesNotMatch(html, /<script(?![^>]*type="application\/json")/, 'no executable script');
  const svg = /<svg[\s\S]*<\/svg>/.exec(html)?.[0] ?? '';
  assertWellFormedXml(svg);
  for (const c of result.target?.cells ?? []) {
    assert.ok(html.includes(`data-rows-per-second="${Math.round(c.rowsPerSecond)}"`), `chart point for ${c.workers}/${c.batchSize}`);
    assert.ok(html.includes(`<td class="n">${Math.round(c.rowsPerSecond)}</td>`), `table cell for ${c.workers}/${c.batchSize}`);
  }
  assert.ok(html.includes('Test CPU &lt;&amp;&gt;'), 'text is escaped');
  assert.ok(html.includes(result.target?.recommendation.text ?? '?'));
  const data = /<script type="application\/json" id="hyperfill-bench-data">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';
  assert.equal(JSON.parse(data).target.cells[3].rowsPerSecond, 250_123);
});

test('report: the SVG alone is a well-formed standalone file with one line per batch size', () => {
  const svg = renderSvg(sampleResult(), true);
  assert.match(svg, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assertWellFormedXml(svg);
  assert.equal(svg.match(/<polyline /g)?.length, 2);
  assert.ok(svg.includes('batch 1,000') && svg.includes('batch 5,000'));
  assert.ok(svg.includes('r="6"'), 'the recommended point is marked');
});

/** Tags balance, attributes are quoted, entities are known: enough to catch a broken writer. */
function assertWellFormedXml(text: string): void {
  const body = text.replace(/^<\?xml[^>]*\?>\s*/, '');
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<!--[\s\S]*?-->|[<>]/g;
  for (const m of body.matchAll(tag)) {
    if (m[0].startsWith('<!--')) continue;
    assert.ok(m[2] !== undefined, `stray ${m[0]} at ${m.index}: ${body.slice(Math.max(0, (m.index ?? 0) - 40), (m.index ?? 0) + 40)}`);
    if (m[4]) continue;
    if (m[1]) assert.equal(stack.pop(), m[2], `closing </${m[2]}> at ${m.index}`);
    else stack.push(m[2] ?? '');
  }
  assert.deepEqual(stack, [], 'every element is closed');
  for (const e of body.matchAll(/&([^;\s]*);?/g)) assert.match(e[0], /^&(amp|lt|gt|quot|#39);$/, 'known entities only');
}
