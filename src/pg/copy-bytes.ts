/** One `COPY ... FROM STDIN` fed one buffer: a batch, or a piece of one being isolated. */
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/** Runs `statement` with `data`; resolves with the server's row count. */
export function copyBytes(client: pg.Client, statement: string, data: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = client.query(copyFrom(statement));
    stream.on('error', reject);
    stream.on('finish', () => resolve(stream.rowCount));
    stream.end(data);
  });
}
