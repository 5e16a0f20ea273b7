import { ApiError } from '../errors.js';
import { args, s, show, type Schema } from '../schema.js';
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

/** A point's effect set among its own random controls' effects (pooled over languages). */
export interface SweepCellControls {
  /** Controls of this point with a comparison so far. */
  count: number;
  /** Mean of the controls' paired differences with the baseline. */
  meanDelta: number;
  /** Controls the point beats (direction-aware: lower is better for NLL). */
  beats: number;
  /** One-sided empirical p: (1 + controls at least as good) / (count + 1); never below 1 / (count + 1). */
  pEmpirical: number;
}

/** A paired comparison with the baseline, pooled over languages, as the heatmap marks it. */
export interface SweepComparison {
  n: number;
  delta: number;
  ci: [number, number];
  p: number;
  /** Holm-adjusted over the sweep's cells and controls only (the family the heatmap shows), not the report's. */
  pHolm: number;
  /** pHolm < alpha. */
  survives: boolean;
  excludesZero: boolean;
}

/** One grid point of a sweep: its parameters and its pooled (all languages) comparison with the baseline. */
export interface SweepCell extends SweepComparison {
  arm: string;
  lambda: number | null;
  /** MoE-layer band, inclusive. */
  layers: [number, number];
  /** Experts per layer kept per language (null for a delta recipe, which has none). */
  k: number | null;
  /** The share threshold (null for a delta recipe). */
  thr: number | null;
  /** The target languages of this point ("+"-joined in the arm name). */
  targets: string[];
  baselineScore: number;
  armScore: number;
  /** The point against its random controls; null when the sweep has none. */
  controls: SweepCellControls | null;
}

/** One random control of a sweep point, compared with the baseline like a cell (and Holm-adjusted with the cells). */
export interface SweepControlCell extends SweepComparison {
  arm: string;
  /** The point (a cell's arm) it is matched to. */
  of: string;
  seed: number;
}

export interface SweepView {
  name: string;
  /** The saved plan whose recipe the sweep varies. */
  source: string;
  lambdas: (number | null)[];
  bands: [number, number][];
  ks: (number | null)[];
  thrs: (number | null)[];
  targets: string[][];
  cells: SweepCell[];
  /** Seeds of the random controls drawn for every point (empty without controls). */
  controlSeeds: number[];
  controls: SweepControlCell[];
  alpha: number;
  /** What a cell shows, in words (the heatmap's legend). */
  legend: string;
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
  /** The sweep's cells, when the experiment has one. */
  sweep: SweepView | null;
  /** 'test': comparisons use the held-out test items of a dev/test split; 'all': every item. */
  itemsUsed: 'all' | 'test';
  devSplit: { fraction: number; seed: number } | null;
  /** The best plan or sweep point, where it was chosen, and the warning when it was chosen on the items it is reported on. */
  selection: { arm: string; on: 'dev' | 'all'; warning: string | null } | null;
}

/**
 * A sweep as the workbench defines it: a saved plan's recipe varied over lambda, MoE-layer bands, k, thr and target
 * lists, optionally with seeded random-expert controls of every grid point.
 */
export interface SweepArgs {
  planId: number;
  lambda?: number[];
  /** Inclusive MoE-layer bands, [first, last] or "first-last". */
  layers?: [number, number][];
  /** Experts per layer each language's top-k keeps (steer, mask): at most the model's experts per layer. */
  k?: number[];
  /** The plan's share threshold (steer, mask), in [0, 1]. */
  thr?: number[];
  targets?: string[][];
  /** Seeds of random-expert controls drawn for every grid point (same experts per layer, the point's values). */
  randomSeeds?: number[];
}

