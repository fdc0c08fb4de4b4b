/**
 * The one layout of every command's --help: usage lines, what the command does, then the
 * flags by section, each flag in the same columns with its description wrapped beside it,
 * then notes. Commands describe their flags as data; only this file decides the layout.
 */

export interface HelpSection {
  /** "Input", "Target", ... (default "Options"). */
  title?: string;
  /**
   * [flag, description]: the flag as typed with its value's name (`--file PATH`, `-f, --file PATH`);
   * the description in plain words, wrapped here (a "\n" in it starts a new line).
   */
  flags: Array<[string, string]>;
}

export interface CommandHelp {
  /** What follows "hyperfill " on each usage line; a line starting with a space continues the one before. */
  usage: string[];
  /** What the command does: prose as written (already wrapped). */
  about: string;
  sections: HelpSection[];
  /** Paragraphs after the flags (already wrapped). */
  notes?: string[];
}

/** Where descriptions start, and where lines end. */
export const FLAG_COLUMN = 30;
export const HELP_WIDTH = 100;

export function formatHelp(help: CommandHelp): string {
  const usage = help.usage.map((line, i) => (line.startsWith(' ') ? `${' '.repeat(7)}${line}` : `${i === 0 ? 'Usage: ' : '       '}hyperfill ${line}`)).join('\n');
  const sections = help.sections.map((section, i) => {
    const flags = i === help.sections.length - 1 ? [...section.flags, ['-h, --help', 'print this help'] as [string, string]] : section.flags;
    return [section.title ?? 'Options', ...flags.map(([flag, text]) => formatFlag(flag, text))].join('\n');
  });
  return [usage, help.about, ...sections, ...(help.notes ?? [])].join('\n\n');
}

function formatFlag(flag: string, text: string): string {
  const head = `  ${/^-\w, /.test(flag) ? '' : '    '}${flag}`;
  const lines = text.split('\n').flatMap((part) => wrap(part, HELP_WIDTH - FLAG_COLUMN));
  const indent = ' '.repeat(FLAG_COLUMN);
  const first = head.length <= FLAG_COLUMN - 2 ? `${head.padEnd(FLAG_COLUMN)}${lines[0] ?? ''}` : `${head}\n${indent}${lines[0] ?? ''}`;
  return [first, ...lines.slice(1).map((l) => `${indent}${l}`)].join('\n').trimEnd();
}

/** Words into lines of at most `width` characters (a longer word gets a line of its own). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/ +/).filter((w) => w !== '')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '' || lines.length === 0) lines.push(line);
  return lines;
}
