/** Runs a hyperfill command in this process with captured output (faster than a child). */
import { PassThrough, Readable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { withTestEncoding } from './copy-encoding.js';

export interface MainResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runMain(args: string[], stdin: Buffer | string = ''): Promise<MainResult> {
  let stdout = '';
  let stderr = '';
  const out = new PassThrough();
  const err = new PassThrough();
  out.on('data', (d) => { stdout += d; });
  err.on('data', (d) => { stderr += d; });
  const code = await main(withTestEncoding(args), { stdin: Readable.from([Buffer.from(stdin)]), stdout: out, stderr: err });
  return { code, stdout, stderr };
}
