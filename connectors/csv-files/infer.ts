/**
 * PostgreSQL types for CSV columns, inferred from sampled values. Empty (NULL) values
 * say nothing about the type. Per column, the first rule that every value meets wins:
 *
 *   boolean            true, false, t, f (any case)
 *   bigint             integers within 64 bits, no leading zero (00123 stays text)
 *   numeric            integers beyond 64 bits, decimals with more than 15 significant digits
 *   double precision   other decimal and exponent numbers, NaN, Infinity
 *   date               YYYY-MM-DD
 *   timestamptz        ISO timestamps (dates allowed) where every timestamp has a zone
 *   timestamp          ISO timestamps of which none has a zone
 *   uuid               8-4-4-4-12 hex digits
 *   jsonb              a JSON object or array
 *   text               everything else, and columns with no value in the sample
 *
 * Integers map to bigint rather than integer: a sample cannot promise that a later
 * row stays within 32 bits. Types are names as format_type prints them.
 */
import { parseInt64 } from '../../src/time-format.js';
import { parseIso } from './time-text.js';

const BOOLEAN = /^(true|false|t|f)$/i;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const SPECIAL_FLOAT = /^([+-]?infinity|nan)$/i;
const LEADING_ZERO = /^[+-]?0\d/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class ColumnSniffer {
  values = 0;
  nulls = 0;
  private boolean = true;
  private integer = true;
  private number = true;
  private exact = false;
  private date = true;
  private timestamp = true;
  private zoned = 0;
  private unzoned = 0;
  private uuid = true;
  private json = true;

  add(value: string | null): void {
    if (value === null) {
      this.nulls++;
      return;
    }
    this.values++;
    if (this.boolean && !BOOLEAN.test(value)) this.boolean = false;
    if (this.number) {
      if (LEADING_ZERO.test(value) || !(NUMBER.test(value) || SPECIAL_FLOAT.test(value))) {
        this.number = false;
        this.integer = false;
      } else {
        if (this.integer && parseInt64(value) === undefined) {
          this.integer = false;
          if (/^[+-]?\d+$/.test(value)) this.exact = true;
        }
        if (significantDigits(value) > 15) this.exact = true;
      }
    }
    if (this.timestamp) {
      const parts = parseIso(value);
      if (!parts) {
        this.timestamp = false;
        this.date = false;
      } else if (parts.hasTime) {
        this.date = false;
        if (parts.hasZone) this.zoned++;
        else this.unzoned++;
      }
    }
    if (this.uuid && !UUID.test(value)) this.uuid = false;
    if (this.json && !isJsonContainer(value)) this.json = false;
  }

  /** The PostgreSQL type, as format_type prints it. */
  type(): string {
    if (this.values === 0) return 'text';
    if (this.boolean) return 'boolean';
    if (this.integer) return 'bigint';
    if (this.number) return this.exact ? 'numeric' : 'double precision';
    if (this.date) return 'date';
    if (this.timestamp && this.unzoned === 0) return 'timestamp with time zone';
    if (this.timestamp && this.zoned === 0) return 'timestamp without time zone';
    if (this.uuid) return 'uuid';
    if (this.json) return 'jsonb';
    return 'text';
  }

  /** True when every value is an integer or a decimal (for epoch time formats). */
  get numeric(): boolean {
    return this.values > 0 && this.number;
  }
}

function significantDigits(value: string): number {
  const mantissa = value.replace(/^[+-]/, '').replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '');
  return mantissa.length;
}

function isJsonContainer(value: string): boolean {
  const first = value.trimStart()[0];
  if (first !== '{' && first !== '[') return false;
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === 'object' && parsed !== null;
  } catch {
    return false;
  }
}
