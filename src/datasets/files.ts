import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { DatasetError } from './types.js';

/** Dataset language codes: ISO 639-1/3 ("en", "swh"), with optional script ("eng_Latn", "zh-Hans") or region ("pt-BR"). */
const CODE = /^[a-z]{2,3}(?:[_-][A-Z][a-z]{3})?(?:[_-](?:[A-Z]{2}|\d{3}))?$/;

export function checkLanguageCode(code: string, what: string): void {
  if (!CODE.test(code)) {
    throw new DatasetError(`${what}: '${code}' is not a language code (expected ISO 639 like 'en' or 'swh', optionally with script/region like 'eng_Latn' or 'pt-BR')`);
  }
}

/** Resolves requested languages against those found on disk, naming the unknown ones and what exists. */
export function pickLanguages(available: string[], requested: string[] | undefined, what: string): string[] {
  if (available.length === 0) throw new DatasetError(`${what}: no language files found`);
  if (!requested) return available;
  if (requested.length === 0) throw new DatasetError(`${what}: the language list is empty`);
  const unknown = requested.filter((l) => !available.includes(l));
  for (const l of unknown) checkLanguageCode(l, what);
  if (unknown.length > 0) {
    throw new DatasetError(`${what}: unknown language code${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `'${u}'`).join(', ')} (available: ${available.join(', ')})`);
  }
  return requested;
}

export function requireDir(path: string, what: string): void {
  if (!existsSync(path)) throw new DatasetError(`${what}: folder ${path} does not exist`);
  if (!statSync(path).isDirectory()) throw new DatasetError(`${what}: ${path} is not a folder`);
}

export function listDir(path: string): string[] {
  return existsSync(path) && statSync(path).isDirectory() ? readdirSync(path).sort() : [];
}

export function readText(file: string, what: string): string {
  if (!existsSync(file)) throw new DatasetError(`${what}: file ${file} does not exist`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new DatasetError(`${what}: cannot read ${file}: ${(err as Error).message}`);
  }
  let text = decodeUtf8(bytes, file, what);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') throw new DatasetError(`${what}: file ${file} is empty`);
  return text;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes strictly: a lenient decode would turn invalid bytes (a Latin-1 or truncated file) into U+FFFD and feed
 * them to the tokenizer unnoticed. On failure the first bad byte is located by line and byte column.
 */
function decodeUtf8(bytes: Buffer, file: string, what: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    let lineStart = 0;
    let line = 1;
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 0x0a) continue;
      const slice = bytes.subarray(lineStart, i);
      try {
        strictUtf8.decode(slice);
      } catch {
        const bad = firstInvalidUtf8(slice);
        throw new DatasetError(`${what}: ${file} line ${line}: invalid UTF-8 (byte 0x${slice[bad]!.toString(16).toUpperCase().padStart(2, '0')} at column ${bad + 1}); save the file as UTF-8`);
      }
      lineStart = i + 1;
      line++;
    }
    throw new DatasetError(`${what}: ${file}: invalid UTF-8; save the file as UTF-8`);
  }
}

/** Offset of the first byte that starts an invalid UTF-8 sequence (RFC 3629: no overlongs, surrogates or > U+10FFFF). */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    if (n === 0 || i + n >= b.length) return i;
    const second = b[i + 1];
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    if (second === undefined || second < lo || second > hi) return i;
    for (let k = 2; k <= n; k++) if (((b[i + k] ?? 0) & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return Math.max(0, b.length - 1);
}

/** Parses JSON lines, naming file and line of any malformed one; blank lines are skipped. */
export function readJsonl(file: string, what: string): { line: number; row: Record<string, unknown> }[] {
  const text = readText(file, what);
  const out: { line: number; row: Record<string, unknown> }[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (err) {
      throw new DatasetError(`${what}: ${file} line ${i + 1}: malformed JSON (${(err as Error).message})`);
    }
    if (!row || typeof row !== 'object' || Array.isArray(row)) throw new DatasetError(`${what}: ${file} line ${i + 1}: expected a JSON object`);
    out.push({ line: i + 1, row: row as Record<string, unknown> });
  });
  return out;
}

