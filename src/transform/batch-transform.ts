/**
 * One batch through the transform: decode the input bytes, run every row through the
 * pipeline, encode the output rows as PostgreSQL text format. A row that fails is
 * handled by `--on-error`: `stop` returns it as the batch's error, `skip` and
 * `reject` set it aside (reject keeps its raw bytes for the rejects file). Runs in a
 * worker thread (worker.ts) or inline; the code is the same.
 */
import { crc32 } from 'node:zlib';
import { HyperfillError } from '../errors.js';
import { decodeRecords, type InputDialect, RecordIndex } from './decode.js';
import type { MappingSpec } from './mapping.js';
import { createPipeline, type Pipeline, type TransformContext, type UserTransform } from './pipeline.js';
import { RowError } from './row-error.js';
import { OutputBuffer } from './output-buffer.js';
import { errorText } from './user-module.js';

export type OnError = 'stop' | 'skip' | 'reject';

/** Everything a worker needs besides the batches; plain data (it is the pool's workerData). */
export interface TransformConfig {
  /** The user module, when there is one: a URL to import, and the name for messages. */
  module?: { url: string; name: string } | undefined;
  inputColumns: string[];
  /** Target column types by name. */
  types: Record<string, string>;
  mappings: MappingSpec;
  dialect: InputDialect;
  onError: OnError;
}

/** One batch's bytes and position. */
export interface BatchInput {
  data: Uint8Array;
  inputName: string;
  inputIndex: number;
  seq: number;
  firstLine: number;
  lastLine: number;
  firstRow: number;
  /** Compute the CRC of the input bytes (for --import-id). */
  crc: boolean;
}

/** A row set aside or failed: where it was, why, and its bytes as they were in the input. */
export interface RowProblem {
  /** 1-based input line where the record starts; undefined when it cannot be told. */
  line: number | undefined;
  /** 1-based row among the input's loaded rows. */
  row: number;
  reason: string;
  /** The record's input bytes (line end included), for the rejects file and messages. */
  raw: Uint8Array | undefined;
}

export interface BatchResult {
  /** PostgreSQL text format, one line per output row: the first `bytes` bytes of `data`. */
  data: ArrayBuffer;
  bytes: number;
  rows: number;
  rowsIn: number;
  /** Input rows the transform dropped (returned null or []). */
  dropped: number;
  /** Rows set aside by --on-error skip or reject. */
  setAside: number;
  /** Rows set aside, with their bytes (reject), or only the first one (skip, for the summary). */
  problems: RowProblem[];
  /** --on-error stop: the failing row; nothing else in this result counts then. */
  error?: RowProblem | undefined;
  /** Input record (0-based within the batch) of each output row, when it is not the identity. */
  rowMap?: Int32Array | undefined;
  /** CRC-32 of the input bytes, when asked. */
  sourceCrc?: number | undefined;
}

export class BatchTransformer {
  private constructor(private readonly config: TransformConfig, private readonly pipeline: Pipeline, private readonly user: UserTransform | undefined) {}

  /** Builds the pipeline and runs the module's setup(ctx) once. */
  static async create(config: TransformConfig, user: UserTransform | undefined, threadId: number): Promise<BatchTransformer> {
    const pipeline = createPipeline(config.inputColumns, config.mappings, user, config.types);
    if (user?.setup) {
      try {
        await user.setup({ columns: pipeline.rowColumns, types: config.types, outputColumns: pipeline.outputColumns, threadId });
      } catch (err) {
        throw new HyperfillError('E_TRANSFORM_SETUP', `setup() of the transform ${user.name} failed: ${errorText(err)}${userFrame(err, config.module?.url)}`,
          { transform: user.name });
      }
    }
    return new BatchTransformer(config, pipeline, user);
  }

  get outputColumns(): string[] {
    return this.pipeline.outputColumns;
  }

