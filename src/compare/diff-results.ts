/**
 * Compares two query results as PostgreSQL printed them (text, session in UTC). Each
 * column compares by its kind: numbers (float4, float8, numeric) numerically within a
 * relative tolerance, times (timestamp, timestamptz) as instants, everything else as text.
 * Rows compare as multisets; an ordered query must also give them in the same order,
 * where rows with equal ORDER BY keys may come in any order.
 */

export interface ResultColumn {
  name: string;
  typeOid: number;
}

export type ResultRow = Array<string | null>;

export interface QueryResultSet {
  columns: ResultColumn[];
  rows: ResultRow[];
}

export interface RowDifference {
  kind: 'columns' | 'only-in-source' | 'only-in-target' | 'changed' | 'order';
  /** 1-based row positions in each result, where they apply. */
  sourceRow?: number;
  targetRow?: number;
  source?: ResultRow;
  target?: ResultRow;
  detail: string;
}

export interface ResultComparison {
  match: boolean;
  comparedAs: 'multiset' | 'ordered' | 'ordered, ties as multisets';
  /** The first differences (up to the limit asked for). */
  differences: RowDifference[];
  /** All rows only on one side (changed rows count once per side). */
  differingRows: number;
}

const NUMBER_TYPES = new Set([700, 701, 1700, 20, 21, 23, 26]);
const TIME_TYPES = new Set([1114, 1184]);

type Kind = 'number' | 'time' | 'text';

interface ColumnRule {
  kind: Kind;
  equal(a: string | null, b: string | null): boolean;
  order(a: string | null, b: string | null): number;
}

export interface CompareSettings {
  /** Query's ORDER BY: undefined for none; keys undefined when they are not all output columns. */
  order: { keys: Array<string | number> | undefined } | undefined;
  /** Relative tolerance for numbers: |a - b| <= tolerance * max(1, |a|, |b|). */
  tolerance: number;
  maxDifferences: number;
}

export function compareResults(source: QueryResultSet, target: QueryResultSet, settings: CompareSettings): ResultComparison {
  const comparedAs = settings.order === undefined ? 'multiset' : settings.order.keys ? 'ordered, ties as multisets' : 'ordered';
  const names = (r: QueryResultSet) => r.columns.map((c) => c.name).join(', ');
  if (source.columns.length !== target.columns.length || names(source) !== names(target)) {
    return {
      match: false, comparedAs, differingRows: 0,
      differences: [{ kind: 'columns', detail: `columns differ: source (${names(source)}), target (${names(target)})` }],
    };
  }
  const rules = source.columns.map((c, i) => columnRule(c.typeOid, (target.columns[i] as ResultColumn).typeOid, settings.tolerance));
  const contents = multisetDiff(source.rows, target.rows, rules, source.columns, settings.maxDifferences);
  if (contents.differingRows > 0 || settings.order === undefined) {
    return { match: contents.differingRows === 0, comparedAs, differences: contents.differences, differingRows: contents.differingRows };
  }
  const keyColumns = settings.order.keys?.map((k) => (typeof k === 'number' ? k - 1 : source.columns.findIndex((c) => c.name === k)));
  const usable = keyColumns && keyColumns.every((k) => k >= 0 && k < source.columns.length) ? keyColumns : undefined;
  const order = orderDiff(source.rows, target.rows, rules, usable);
  return { match: order === undefined, comparedAs: usable ? 'ordered, ties as multisets' : 'ordered', differences: order ? [order] : [], differingRows: 0 };
}

function columnRule(sourceType: number, targetType: number, tolerance: number): ColumnRule {
  const kind: Kind = NUMBER_TYPES.has(sourceType) && NUMBER_TYPES.has(targetType) ? 'number'
    : TIME_TYPES.has(sourceType) && TIME_TYPES.has(targetType) ? 'time' : 'text';
  const nulls = (a: string | null, b: string | null) => (a === null ? (b === null ? 0 : 1) : -1);
  if (kind === 'number') {
    return {
      kind,
      equal: (a, b) => (a === null || b === null ? a === b : a === b || numbersEqual(a, b, tolerance)),
      order: (a, b) => (a === null || b === null ? nulls(a, b) : numberOrder(a, b)),
    };
  }
  if (kind === 'time') {
    const value = (t: string) => instant(t) ?? t;
    return {
      kind,
      equal: (a, b) => (a === null || b === null ? a === b : a === b || value(a) === value(b)),
      order: (a, b) => {
        if (a === null || b === null) return nulls(a, b);
        const x = value(a);
        const y = value(b);
        if (typeof x === 'bigint' && typeof y === 'bigint') return x < y ? -1 : x > y ? 1 : 0;
        return typeof x === 'bigint' ? -1 : typeof y === 'bigint' ? 1 : x < y ? -1 : x > y ? 1 : 0;
      },
    };
  }
  return {
    kind,
    equal: (a, b) => a === b,
    order: (a, b) => (a === null || b === null ? nulls(a, b) : a < b ? -1 : a > b ? 1 : 0),
  };
}

/** Exact when both decimal texts are the same number; else within the relative tolerance. */
function numbersEqual(a: string, b: string, tolerance: number): boolean {
  if (canonicalDecimal(a) === canonicalDecimal(b)) return true;
  const x = Number(a);
  const y = Number(b);
  if (Number.isNaN(x) || Number.isNaN(y)) return false;
  if (!Number.isFinite(x) || !Number.isFinite(y)) return x === y;
  return Math.abs(x - y) <= tolerance * Math.max(1, Math.abs(x), Math.abs(y));
}

