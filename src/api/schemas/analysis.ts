import { args, s } from '../schema.js';
import { projectId, runId } from './ids.js';
import type { LanguageView } from './datasets.js';

export const MATRIX_METRICS = ['cosine', 'jsd', 'njsd'] as const;
export type MatrixMetric = (typeof MATRIX_METRICS)[number];
export const LINKAGE_NAMES = ['average', 'complete', 'single', 'ward'] as const;
export type LinkageName = (typeof LINKAGE_NAMES)[number];

/**
 * How a run is analysed: the distance the dendrograms cluster on (cosine means 1 - cosine similarity), the linkage,
 * the specialisation rule's k and thr, the pivot language (null: chosen automatically, the highest-resource language
 * of the run), and the early/middle/late bands as MoE-layer ranges (null: thirds).
 */
export interface AnalysisSettings {
  measure: MatrixMetric;
  linkage: LinkageName;
  k: number;
  thr: number;
  pivot: string | null;
  bands: { early: [number, number] | null; middle: [number, number] | null; late: [number, number] | null } | null;
}

export interface AnalysisSettingsView {
  runId: number;
  /** What the analysis uses: the stored fields over the defaults. */
  settings: AnalysisSettings;
  defaults: AnalysisSettings;
  /** The fields stored with the run (the others follow the defaults). */
  stored: (keyof AnalysisSettings)[];
}

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
  /** Experts shared (r < thr in every language, r > 0 in some) and exclusive (r > thr in one language, summed over languages), arXiv 2601.14050. */
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
  /** The weight precision the run was captured at (fp32, fp16, int8, int4); null when not recorded (imported, older runs). */
  precision: string | null;
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
  /** The settings this overview was computed with (stored with the run, or the defaults). */
  settings: AnalysisSettings;
  layers: LayerRow[];
  /** Null when the run lacks a pivot or target language (the reason is in planNote). */
  plan: SteeringPlanView | null;
  planNote: string | null;
}


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
  /** Dendrogram over the run's cluster measure with its linkage (the run's analysis settings). */
  tree: TreeNode;
  family: { cophenetic: number | null; ari: number | null; families: number };
}

/** Every expert of one layer with its share per language, classified by the paper's rule (arXiv 2601.14050). */
export interface ExpertTable {
  runId: number;
  layer: number;
  decoderLayer: number;
  k: number;
  thr: number;
  /** The rule in words, for the table's legend. */
  rule: string;
  languages: string[];
  experts: {
    expert: number;
    kind: 'shared' | 'exclusive' | 'unused';
    /** The language holding more than thr of the expert's share (exclusive experts). */
    owner: string | null;
    /** Per language (order of `languages`): share r after the top-k mask, and activation frequency (count / tokens). */
    share: number[];
    frequency: number[];
  }[];
}

/** Two runs side by side: the per-layer curves of each, and the difference of their matrices at one layer. */
export interface RunComparison {
  /** precision: the weight precision the run was captured at (null: not recorded). */
  runs: { runId: number; name: string | null; model: string | null; dataset: string | null; languages: number; numLayers: number; precision: string | null }[];
  /** Why the two may not be comparable (model, weights, precision, execution provider, dataset, template, plan). */
  warnings: string[];
  /** Set when both runs record a precision and they differ (also the first of `warnings`). */
  precisionWarning: string | null;
  /** Per MoE layer present in both runs: mean pairwise alignment and alignment to each run's pivot. */
  layers: { layer: number; decoderLayer: number; meanPair: [number, number]; toPivot: [number | null, number | null] }[];
  pivots: [string | null, string | null];
  layer: number;
  decoderLayer: number;
  metric: MatrixMetric;
  /** The languages both runs have, in the first run's order. */
  common: string[];
  /** common x common, row-major: first run's value minus the second's. */
  difference: number[][];
}

/** Share of a language's tokens routed to each expert at each layer (count / tokens; a layer sums to top-k). */
export interface ExpertLayerMap {
  runId: number;
  language: string;
  /** When given: the map is language's share minus this language's. */
  minus: string | null;
  numLayers: number;
  numExperts: number;
  topK: number;
  decoderLayers: number[];
  /** layers x experts, row-major. */
  values: number[];
}

const language = s.string({ max: 40 });

export const analysisArgs = {
  'analysis.overview': args({ projectId, runId, pivot: s.optional(language), target: s.optional(language) }),
  /** k defaults to the paper's 15 of 128 scaled to the model's experts and top-k; thr to 0.4. */
  'analysis.experts': args({ projectId, runId, layer: s.int({ min: 0 }), k: s.optional(s.int({ min: 1 })), thr: s.optional(s.number({ min: 0, max: 1 })) }),
  'analysis.settings': args({ projectId, runId }),
  /**
   * Stores the given fields with the run (the others keep their stored value or default); `reset` first forgets every
   * stored field. pivot 'auto' and bands 'thirds' return to the automatic choice; bands are "early,middle,late"
   * MoE-layer ranges like "0-4,22-26,43-47" (as `routescope analyze --bands`).
   */
  'analysis.saveSettings': args({
    projectId, runId, reset: s.optional(s.bool()),
    measure: s.optional(s.oneOf(MATRIX_METRICS)), linkage: s.optional(s.oneOf(LINKAGE_NAMES)),
    k: s.optional(s.int({ min: 1 })), thr: s.optional(s.number({ min: 0, max: 1 })),
    pivot: s.optional(language), bands: s.optional(s.string({ max: 200 })),
  }),
  'analysis.compare': args({ projectId, runId, otherRunId: runId, layer: s.int({ min: 0 }), metric: s.optional(s.oneOf(MATRIX_METRICS)) }),
  'analysis.expertMap': args({ projectId, runId, language, minus: s.optional(language) }),
  'analysis.layer': args({ projectId, runId, layer: s.int({ min: 0 }), metric: s.optional(s.oneOf(MATRIX_METRICS)), pivot: s.optional(language) }),
};
