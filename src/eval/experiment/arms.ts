/**
 * Arms resolved against a model: each spec arm becomes the steering tensors the engine applies, the same plan as
 * project-format JSON (what is stored, so a reader sees exactly what was applied) and its hash. Plans are computed
 * by src/analysis (steer, mask, 2510.04694 delta, random controls) and validated by src/engine/steering-plan.ts.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  AnalysisInputError, deltaSteeringPlan, loadRecorderFolder, maskingPlan, randomMaskControl, steeringPlan,
  type MaskPlan, type RoutingData,
} from '../../analysis/index.js';
import { isNeutralSteering, resolvePlan, toProjectPlan, PLAN_FORMAT, PLAN_VERSION, type SteeringModelShape, type SteeringTensors } from '../../engine/steering-plan.js';
import { loadRunRouting } from '../../store/index.js';
import { armNames, canonicalJson, ExperimentSpecError, type ArmSpec, type ExperimentSpec, type Recipe, type RoutingRef } from './spec.js';

export interface ResolvedArm {
  name: string;
  kind: ArmSpec['kind'];
  /** Where the plan came from, in words (file, recipe and routing source, control seed). */
  source: string;
  /** Project-format plan actually applied (null for the baseline). */
  plan: Record<string, unknown> | null;
  planHash: string | null;
  /** Undefined for the baseline: the engine then runs its neutral steering. */
  steering?: SteeringTensors;
  /** Per MoE layer (slot), the experts the plan touches (any field non-zero, or masked), ascending. */
  experts: number[][];
  /** An A/A arm: exempt from the no-op refusal. */
  allowNoop?: boolean;
}

export class ArmError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArmError';
  }
}

export function planHash(plan: Record<string, unknown>): string {
  return `sha256:${createHash('sha256').update(canonicalJson(plan)).digest('hex')}`;
}

/** Experts each MoE layer's plan touches. */
export function touchedExperts(t: SteeringTensors): number[][] {
  return t.perMoeLayer.map((l) => {
    const out: number[] = [];
    for (let e = 0; e < l.mask.length; e++) if (l.mask[e] || l.bias[e] || l.scale[e] || l.std[e] || l.force[e]) out.push(e);
    return out;
  });
}

function routingKey(r: RoutingRef): string {
  return 'db' in r ? `${r.db}#${r.run}:${r.scope}` : `${r.folder}|${r.pattern ?? ''}`;
}

function describeRouting(r: RoutingRef): string {
  return 'db' in r ? `run ${r.run} in ${r.db} (${r.scope} tokens)` : `recorder JSON in ${r.folder}${r.pattern ? ` (${r.pattern})` : ''}`;
}

function loadRouting(r: RoutingRef): RoutingData {
  return 'db' in r ? loadRunRouting(r.db, r.run, { scope: r.scope }) : loadRecorderFolder(r.folder, r.pattern ? { pattern: r.pattern } : {});
}

/** Decoder-layer key of the routing data's MoE layer `l` (the engine's plans are keyed by decoder layer). */
function decoderLayer(data: RoutingData, l: number): string {
  const d = data.moeLayers[l];
  if (d === undefined) throw new ArmError(`routing layer ${l} is outside ${data.source}'s ${data.moeLayers.length} MoE layers`);
  return String(d);
}

/** The recipe's plan in the project format, keyed by decoder layer. */
export function recipePlan(data: RoutingData, recipe: Recipe): Record<string, unknown> {
  const layers: Record<string, Record<string, unknown>> = {};
  if (recipe.type === 'steer') {
    const p = steeringPlan(data, { targets: recipe.targets, k: recipe.k, thr: recipe.thr, layers: recipe.layers, lambda: recipe.lambda, mode: recipe.mode });
    // z' = z + lambda * s * |z|: the engine's `scale` field is lambda * s.
    for (const [l, experts] of p.steer) layers[decoderLayer(data, l)] = { scale: Object.fromEntries([...experts].map(([e, s]) => [String(e), p.lambda * s])) };
  } else if (recipe.type === 'mask') {
    const p = maskingPlan(data, { targets: recipe.targets, shared: recipe.shared, k: recipe.k, thr: recipe.thr, layers: recipe.layers });
    for (const [l, experts] of p) layers[decoderLayer(data, l)] = { mask: experts };
  } else {
    const p = deltaSteeringPlan(data, { target: recipe.target, pivot: recipe.pivot, tau: recipe.tau, layers: recipe.layers, mode: recipe.mode, lambda: recipe.lambda, eps: recipe.eps, suppress: recipe.suppress });
    for (const [l, experts] of Object.entries(p.layers)) {
      // soft: z' = z + lambda * std(z) (engine field `std`); hard: max(z) + eps or min(z) - eps (engine field `force`).
      const value = p.mode === 'soft' ? p.lambda! : p.suppress ? -p.eps! : p.eps!;
      layers[decoderLayer(data, Number(l))] = { [p.mode === 'soft' ? 'std' : 'force']: Object.fromEntries(experts.map((e) => [String(e), value])) };
    }
  }
  return { format: PLAN_FORMAT, version: PLAN_VERSION, layers };
}

/**
 * A seeded random control of `t`: in every MoE layer the same number of experts, drawn at random outside the plan's
 * own (src/analysis randomMaskControl draws them), carrying the plan's values: the i-th touched expert's values go
 * to the i-th drawn expert. Only which experts are edited differs.
 */
