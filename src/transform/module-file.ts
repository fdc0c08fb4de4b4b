/**
 * Turns `--transform FILE` into a URL every worker thread can import. JavaScript
 * (.js, .mjs, .cjs) is imported as it is. TypeScript (.ts, .mts, .cts) is compiled
 * once, before any worker starts, by the `typescript` package's compiler (types are
 * not checked: only erased), into a hidden folder beside the file, so the module's
 * relative imports and its packages resolve as they would from the source. The folder
 * is removed when the run ends.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HyperfillError } from '../errors.js';

export interface ModuleFile {
  /** file: URL to import. */
  url: string;
  /** The path as the user gave it, for messages. */
  name: string;
  /** The absolute source path, for the import ledger's settings. */
  path: string;
  /** Removes compiled output, if any. */
  cleanup(): void;
}

const JS = ['.js', '.mjs', '.cjs'];
const TS: Record<string, string> = { '.ts': '.js', '.mts': '.mjs', '.cts': '.cjs' };

export async function prepareModuleFile(file: string): Promise<ModuleFile> {
  const path = resolve(file);
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new HyperfillError('E_TRANSFORM_LOAD', `the transform ${file} does not exist`, { transform: file }, 'check the path given to --transform');
  }
  const ext = extname(path).toLowerCase();
  if (JS.includes(ext)) return { url: pathToFileURL(path).href, name: file, path, cleanup: () => undefined };
  const outExt = TS[ext];
  if (outExt === undefined) {
    throw new HyperfillError('E_TRANSFORM_LOAD', `the transform ${file} is neither JavaScript nor TypeScript`, { transform: file },
      'give a .js, .mjs, .cjs, .ts or .mts file');
  }
  const outDir = makeOutDir(dirname(path));
  try {
    await compile(path, outDir, file);
  } catch (err) {
    rmSync(outDir, { recursive: true, force: true });
    throw err;
  }
  const compiled = join(outDir, basename(path, extname(path)) + outExt);
  return { url: pathToFileURL(compiled).href, name: file, path, cleanup: () => rmSync(outDir, { recursive: true, force: true }) };
}

function makeOutDir(beside: string): string {
  let dir: string;
  try {
    dir = mkdtempSync(join(beside, '.hyperfill-transform-'));
  } catch {
    dir = mkdtempSync(join(tmpdir(), 'hyperfill-transform-'));
  }
  writeFileSync(join(dir, 'package.json'), '{"type": "module"}\n');
  return dir;
}

function compile(path: string, outDir: string, name: string): Promise<void> {
  const compiler = findCompiler();
  if (!compiler) {
    throw new HyperfillError('E_TRANSFORM_LOAD', `the transform ${name} is TypeScript, and the \`typescript\` package is not installed`, { transform: name },
      'install it beside hyperfill (npm install typescript), or compile the transform to JavaScript and pass the .js file');
  }
  const args = [
    compiler.bin, path, '--outDir', outDir, '--rootDir', dirname(path), '--target', 'es2022', '--module', 'esnext',
    '--moduleResolution', 'bundler', '--noCheck', '--skipLibCheck', '--rewriteRelativeImportExtensions', '--allowImportingTsExtensions',
    '--sourceMap', '--pretty', 'false',
    // TypeScript 6+ refuses files on the command line next to a tsconfig.json unless told to ignore it.
    ...(compiler.major >= 6 ? ['--ignoreConfig'] : []),
  ];
  return new Promise((resolvePromise, reject) => {
    execFile(process.execPath, args, { cwd: dirname(path), timeout: 120_000 }, (err, stdout, stderr) => {
      if (!err) return resolvePromise();
      const output = `${stdout}${stderr}`.trim().split('\n').slice(0, 10).join('\n    ');
      reject(new HyperfillError('E_TRANSFORM_LOAD', `the transform ${name} does not compile:\n    ${output || err.message}`, { transform: name },
        'fix the syntax error (types are not checked, only erased)'));
    });
  });
}

function findCompiler(): { bin: string; major: number } | undefined {
  try {
    const pkgPath = createRequire(import.meta.url).resolve('typescript/package.json');
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string; bin?: Record<string, string> };
    const bin = join(dirname(pkgPath), pkg.bin?.tsc ?? 'bin/tsc');
    return existsSync(bin) ? { bin, major: Number(pkg.version.split('.')[0]) } : undefined;
  } catch {
    return undefined;
  }
}
