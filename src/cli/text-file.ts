/**
 * Long input text for commands that take `--text`: `--text-file <path>` reads it from a file and `--text-file -`
 * from stdin, so the text is not bounded by the operating system's per-argument limit (128 KiB on Linux, where a
 * longer `--text` fails before routescope even starts). The text is used exactly as stored (a trailing newline is
 * kept: it is a token too), after dropping a leading UTF-8 byte-order mark. Files that are not text are refused
 * with the byte offset and line of the first problem.
 */
import { readFileSync } from 'node:fs';
import { CliError } from './errors.js';

const BOM = [0xef, 0xbb, 0xbf];

/** Byte offset of the first invalid UTF-8 sequence, or -1. */
function firstInvalidUtf8(bytes: Uint8Array, text: string): number {
  // The lenient decoder turns each invalid sequence into U+FFFD; a U+FFFD that was really in the file is EF BF BD.
  // Before the first invalid sequence every character re-encodes to its own bytes, so the prefix length is exact.
  for (let i = text.indexOf('\uFFFD'); i >= 0; i = text.indexOf('\uFFFD', i + 1)) {
    const at = Buffer.byteLength(text.slice(0, i), 'utf8');
    if (!(bytes[at] === 0xef && bytes[at + 1] === 0xbf && bytes[at + 2] === 0xbd)) return at;
  }
  return -1;
}

function lineOf(bytes: Uint8Array, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
  return line;
}

/** Decodes `bytes` as UTF-8 text; `what` names the source in errors ("--text-file notes.txt"). */
export function decodeText(bytes: Uint8Array, what: string): string {
  const body = BOM.every((b, i) => bytes[i] === b) ? bytes.subarray(BOM.length) : bytes;
  const nul = body.indexOf(0);
  if (nul >= 0) throw new CliError(`${what}: contains a NUL byte at byte ${nul} (line ${lineOf(body, nul)}); is it a binary or UTF-16 file? Give UTF-8 text`);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(body);
  const bad = firstInvalidUtf8(body, text);
  if (bad >= 0) throw new CliError(`${what}: not valid UTF-8 at byte ${bad} (line ${lineOf(body, bad)}); convert it to UTF-8 (e.g. iconv -t UTF-8)`);
  if (text.length === 0) throw new CliError(`${what}: the text is empty`);
  return text;
}

/** Reads `--text-file` (a path, or `-` for stdin) as UTF-8 text; `flag` names the option in errors. */
export function readTextFile(path: string, flag = '--text-file'): string {
  const what = path === '-' ? `${flag} - (stdin)` : `${flag} ${path}`;
  let bytes: Buffer;
  try {
    bytes = readFileSync(path === '-' ? 0 : path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a folder, not a file' : code === 'EACCES' ? 'permission denied' : `cannot read it (${code ?? (err as Error).message})`;
    throw new CliError(`${what}: ${why}`);
  }
  return decodeText(bytes, what);
}
