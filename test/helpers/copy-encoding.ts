/**
 * HYPERFILL_TEST_COPY_ENCODING=binary (or text) runs every `copy` a test starts with
 * that --encoding, unless the test chose one itself or uses a transform (which always
 * sends text): `npm run test:copy-encodings` runs the copy tests this way, so each of
 * them also passes with binary encoding forced.
 */
const TRANSFORM_FLAGS = ['--transform', '--map', '--drop', '--set', '--epoch', '--json-path', '--mapping'];

export function withTestEncoding(args: string[]): string[] {
  const encoding = process.env.HYPERFILL_TEST_COPY_ENCODING;
  if (!encoding || args[0] !== 'copy' || args.includes('--help') || args.some((a) => a === '--encoding' || TRANSFORM_FLAGS.includes(a))) return args;
  return [...args, '--encoding', encoding];
}
