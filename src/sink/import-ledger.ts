/**
 * Exactly-once resume for `copy --import-id`. Each committed batch is recorded in a
 * control table in the target, inside the same transaction as its COPY, so "committed"
 * and "recorded" can never disagree. A rerun skips recorded batches after checking
 * that they are the same bytes (a CRC), so a changed input is an error, not a hole.
 * Rows set aside for the rejects file (--on-error reject) are recorded in the same
 * transaction, so a rerun writes the rejects of the batches it skips from here: the
 * rejects file ends with each rejected row once, however often the import was interrupted.
 */
import { crc32 } from 'node:zlib';
import type pg from 'pg';
import type { EncodedBatch } from '../batch.js';
import { HyperfillError } from '../errors.js';
import { ensureControlTables } from '../pg/control-schema.js';
import { qualifiedName } from '../sql.js';
import type { RowProblem } from '../transform/batch-transform.js';

export interface LedgerSettings {
  target: string;
  [key: string]: string | number | boolean | undefined;
}

interface CommittedBatch {
  rows: number;
  bytes: number;
  crc: number;
}

const key = (input: number, seq: number) => `${input}:${seq}`;

export class ImportLedger {
  private committed = new Map<string, CommittedBatch>();
  private readonly imports: string;
  private readonly batches: string;
  private readonly rejects: string;

  private constructor(readonly importId: string, readonly schema: string) {
    this.imports = qualifiedName(schema, 'copy_import');
    this.batches = qualifiedName(schema, 'copy_batch');
    this.rejects = qualifiedName(schema, 'copy_reject');
  }

  /**
   * Creates the control tables if needed and loads what earlier runs committed. Two
   * processes on one import id stay exactly-once: the batch table's primary key makes
   * the second commit of a batch fail, and that batch is then counted as skipped.
   */
  static async open(control: pg.Client, importId: string, schema: string, settings: LedgerSettings): Promise<ImportLedger> {
    const ledger = new ImportLedger(importId, schema);
    await ledger.createTables(control);
    await ledger.checkSettings(control, settings);
    const rows = await control.query(`SELECT input_index, batch, rows, bytes, crc32 FROM ${ledger.batches} WHERE import_id = $1`, [importId]);
    for (const r of rows.rows) ledger.committed.set(key(r.input_index, r.batch), { rows: Number(r.rows), bytes: Number(r.bytes), crc: Number(r.crc32) });
    return ledger;
  }

  get committedBatches(): number {
    return this.committed.size;
  }

  /** True when an earlier run committed this batch; an error when it did so with other bytes. */
  isCommitted(batch: EncodedBatch): boolean {
    const done = this.committed.get(key(batch.inputIndex, batch.seq));
    if (!done) return false;
    if (done.rows !== batch.rows || done.bytes !== batch.data.length || done.crc !== (batch.sourceCrc ?? crc32(batch.data))) {
      throw new HyperfillError('E_IMPORT_INPUT_CHANGED',
        `the input differs from what import "${this.importId}" committed earlier (batch ${batch.seq}: ${done.rows} rows then, ${batch.rows} now)`,
        { file: batch.inputName, line: batch.firstLine, batch: batch.seq },
        'resume with exactly the same input and batch flags, or start a new --import-id (after removing the rows already loaded)');
    }
    return true;
  }

