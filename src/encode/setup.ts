/**
 * Decides a copy run's encoding once, on the control connection: reads the session
 * settings, plans the columns, and reads the zone table when zone-less timestamptz
 * values may need it. `auto` falls back to the input bytes (undefined) where binary
 * cannot be exact; `binary` makes that an error; `text` asks nothing.
 */
import type pg from 'pg';
import { type ColumnType, needsZone } from './column-types.js';
import { binaryUnavailable, type DialectFlags, type EncodingMode, type EncodingPlan, planEncoding } from './plan.js';
import { readSessionSettings, readZoneTable } from './session.js';

export interface EncodingChoice {
  plan: EncodingPlan | undefined;
  /** Why the run sends its input bytes as they are, when it does. */
  reason: string | undefined;
}

export async function chooseEncoding(client: pg.Client, mode: EncodingMode, flags: DialectFlags, columns: readonly ColumnType[]): Promise<EncodingChoice> {
  if (mode === 'text') return { plan: undefined, reason: '--encoding text' };
  const session = await readSessionSettings(client);
  const plan = planEncoding(flags, columns, session);
  if (typeof plan === 'string') {
    if (mode === 'binary') throw binaryUnavailable(plan);
    return { plan: undefined, reason: plan };
  }
  const zone = needsZone(plan.columns) ? await readZoneTable(client, session.timeZone) : undefined;
  return { plan: { ...plan, zone }, reason: undefined };
}
