#!/usr/bin/env node
/** Process entry: wires signals and the real streams to `main`. */
import './node-navigator.js';
import { HyperfillError } from '../errors.js';
import { main } from './main.js';

/**
 * First SIGINT or SIGTERM: stop now. Statements in flight are cancelled (their window or
 * batch rolls back), what the run changed is put back (within a bounded time), and the
 * command exits non-zero saying what is committed. Orchestrators send SIGTERM, then
 * SIGKILL after a grace period. A second signal quits at once.
 */
function interruptController(): AbortController {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      process.stderr.write(`\n${signal} again: quitting now; rerun the same command to finish (and \`hyperfill restore-policies\` if a backfill paused policies)\n`);
      process.exit(signal === 'SIGTERM' ? 143 : 130);
    }
    process.stderr.write(`\n${signal}: stopping: rolling back the work in flight (${signal} again to quit at once)\n`);
    controller.abort(new HyperfillError('E_INTERRUPTED', `interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller;
}

const controller = interruptController();
main(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, signal: controller.signal })
  .then((code) => {
    process.exitCode = code;
  });
