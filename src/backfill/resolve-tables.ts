/**
 * Turns `--table src[:dst]` and `--tables PATTERN` into matched source and target
 * tables with the columns to copy, checking that nothing would be lost on the way.
 */
import type pg from 'pg';
import { tableColumns } from '../pg/catalog.js';
import { type TableName, displayName, parseTableName, splitOutsideQuotes } from '../pg/table-name.js';
import { HyperfillError } from '../errors.js';
import type { Source } from '../source.js';
import { hypertableTimeDimension, timescaleVersion, versionAtLeast } from '../target/timescale.js';
import type { BackfillTable } from './window-copier.js';

export interface TableSpec {
  source: string;
  target: string;
}

/** "src:dst" or "src" (same name on both sides), split at the last colon outside double quotes. */
export function parseTableSpec(text: string): TableSpec {
  const parts = splitOutsideQuotes(text, ':');
  const target = parts.pop() ?? '';
  const source = parts.join(':');
  return source !== '' && target !== '' ? { source, target } : { source: text, target: text };
}

/** With `transformed`, source columns may be renamed or dropped on the way: only the transform's output must fit. */
export async function resolveTables(source: Source, target: pg.Client, specs: TableSpec[], timeColumn: string | undefined, transformed = false): Promise<BackfillTable[]> {
  const version = await timescaleVersion(target);
  const tables: BackfillTable[] = [];
  for (const spec of specs) {
    const info = await source.describe(spec.source, timeColumn);
    const ref = parseTableName(spec.target);
    const targetColumns = await tableColumns(target, ref, 'target');
    const lost = transformed ? [] : info.columns.filter((c) => !targetColumns.some((t) => t.name === c.name));
    if (lost.length > 0) {
      throw new HyperfillError('E_COLUMNS_INCOMPATIBLE', `target ${displayName(ref)} lacks source column${lost.length > 1 ? 's' : ''} ${lost.map((c) => `"${c.name}"`).join(', ')}`,
        { table: displayName(ref) }, 'add the columns to the target table (hyperfill schema prints DDL), or backfill into a table that has them');
    }
    const required = transformed ? [] : targetColumns.filter((t) => !t.nullable && !t.hasDefault && !info.columns.some((c) => c.name === t.name));
    if (required.length > 0) {
      throw new HyperfillError('E_COLUMNS_INCOMPATIBLE', `target ${displayName(ref)} requires column${required.length > 1 ? 's' : ''} ${required.map((c) => `"${c.name}"`).join(', ')} that the source does not have`,
        { table: displayName(ref) }, 'give them a default or make them nullable in the target');
    }
    const columns = info.columns.map((c) => c.name);
    const targetTypes = columns.map((name) => targetColumns.find((t) => t.name === name)?.pgType ?? '');
    const hypertable = version !== undefined && (await hypertableTimeDimension(target, ref)) !== undefined;
    tables.push({
      key: displayName(ref), source: info, target: ref, columns, targetTypes, targetColumns,
      timeColumn: info.timeColumn, timeType: info.timeType, hypertable,
      decompress: hypertable && version !== undefined && !versionAtLeast(version, '2.11.0'),
    });
  }
  return tables;
}

export async function expandPattern(source: Source, pattern: string): Promise<TableSpec[]> {
  if (!source.listTables) throw new HyperfillError('E_USAGE', `--tables is not supported for ${source.kind} sources`, {}, 'name each table with --table');
  const names = await source.listTables(pattern);
  if (names.length === 0) throw new HyperfillError('E_TABLE_MISSING', `no source table matches "${pattern}"`, {}, 'patterns use LIKE syntax: % for any text, e.g. --tables "public.metrics_%"');
  return names.map((name) => ({ source: name, target: name }));
}

export const targetName = (t: TableName) => displayName(t);
