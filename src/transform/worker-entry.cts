/**
 * What piscina loads in each thread: a CommonJS shim that imports the ESM worker
 * (worker.ts) with import(). Given the ESM file itself, piscina require()s it first
 * (require of ESM, Node 20.19+) and import()s it when that fails; after a failed
 * require, Node 20's import() then fails with an internal error ("imported again
 * after being required") that hides the real cause. import() alone reports it.
 */
type Handler = (task: unknown) => Promise<unknown>;
let handler: Promise<Handler> | undefined;

module.exports = async function run(task: unknown): Promise<unknown> {
  handler ??= import('./worker.js').then((m) => m.default as unknown as Handler);
  return (await handler)(task);
};