function describeValue(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint') return `the number ${String(v)}`;
  if (typeof v === 'boolean') return `the boolean ${String(v)}`;
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : typeof v;
}

function presentField(row: Record<string, unknown>, name: string, where: string): unknown {
  if (!(name in row) || row[name] === undefined) throw new DatasetError(`${where}: missing field '${name}' (fields present: ${Object.keys(row).join(', ') || 'none'})`);
  if (row[name] === null) throw new DatasetError(`${where}: field '${name}' is null`);
  return row[name];
}

/** A NUL character would reach the tokenizer as a real token; it is almost always a binary or mis-encoded file. */
export function checkNoNul(text: string, what: string): string {
  const at = text.indexOf('\u0000');
  if (at >= 0) throw new DatasetError(`${what} contains a NUL character at position ${at}`);
  return text;
}

/** A required identifier-like field (id, answer, number); numbers are accepted and turned into text. */
export function field(row: Record<string, unknown>, name: string, where: string): string {
  const v = presentField(row, name, where);
  if (typeof v === 'string') return checkNoNul(v, `${where}: field '${name}'`);
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  throw new DatasetError(`${where}: field '${name}' must be text, got ${describeValue(v)}`);
}

/** A required text field the model will read (sentence, question, passage): it must be a string, without NULs. */
export function textField(row: Record<string, unknown>, name: string, where: string): string {
  const v = presentField(row, name, where);
  if (typeof v !== 'string') throw new DatasetError(`${where}: field '${name}' must be text, got ${describeValue(v)}`);
  return checkNoNul(v, `${where}: field '${name}'`);
}

/**
 * RFC 4180 delimited text: quoted fields may hold delimiters, newlines and doubled quotes. Returns rows with the
 * 1-based line each starts on, for error messages.
 */
export function parseDelimited(text: string, delimiter: string, file: string, what: string): { line: number; cells: string[] }[] {
  const rows: { line: number; cells: string[] }[] = [];
  let cells: string[] = [];
  let cell = '';
  let line = 1;
  let rowLine = 1;
  let i = 0;
  let quoted = false;
  let quoteLine = 0;
  const endRow = () => {
    cells.push(cell);
    if (!(cells.length === 1 && cells[0] === '')) rows.push({ line: rowLine, cells });
    cells = [];
    cell = '';
  };
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      if (c === '\n') line++;
      cell += c;
      i++;
      continue;
    }
    if (c === '"' && cell === '') {
      quoted = true;
      quoteLine = line;
      i++;
    } else if (c === delimiter) {
      cells.push(cell);
      cell = '';
      i++;
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      i++;
      endRow();
      line++;
      rowLine = line;
    } else {
      cell += c;
      i++;
    }
  }
  if (quoted) throw new DatasetError(`${what}: ${file} line ${quoteLine}: quoted field is never closed`);
  if (cell !== '' || cells.length > 0) endRow();
  return rows;
}

/** Reads every row of a Parquet file as plain objects (hyparquet; snappy, gzip, zstd, brotli, lz4 or uncompressed pages). */
export async function readParquet(file: string, what: string): Promise<Record<string, unknown>[]> {
  if (!existsSync(file)) throw new DatasetError(`${what}: file ${file} does not exist`);
  if (statSync(file).size === 0) throw new DatasetError(`${what}: file ${file} is empty`);
  const { asyncBufferFromFile, parquetReadObjects } = await import('hyparquet');
  const { compressors } = await import('hyparquet-compressors');
  try {
    const buf = await asyncBufferFromFile(file);
    return (await parquetReadObjects({ file: buf, compressors })) as Record<string, unknown>[];
  } catch (err) {
    throw new DatasetError(`${what}: cannot read Parquet file ${file}: ${(err as Error).message}`);
  }
}
