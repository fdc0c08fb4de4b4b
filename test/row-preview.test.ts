/** The row an error shows: one line, cut to length, every byte that is not text escaped. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { previewOf } from '../src/preview.js';

test('text stays as it is; control bytes, NUL and invalid UTF-8 become escapes', () => {
  assert.equal(previewOf(Buffer.from('2024-01-01,h1,é€😀\ttab\n')), '2024-01-01,h1,é€😀\ttab');
  assert.equal(previewOf(Buffer.from('a\r\n')), 'a');
  assert.equal(previewOf(Buffer.from([0x61, 0x00, 0x62, 0x1b, 0x5b, 0x7f])), 'a\\x00b\\x1b[\\x7f');
  assert.equal(previewOf(Buffer.from('"two\nlines",x\n')), '"two\\nlines",x', 'a quoted newline shows as \\n');
  // A lone continuation byte, a truncated sequence, an overlong slash, a surrogate, above U+10FFFF.
  assert.equal(previewOf(Buffer.from([0x80, 0x41])), '\\x80A');
  assert.equal(previewOf(Buffer.from([0xe2, 0x82])), '\\xe2\\x82');
  assert.equal(previewOf(Buffer.from([0xc0, 0xaf])), '\\xc0\\xaf');
  assert.equal(previewOf(Buffer.from([0xed, 0xa0, 0x80])), '\\xed\\xa0\\x80');
  assert.equal(previewOf(Buffer.from([0xf4, 0x90, 0x80, 0x80])), '\\xf4\\x90\\x80\\x80');
  assert.equal(previewOf(Buffer.from([0xf0, 0x9f, 0x98, 0x80])), '😀');
});

test('a long row is cut after the given number of characters, never inside an escape', () => {
  assert.equal(previewOf('x'.repeat(130)), `${'x'.repeat(120)}...`);
  assert.equal(previewOf(Buffer.concat([Buffer.from('x'.repeat(9)), Buffer.from([0, 0])]), 10), `${'x'.repeat(9)}\\x00...`);
  assert.equal(previewOf('short', 10), 'short');
});
