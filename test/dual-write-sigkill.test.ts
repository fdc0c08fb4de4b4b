/**
 * SIGKILL of a process that is writing to its spool. The test kills the child while the
 * spool segment is still growing (a large record half copied by the kernel), then checks,
 * with its own decoder of the files as the child left them: `hyperfill replay` reports the
 * torn record, replays every complete record exactly once and nothing of the torn one, and
 * every write the child saw acknowledged is among them.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { decodeSegment, idsOf } from './helpers/dual-write.js';
import { runCli } from './helpers/cli.js';
import { freePort, type PostgresServer, startPostgres } from './helpers/postgres.js';

const CHILD = fileURLToPath(new URL('./fixtures/dual-write/spooling-writer.js', import.meta.url));
let server: PostgresServer;
const dir = mkdtempSync(join(tmpdir(), 'hyperfill-dw-kill-'));

before(async () => {
  server = await startPostgres();
  await server.createDatabase('target');
});

after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Kills the child the moment its segment file is seen growing (a write in progress), after `acked` acknowledgements. */
async function killMidWrite(child: ChildProcess, spool: string, acked: () => number): Promise<void> {
  while (acked() < 2) await once(child.stdout as NodeJS.EventEmitter, 'data');
  const segment = () => readdirSync(spool).find((f) => f.endsWith('.seg'));
  let last = -1;
  const deadline = Date.now() + 20_000;
  // A tight synchronous loop: stat is the only way to see a write(2) in progress, and each
  // iteration takes microseconds, so the kill lands inside a multi-megabyte copy.
  while (Date.now() < deadline) {
    const name = segment();
    const size = name ? statSync(join(spool, name)).size : -1;
    if (last >= 0 && size > last) break;
    last = size;
  }
  child.kill('SIGKILL');
  await once(child, 'exit');
}

test('SIGKILL mid-spool: the torn record is reported and left out, every complete record is replayed once', async (t) => {
  let tornSeen = 0;
  let attempt = 0;
  while (attempt < 10 && tornSeen < 2) {
    attempt++;
    await server.query('DROP TABLE IF EXISTS big; CREATE TABLE big (id int PRIMARY KEY, payload text)');
    await server.query('DROP TABLE IF EXISTS big; DROP SCHEMA IF EXISTS hyperfill CASCADE; CREATE TABLE big (id int PRIMARY KEY, payload text)', [], 'target');
    const spool = join(dir, `attempt-${attempt}`);
    const unreachable = `postgres://postgres@127.0.0.1:${await freePort()}/none`;
    const child = spawn(process.execPath, [CHILD, server.url(), unreachable, spool], {
      env: { ...process.env, HYPERFILL_SPOOLING_WRITER: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const acked = () => stdout.split('\n').filter((l) => l !== '').length;
    await killMidWrite(child, spool, acked);
    assert.equal(child.signalCode, 'SIGKILL', `the child ended by itself: ${stderr}`);
    const ackedIds = stdout.split('\n').filter((l) => l !== '').map(Number);

    // The files as the child left them, read by the test itself.
    const segments = readdirSync(spool).filter((f) => f.endsWith('.seg')).sort();
    assert.equal(segments.length, 1);
    const file = join(spool, segments[0] as string);
    const decoded = decodeSegment(file);
    const complete = decoded.records.flatMap((r) => (r.entry.kind === 'statement' ? [Number(r.entry.statement.values[0])] : []));
    const torn = decoded.tailFrom < decoded.size;

    const replay = await runCli(['replay', '--spool', spool, '--target', server.url('target'), '--json']);
    assert.equal(replay.code, 0, replay.stderr);
    const result = JSON.parse(replay.stdout);
    if (torn) {
      tornSeen++;
      assert.match(replay.stderr, /warning: the spool's last record was torn/);
      assert.equal(result.tornTail.offset, decoded.tailFrom);
      assert.equal(result.tornTail.bytes, decoded.size - decoded.tailFrom);
      assert.ok(existsSync(result.tornTail.savedAs));
      assert.equal(readFileSync(result.tornTail.savedAs).length, decoded.size - decoded.tailFrom);
      assert.equal(statSync(file).size, decoded.tailFrom, 'the segment now ends where the torn record began');
    } else {
      assert.equal(result.tornTail, null);
      assert.doesNotMatch(replay.stderr, /torn/);
    }
    const onTarget = await idsOf((sql) => server.query(sql, [], 'target'), 'big');
    assert.deepEqual(onTarget.ids, [...complete].sort((a, b) => a - b), 'exactly the complete records are replayed');
    assert.equal(onTarget.duplicates, 0);
    for (const id of ackedIds) assert.ok(complete.includes(id), `acknowledged write ${id} is in the spool`);
    const onPrimary = (await idsOf((sql) => server.query(sql), 'big')).ids;
    for (const id of complete) assert.ok(onPrimary.includes(id), `spooled write ${id} is in the primary`);
    // Replay is exactly once: a second run applies nothing.
    const again = await runCli(['replay', '--spool', spool, '--target', server.url('target'), '--json']);
    assert.equal(JSON.parse(again.stdout).records, 0);
    rmSync(spool, { recursive: true, force: true });
  }
  t.diagnostic(`${attempt} kills, ${tornSeen} left a torn record`);
  assert.ok(tornSeen >= 1, 'no attempt left a torn record: the kill never landed mid-write');
});
