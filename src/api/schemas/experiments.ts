import { args, s } from '../schema.js';
import { datasetRef } from './datasets.js';
import { name, projectId } from './ids.js';

export type ExperimentState = 'created' | 'running' | 'completed' | 'cancelled' | 'failed' | 'interrupted';

export interface ExperimentSummary {
  id: number;
  name: string;
  task: string;
  /** 'interrupted': recorded as running by a process that is gone. */
  status: ExperimentState;
  error: string | null;
  unitsDone: number;
  unitsTotal: number;
  /** Not completed and not running: experiments.resume continues from the last stored unit. */
  resumable: boolean;
  createdAt: string;
}

/** One per-language (or pooled, language "all") comparison of an arm with the baseline. */
export interface EffectRow {
  arm: string;
  language: string;
  n: number;
  baselineScore: number;
  armScore: number;
  delta: number;
  ci: [number, number];
  p: number;
  pHolm: number;
  /** The interval excludes 0. */
  excludesZero: boolean;
}

export interface ArmRow {
  arm: string;
  kind: string;
  source: string;
  results: number;
  mean: number | null;
  /** Mean over languages' comparisons is not this: the arm's own score interval (Wilson for accuracies, bootstrap otherwise) from the pooled comparison. */
  ci: [number, number] | null;
  consistency: number | null;
}

export interface ItemRow {
  arm: string;
  language: string;
  itemId: string;
  baseline: number | null;
  value: number | null;
  /** Binary tasks: 'gained' (wrong to right), 'lost' (right to wrong), 'same'; continuous: null. */
  flip: 'gained' | 'lost' | 'same' | null;
  baselineOutput: string | null;
  output: string | null;
}

export interface ConsistencyRow {
  arm: string;
  language: string;
  consistent: number;
  total: number;
}

export interface ExperimentView {
  summary: ExperimentSummary;
  metric: string;
  higherIsBetter: boolean;
  binary: boolean;
  baseline: string;
  languages: string[];
  arms: ArmRow[];
  effects: EffectRow[];
  /** summary.md as `routescope experiment report` writes it, verdict sentence included. */
  verdict: string;
  /** The verdict's lead sentence: the honest one when no interval excludes zero. */
  headline: string;
  items: ItemRow[];
  consistency: ConsistencyRow[];
  warnings: string[];
}

const experimentId = s.int({ min: 1 });

export const experimentsArgs = {
  /** An A/B run: the baseline, every saved plan given as an arm, seeded random controls of the first plan. */
  'experiments.start': args({
    projectId,
    name,
    dataset: datasetRef,
    languages: s.array(s.string({ max: 40 }), { min: 1, unique: true }),
    task: s.oneOf(['nll', 'generate'] as const),
    planIds: s.array(s.int({ min: 1 }), { min: 1, unique: true }),
    /** Seeds of random-expert controls matched to the first plan (0 to 20 of them). */
    randomSeeds: s.optional(s.array(s.int({ min: 0 }), { unique: true })),
    /** Items per language. */
    limit: s.int({ min: 1, max: 10_000 }),
    /** generate only. */
    maxNewTokens: s.optional(s.int({ min: 1, max: 512 })),
  }),
  'experiments.resume': args({ projectId, experimentId }),
  'experiments.list': args({ projectId }),
  'experiments.get': args({ projectId, experimentId }),
};