  /**
   * Records a batch inside its transaction, before COMMIT. False when another process
   * recorded it first (it waited on that row lock, then hit the key): roll back then.
   */
  async record(client: pg.Client, batch: EncodedBatch, rejected: readonly RowProblem[] = []): Promise<boolean> {
    const r = await client.query(
      `INSERT INTO ${this.batches} (import_id, input_index, batch, input_name, first_line, last_line, rows, bytes, crc32) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
      [this.importId, batch.inputIndex, batch.seq, batch.inputName, batch.firstLine, batch.lastLine, batch.rows, batch.data.length, batch.sourceCrc ?? crc32(batch.data)],
    );
    if (r.rowCount !== 1) return false;
    if (rejected.length > 0) {
      await client.query(
        `INSERT INTO ${this.rejects} (import_id, input_index, batch, n, line, row, reason, raw)
         SELECT $1, $2, $3, r.n, r.line, r.row, r.reason, r.raw FROM unnest($4::bigint[], $5::bigint[], $6::text[], $7::bytea[]) WITH ORDINALITY AS r(line, row, reason, raw, n)`,
        [this.importId, batch.inputIndex, batch.seq, rejected.map((p) => p.line ?? null), rejected.map((p) => p.row), rejected.map((p) => p.reason),
          rejected.map((p) => (p.raw ? Buffer.from(p.raw.buffer, p.raw.byteOffset, p.raw.byteLength) : null))],
      );
    }
    return true;
  }

  /**
   * The rows earlier runs set aside, batch by batch in input order, `page` rows at a
   * time (memory stays bounded however many there are).
   */
  async eachReject(control: pg.Client, add: (inputName: string, problems: RowProblem[]) => void, page = 10_000): Promise<void> {
    let after = [-1, -1, -1];
    for (;;) {
      const r = await control.query(
        `SELECT j.input_index, j.batch, j.n, b.input_name, j.line, j.row, j.reason, j.raw FROM ${this.rejects} j
         JOIN ${this.batches} b USING (import_id, input_index, batch)
         WHERE j.import_id = $1 AND (j.input_index, j.batch, j.n) > ($2, $3, $4) ORDER BY j.input_index, j.batch, j.n LIMIT $5`,
        [this.importId, ...after, page],
      );
      for (const x of r.rows) {
        add(x.input_name, [{ line: x.line === null ? undefined : Number(x.line), row: Number(x.row), reason: x.reason, raw: x.raw ?? undefined }]);
      }
      const last = r.rows[r.rows.length - 1];
      if (!last || r.rows.length < page) return;
      after = [last.input_index, last.batch, Number(last.n)];
    }
  }

  /** After a lost connection: did this batch's transaction commit? */
  async wasRecorded(client: pg.Client, batch: EncodedBatch): Promise<boolean> {
    const r = await client.query(`SELECT 1 FROM ${this.batches} WHERE import_id = $1 AND input_index = $2 AND batch = $3`, [this.importId, batch.inputIndex, batch.seq]);
    return (r.rowCount ?? 0) > 0;
  }

  async markComplete(control: pg.Client, rows: number): Promise<void> {
    await control.query(`UPDATE ${this.imports} SET completed_at = now(), total_rows = $2 WHERE import_id = $1`, [this.importId, rows]);
  }

  private async createTables(control: pg.Client): Promise<void> {
    await ensureControlTables(control, this.schema, [
      `CREATE TABLE IF NOT EXISTS ${this.imports} (
        import_id text PRIMARY KEY, settings jsonb NOT NULL, total_rows bigint,
        started_at timestamptz NOT NULL DEFAULT now(), completed_at timestamptz)`,
      `CREATE TABLE IF NOT EXISTS ${this.batches} (
        import_id text NOT NULL REFERENCES ${this.imports} ON DELETE CASCADE, input_index int NOT NULL, batch int NOT NULL,
        input_name text NOT NULL, first_line bigint NOT NULL, last_line bigint NOT NULL, rows bigint NOT NULL, bytes bigint NOT NULL,
        crc32 bigint NOT NULL, committed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (import_id, input_index, batch))`,
      `CREATE TABLE IF NOT EXISTS ${this.rejects} (
        import_id text NOT NULL, input_index int NOT NULL, batch int NOT NULL, n bigint NOT NULL,
        line bigint, row bigint NOT NULL, reason text NOT NULL, raw bytea, PRIMARY KEY (import_id, input_index, batch, n),
        FOREIGN KEY (import_id, input_index, batch) REFERENCES ${this.batches} ON DELETE CASCADE)`,
    ]);
  }

  private async checkSettings(control: pg.Client, settings: LedgerSettings): Promise<void> {
    const existing = await control.query(`SELECT settings FROM ${this.imports} WHERE import_id = $1`, [this.importId]);
    if (existing.rowCount === 0) {
      await control.query(`INSERT INTO ${this.imports} (import_id, settings) VALUES ($1, $2)`, [this.importId, JSON.stringify(settings)]);
      return;
    }
    const before = existing.rows[0].settings as LedgerSettings;
    const changed = Object.keys({ ...before, ...settings }).filter((k) => before[k] !== settings[k]);
    if (changed.length > 0) {
      const list = changed.map((k) => `${k}: ${before[k] ?? '(unset)'} then, ${settings[k] ?? '(unset)'} now`).join('; ');
      throw new HyperfillError('E_IMPORT_SETTINGS_CHANGED', `import "${this.importId}" was started with other settings (${list})`, {},
        'resume with the same flags, or choose a new --import-id');
    }
  }
}
