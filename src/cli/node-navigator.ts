/**
 * Node 21 and later have a global `navigator`; Node 20 has none. pg decides whether it
 * runs on Cloudflare by reading `navigator.userAgent`, and without one it touches
 * `Response`, which loads Node's whole fetch implementation: about 5 MB of memory a
 * copy never uses. Where it is missing, the entry point sets the one Node 21 has.
 * Imported first by bin.ts, so it runs before any module loads pg.
 */
const global = globalThis as { navigator?: { userAgent: string } };
global.navigator ??= { userAgent: `Node.js/${process.versions.node.split('.')[0]}` };
