/**
 * A user's own parallel data: one JSONL or CSV/TSV file with a language column, an id column (shared by the
 * translations of an item) and a text column. Other columns are kept in `meta`; "question", "passage" and
 * "answer" columns are recognised.
 */
import { extname } from 'node:path';
import { buildDataset } from './dataset.js';
import { checkLanguageCode, field, parseDelimited, pickLanguages, readJsonl, readText, textField } from './files.js';
import { DatasetError, type Dataset, type DatasetItem, type LoadOptions } from './types.js';

export interface TabularOptions extends LoadOptions {
  languageColumn?: string;
  idColumn?: string;
  textColumn?: string;
}

export async function loadTabular(file: string, options: TabularOptions = {}): Promise<Dataset> {
  const langCol = options.languageColumn ?? 'language';
  const idCol = options.idColumn ?? 'id';
  const textCol = options.textColumn ?? 'text';
  const ext = extname(file).toLowerCase();
  const isJsonl = ext === '.jsonl' || ext === '.ndjson';
  const what = isJsonl ? 'JSONL dataset' : 'CSV dataset';
  let rows: { line: number; row: Record<string, unknown> }[];
  if (isJsonl) {
    rows = readJsonl(file, what);
  } else if (ext === '.csv' || ext === '.tsv') {
    const table = parseDelimited(readText(file, what), ext === '.tsv' ? '\t' : ',', file, what);
    const header = table[0]!.cells.map((h) => h.trim());
    for (const col of [langCol, idCol, textCol]) {
      if (!header.includes(col)) throw new DatasetError(`${what}: ${file} line 1: no column '${col}' (columns: ${header.join(', ')})`);
    }
    if (table.length < 2) throw new DatasetError(`${what}: ${file} has a header but no rows`);
    rows = table.slice(1).map(({ line, cells }) => {
      if (cells.length !== header.length) throw new DatasetError(`${what}: ${file} line ${line}: ${cells.length} columns, the header has ${header.length}`);
      return { line, row: Object.fromEntries(header.map((h, i) => [h, cells[i]])) };
    });
  } else {
    throw new DatasetError(`${file}: unsupported dataset file type '${ext}' (use .jsonl, .csv or .tsv)`);
  }
  const byLang = new Map<string, DatasetItem[]>();
  for (const { line, row } of rows) {
    const where = `${what}: ${file} line ${line}`;
    const lang = field(row, langCol, where);
    checkLanguageCode(lang, where);
    const text = textField(row, textCol, where);
    const item: DatasetItem = { id: field(row, idCol, where), text };
    if (typeof row.question === 'string') item.question = row.question;
    if (typeof row.passage === 'string') item.passage = row.passage;
    if (row.answer !== undefined && row.answer !== null) item.answer = String(row.answer);
    const meta = Object.fromEntries(Object.entries(row).filter(([k]) => ![langCol, idCol, textCol, 'question', 'passage', 'answer'].includes(k)));
    if (Object.keys(meta).length > 0) item.meta = meta;
    const list = byLang.get(lang) ?? [];
    list.push(item);
    byLang.set(lang, list);
  }
  const langs = pickLanguages([...byLang.keys()], options.languages, `${what} ${file}`);
  const perLanguage = new Map(langs.map((l) => [l, byLang.get(l)!] as const));
  return buildDataset({ kind: isJsonl ? 'jsonl' : 'csv', name: file, source: file, defaultTemplate: 'raw', perLanguage, limit: options.limit });
}
