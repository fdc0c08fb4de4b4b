/**
 * ClickHouse prints tuples, maps and nested arrays as SQL-style literals inside a
 * TabSeparated field: `(1,'a\'b',NULL)`, `[[1,2],[3]]`, `{'k':1}`. This turns one such
 * field into JSON text for a jsonb column, guided by the column's type:
 * tuples become arrays (objects when their elements are named), maps objects (keys as
 * strings), strings JSON strings, numbers stay as printed (jsonb keeps them exact, even
 * UInt64), and nan/inf, which JSON lacks, become the strings "NaN", "Infinity", "-Infinity".
 * Pure functions: safe to run in a worker thread.
 */
import { type ChType } from './types.js';

/** Thrown for a value PostgreSQL cannot store; the caller adds row and column. */
export class LiteralError extends Error {
  constructor(message: string, readonly kind: 'nul' | 'syntax') {
    super(message);
  }
}

const QUOTED_ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', '0': '\0', a: '\x07', v: '\v', e: '\x1b' };

class LiteralReader {
  pos = 0;
  constructor(private readonly s: string) {}

  fail(why: string): never {
    throw new LiteralError(`cannot read the ClickHouse value ${JSON.stringify(this.s.slice(0, 200))}: ${why} at offset ${this.pos}`, 'syntax');
  }

  expect(c: string): void {
    if (this.s[this.pos] !== c) this.fail(`expected "${c}"`);
    this.pos++;
  }

  /** One value of `type`, as JSON text. */
  value(type: ChType): string {
    if (this.s.startsWith('NULL', this.pos)) {
      this.pos += 4;
      return 'null';
    }
    switch (type.kind) {
      case 'nullable': case 'lowcardinality': return this.value(type.inner);
      case 'array': {
        this.expect('[');
        const items: string[] = [];
        if (this.s[this.pos] === ']') {
          this.pos++;
          return '[]';
        }
        for (;;) {
          items.push(this.value(type.inner));
          if (this.s[this.pos] === ']') break;
          this.expect(',');
        }
        this.pos++;
        return `[${items.join(',')}]`;
      }
      case 'tuple': {
        this.expect('(');
        const items: string[] = [];
        for (let i = 0; ; i++) {
          const element = type.elements[i];
          if (!element) this.fail('more tuple elements than the type has');
          items.push(this.value(element.type));
          if (this.s[this.pos] === ')') break;
          this.expect(',');
        }
        this.pos++;
        if (items.length !== type.elements.length) this.fail('fewer tuple elements than the type has');
        if (type.elements.every((e) => e.name !== undefined)) {
          return `{${type.elements.map((e, i) => `${JSON.stringify(e.name)}:${items[i]}`).join(',')}}`;
        }
        return `[${items.join(',')}]`;
      }
      case 'map': {
        this.expect('{');
        const entries: string[] = [];
        if (this.s[this.pos] === '}') {
          this.pos++;
          return '{}';
        }
        for (;;) {
          const key = this.value(type.key);
          this.expect(':');
          const value = this.value(type.value);
          // JSON keys are strings: a number key 1 becomes "1".
          entries.push(`${key.startsWith('"') ? key : JSON.stringify(key)}:${value}`);
          if (this.s[this.pos] === '}') break;
          this.expect(',');
        }
        this.pos++;
        return `{${entries.join(',')}}`;
      }
      default:
        return this.s[this.pos] === "'" ? JSON.stringify(this.quoted()) : this.bare();
    }
  }

  /** A single-quoted string with backslash escapes. */
  quoted(): string {
    this.pos++;
    let out = '';
    let start = this.pos;
    for (;;) {
      const i = this.nextSpecial(start);
      if (i === -1) this.fail('unterminated string');
      out += this.s.slice(start, i);
      if (this.s[i] === "'") {
        this.pos = i + 1;
        break;
      }
      const e = this.s[i + 1];
      if (e === undefined) this.fail('dangling backslash');
      const ch = QUOTED_ESCAPES[e] ?? e;
      if (ch === '\0') throw new LiteralError('the value holds a NUL byte (\\0), which PostgreSQL text cannot store', 'nul');
      out += ch;
      start = i + 2;
    }
    return out;
  }

  private nextSpecial(from: number): number {
    for (let i = from; i < this.s.length; i++) {
      const c = this.s.charCodeAt(i);
      if (c === 39 /* ' */ || c === 92 /* \ */) return i;
    }
    return -1;
  }

  /** A number, bool or nan/inf: up to the next delimiter. */
  bare(): string {
    const start = this.pos;
    while (this.pos < this.s.length && !',)]}:'.includes(this.s[this.pos] as string)) this.pos++;
    const token = this.s.slice(start, this.pos);
    if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(token)) return token;
    if (token === 'true' || token === 'false') return token;
    if (/^[-+]?nan$/i.test(token)) return '"NaN"';
    if (/^\+?inf(inity)?$/i.test(token)) return '"Infinity"';
    if (/^-inf(inity)?$/i.test(token)) return '"-Infinity"';
    if (token === '') this.fail('expected a value');
    return JSON.stringify(token);
  }
}

/** One TabSeparated field (as ClickHouse printed it, `\N` for NULL) → JSON text, or null for NULL. */
export function literalToJson(field: string, type: ChType): string | null {
  if (field === '\\N') return null;
  const reader = new LiteralReader(field);
  const json = reader.value(type);
  if (reader.pos !== field.length) reader.fail('unexpected text after the value');
  return json;
}
