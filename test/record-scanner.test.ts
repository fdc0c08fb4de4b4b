/**
 * The batch cutter against csv-parse as an oracle: for random CSV with quoted
 * newlines, doubled quotes, CRLF and no final newline, cut at every chunk size, the
 * batches hold every input byte once, in order, and split only between records.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { parse } from 'csv-parse/sync';
import { RecordScanner, type ScanDialect, type ScanLimits } from '../src/csv/record-scanner.js';
import type { EncodedBatch } from '../src/batch.js';
import { HyperfillError } from '../src/errors.js';
import { random } from '../src/demo/generate-csv.js';
import { BufferPool } from '../src/buffer-pool.js';

const CSV: ScanDialect = { format: 'csv', quote: 0x22, escape: 0x22 };
const limits = (over: Partial<ScanLimits> = {}): ScanLimits => ({
  batchRows: 3, batchBytes: Infinity, skipLines: 0, skipRecords: 0, limit: Infinity, maxRecordBytes: 1 << 20, ...over,
});

function scan(input: Buffer, chunkSize: number, dialect = CSV, over: Partial<ScanLimits> = {}): EncodedBatch[] {
  const scanner = new RecordScanner(dialect, limits(over), 0, 'input.csv');
  const out: EncodedBatch[] = [];
  for (let i = 0; i < input.length; i += chunkSize) out.push(...scanner.push(input.subarray(i, i + chunkSize)));
  out.push(...scanner.end());
  return out;
}

function randomCsv(seed: number, rows: number, crlf: boolean): string {
  const rand = random(seed);
  const pieces = ['plain', '', 'with,comma', 'quote"inside', 'new\nline', 'cr\r\nlf', 'ünïcødé ✓', '""', ' '];
  const field = () => {
    const p = pieces[Math.floor(rand() * pieces.length)] ?? '';
    return /[",\n\r]/.test(p) || rand() < 0.3 ? `"${p.replace(/"/g, '""')}"` : p;
  };
  const eol = crlf ? '\r\n' : '\n';
  return Array.from({ length: rows }, () => [field(), field(), field()].join(',')).join(eol) + (rand() < 0.5 ? eol : '');
}

test('batches concatenate back to the input and split only between records, at any chunk size', () => {
  for (let seed = 1; seed <= 6; seed++) {
    const text = randomCsv(seed, 40, seed % 2 === 0);
    const input = Buffer.from(text);
    const expected = parse(text, { relax_column_count: true }) as string[][];
    for (const chunkSize of [1, 2, 3, 7, 64, input.length]) {
      const batches = scan(input, chunkSize);
      assert.equal(Buffer.concat(batches.map((b) => b.data)).toString(), text, `seed ${seed} chunk ${chunkSize}`);
      assert.equal(batches.reduce((n, b) => n + b.rows, 0), expected.length);
      const reparsed = batches.flatMap((b) => parse(b.data, { relax_column_count: true }) as string[][]);
      assert.deepEqual(reparsed, expected);
    }
  }
});

test('line numbers count quoted newlines, and rows count records', () => {
  const text = 'h1,h2\n1,"a\nb"\n2,c\n3,"x\n\ny"\n4,d';
  const batches = scan(Buffer.from(text), 5, CSV, { batchRows: 1, skipRecords: 1 });
  assert.deepEqual(batches.map((b) => [b.firstLine, b.lastLine, b.firstRow, b.rows]), [
    [2, 3, 1, 1], [4, 4, 2, 1], [5, 7, 3, 1], [8, 8, 4, 1],
  ]);
});

test('skip-lines drops physical lines before the header; limit stops early', () => {
  const text = '# preamble "unbalanced\n# more\nid,v\n1,a\n2,b\n3,c\n';
  const batches = scan(Buffer.from(text), 4, CSV, { skipLines: 2, skipRecords: 1, limit: 2, batchRows: 10 });
  assert.equal(batches.length, 1);
  assert.equal(batches[0]?.data.toString(), '1,a\n2,b\n');
  assert.equal(batches[0]?.firstLine, 4);
});

test('a custom escape character hides the quote it escapes', () => {
  const dialect: ScanDialect = { format: 'csv', quote: 0x22, escape: 0x5c };
  const text = '1,"a\\"\nb"\n2,"c\\\\"\n3,d\n';
  for (const size of [1, 2, 100]) {
    const batches = scan(Buffer.from(text), size, dialect, { batchRows: 1 });
    assert.deepEqual(batches.map((b) => b.data.toString()), ['1,"a\\"\nb"\n', '2,"c\\\\"\n', '3,d\n']);
  }
});

test('text format: a backslash escapes the next byte, including a newline', () => {
  const dialect: ScanDialect = { format: 'text', quote: 0, escape: 0x5c };
  const text = '1\ta\\\nb\n2\t\\N\n3\t"quotes mean nothing"\n';
  for (const size of [1, 3, 100]) {
    const batches = scan(Buffer.from(text), size, dialect, { batchRows: 1 });
    assert.deepEqual(batches.map((b) => b.rows), [1, 1, 1]);
    assert.equal(batches[0]?.data.toString(), '1\ta\\\nb\n');
  }
});

test('an unterminated quote is an error naming the line it opened on', () => {
  assert.throws(() => scan(Buffer.from('1,a\n2,"never closed\n3,c\n'), 4), (err: unknown) =>
    err instanceof HyperfillError && err.code === 'E_CSV_UNTERMINATED_QUOTE' && err.context.line === 2);
});

test('a record larger than the limit is an error, not unbounded memory', () => {
  const big = Buffer.from(`1,"${'x'.repeat(5000)}`);
  assert.throws(() => scan(big, 100, CSV, { maxRecordBytes: 1000 }), (err: unknown) =>
    err instanceof HyperfillError && err.code === 'E_CSV_RECORD_TOO_LARGE' && err.context.line === 1);
});

test('byte limit cuts batches; empty input gives no batch', () => {
  const text = Array.from({ length: 100 }, (_, i) => `${i},${'y'.repeat(50)}`).join('\n');
  const batches = scan(Buffer.from(text), 333, CSV, { batchRows: 1000, batchBytes: 500 });
  assert.ok(batches.length >= 10);
  assert.ok(batches.every((b) => b.data.length < 500 + 60));
  assert.equal(batches.reduce((n, b) => n + b.rows, 0), 100);
  assert.deepEqual(scan(Buffer.alloc(0), 10), []);
});

test('with a buffer pool, batches are copies: the same bytes even when every chunk is overwritten after push', () => {
  for (let seed = 1; seed <= 4; seed++) {
    const input = Buffer.from(randomCsv(seed, 60, seed % 2 === 0));
    for (const chunkSize of [1, 7, 64, 4096]) {
      const pool = new BufferPool(4);
      const scanner = new RecordScanner(CSV, limits({ batchRows: 5 }), 0, 'input.csv', pool);
      const reused = Buffer.alloc(chunkSize);
      const batches: Buffer[] = [];
      const keep = (out: EncodedBatch[]) => { for (const b of out) batches.push(Buffer.from(b.data)); };
      for (let i = 0; i < input.length; i += chunkSize) {
        const n = input.copy(reused, 0, i, i + chunkSize);
        keep(scanner.push(reused.subarray(0, n)));
        reused.fill(0x21);
      }
      keep(scanner.end());
      assert.deepEqual(Buffer.concat(batches), input, `seed ${seed}, chunks of ${chunkSize}`);
      assert.deepEqual(batches, scan(input, chunkSize, CSV, { batchRows: 5 }).map((b) => Buffer.from(b.data)));
    }
  }
});