/** An object whose fields are checked one by one, named `<field>.<key>` in errors. */
function fields<T>(shape: Record<string, Schema<unknown>>): Schema<T> {
  return {
    check(v, m, f) {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ApiError('invalid-argument', `${m}: ${f} must be an object, got ${show(v)}`, { field: f });
      const o = v as Record<string, unknown>;
      const extra = Object.keys(o).filter((k) => !(k in shape));
      if (extra.length) throw new ApiError('invalid-argument', `${m}: ${f}.${extra[0]} is not a field (allowed: ${Object.keys(shape).join(', ')})`, { field: `${f}.${extra[0]}` });
      const out: Record<string, unknown> = {};
      for (const [k, sch] of Object.entries(shape)) {
        const val = sch.check(o[k], m, `${f}.${k}`);
        if (val !== undefined) out[k] = val;
      }
      return out as T;
    },
  };
}

/** "10-39", a single layer, or [first, last]. */
const band: Schema<[number, number]> = {
  check(v, m, f) {
    let pair: unknown[] | null = null;
    if (typeof v === 'string') {
      const x = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(v);
      if (x) pair = [Number(x[1]), Number(x[2] ?? x[1])];
    } else if (Array.isArray(v) && v.length === 2) pair = v;
    const ok = pair !== null && pair.every((n) => typeof n === 'number' && Number.isInteger(n) && n >= 0);
    if (!ok) throw new ApiError('invalid-argument', `${m}: ${f} must be a layer band such as "0-3" or [0, 3], got ${show(v)}`, { field: f });
    const [a, b] = pair as [number, number];
    if (b < a) throw new ApiError('invalid-argument', `${m}: ${f} band ${a}-${b} is empty (last before first)`, { field: f });
    return [a, b];
  },
};

const sweep = fields<SweepArgs>({
  planId: s.int({ min: 1 }),
  lambda: s.optional(s.array(s.number({ min: 0, max: 10 }), { min: 1, unique: true })),
  layers: s.optional(s.array(band, { min: 1 })),
  k: s.optional(s.array(s.int({ min: 1 }), { min: 1, unique: true })),
  thr: s.optional(s.array(s.number({ min: 0, max: 1 }), { min: 1, unique: true })),
  targets: s.optional(s.array(s.array(s.string({ max: 40 }), { min: 1, unique: true }), { min: 1 })),
  randomSeeds: s.optional(s.array(s.int({ min: 0 }), { min: 1, unique: true })),
});

/** Items are split by id: a fraction chooses the best arm (dev), the rest reports it (test). */
const devSplit = fields<{ fraction: number; seed?: number }>({
  fraction: s.number({ min: 0.05, max: 0.95 }),
  seed: s.optional(s.int({ min: 0 })),
});

const experimentId = s.int({ min: 1 });

export const experimentsArgs = {
  /** An A/B run: the baseline, every saved plan given as an arm, seeded random controls of the first plan. */
  'experiments.start': args({
    projectId,
    name,
    dataset: datasetRef,
    languages: s.array(s.string({ max: 40 }), { min: 1, unique: true }),
    task: s.oneOf(['nll', 'generate'] as const),
    /** Plans run as arms; may be empty when a sweep gives the arms. */
    planIds: s.array(s.int({ min: 1 }), { unique: true }),
    /** Seeds of random-expert controls matched to the first plan (0 to 20 of them). */
    randomSeeds: s.optional(s.array(s.int({ min: 0 }), { unique: true })),
    /** Items per language. */
    limit: s.int({ min: 1, max: 10_000 }),
    /** generate only. */
    maxNewTokens: s.optional(s.int({ min: 1, max: 512 })),
    /** A grid over a saved plan's recipe: every point becomes an arm (at most 64 points). */
    sweep: s.optional(sweep),
    /** Choose the best plan or sweep point on dev items and report it on the others. */
    devSplit: s.optional(devSplit),
  }),
  'experiments.rename': args({ projectId, experimentId, name }),
  /**
   * Refused while the experiment runs (cancel it first): results are never deleted under a running job. `cancel`:
   * cancel this process' job running it, wait for it to stop, then delete ("Cancel and delete").
   */
  'experiments.delete': args({ projectId, experimentId, cancel: s.optional(s.bool()) }),
  'experiments.resume': args({ projectId, experimentId }),
  'experiments.list': args({ projectId }),
  'experiments.get': args({ projectId, experimentId }),
};