  async run(input: BatchInput): Promise<BatchResult> {
    const { dialect, onError } = this.config;
    const bytes = Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength);
    let index: RecordIndex | undefined;
    const getIndex = () => (index ??= RecordIndex.build(bytes, dialect));
    const records = decodeRecords(bytes, dialect, getIndex);
    // When the decoder split records its own way (csv-parse), a line is named only if the counts agree.
    const aligned = () => records.count === undefined || getIndex().count === records.count;
    const lineOf = (i: number): number | undefined => {
      const rel = aligned() ? getIndex().lines[i] : undefined;
      return rel === undefined ? undefined : input.firstLine + rel - 1;
    };
    const ctx = new BatchContext(input, lineOf, this.pipeline, this.config.types);
    const out = new OutputBuffer(bytes.length + (bytes.length >> 2) + 64);
    let rows = 0;
    let dropped = 0;
    let setAside = 0;
    const problems: RowProblem[] = [];
    let rowMap: number[] | undefined;

    let i = 0;
    for (let fields = records.next(); fields !== undefined; fields = records.next(), i++) {
      ctx.index = i;
      ctx.row = input.firstRow + i;
      try {
        const decodeError = records.error(i);
        if (decodeError !== undefined) throw new RowError(decodeError);
        let produced = this.pipeline.process(fields, ctx, out);
        if (typeof produced !== 'number') produced = await produced;
        if (produced !== 1) {
          rowMap ??= identity(rows);
          if (produced === 0) dropped++;
        }
        if (rowMap) for (let k = 0; k < produced; k++) rowMap.push(i);
        rows += produced;
      } catch (err) {
        const problem: RowProblem = {
          line: lineOf(i), row: input.firstRow + i, reason: this.reason(err),
          raw: aligned() ? new Uint8Array(getIndex().raw(i)) : undefined,
        };
        if (onError === 'stop') return { data: new ArrayBuffer(0), bytes: 0, rows: 0, rowsIn: i + 1, dropped: 0, setAside: 0, problems: [], error: problem };
        setAside++;
        if (onError === 'reject' || problems.length === 0) problems.push(problem);
        rowMap ??= identity(rows);
      }
    }
    const output = out.finish();
    return {
      data: output.buffer, bytes: output.length, rows, rowsIn: i, dropped, setAside, problems,
      rowMap: rowMap && Int32Array.from(rowMap), sourceCrc: input.crc ? crc32(bytes) : undefined,
    };
  }

  private reason(err: unknown): string {
    if (err instanceof RowError || err instanceof HyperfillError) return err.message;
    if (err instanceof TypeError && /NUL byte/.test(err.message)) return err.message;
    const name = this.user?.name ?? 'transform';
    const thrown = err instanceof Error ? `${err.name}: ${err.message}` : `${typeof err} ${String(err)}`;
    return `the transform ${name} threw ${thrown}${userFrame(err, this.config.module?.url)}`;
  }
}

function identity(n: number): number[] {
  return Array.from({ length: n }, (_, k) => k);
}

/** " (at transform.mjs:12:9)": the first stack frame inside the user's module. */
function userFrame(err: unknown, url: string | undefined): string {
  if (!url || !(err instanceof Error) || !err.stack) return '';
  const file = url.slice(url.lastIndexOf('/') + 1);
  const frame = err.stack.split('\n').find((l) => l.includes(url));
  const at = frame?.match(/:(\d+):(\d+)\)?\s*$/);
  return at ? ` (at ${file}:${at[1]}:${at[2]})` : '';
}

/** The transform's ctx: one object per batch, its row fields updated before each call. */
class BatchContext implements TransformContext {
  index = 0;
  row = 0;
  readonly inputName: string;
  readonly inputIndex: number;
  readonly batch: number;
  readonly columns: readonly string[];
  readonly outputColumns: readonly string[];

  constructor(private readonly input: BatchInput, private readonly lineOf: (i: number) => number | undefined, pipeline: Pipeline,
    readonly types: Readonly<Record<string, string>>) {
    this.inputName = input.inputName;
    this.inputIndex = input.inputIndex;
    this.batch = input.seq;
    this.columns = pipeline.rowColumns;
    this.outputColumns = pipeline.outputColumns;
  }

  get line(): number {
    return this.lineOf(this.index) ?? this.input.firstLine;
  }
}
