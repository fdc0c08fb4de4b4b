/**
 * Progress on stderr. On a terminal: one live line redrawn a few times a second.
 * Elsewhere: a line every `periodMs` (none when 0), so logs stay quiet by default.
 */
export interface ProgressSnapshot {
  rows: number;
  bytes: number;
  /** Input bytes consumed and the total, when the input size is known: for the ETA. */
  inputDone?: number | undefined;
  inputTotal?: number | undefined;
  /** Extra text, e.g. "windows 3/12". */
  detail?: string | undefined;
}

export interface ProgressOptions {
  stream: NodeJS.WritableStream & { isTTY?: boolean };
  periodMs: number;
  label: string;
}

const TTY_REDRAW_MS = 200;

export class ProgressReporter {
  private timer: NodeJS.Timeout | undefined;
  private readonly started = performance.now();
  private drawn = false;

  constructor(private readonly options: ProgressOptions, private readonly snapshot: () => ProgressSnapshot) {}

  start(): void {
    const tty = this.options.stream.isTTY === true;
    const period = tty ? TTY_REDRAW_MS : this.options.periodMs;
    if (period <= 0) return;
    this.timer = setInterval(() => this.draw(tty), period);
    this.timer.unref();
  }

  /** Prints one line above the live line (for --log-batches and warnings). */
  log(line: string): void {
    this.clear();
    this.options.stream.write(`${line}\n`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clear();
  }

  private clear(): void {
    if (this.drawn) this.options.stream.write('\r\x1b[K');
    this.drawn = false;
  }

  private draw(tty: boolean): void {
    const line = formatProgress(this.options.label, this.snapshot(), (performance.now() - this.started) / 1000);
    if (tty) {
      this.options.stream.write(`\r\x1b[K${line}`);
      this.drawn = true;
    } else {
      this.options.stream.write(`${line}\n`);
    }
  }
}

export function formatProgress(label: string, s: ProgressSnapshot, seconds: number): string {
  const rate = seconds > 0 ? s.rows / seconds : 0;
  const mbps = seconds > 0 ? s.bytes / seconds / 1e6 : 0;
  const parts = [`${label}: ${formatCount(s.rows)} rows`, `${formatCount(rate)} rows/s`, `${mbps.toFixed(1)} MB/s`];
  if (s.detail) parts.push(s.detail);
  if (s.inputTotal && s.inputDone !== undefined && s.inputDone > 0) {
    const fraction = Math.min(1, s.inputDone / s.inputTotal);
    const eta = fraction > 0 ? seconds * (1 - fraction) / fraction : 0;
    parts.push(`${bar(fraction)} ${(fraction * 100).toFixed(1)}%`, `ETA ${formatDuration(eta)}`);
  }
  return parts.join('  ');
}

const BAR_WIDTH = 20;

function bar(fraction: number): string {
  const full = Math.round(fraction * BAR_WIDTH);
  return `[${'#'.repeat(full)}${'.'.repeat(BAR_WIDTH - full)}]`;
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** A plain text table for summaries: columns padded, numbers right-aligned. */
export function formatTable(header: string[], rows: Array<Array<string | number>>): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.every((r) => typeof r[i] === 'number' || /^[\d.,]+[kMG%]?$/.test(String(r[i]))));
  const line = (r: string[]) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n');
}
