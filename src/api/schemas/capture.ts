import { args, s } from '../schema.js';
import { datasetRef, PROMPT_TEMPLATES, UDHR_SPLITS } from './datasets.js';
import { name, projectId, runId } from './ids.js';

export const captureStart = args({
  projectId,
  modelId: s.int({ min: 1 }),
  dataset: datasetRef,
  /** UDHR only (a local dataset keeps the split it was added with). */
  split: s.optional(s.oneOf(UDHR_SPLITS)),
  /** Default: raw text for UDHR, the dataset's own template (the papers' setup) for local files. */
  template: s.optional(s.oneOf(PROMPT_TEMPLATES)),
  languages: s.array(s.string({ max: 40 }), { min: 1, unique: true }),
  /** Items per language; default all items of the split. */
  limit: s.optional(s.int({ min: 1 })),
  batchSize: s.optional(s.int({ min: 1, max: 256 })),
  name: s.optional(name),
});

export const captureArgs = {
  'capture.start': captureStart,
  /** Continues an interrupted or cancelled capture run where its last committed batch ended. */
  'capture.resume': args({ projectId, runId }),
};
