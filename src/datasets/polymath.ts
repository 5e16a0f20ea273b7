/**
 * PolyMath: <dir>/<lang>/<level>.jsonl (rows id, question, answer; ids like "low-en-0") or Parquet
 * <dir>/<lang>/<level>.parquet / <level>-*.parquet. The language code inside ids is dropped ("low-en-0" -> "low-0")
 * so the translations of a problem share one id.
 */
import { join } from 'node:path';
import { buildDataset } from './dataset.js';
import { checkLanguageCode, field, listDir, pickLanguages, readJsonl, readParquet, requireDir, textField } from './files.js';
import { DatasetError, type Dataset, type DatasetItem, type LoadOptions } from './types.js';

const WHAT = 'PolyMath';
export const POLYMATH_LEVELS = ['low', 'medium', 'high', 'top'];

function alignedId(id: string, lang: string): string {
  const parts = id.split('-');
  const at = parts.lastIndexOf(lang);
  return at > 0 && at < parts.length - 1 ? [...parts.slice(0, at), ...parts.slice(at + 1)].join('-') : id;
}

export async function loadPolymath(dir: string, options: LoadOptions = {}): Promise<Dataset> {
  requireDir(dir, WHAT);
  const level = options.split ?? 'low';
  if (!POLYMATH_LEVELS.includes(level)) throw new DatasetError(`${WHAT}: level must be one of ${POLYMATH_LEVELS.join(', ')}, got '${level}'`);
  const fileFor = (lang: string) => listDir(join(dir, lang)).find((f) => f === `${level}.jsonl` || f === `${level}.parquet` || (f.startsWith(`${level}-`) && f.endsWith('.parquet')));
  const available = listDir(dir).filter((d) => {
    try {
      checkLanguageCode(d, WHAT);
    } catch {
      return false;
    }
    return !!fileFor(d);
  });
  const langs = pickLanguages(available, options.languages, `${WHAT} (${level}) in ${dir}`);
  const perLanguage = new Map<string, DatasetItem[]>();
  for (const lang of langs) {
    const file = join(dir, lang, fileFor(lang)!);
    const rows = file.endsWith('.jsonl')
      ? readJsonl(file, WHAT)
      : (await readParquet(file, WHAT)).map((row, i) => ({ line: i + 1, row }));
    if (rows.length === 0) throw new DatasetError(`${WHAT}: ${file} has no rows`);
    perLanguage.set(lang, rows.map(({ line, row }) => {
      const where = `${WHAT}: ${file} ${file.endsWith('.jsonl') ? 'line' : 'row'} ${line}`;
      const question = textField(row, 'question', where);
      return { id: alignedId(field(row, 'id', where), lang), text: question, question, answer: field(row, 'answer', where), meta: { level } };
    }));
  }
  return buildDataset({ kind: 'polymath', name: `PolyMath (${level})`, source: dir, defaultTemplate: 'chat', perLanguage, limit: options.limit });
}
