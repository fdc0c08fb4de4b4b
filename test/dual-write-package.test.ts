/**
 * `hyperfill/dual-write` as an application imports it: a separate project with the package
 * in its node_modules resolves the export through package.json "exports", at run time and
 * in TypeScript (declarations included), and a type error in its use is caught.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

const PACKAGE = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(PACKAGE, 'node_modules/typescript/bin/tsc');
const app = mkdtempSync(join(tmpdir(), 'hyperfill-consumer-'));
after(() => rmSync(app, { recursive: true, force: true }));

mkdirSync(join(app, 'node_modules'));
symlinkSync(PACKAGE, join(app, 'node_modules/hyperfill'));
symlinkSync(join(PACKAGE, 'node_modules/pg'), join(app, 'node_modules/pg'));
symlinkSync(join(PACKAGE, 'node_modules/@types'), join(app, 'node_modules/@types'));
writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module' }));
writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
  compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] },
}));

test('the export resolves at run time from another project', () => {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e',
    `const m = await import('hyperfill/dual-write'); console.log(typeof m.createDualWriter, typeof m.SpoolJournal, typeof m.replaySpool)`], { cwd: app, encoding: 'utf8' });
  assert.equal(run.stderr, '');
  assert.equal(run.stdout.trim(), 'function function function');
});

test('TypeScript sees the declarations: a correct use compiles, a wrong one does not', () => {
  writeFileSync(join(app, 'good.ts'), `import pg from 'pg';
import { createDualWriter, type DualWriteMetrics } from 'hyperfill/dual-write';
const writer = await createDualWriter({ primary: new pg.Pool(), secondary: new pg.Pool(), spool: { dir: '/tmp/x', fsync: 'group', groupCommitMs: 2 }, writerId: 'w' });
const r = await writer.query<{ id: number }>('INSERT INTO t VALUES ($1) RETURNING id', [1]);
const id: number = r.rows[0]!.id;
await writer.transaction(async (tx) => { await tx.query('SELECT 1'); });
writer.on('drained', () => undefined);
const m: DualWriteMetrics = writer.metrics();
console.log(id, m.spoolDepth);
`);
  const good = spawnSync(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8' });
  assert.equal(good.status, 0, good.stdout + good.stderr);
  writeFileSync(join(app, 'bad.ts'), `import { createDualWriter } from 'hyperfill/dual-write';
await createDualWriter({ spool: 42, writerId: 'w' });
`);
  const bad = spawnSync(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stdout, /bad\.ts/);
  rmSync(join(app, 'bad.ts'));
});
