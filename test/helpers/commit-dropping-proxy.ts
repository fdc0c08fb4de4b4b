/**
 * A TCP proxy in front of a PostgreSQL server that loses the answer to one statement: the
 * first client message holding `marker` (by default a simple-Query `COMMIT`) is forwarded,
 * the server's reply is awaited, and then the client's connection is cut without it. The
 * server has done the work (committed); the client cannot know. Later traffic passes untouched.
 */
import { createServer, connect, type Server } from 'node:net';

export interface CommitDroppingProxy {
  port: number;
  /** How many COMMIT answers were dropped (0 or 1). */
  dropped(): number;
  close(): Promise<void>;
}

export async function startCommitDroppingProxy(port: number, marker = 'COMMIT\0'): Promise<CommitDroppingProxy> {
  let dropped = 0;
  const server: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    let dropNextReply = false;
    client.on('data', (data: Buffer) => {
      if (dropped === 0 && data.toString('latin1').includes(marker)) {
        dropped++;
        dropNextReply = true;
      }
      upstream.write(data);
    });
    upstream.on('data', (data: Buffer) => {
      if (dropNextReply) {
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(data);
    });
    const end = () => { client.destroy(); upstream.destroy(); };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    dropped: () => dropped,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
