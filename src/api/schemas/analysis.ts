import { args, s } from '../schema.js';
import { projectId, runId } from './ids.js';
import type { LanguageView } from './datasets.js';

export interface Band {
  name: 'early' | 'middle' | 'late';
  layers: [number, number];
}

export interface LayerRow {
  /** MoE-layer index (the analysis' numbering) and the decoder layer it sits in. */
  layer: number;
  decoderLayer: number;
  band: Band['name'] | null;
  /** Mean cosine similarity of each language's expert-frequency vector to the pivot's (pivot excluded). */
  alignmentToPivot: number | null;
  /** Mean cosine similarity over all language pairs. */
  alignmentMeanPair: number;
  /** Family agreement of the average-linkage dendrogram: cophenetic correlation with genealogy, ARI of the family cut. */
  cophenetic: number | null;
  ari: number | null;
  /** Experts shared by all languages; experts exclusive to some language (summed over languages). */
  shared: number;
  exclusive: number;
}

export interface PlanExpert {
  decoderLayer: number;
  moeLayer: number;
  expert: number;
  coefficient: number;
}

export interface SteeringPlanView {
  target: string;
  pivot: string;
  method: string;
  moeLayers: [number, number];
  decoderLayers: [number, number];
  k: number;
  thr: number;
  lambda: number;
  experts: PlanExpert[];
  /** The plan file exactly as `routescope forward --plan` / `capture --plan` read it. */
  json: string;
  fileName: string;
}

export interface AnalysisOverview {
  runId: number;
  model: string | null;
  languages: (LanguageView & { tokens: number })[];
  numLayers: number;
  numExperts: number;
  topK: number;
  pivot: string | null;
  target: string | null;
  bands: Band[];
  /** Early/middle/late reading of the mean-pair alignment curve (as `routescope demo` prints it). */
  pattern: { holds: boolean; text: string };
  clusterMetric: string;
  specialisation: { k: number; thr: number };
  layers: LayerRow[];
  /** Null when the run lacks a pivot or target language (the reason is in planNote). */
  plan: SteeringPlanView | null;
  planNote: string | null;
}

export const MATRIX_METRICS = ['cosine', 'jsd', 'njsd'] as const;
export type MatrixMetric = (typeof MATRIX_METRICS)[number];

export interface TreeNode {
  height: number;
  size: number;
  label?: string;
  index?: number;
  children?: TreeNode[];
}

export interface LayerDetail {
  runId: number;
  layer: number;
  decoderLayer: number;
  metric: MatrixMetric;
  languages: string[];
  /** languages x languages, row-major as nested arrays; cosine is a similarity, jsd/njsd are divergences. */
  matrix: number[][];
  /** Average-linkage dendrogram over the run's cluster metric. */
  tree: TreeNode;
  family: { cophenetic: number | null; ari: number | null; families: number };
}

const language = s.string({ max: 40 });

export const analysisArgs = {
  'analysis.overview': args({ projectId, runId, pivot: s.optional(language), target: s.optional(language) }),
  'analysis.layer': args({ projectId, runId, layer: s.int({ min: 0 }), metric: s.optional(s.oneOf(MATRIX_METRICS)), pivot: s.optional(language) }),
};
