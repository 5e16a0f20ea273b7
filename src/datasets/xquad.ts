/**
 * XQuAD: <dir>/xquad.<lang>.json in SQuAD v1.1 format (data[].paragraphs[].context / qas[].id, question,
 * answers[].text). One item per question; question ids are shared by all translations.
 */
import { join } from 'node:path';
import { buildDataset } from './dataset.js';
import { checkNoNul, listDir, pickLanguages, readText, requireDir } from './files.js';
import { DatasetError, type Dataset, type DatasetItem, type LoadOptions } from './types.js';

const WHAT = 'XQuAD';

interface Squad {
  data?: { title?: string; paragraphs?: { context?: unknown; qas?: { id?: unknown; question?: unknown; answers?: { text?: unknown }[] }[] }[] }[];
}

export async function loadXquad(dir: string, options: LoadOptions = {}): Promise<Dataset> {
  requireDir(dir, WHAT);
  const available = listDir(dir).map((f) => /^xquad\.(.+)\.json$/.exec(f)?.[1]).filter((x): x is string => !!x);
  const langs = pickLanguages(available, options.languages, `${WHAT} in ${dir}`);
  const perLanguage = new Map<string, DatasetItem[]>();
  for (const lang of langs) {
    const file = join(dir, `xquad.${lang}.json`);
    let doc: Squad;
    try {
      doc = JSON.parse(readText(file, WHAT)) as Squad;
    } catch (err) {
      if (err instanceof DatasetError) throw err;
      throw new DatasetError(`${WHAT}: ${file}: malformed JSON (${(err as Error).message})`);
    }
    if (!Array.isArray(doc?.data)) throw new DatasetError(`${WHAT}: ${file}: not SQuAD format (no "data" array)`);
    const items: DatasetItem[] = [];
    doc.data.forEach((article, a) => {
      (article.paragraphs ?? []).forEach((p, pi) => {
        const where = `${WHAT}: ${file} data[${a}].paragraphs[${pi}]`;
        if (typeof p.context !== 'string') throw new DatasetError(`${where}: missing "context" text`);
        checkNoNul(p.context, `${where}: "context"`);
        (p.qas ?? []).forEach((qa, qi) => {
          if (typeof qa.id !== 'string' || typeof qa.question !== 'string') throw new DatasetError(`${where}.qas[${qi}]: needs "id" and "question" strings`);
          checkNoNul(qa.question, `${where}.qas[${qi}]: "question"`);
          const answer = qa.answers?.[0]?.text;
          items.push({ id: qa.id, text: qa.question, question: qa.question, passage: p.context as string, answer: typeof answer === 'string' ? answer : undefined, meta: { title: article.title } });
        });
      });
    });
    if (items.length === 0) throw new DatasetError(`${WHAT}: ${file} contains no questions`);
    perLanguage.set(lang, items);
  }
  return buildDataset({ kind: 'xquad', name: 'XQuAD', source: dir, defaultTemplate: 'xquad', perLanguage, limit: options.limit });
}
