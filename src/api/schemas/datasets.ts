import { args, none } from '../schema.js';
import { projectId } from './ids.js';

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
export const DATASET_IDS = ['udhr'] as const;
export type DatasetId = (typeof DATASET_IDS)[number];

export interface DatasetView {
  id: DatasetId;
  name: string;
  description: string;
  splits: { name: UdhrSplit; items: number }[];
  /** Every language the dataset has, for the picker. */
  languages: LanguageView[];
  /** A suggested selection (the demo's 39 languages for UDHR). */
  suggested: string[];
}

export const datasetsArgs = {
  'datasets.list': args({ projectId }),
  'languages.list': none,
};
