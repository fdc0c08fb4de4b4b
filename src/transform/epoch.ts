/**
 * Epoch numbers to timestamps: `1695036737000` in ms becomes
 * `2023-09-18T11:32:17Z`. Exact for every unit (BigInt arithmetic, no float rounding);
 * fractions finer than the unit are cut, and PostgreSQL rounds what is finer than a
 * microsecond. The result has a `Z`, so it means the same instant in a `timestamptz`
 * column and the UTC wall time in a `timestamp` column.
 */
export const EPOCH_UNITS = ['s', 'ms', 'us', 'ns'] as const;
export type EpochUnit = (typeof EPOCH_UNITS)[number];

const UNIT_DIGITS: Record<EpochUnit, number> = { s: 0, ms: 3, us: 6, ns: 9 };
const NUMBER = /^\s*([+-]?)(\d+)(?:\.(\d*))?\s*$/;
const NS_PER_S = 1_000_000_000n;
/** Years 1 to 9999: what toISOString prints in the plain form PostgreSQL reads. */
const MIN_S = -62_135_596_800n;
const MAX_S = 253_402_300_799n;

/** Converts one value; throws a RangeError with a readable message on bad input. */
export function epochToTimestamp(value: string, unit: EpochUnit): string {
  const match = NUMBER.exec(value);
  if (!match) throw new RangeError(`"${value}" is not an epoch number`);
  const [, sign, whole = '0', fraction = ''] = match;
  const scale = 9 - UNIT_DIGITS[unit];
  let ns = BigInt(whole) * 10n ** BigInt(scale) + BigInt(fraction.slice(0, scale).padEnd(scale, '0') || '0');
  if (sign === '-') ns = -ns;
  let seconds = ns / NS_PER_S;
  let nanos = ns % NS_PER_S;
  if (nanos < 0n) {
    seconds -= 1n;
    nanos += NS_PER_S;
  }
  if (seconds < MIN_S || seconds > MAX_S) throw new RangeError(`${value} ${unit} is outside the years 1 to 9999`);
  const iso = new Date(Number(seconds) * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  if (nanos === 0n) return `${iso.slice(0, 19)}Z`;
  return `${iso.slice(0, 19)}.${nanos.toString().padStart(9, '0').replace(/0+$/, '')}Z`;
}
