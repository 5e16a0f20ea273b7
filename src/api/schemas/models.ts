import { args } from '../schema.js';
import { path, projectId } from './ids.js';

/** What `routescope inspect` reports about a model folder (src/engine summarizeModel). */
export interface ModelFacts {
  dir: string;
  architecture: string;
  numLayers: number;
  moeLayers: number[];
  numExperts: number;
  topK: number;
  hiddenSize: number;
  vocabSize: number;
  totalParameters: number;
  activeParameters: number;
  dtypes: string[];
  /** Bytes of the weights on disk, which is about the memory a session needs for them. */
  weightBytes: number;
  executionProvider: { name: string; reason: string };
  moeKernel: { name: string; reason: string };
}

export interface ModelView {
  id: number;
  name: string;
  path: string;
  /** The embedded demo model (resources/demo-model). */
  embedded: boolean;
  /** Null when the folder can no longer be read; `problem` says why. */
  facts: ModelFacts | null;
  problem: string | null;
}

export const modelsArgs = {
  /** Reads a folder's config and weight headers; a folder that is not a supported model is an error saying why. */
  'models.inspect': args({ path }),
  'models.add': args({ projectId, path }),
  'models.list': args({ projectId }),
};