export function randomControl(t: SteeringTensors, numExperts: number, seed: number): SteeringTensors {
  const touched = touchedExperts(t);
  const asMask: MaskPlan = new Map();
  touched.forEach((experts, slot) => experts.length && asMask.set(slot, experts));
  const drawn = randomMaskControl(asMask, numExperts, seed);
  const out: SteeringTensors = {
    perMoeLayer: t.perMoeLayer.map(() => ({
      bias: new Float32Array(numExperts), scale: new Float32Array(numExperts), std: new Float32Array(numExperts), force: new Float32Array(numExperts), mask: new Uint8Array(numExperts),
    })),
  };
  for (const [slot, to] of drawn) {
    const from = touched[slot]!;
    const src = t.perMoeLayer[slot]!;
    const dst = out.perMoeLayer[slot]!;
    from.forEach((e, i) => {
      const f = to[i]!;
      dst.bias[f] = src.bias[e]!;
      dst.scale[f] = src.scale[e]!;
      dst.std[f] = src.std[e]!;
      dst.force[f] = src.force[e]!;
      dst.mask[f] = src.mask[e]!;
    });
  }
  return out;
}

function readPlanFile(file: string, where: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ExperimentSpecError(`plan file ${file}: ${code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? String(err)})`}`, where);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ExperimentSpecError(`plan file ${file} is not valid JSON (${(err as Error).message})`, where);
  }
}

/**
 * Every arm of the spec resolved against the model, in run order. A plan that does not fit the model (a layer it
 * lacks, an expert beyond its count), a routing source that cannot be read or a recipe that selects no expert is
 * an error naming the arm.
 */
export function resolveArms(spec: ExperimentSpec, model: SteeringModelShape): ResolvedArm[] {
  const routingCache = new Map<string, RoutingData>();
  const byName = new Map<string, ResolvedArm>();
  const out: ResolvedArm[] = [];
  const entries = armNames(spec);
  const resolveOne = (name: string, arm: ArmSpec, seed: number | undefined): ResolvedArm => {
    const fail = (msg: string): never => {
      throw new ArmError(`arm '${name}': ${msg}`);
    };
    const allowNoop = arm.kind === 'plan' && arm.allowNoop === true;
    const finish = (kind: ArmSpec['kind'], source: string, steering: SteeringTensors): ResolvedArm => {
      if (isNeutralSteering(steering) && !allowNoop) fail(`its plan edits no expert (${source}); it would be a silent copy of the baseline (set "allow_noop": true for an A/A check)`);
      const plan = toProjectPlan(steering, model);
      return { name, kind, source, plan, planHash: planHash(plan), steering, experts: touchedExperts(steering), ...(allowNoop ? { allowNoop } : {}) };
    };
    const resolveJson = (plan: unknown, source: string) => {
      try {
        return resolvePlan(plan, model, `arm '${name}' plan (${source})`);
      } catch (err) {
        return fail(`the plan does not fit the model: ${(err as Error).message}`);
      }
    };
    if (arm.kind === 'baseline') return { name, kind: 'baseline', source: 'no steering', plan: null, planHash: null, experts: model.moeLayers.map(() => []) };
    if (arm.kind === 'plan') {
      const source = arm.file ? `plan file ${arm.file}` : 'inline plan';
      return finish('plan', source, resolveJson(arm.file ? readPlanFile(arm.file, `arm '${name}'.file`) : arm.plan, source));
    }
    if (arm.kind === 'recipe') {
      const key = routingKey(arm.routing);
      let data = routingCache.get(key);
      if (!data) {
        try {
          data = loadRouting(arm.routing);
        } catch (err) {
          fail(`cannot load routing from ${describeRouting(arm.routing)}: ${(err as Error).message}`);
        }
        routingCache.set(key, data!);
      }
      if (data!.numExperts !== model.numExperts) fail(`the routing in ${describeRouting(arm.routing)} has ${data!.numExperts} experts per layer, the model has ${model.numExperts}`);
      let plan: Record<string, unknown>;
      try {
        plan = recipePlan(data!, arm.recipe);
      } catch (err) {
        if (err instanceof AnalysisInputError || err instanceof ArmError) fail(`recipe: ${err.message}`);
        throw err;
      }
      const source = `${arm.recipe.type} recipe ${canonicalJson(arm.recipe)} from ${describeRouting(arm.routing)}`;
      return finish('recipe', source, resolveJson(plan!, source));
    }
    const of = byName.get(arm.of);
    if (!of?.steering) fail(`random control of '${arm.of}', which has no plan`);
    let steering: SteeringTensors;
    try {
      steering = randomControl(of!.steering!, model.numExperts, seed!);
    } catch (err) {
      if (err instanceof AnalysisInputError) fail(err.message);
      throw err;
    }
    return finish('random', `random control of '${arm.of}', seed ${seed}, same experts per layer`, steering!);
  };
  // Random controls refer to arms listed anywhere in the spec, so plans and recipes resolve first.
  for (const e of entries) if (e.spec.kind !== 'random') byName.set(e.name, resolveOne(e.name, e.spec, e.seed));
  for (const e of entries) {
    const arm = byName.get(e.name) ?? resolveOne(e.name, e.spec, e.seed);
    byName.set(e.name, arm);
    out.push(arm);
  }
  return out;
}
