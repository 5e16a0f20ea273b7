/**
 * PolyMath: <dir>/<lang>/<level>.jsonl (rows id, question, answer; ids like "low-en-0") or Parquet
 * <dir>/<lang>/<level>.parquet / <level>-*.parquet. The language code inside ids is dropped ("low-en-0" -> "low-0")
 * so the translations of a problem share one id. The split may name several levels ("low,medium" or "all"): the
 * levels' items are concatenated in level order, each keeping its level in meta.level (ids stay unique: they start
 * with the level), which is what PolyMath's difficulty-weighted accuracy needs.
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

/** The levels a split names: one level, a comma-separated list, or "all"; duplicates and unknown names refused. */
export function polymathLevels(split: string | undefined): string[] {
  const raw = split === undefined ? ['low'] : split.trim() === 'all' ? POLYMATH_LEVELS : split.split(',').map((s) => s.trim());
  const bad = raw.filter((l) => !POLYMATH_LEVELS.includes(l));
  if (bad.length || raw.length === 0) throw new DatasetError(`${WHAT}: level must be one of ${POLYMATH_LEVELS.join(', ')} (several comma-separated, or "all"), got '${split}'`);
  const dup = raw.find((l, i) => raw.indexOf(l) !== i);
  if (dup) throw new DatasetError(`${WHAT}: level '${dup}' is named twice in split '${split}'`);
  return POLYMATH_LEVELS.filter((l) => raw.includes(l));
}

export async function loadPolymath(dir: string, options: LoadOptions = {}): Promise<Dataset> {
  requireDir(dir, WHAT);
  const levels = polymathLevels(options.split);
  const fileFor = (lang: string, level: string) => listDir(join(dir, lang)).find((f) => f === `${level}.jsonl` || f === `${level}.parquet` || (f.startsWith(`${level}-`) && f.endsWith('.parquet')));
  const available = listDir(dir).filter((d) => {
    try {
      checkLanguageCode(d, WHAT);
    } catch {
      return false;
    }
    return levels.every((level) => !!fileFor(d, level));
  });
  const langs = pickLanguages(available, options.languages, `${WHAT} (${levels.join('+')}) in ${dir}`);
  const perLevelLimit = levels.length > 1 && options.limit !== undefined;
  if (perLevelLimit && (!Number.isInteger(options.limit) || options.limit! <= 0)) throw new DatasetError(`limit must be a positive integer, got ${options.limit}`);
  const perLanguage = new Map<string, DatasetItem[]>();
  for (const lang of langs) {
    const items: DatasetItem[] = [];
    for (const level of levels) {
      const file = join(dir, lang, fileFor(lang, level)!);
      const rows = file.endsWith('.jsonl')
        ? readJsonl(file, WHAT)
        : (await readParquet(file, WHAT)).map((row, i) => ({ line: i + 1, row }));
      if (rows.length === 0) throw new DatasetError(`${WHAT}: ${file} has no rows`);
      // With several levels the limit is per level, so a limited run still covers every level it names.
      for (const { line, row } of perLevelLimit ? rows.slice(0, options.limit) : rows) {
        const where = `${WHAT}: ${file} ${file.endsWith('.jsonl') ? 'line' : 'row'} ${line}`;
        const question = textField(row, 'question', where);
        items.push({ id: alignedId(field(row, 'id', where), lang), text: question, question, answer: field(row, 'answer', where), meta: { level } });
      }
    }
    perLanguage.set(lang, items);
  }
  return buildDataset({ kind: 'polymath', name: `PolyMath (${levels.join('+')})`, source: dir, defaultTemplate: 'chat', perLanguage, limit: perLevelLimit ? undefined : options.limit });
}
