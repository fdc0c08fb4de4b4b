/**
 * Runs the example metrics service (see service.ts):
 *
 *   PRIMARY_URL=postgres://... SECONDARY_URL=postgres://... SPOOL_DIR=/var/lib/metrics/spool \
 *   WRITER_ID=metrics-1 PORT=8080 node dist/src/demo/dual-write-app/main.js
 *
 * SIGTERM or SIGINT closes it gracefully: requests in flight finish and the spool is flushed.
 */
import { hostname } from 'node:os';
import { startMetricsService } from './service.js';

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`error: set ${name}\n`);
    process.exit(2);
  }
  return value;
}

const service = await startMetricsService({
  primaryUrl: required('PRIMARY_URL'),
  secondaryUrl: required('SECONDARY_URL'),
  spoolDir: required('SPOOL_DIR'),
  writerId: process.env.WRITER_ID ?? `metrics@${hostname()}`,
  port: Number(process.env.PORT ?? 0),
});
process.stdout.write(`${JSON.stringify({ listening: service.port })}\n`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    service.close().then(() => process.exit(0), (err) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
  });
}
