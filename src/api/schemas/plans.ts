import { ApiError } from '../errors.js';
import { args, s, show, type Schema } from '../schema.js';
import { name, projectId, runId } from './ids.js';

/**
 * A plan recipe, the shape of src/eval/experiment/spec.ts's Recipe (written out here because the renderer imports
 * this file and must not pull in Node modules; src/api/plans-service.ts asserts at compile time that the two agree,
 * and checks every field with the experiment core's own parser, naming the bad one).
 */
export type Recipe =
  | { type: 'steer'; mode: 'shared' | 'aggregate'; targets: string[]; k: number; thr: number; layers: [number, number]; lambda: number }
  | { type: 'mask'; targets: string[]; shared: boolean; k: number; thr: number; layers: [number, number] }
  | { type: 'delta'; mode: 'soft' | 'hard'; target: string; pivot: string; tau: number; layers: [number, number]; lambda: number; eps: number; suppress: boolean };

/** One decoder layer of a plan: the experts it edits and how (the project plan's fields: scale, mask, std, force, bias). */
export interface PlanLayerView {
  decoderLayer: number;
  experts: { expert: number; field: 'scale' | 'mask' | 'std' | 'force' | 'bias'; value: number }[];
}

export interface PlanPreview {
  runId: number;
  /** Set when this is the seeded random control of the recipe's plan. */
  randomSeed?: number;
  recipe: Recipe;
  numExperts: number;
  /** The decoder layers that have a router (the rows of the preview grid). */
  moeLayers: number[];
  layers: PlanLayerView[];
  /** (layer, expert) pairs the plan edits. */
  touched: number;
  /** The project-format plan (what `routescope forward --plan` and experiment plan arms read). */
  json: string;
}

export interface PlanView extends Omit<PlanPreview, 'runId'> {
  id: number;
  name: string;
  /** Null once the run it was built from is deleted (the stored plan stays usable). */
  runId: number | null;
  scope: 'all' | 'content';
  createdAt: string;
}

export interface PlanPreset {
  id: string;
  label: string;
  /** Where the numbers come from, in words. */
  source: string;
  recipe: Recipe;
}

export interface TriedToken {
  text: string;
  /** Per MoE layer (moeLayers order), the experts this token was routed to. */
  experts: number[][];
}
export interface TrySide {
  text: string;
  finishReason: 'stop' | 'length';
  tokens: TriedToken[];
}
export interface TryResult {
  prompt: string;
  moeLayers: number[];
  topK: number;
  baseline: TrySide;
  steered: TrySide;
  /** Generated tokens whose experts differ from the baseline's in some layer at the same position. */
  changedTokens: number;
  /** The engine that ran it: already loaded by an earlier call (reused), or loaded for this one (loadMs); its precision. */
  engine: { reused: boolean; loadMs: number; precision: string | null };
}

/** At most this many new tokens in "try it on one prompt": a preview, not an evaluation. */
export const TRY_MAX_TOKENS = 64;

/** Only the outline here (an object with a known type); the service runs the experiment core's full check. */
const recipe: Schema<Recipe> = {
  check(v, m, f) {
    const type = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as { type?: unknown }).type : undefined;
    if (type !== 'steer' && type !== 'mask' && type !== 'delta') throw new ApiError('invalid-argument', `${m}: ${f} must be a recipe object with type steer, mask or delta, got ${show(v)}`, { field: f });
    return v as Recipe;
  },
};
const planId = s.int({ min: 1 });
const scope = s.optional(s.oneOf(['all', 'content'] as const));

export const plansArgs = {
  /** Paper presets filled in for this run (its layers, expert count and languages). */
  'plans.presets': args({ projectId, runId }),
  /** The plan a recipe gives on a run's routing, not saved. */
  'plans.preview': args({
    projectId, runId, recipe, scope,
    /** Preview the seeded random control of the recipe's plan instead (what an experiment's random arm applies). */
    randomSeed: s.optional(s.int({ min: 0 })),
  }),
  'plans.save': args({ projectId, runId, recipe, scope, name }),
  'plans.list': args({ projectId }),
  'plans.rename': args({ projectId, planId, name }),
  'plans.delete': args({ projectId, planId }),
  /** Greedy generation of one prompt without and with a saved plan, with every token's experts per layer. */
  'plans.try': args({ projectId, planId, prompt: s.string({ max: 4000 }), maxNewTokens: s.optional(s.int({ min: 1, max: TRY_MAX_TOKENS })) }),
};
