/** The datasets a project can capture on (the embedded UDHR corpus for now) and the language picker's rows. */
import { loadDemoLanguages } from '../corpus/demo-languages.js';
import { listUdhrLanguages, UDHR_ITEM_IDS } from '../corpus/udhr.js';
import { findLanguage, loadLanguageTable } from '../languages/index.js';
import type { DatasetView, LanguageView, UdhrSplit } from './schemas/datasets.js';

export function languageView(code: string, name?: string): LanguageView {
  const info = findLanguage(code);
  return {
    code, name: info?.name ?? name ?? code, family: info?.family ?? null, branch: info?.branch ?? null,
    scripts: info?.scripts ?? [], resource: info?.resource ?? null,
  };
}

let udhr: DatasetView | null = null;

/** UDHR: every complete translation in the udhr package (parsing them all takes about a second, once). */
export function udhrDataset(): DatasetView {
  if (udhr) return udhr;
  const count = (split: UdhrSplit) => UDHR_ITEM_IDS.filter((i) => split === 'all' || i.split === split).length;
  udhr = {
    id: 'udhr',
    name: 'UDHR',
    description: 'Universal Declaration of Human Rights: the preamble and 30 articles, aligned across every complete translation in the udhr package (embedded, offline).',
    splits: (['heldout', 'train', 'all'] as const).map((name) => ({ name, items: count(name) })),
    languages: listUdhrLanguages().map((l) => languageView(l.lang, l.name)),
    suggested: loadDemoLanguages(),
  };
  return udhr;
}

export function allLanguages(): LanguageView[] {
  return loadLanguageTable().languages.map((l) => languageView(l.iso3));
}
