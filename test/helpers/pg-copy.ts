/**
 * PostgreSQL's own COPY FROM STDIN (pg-copy-streams, no hyperfill code): what tests load
 * their expected tables with, so an expected value never comes from the code under test.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/** Runs `statement` (a `COPY ... FROM STDIN`) with `input`: bytes, or `{ file }` streamed. Resolves with the server's row count. */
export async function serverCopy(connection: pg.Client | string, statement: string, input: Buffer | string | { file: string }): Promise<number> {
  const client = typeof connection === 'string' ? new pg.Client({ connectionString: connection }) : connection;
  if (typeof connection === 'string') await client.connect();
  try {
    const sink = client.query(copyFrom(statement));
    const source = typeof input === 'object' && !Buffer.isBuffer(input) ? createReadStream(input.file) : Readable.from([Buffer.from(input)]);
    await pipeline(source, sink);
    return sink.rowCount;
  } finally {
    if (typeof connection === 'string') await client.end();
  }
}
