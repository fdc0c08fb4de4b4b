/**
 * The spool journal on real files. The test reads the segment files with its own decoder
 * (length, CRC-32 of seq + payload, seq, JSON), so record boundaries and contents never
 * come from the code under test. A torn last record, cut at every byte, is detected, set
 * aside and never read back; damage before the end is refused; locks keep one process per spool.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { HyperfillError } from '../src/errors.js';
import type { SpoolEntry } from '../src/dual-write/spool-entry.js';
import { SpoolJournal } from '../src/dual-write/spool-journal.js';
import { decodeSegment } from './helpers/dual-write.js';

const root = mkdtempSync(join(tmpdir(), 'hyperfill-spool-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `spool-${++dirs}`);

const statement = (n: number, filler = ''): SpoolEntry => ({ kind: 'statement', at: 1_700_000_000_000 + n, statement: { text: `INSERT INTO t VALUES ($1, $2)`, values: [String(n), `${filler}v${n}`] } });

async function readAll(journal: SpoolJournal): Promise<Array<{ seq: number; n: string | null | undefined }>> {
  const out = [];
  for await (const r of journal.read(0)) out.push({ seq: r.seq, n: r.entry.kind === 'statement' ? (r.entry.statement.values[0] as string) : undefined });
  return out;
}

function segments(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.seg')).sort().map((f) => join(dir, f));
}

for (const fsync of ['record', 'group'] as const) {
  test(`fsync ${fsync}: appended records are on disk in order when their promise resolves, and read back after reopening`, async () => {
    const dir = freshDir();
    const journal = await SpoolJournal.open({ dir, fsync, groupCommitMs: 5 });
    const seqs = await Promise.all(Array.from({ length: 50 }, (_, n) => journal.append(statement(n))));
    assert.deepEqual(seqs, Array.from({ length: 50 }, (_, n) => n + 1));
    // Resolved means written: the test's decoder sees all 50 before close().
    const decoded = decodeSegment(segments(dir)[0] as string);
    assert.deepEqual(decoded.records.map((r) => r.seq), seqs);
    assert.deepEqual(decoded.records.map((r) => (r.entry.kind === 'statement' ? r.entry.statement.values[0] : null)), seqs.map((s) => String(s - 1)));
    assert.equal(decoded.tailFrom, decoded.size);
    assert.equal(journal.pendingRecords, 50);
    await journal.close();
    const reopened = await SpoolJournal.open({ dir, fsync });
    assert.equal(reopened.tornTail, undefined);
    assert.equal(reopened.lastSeq, 50);
    assert.deepEqual((await readAll(reopened)).map((r) => r.n), seqs.map((s) => String(s - 1)));
    assert.equal(await reopened.append(statement(50)), 51);
    await reopened.close();
  });
}

test('segments rotate past their size, seqs continue across reopening, and replayed segments are deleted', async () => {
  const dir = freshDir();
  const journal = await SpoolJournal.open({ dir, segmentBytes: 4096, fsync: 'group', groupCommitMs: 0 });
  for (let n = 0; n < 60; n++) await journal.append(statement(n, 'x'.repeat(200)));
  const files = segments(dir);
  assert.ok(files.length >= 3, `expected several segments, got ${files.length}`);
  // Each file is named by the first seq it holds, and they chain without a gap.
  let expected = 1;
  for (const file of files) {
    const { records } = decodeSegment(file);
    assert.equal(Number(/(\d+)\.seg$/.exec(file)?.[1]), records[0]?.seq);
    for (const r of records) assert.equal(r.seq, expected++);
  }
  assert.equal(expected, 61);
  const firstOfLast = decodeSegment(files[files.length - 1] as string).records[0]?.seq as number;
  await journal.markReplayed(firstOfLast - 1);
  assert.deepEqual(segments(dir), [files[files.length - 1]]);
  assert.deepEqual((await readAll(journal)).map((r) => r.seq), Array.from({ length: 61 - firstOfLast }, (_, k) => firstOfLast + k));
  await journal.markReplayed(60);
  assert.equal(journal.pendingRecords, 0);
  await journal.close();
  // A drained spool keeps counting from where it was: replay positions are per seq.
  const reopened = await SpoolJournal.open({ dir });
  assert.equal(await reopened.append(statement(60)), 61);
  await reopened.close();
});

test('a last record cut at any byte is detected, set aside beside the segment and never read; appends continue after it', async () => {
  const source = freshDir();
  const journal = await SpoolJournal.open({ dir: source });
  for (let n = 0; n < 3; n++) await journal.append(statement(n, 'payload-'.repeat(8)));
  await journal.close();
  const file = segments(source)[0] as string;
  const whole = readFileSync(file);
  const { records } = decodeSegment(file);
  const last = records[2] as (typeof records)[number];
  for (let cut = last.offset + 1; cut < last.end; cut++) {
    const dir = freshDir();
    const copy = join(dir, '00000000000000000001.seg');
    spawnSync('mkdir', ['-p', dir]);
    writeFileSync(join(dir, 'spool.json'), readFileSync(join(source, 'spool.json')));
    writeFileSync(copy, whole.subarray(0, cut));
    const reopened = await SpoolJournal.open({ dir });
    assert.ok(reopened.tornTail, `cut at ${cut}: no torn tail reported`);
    assert.equal(reopened.tornTail.offset, last.offset);
    assert.equal(reopened.tornTail.bytes, cut - last.offset);
    assert.deepEqual(readFileSync(reopened.tornTail.savedAs), whole.subarray(last.offset, cut));
    assert.equal(readFileSync(copy).length, last.offset);
    assert.deepEqual((await readAll(reopened)).map((r) => r.seq), [1, 2]);
    // The next record goes where the torn one began, and reads back whole.
    assert.equal(await reopened.append(statement(9)), 3);
    assert.deepEqual((await readAll(reopened)).map((r) => r.n), ['0', '1', '9']);
    await reopened.close();
  }
});

test('a CRC mismatch in the last record, or zeros where it should be, is torn; damage before the end is refused', async () => {
  const dir = freshDir();
  const journal = await SpoolJournal.open({ dir });
  for (let n = 0; n < 3; n++) await journal.append(statement(n));
  await journal.close();
  const file = segments(dir)[0] as string;
  const whole = readFileSync(file);
  const { records } = decodeSegment(file);
  const [, second, third] = records as [unknown, (typeof records)[number], (typeof records)[number]];

  const flipped = Buffer.from(whole);
  flipped[third.end - 2] = (flipped[third.end - 2] as number) ^ 0xff;
  writeFileSync(file, flipped);
  let reopened = await SpoolJournal.open({ dir });
  assert.match(reopened.tornTail?.reason ?? '', /CRC/);
  assert.deepEqual((await readAll(reopened)).map((r) => r.seq), [1, 2]);
  await reopened.close();

  // A write whose data never reached the disk: the file grew, the bytes are zeros.
  writeFileSync(file, Buffer.concat([whole.subarray(0, third.offset), Buffer.alloc(300)]));
  reopened = await SpoolJournal.open({ dir });
  assert.equal(reopened.tornTail?.offset, third.offset);
  assert.deepEqual((await readAll(reopened)).map((r) => r.seq), [1, 2]);
  await reopened.close();

  const damaged = Buffer.from(whole);
  damaged[second.offset + 20] = (damaged[second.offset + 20] as number) ^ 0x01;
  writeFileSync(file, damaged);
  await assert.rejects(SpoolJournal.open({ dir }), (err: unknown) => err instanceof HyperfillError && err.code === 'E_SPOOL_CORRUPT' &&
    err.context.offset === second.offset && err.context.file === file);
  assert.deepEqual(readFileSync(file), damaged, 'a damaged spool is left as it was');
  assert.equal(existsSync(join(dir, 'lock')), false, 'a refused open releases the lock');
});

test('one process per spool: a live owner is refused, a dead owner\'s lock is taken over', async () => {
  const dir = freshDir();
  const first = await SpoolJournal.open({ dir });
  await assert.rejects(SpoolJournal.open({ dir }), /already open in this process/);
  const other = spawnSync(process.execPath, ['--input-type=module', '-e', `
    const { SpoolJournal } = await import(${JSON.stringify(new URL('../src/dual-write/spool-journal.js', import.meta.url).href)});
    try { await SpoolJournal.open({ dir: ${JSON.stringify(dir)} }); console.log('opened'); } catch (e) { console.log(e.code, e.message); }`], { encoding: 'utf8' });
  assert.match(other.stdout, new RegExp(`E_SPOOL_LOCKED the spool is in use by process ${process.pid}`));
  await first.close();
  assert.equal(existsSync(join(dir, 'lock')), false);
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeFileSync(join(dir, 'lock'), JSON.stringify({ pid: Number(dead.stdout), host: (await import('node:os')).hostname() }));
  const second = await SpoolJournal.open({ dir });
  assert.equal(JSON.parse(readFileSync(join(dir, 'lock'), 'utf8')).pid, process.pid);
  await second.close();
  // Our own pid in a lock we do not hold: a previous life of this process (pid 1 in a container, say).
  writeFileSync(join(dir, 'lock'), JSON.stringify({ pid: process.pid, host: (await import('node:os')).hostname() }));
  await (await SpoolJournal.open({ dir })).close();
  truncateSync(join(dir, 'spool.json'), 0);
  await assert.rejects(SpoolJournal.open({ dir }), (err: unknown) => err instanceof HyperfillError && err.code === 'E_SPOOL_CORRUPT');
});
