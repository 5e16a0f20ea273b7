/**
 * FLORES+ / FLORES-200. Accepted layouts under the given folder, per language code such as "eng_Latn":
 *   <split>/<lang>.parquet, <split>/parquet/<lang>.parquet, <lang>.parquet   (FLORES+ on the Hub: columns id, text, ...)
 *   <split>/<lang>.<split>                                                 (FLORES-200 release: one sentence per line)
 *   <split>/<lang>.txt, <split>/<lang>                                     (FLORES+ text release)
 * Text files carry no ids; sentence n (1-based line) gets id "n", as in FLORES+'s own numbering.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildDataset } from './dataset.js';
import { checkLanguageCode, checkNoNul, field, listDir, pickLanguages, readParquet, readText, requireDir, textField } from './files.js';
import { DatasetError, type Dataset, type DatasetItem, type LoadOptions } from './types.js';

const WHAT = 'FLORES';

function candidates(dir: string, split: string, lang: string): string[] {
  return [
    join(dir, split, `${lang}.parquet`),
    join(dir, split, 'parquet', `${lang}.parquet`),
    join(dir, `${lang}.parquet`),
    join(dir, split, `${lang}.${split}`),
    join(dir, split, `${lang}.txt`),
    join(dir, split, lang),
  ];
}

function discover(dir: string, split: string): string[] {
  const langs = new Set<string>();
  const add = (folder: string, re: RegExp) => {
    for (const f of listDir(folder)) {
      const m = re.exec(f);
      if (!m || !statSync(join(folder, f)).isFile()) continue;
      try {
        checkLanguageCode(m[1]!, WHAT);
        langs.add(m[1]!);
      } catch {
        // not a language file (README, LICENSE...)
      }
    }
  };
  add(join(dir, split), new RegExp(`^([^.]+)(?:\\.(?:parquet|txt|${split}))?$`));
  add(join(dir, split, 'parquet'), /^([^.]+)\.parquet$/);
  add(dir, /^([^.]+)\.parquet$/);
  return [...langs].sort();
}

export async function loadFlores(dir: string, options: LoadOptions = {}): Promise<Dataset> {
  requireDir(dir, WHAT);
  const split = options.split ?? 'dev';
  if (!['dev', 'devtest'].includes(split)) throw new DatasetError(`${WHAT}: split must be 'dev' or 'devtest', got '${split}'`);
  const langs = pickLanguages(discover(dir, split), options.languages, `${WHAT} (${split}) in ${dir}`);
  const perLanguage = new Map<string, DatasetItem[]>();
  for (const lang of langs) {
    const file = candidates(dir, split, lang).find((f) => existsSync(f));
    if (!file) throw new DatasetError(`${WHAT}: no ${split} file for '${lang}' in ${dir}`);
    if (file.endsWith('.parquet')) {
      const rows = await readParquet(file, WHAT);
      if (rows.length === 0) throw new DatasetError(`${WHAT}: ${file} has no rows`);
      perLanguage.set(lang, rows.map((row, i) => {
        const where = `${WHAT}: ${file} row ${i + 1}`;
        const text = textField(row, 'text', where);
        const id = row.id === undefined ? String(i + 1) : field(row, 'id', where);
        return { id, text, meta: { split } };
      }));
    } else {
      const lines = readText(file, WHAT).split(/\r?\n/);
      if (lines.at(-1) === '') lines.pop();
      perLanguage.set(lang, lines.map((text, i) => {
        if (text.trim() === '') throw new DatasetError(`${WHAT}: ${file} line ${i + 1} is empty (one sentence per line expected)`);
        return { id: String(i + 1), text: checkNoNul(text, `${WHAT}: ${file} line ${i + 1}`), meta: { split } };
      }));
    }
  }
  return buildDataset({ kind: 'flores', name: `FLORES (${split})`, source: dir, defaultTemplate: 'raw', perLanguage, limit: options.limit });
}
