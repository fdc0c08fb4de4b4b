/**
 * Loads a transform module and normalises its shape. Accepted:
 *   export default function (row, ctx) { ... }
 *   export default { setup(ctx) {...}, transform(row, ctx) {...}, columns: [...] }
 *   export function transform(row, ctx) {...}  (+ optional `setup`, `columns` exports)
 *   module.exports = function (row, ctx) {...}  (CommonJS, same shapes)
 * `columns` declares the output columns when the transform returns other keys than
 * it is given. The module is imported by URL: TypeScript is compiled first (compile-ts.ts).
 */
import { HyperfillError } from '../errors.js';
import type { UserTransform } from './pipeline.js';

export async function loadUserTransform(url: string, name: string): Promise<UserTransform> {
  let module: Record<string, unknown>;
  try {
    module = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    throw new HyperfillError('E_TRANSFORM_LOAD', `the transform ${name} failed to load: ${errorText(err)}`, { transform: name },
      'run it with `node` to see the problem, or fix the path given to --transform');
  }
  return normalise(module, name);
}

export function normalise(module: Record<string, unknown>, name: string): UserTransform {
  const candidates = [module.default, module];
  for (const c of candidates) {
    if (typeof c === 'function') return { name, transform: c as UserTransform['transform'], ...extras(module, name) };
    if (c !== null && typeof c === 'object' && typeof (c as Record<string, unknown>).transform === 'function') {
      const o = c as Record<string, unknown>;
      return { name, transform: (o.transform as UserTransform['transform']).bind(o), ...extras(o, name) };
    }
  }
  throw new HyperfillError('E_TRANSFORM_LOAD', `the transform ${name} exports no transform function`, { transform: name },
    'export a default function (row, ctx) => row | row[] | null, or an object (or named exports) with transform() and optional setup() and columns');
}

function extras(o: Record<string, unknown>, name: string): Pick<UserTransform, 'setup' | 'columns'> {
  const out: Pick<UserTransform, 'setup' | 'columns'> = {};
  if (o.setup !== undefined) {
    if (typeof o.setup !== 'function') throw new HyperfillError('E_TRANSFORM_LOAD', `the transform ${name} exports a setup that is not a function`, { transform: name });
    out.setup = (o.setup as NonNullable<UserTransform['setup']>).bind(o);
  }
  if (o.columns !== undefined) {
    const cols = o.columns;
    if (!Array.isArray(cols) || cols.length === 0 || cols.some((c) => typeof c !== 'string' || c === '') || new Set(cols).size !== cols.length) {
      throw new HyperfillError('E_TRANSFORM_LOAD', `the transform ${name} exports \`columns\` that is not a list of distinct column names`, { transform: name });
    }
    out.columns = [...cols] as string[];
  }
  return out;
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`;
  return String(err);
}
