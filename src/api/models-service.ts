/** Model folders of a project: `inspect`'s facts (src/engine summarizeModel) and the rows of the model table. */
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { DEMO_MODEL_DIR } from '../demo/resources.js';
import { summarizeModel } from '../engine/index.js';
import { ensureModel, modelFingerprint, type Store } from '../store/index.js';
import { ApiError } from './errors.js';
import type { ModelFacts, ModelView } from './schemas/models.js';

/** The model card's first heading, else the folder name. */
export function modelTitle(dir: string): string {
  try {
    const heading = /^#\s+(.+)$/m.exec(readFileSync(join(dir, 'README.md'), 'utf8'));
    if (heading) return heading[1]!.trim();
  } catch {
    // no README: fall back to the folder name
  }
  return basename(dir);
}

export function inspectModel(path: string): ModelFacts {
  const s = summarizeModel(resolve(path));
  return {
    dir: s.dir, architecture: s.architecture, numLayers: s.numLayers, moeLayers: s.moeLayers, numExperts: s.numExperts, topK: s.topK,
    hiddenSize: s.hiddenSize, vocabSize: s.vocabSize, totalParameters: s.totalParameters, activeParameters: s.activeParameters,
    dtypes: s.dtypes, weightBytes: s.weightBytes,
    executionProvider: { name: s.executionProvider.name, reason: s.executionProvider.reason },
    moeKernel: { name: s.moeKernel.name, reason: s.moeKernel.reason },
  };
}

interface ModelRow {
  id: number;
  path: string;
  name: string | null;
}

function view(row: ModelRow): ModelView {
  const base = { id: row.id, name: row.name ?? basename(row.path), path: row.path, embedded: resolve(row.path) === resolve(DEMO_MODEL_DIR) };
  try {
    return { ...base, facts: inspectModel(row.path), problem: null };
  } catch (err) {
    return { ...base, facts: null, problem: err instanceof Error ? err.message : String(err) };
  }
}

/** Adds a model folder to the project (a folder already added returns its row); not a model -> an error saying why. */
export function addModel(store: Store, path: string): ModelView {
  const dir = resolve(path);
  const facts = inspectModel(dir);
  const id = store.write('adding a model', () =>
    ensureModel(store, {
      path: dir, name: modelTitle(dir), architecture: facts.architecture, numMoeLayers: facts.moeLayers.length, moeLayers: facts.moeLayers,
      numExperts: facts.numExperts, topK: facts.topK, fingerprint: modelFingerprint(dir),
    }),
  );
  return { ...view({ id, path: dir, name: modelTitle(dir) }), facts };
}

/** The project's model folders, newest row per path. */
export function listModels(store: Store): ModelView[] {
  const rows = store.read('listing models', () => store.db.prepare('SELECT max(id) AS id, path, name FROM model GROUP BY path ORDER BY id').all() as ModelRow[]);
  return rows.map(view);
}

export function getModel(store: Store, modelId: number): { id: number; path: string } {
  const row = store.read('reading a model', () => store.db.prepare('SELECT id, path FROM model WHERE id = ?').get(modelId) as ModelRow | undefined);
  if (!row) throw new ApiError('not-found', `model ${modelId} is not in this project; add its folder first`, { modelId });
  return row;
}