/** "1.50" and "1.5", "-0" and "0", "1e3" stays itself: one text per decimal value written without exponent. */
function canonicalDecimal(t: string): string {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(t.trim());
  if (!m) return t.trim();
  const whole = (m[2] ?? '').replace(/^0+(?=\d)/, '') || '0';
  const fraction = (m[3] ?? '').replace(/0+$/, '');
  const sign = m[1] === '-' && (whole !== '0' || fraction !== '') ? '-' : '';
  return `${sign}${whole}${fraction ? `.${fraction}` : ''}`;
}

function numberOrder(a: string, b: string): number {
  const x = Number(a);
  const y = Number(b);
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) ? (Number.isNaN(y) ? 0 : 1) : -1;
  if (x !== y) return x < y ? -1 : 1;
  // Equal as doubles: keep exact decimals apart so the order stays total.
  const ca = canonicalDecimal(a);
  const cb = canonicalDecimal(b);
  return ca < cb ? -1 : ca > cb ? 1 : 0;
}

/**
 * Microseconds since 1970 for PostgreSQL's ISO output (`2024-01-01 12:00:00.5+00`, or
 * without a zone for timestamp), or undefined for what is not one (infinity, BC).
 */
export function instant(text: string): bigint | undefined {
  const m = /^(\d{4,})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?|Z)?$/.exec(text);
  if (!m) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  date.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), 0);
  const offsetSeconds = m[8] ? (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0)) : 0;
  return BigInt(date.getTime() - offsetSeconds * 1000) * 1000n + BigInt((m[7] ?? '').padEnd(6, '0') || '0');
}

function rowOrder(rules: readonly ColumnRule[]) {
  return (a: ResultRow, b: ResultRow) => {
    for (let i = 0; i < rules.length; i++) {
      const c = (rules[i] as ColumnRule).order(a[i] ?? null, b[i] ?? null);
      if (c !== 0) return c;
    }
    return 0;
  };
}

function rowsEqual(rules: readonly ColumnRule[], a: ResultRow, b: ResultRow, only?: readonly number[]): boolean {
  const columns = only ?? rules.map((_, i) => i);
  return columns.every((i) => (rules[i] as ColumnRule).equal(a[i] ?? null, b[i] ?? null));
}

/** Sorts both sides and walks them together: rows only on one side, with neighbours that differ in a few columns paired as "changed". */
function multisetDiff(source: ResultRow[], target: ResultRow[], rules: ColumnRule[], columns: ResultColumn[], limit: number) {
  const order = rowOrder(rules);
  const index = (rows: ResultRow[]) => rows.map((row, i) => ({ row, position: i + 1 })).sort((a, b) => order(a.row, b.row));
  const a = index(source);
  const b = index(target);
  const onlySource: typeof a = [];
  const onlyTarget: typeof b = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (x && y && rowsEqual(rules, x.row, y.row)) {
      i++;
      j++;
    } else if (x && (!y || order(x.row, y.row) < 0)) {
      onlySource.push(x);
      i++;
    } else if (y) {
      onlyTarget.push(y);
      j++;
    }
  }
  const differences: RowDifference[] = [];
  const paired = new Set<number>();
  for (const s of onlySource) {
    if (differences.length >= limit) break;
    // A changed value: the target-only row that differs from it in the fewest columns, if it shares at least half.
    let best = -1;
    let bestCount = Infinity;
    onlyTarget.forEach((t, n) => {
      const count = paired.has(n) ? Infinity : differingColumns(rules, s.row, t.row).length;
      if (count < bestCount) {
        best = n;
        bestCount = count;
      }
    });
    const t = bestCount < columns.length && bestCount <= Math.ceil(columns.length / 2) ? onlyTarget[best] : undefined;
    if (t) {
      paired.add(best);
      const names = differingColumns(rules, s.row, t.row).map((c) => `${columns[c]?.name}: ${s.row[c] ?? 'NULL'} vs ${t.row[c] ?? 'NULL'}`);
      differences.push({ kind: 'changed', sourceRow: s.position, targetRow: t.position, source: s.row, target: t.row, detail: `differs in ${names.join('; ')}` });
    } else {
      differences.push({ kind: 'only-in-source', sourceRow: s.position, source: s.row, detail: 'missing in the target' });
    }
  }
  onlyTarget.forEach((t, n) => {
    if (!paired.has(n) && differences.length < limit) differences.push({ kind: 'only-in-target', targetRow: t.position, target: t.row, detail: 'only in the target' });
  });
  return { differences, differingRows: onlySource.length + onlyTarget.length };
}

function differingColumns(rules: readonly ColumnRule[], a: ResultRow, b: ResultRow): number[] {
  return rules.flatMap((rule, i) => (rule.equal(a[i] ?? null, b[i] ?? null) ? [] : [i]));
}

/** Same rows, same order? With key columns, rows whose keys are equal may come in any order. */
function orderDiff(source: ResultRow[], target: ResultRow[], rules: ColumnRule[], keys: number[] | undefined): RowDifference | undefined {
  for (let i = 0; i < source.length; i++) {
    const a = source[i] as ResultRow;
    const b = target[i] as ResultRow;
    if (!rowsEqual(rules, a, b, keys)) {
      return {
        kind: 'order', sourceRow: i + 1, targetRow: i + 1, source: a, target: b,
        detail: keys ? 'the same rows in another order (their ORDER BY keys differ at this position)'
          : 'the same rows in another order (if the ORDER BY leaves ties, order by output column names or positions so compare can tell ties apart)',
      };
    }
  }
  return undefined;
}
