/** A word a POSIX shell reads back as it is: single-quoted when it holds anything but plain characters. */
export function shellWord(text: string): string {
  return /^[\w.:+@%=,/-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
