/**
 * MGSM: one tab-separated file per language, <dir>/mgsm_<lang>.tsv (or <lang>.tsv), no header, two columns:
 * question, numeric answer. Items align by row number (id "0", "1", ...), as the 250 questions are in the same order.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildDataset } from './dataset.js';
import { checkNoNul, listDir, parseDelimited, pickLanguages, readText, requireDir } from './files.js';
import { DatasetError, type Dataset, type DatasetItem, type LoadOptions } from './types.js';

const WHAT = 'MGSM';

export async function loadMgsm(dir: string, options: LoadOptions = {}): Promise<Dataset> {
  requireDir(dir, WHAT);
  const available = listDir(dir).map((f) => /^(?:mgsm_)?(.+)\.tsv$/.exec(f)?.[1]).filter((x): x is string => !!x);
  const langs = pickLanguages([...new Set(available)], options.languages, `${WHAT} in ${dir}`);
  const perLanguage = new Map<string, DatasetItem[]>();
  for (const lang of langs) {
    const file = [join(dir, `mgsm_${lang}.tsv`), join(dir, `${lang}.tsv`)].find((f) => existsSync(f))!;
    const rows = parseDelimited(readText(file, WHAT), '\t', file, WHAT);
    perLanguage.set(lang, rows.map(({ line, cells }, i) => {
      if (cells.length !== 2) throw new DatasetError(`${WHAT}: ${file} line ${line}: expected 2 tab-separated columns (question, answer), found ${cells.length}`);
      const [question, answer] = cells as [string, string];
      if (question.trim() === '') throw new DatasetError(`${WHAT}: ${file} line ${line}: empty question`);
      checkNoNul(question, `${WHAT}: ${file} line ${line}: the question`);
      return { id: String(i), text: question, question, answer: answer.trim() };
    }));
  }
  return buildDataset({ kind: 'mgsm', name: 'MGSM', source: dir, defaultTemplate: 'mgsm', perLanguage, limit: options.limit });
}
