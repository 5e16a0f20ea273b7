/**
 * Belebele: one JSON-lines file per language (<dir>/<lang>.jsonl or <dir>/data/<lang>.jsonl, e.g. eng_Latn.jsonl),
 * rows with link, question_number, flores_passage, question, mc_answer1..4, correct_answer_num. A question is
 * identified across languages by its passage link and question number.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildDataset } from './dataset.js';
import { field, listDir, pickLanguages, readJsonl, requireDir, textField } from './files.js';
import { type Dataset, type DatasetItem, type LoadOptions } from './types.js';

const WHAT = 'Belebele';

export async function loadBelebele(dir: string, options: LoadOptions = {}): Promise<Dataset> {
  requireDir(dir, WHAT);
  const base = existsSync(join(dir, 'data')) ? join(dir, 'data') : dir;
  const available = listDir(base).filter((f) => f.endsWith('.jsonl')).map((f) => f.slice(0, -'.jsonl'.length));
  const langs = pickLanguages(available, options.languages, `${WHAT} in ${base}`);
  const perLanguage = new Map<string, DatasetItem[]>();
  for (const lang of langs) {
    const file = join(base, `${lang}.jsonl`);
    perLanguage.set(lang, readJsonl(file, WHAT).map(({ line, row }) => {
      const where = `${WHAT}: ${file} line ${line}`;
      const passage = textField(row, 'flores_passage', where);
      const question = textField(row, 'question', where);
      const options = [1, 2, 3, 4].map((n) => textField(row, `mc_answer${n}`, where));
      return {
        id: `${field(row, 'link', where)}#${field(row, 'question_number', where)}`,
        text: passage,
        passage,
        question,
        options,
        answer: field(row, 'correct_answer_num', where),
        meta: { dialect: row.dialect, ds: row.ds },
      };
    }));
  }
  return buildDataset({ kind: 'belebele', name: 'Belebele', source: dir, defaultTemplate: 'belebele', perLanguage, limit: options.limit });
}
