#!/usr/bin/env node
/** Process entry: wires signals and the real streams to `main`. */
import { main } from './main.js';

/** First Ctrl-C: stop reading, let batches in flight commit. Second: leave at once. */
function interruptController(): AbortController {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(`\n${signal}: stopping after the batches in flight (again to quit now)\n`);
    controller.abort();
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
