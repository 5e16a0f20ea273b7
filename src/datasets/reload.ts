/**
 * Reloads the dataset a capture run was made on, from what the store records (kind, source, languages,
 * fingerprint): the split or level is not recorded, so each one the kind has is tried and the one whose fingerprint
 * matches is returned. Used to resume runs, so a changed file is reported instead of silently mixed in.
 */
import { DATASET_KINDS } from './registry.js';
import { DatasetError, type Dataset, type DatasetKind } from './types.js';

/** Splits (or levels) a dataset of each kind may have been loaded with; undefined = the loader's default. */
export const DATASET_SPLITS: Partial<Record<DatasetKind, (string | undefined)[]>> = {
  udhr: [undefined, 'train', 'heldout'],
  flores: [undefined, 'dev', 'devtest'],
  polymath: [undefined, 'low', 'medium', 'high', 'top'],
};

export interface RecordedDataset {
  kind: string;
  source: string;
  languages: string[];
  fingerprint: string;
}

export async function reloadDataset(d: RecordedDataset): Promise<Dataset> {
  const kind = d.kind as DatasetKind;
  const info = DATASET_KINDS[kind];
  if (!info) throw new DatasetError(`dataset kind '${d.kind}' cannot be loaded by this version (known: ${Object.keys(DATASET_KINDS).join(', ')})`);
  const path = info.path === 'none' ? undefined : d.source;
  let firstError: unknown = null;
  for (const split of DATASET_SPLITS[kind] ?? [undefined]) {
    try {
      const loaded = await info.load(path, { languages: d.languages, split });
      if (loaded.fingerprint === d.fingerprint) return loaded;
    } catch (err) {
      if (!(err instanceof DatasetError)) throw err;
      firstError ??= err;
    }
  }
  if (firstError) throw new DatasetError(`cannot reload the ${d.kind} dataset from ${d.source}: ${(firstError as Error).message}`);
  throw new DatasetError(`the ${d.kind} dataset at ${d.source} has changed since the run started (its fingerprint differs); start a new run`);
}
