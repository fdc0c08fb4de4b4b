/**
 * After the load, each candidate becomes a hypertable while it is still empty (the
 * dump left its data out). One transaction per table; a table that is a hypertable
 * already is left as it is, so a rerun converts only what is left.
 */
import type pg from 'pg';
import { HyperfillError } from '../errors.js';
import { serverMessage } from '../pg-errors.js';
import { createHypertableSql, intervalLabel } from '../schema/ddl.js';
import { qualifiedName } from '../sql.js';
import { type TimescaleInstall, hypertableTimeDimension, versionAtLeast } from '../target/timescale.js';
import type { Candidate } from './candidates.js';


export interface Conversion {
  table: string;
  /** "created (chunk interval 1 day)" or "a hypertable already". */
  outcome: string;
}

export async function convertCandidates(target: pg.Client, candidates: Candidate[], timescale: TimescaleInstall): Promise<Conversion[]> {
  const done: Conversion[] = [];
  const byRange = versionAtLeast(timescale.version, '2.13.0');
  for (const c of candidates) {
    const name = `${c.table.schema}.${c.table.table}`;
    if (await hypertableTimeDimension(target, c.table)) {
      done.push({ table: name, outcome: 'a hypertable already' });
      continue;
    }
    const rows = await target.query(`SELECT EXISTS (SELECT 1 FROM ${qualifiedName(c.table.schema, c.table.table)}) AS any`);
    if (rows.rows[0].any) {
      throw new HyperfillError('E_HYPERTABLE_NOT_EMPTY', `${name} has rows in the target, so it cannot become a hypertable as an empty table`, { table: name },
        'dual-write may have begun before the clone finished: empty the table (the backfill brings the rows) and rerun clone with --if-exists skip');
    }
    try {
      await target.query(createHypertableSql(c.table, c.timeColumn, c.timeType, c.interval.value, byRange, timescale.schema));
    } catch (err) {
      throw new HyperfillError('E_HYPERTABLE_CREATE', `create_hypertable refused ${name}: ${serverMessage(err)}`, { table: name },
        'the tables before it are hypertables already; fix the cause and rerun clone with --if-exists skip', err);
    }
    done.push({ table: name, outcome: `created on "${c.timeColumn}", chunk interval ${intervalLabel(c.interval.value, c.timeType)} (${c.interval.reason})` });
  }
  return done;
}
