/**
 * Router steering plans: parsing the three accepted JSON shapes and turning them into one set of
 * per-MoE-layer tensors that the graph (and the reference forward) consume.
 *
 * The rule those tensors drive, per MoE layer and token, on raw router logits z[E]:
 *   z1 = z + bias + scale * |z| + std * stddev(z)        (population std of raw z over the experts)
 *   force[e] > 0: z2[e] = max(z1) + force[e];  force[e] < 0: z2[e] = min(z1) + force[e];  else z2 = z1
 *   mask[e] = 1: z3[e] = -1e9
 * then the architecture's own routing on z3.
 *
 * Accepted plans (layer keys are DECODER layer indices, expert keys expert indices):
 * - reference steering (arXiv 2601.14050 code): {"lambda": x, "steer_dict": {"<layer>": {"<expert>": s}}} => scale = lambda * s
 * - reference masking: {"<layer>": [expert, ...]}
 * - project format: {"format": "routescope-plan", "version": 1, "layers": {"<layer>": {"bias"|"scale"|"std"|"force": {"<e>": v}, "mask": [e, ...]}}}
 *
 * Masks that leave a layer without its k experts: masking EVERY expert is refused (all logits tie at -1e9, so
 * the layer would silently route to experts 0..k-1 with equal weights: never what a plan means). Leaving
 * 1..k-1 experts unmasked is allowed with a warning: the routing stays well defined (the unmasked experts share
 * all the weight; the remaining top-k slots go to masked experts at weight 0), but those slots show up in the
 * captured expert ids.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ModelFolderError } from './errors.js';

export interface SteeringLayerTensors {
  bias: Float32Array;
  scale: Float32Array;
  std: Float32Array;
  force: Float32Array;
  /** 1 = expert masked (logit set to -1e9). */
  mask: Uint8Array;
}

export interface SteeringTensors {
  /** One entry per MoE layer, in decoder order; arrays have numExperts entries. */
  perMoeLayer: SteeringLayerTensors[];
}

export interface SteeringModelShape {
  numLayers: number;
  numExperts: number;
  /** Decoder layer index of each MoE layer, ascending. */
  moeLayers: number[];
  /** Experts each token is routed to (masks leaving fewer unmasked are warned about). */
  topK: number;
}

/** A validated plan: its tensors and what the caller should tell the user (one line each, naming the plan and layer). */
export interface ResolvedPlan extends SteeringTensors {
  warnings: string[];
}

export const PLAN_FORMAT = 'routescope-plan';
export const PLAN_VERSION = 1;
/** The value a masked expert's logit is set to (finite so fp32 softmax gives exactly 0 without NaN). */
export const MASKED_LOGIT = -1e9;

const FIELDS = ['bias', 'scale', 'std', 'force'] as const;
type Field = (typeof FIELDS)[number];

export function neutralSteering(model: Omit<SteeringModelShape, 'topK'>): SteeringTensors {
  return {
    perMoeLayer: model.moeLayers.map(() => ({
      bias: new Float32Array(model.numExperts),
      scale: new Float32Array(model.numExperts),
      std: new Float32Array(model.numExperts),
      force: new Float32Array(model.numExperts),
      mask: new Uint8Array(model.numExperts),
    })),
  };
}

/** True when the tensors change nothing (lets callers skip the steering arithmetic). */
export function isNeutralSteering(t: SteeringTensors): boolean {
  return t.perMoeLayer.every((l) => FIELDS.every((f) => l[f].every((v) => v === 0)) && l.mask.every((v) => v === 0));
}

class PlanContext {
  constructor(
    readonly source: string,
    readonly model: SteeringModelShape,
    readonly out: SteeringTensors,
  ) {}

  fail(problem: string, layer?: string, expert?: string): never {
    const where = [layer === undefined ? undefined : `layer ${layer}`, expert === undefined ? undefined : `expert ${expert}`].filter(Boolean).join(', ');
    throw new ModelFolderError(`${this.source}: ${where ? where + ': ' : ''}${problem}`, { file: this.source });
  }

  /** Decoder layer key -> index into perMoeLayer. */
  moeSlot(key: string): number {
    if (!/^\d+$/.test(key.trim())) this.fail(`layer key "${key}" is not a non-negative integer`);
    const layer = Number(key.trim());
    const { numLayers, moeLayers } = this.model;
    if (layer >= numLayers) this.fail(`the model has ${numLayers} decoder layers (0-${numLayers - 1})`, key);
    const slot = moeLayers.indexOf(layer);
    if (slot < 0) this.fail(`not a MoE layer (MoE layers: ${compactList(moeLayers)})`, key);
    return slot;
  }

  expert(key: string | number, layer: string): number {
    const text = String(key).trim();
    if (!/^\d+$/.test(text)) this.fail(`expert "${String(key)}" is not a non-negative integer`, layer);
    const e = Number(text);
    if (e >= this.model.numExperts) this.fail(`the model has ${this.model.numExperts} experts per layer (0-${this.model.numExperts - 1})`, layer, text);
    return e;
  }

  value(v: unknown, layer: string, expert: string, what: string): number {
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(`${what} must be a finite number, got ${JSON.stringify(v)}`, layer, expert);
    return v;
  }
}

function compactList(xs: number[]): string {
  if (xs.length === 0) return 'none';
  const parts: string[] = [];
  let start = xs[0]!;
  let prev = start;
  for (const x of [...xs.slice(1), NaN]) {
    if (x === prev + 1) {
      prev = x;
      continue;
    }
    parts.push(start === prev ? String(start) : `${start}-${prev}`);
    start = prev = x;
  }
  return parts.join(', ');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function applyReferenceSteering(ctx: PlanContext, plan: Record<string, unknown>): void {
  const extra = Object.keys(plan).filter((k) => k !== 'lambda' && k !== 'steer_dict');
  if (extra.length) ctx.fail(`unexpected key(s) ${extra.map((k) => `"${k}"`).join(', ')} in a steering plan ({"lambda", "steer_dict"})`);
  const lambda = plan.lambda;
  if (typeof lambda !== 'number' || !Number.isFinite(lambda)) ctx.fail(`"lambda" must be a finite number, got ${JSON.stringify(lambda)}`);
  const dict = plan.steer_dict;
  if (!isPlainObject(dict)) ctx.fail('"steer_dict" must be an object {"<layer>": {"<expert>": coefficient}}');
  for (const [layerKey, experts] of Object.entries(dict)) {
    const slot = ctx.moeSlot(layerKey);
    if (!isPlainObject(experts)) ctx.fail('must map expert indices to coefficients', layerKey);
    for (const [eKey, s] of Object.entries(experts)) {
      const e = ctx.expert(eKey, layerKey);
      const coeff = ctx.value(s, layerKey, eKey, 'coefficient');
      const scaled = lambda * coeff;
      if (!Number.isFinite(scaled)) ctx.fail(`lambda * coefficient overflows`, layerKey, eKey);
      ctx.out.perMoeLayer[slot]!.scale[e] = scaled;
    }
  }
}

function applyReferenceMasking(ctx: PlanContext, plan: Record<string, unknown>): void {
  for (const [layerKey, experts] of Object.entries(plan)) {
    const slot = ctx.moeSlot(layerKey);
    if (!Array.isArray(experts)) ctx.fail('a masking plan maps each layer to a list of experts', layerKey);
    for (const e of experts) {
      if (typeof e !== 'number' && typeof e !== 'string') ctx.fail(`expert ${JSON.stringify(e)} is not an integer`, layerKey);
      ctx.out.perMoeLayer[slot]!.mask[ctx.expert(e, layerKey)] = 1;
    }
  }
}

function applyProjectPlan(ctx: PlanContext, plan: Record<string, unknown>): void {
  if (plan.version !== PLAN_VERSION) ctx.fail(`unsupported plan version ${JSON.stringify(plan.version)} (this build reads version ${PLAN_VERSION})`);
  const layers = plan.layers;
  if (!isPlainObject(layers)) ctx.fail('"layers" must be an object {"<layer>": {...}}');
  for (const [layerKey, spec] of Object.entries(layers)) {
    const slot = ctx.moeSlot(layerKey);
    if (!isPlainObject(spec)) ctx.fail('must be an object with bias/scale/std/force/mask', layerKey);
    const target = ctx.out.perMoeLayer[slot]!;
    for (const [field, value] of Object.entries(spec)) {
      if (field === 'mask') {
        if (!Array.isArray(value)) ctx.fail('"mask" must be a list of experts', layerKey);
        for (const e of value) {
          if (typeof e !== 'number' && typeof e !== 'string') ctx.fail(`mask entry ${JSON.stringify(e)} is not an integer`, layerKey);
          target.mask[ctx.expert(e, layerKey)] = 1;
        }
        continue;
      }
      if (!(FIELDS as readonly string[]).includes(field)) {
        ctx.fail(`unknown field "${field}" (expected ${[...FIELDS, 'mask'].join(', ')})`, layerKey);
      }
      if (!isPlainObject(value)) ctx.fail(`"${field}" must map expert indices to numbers`, layerKey);
      for (const [eKey, v] of Object.entries(value)) {
        target[field as Field][ctx.expert(eKey, layerKey)] = ctx.value(v, layerKey, eKey, `"${field}"`);
      }
    }
  }
}

/** Refuses layers whose every expert is masked; returns a warning per layer left with fewer than top-k experts. */
function checkMaskCoverage(ctx: PlanContext): string[] {
  const { numExperts, topK, moeLayers } = ctx.model;
  const warnings: string[] = [];
  ctx.out.perMoeLayer.forEach((l, slot) => {
    const layer = String(moeLayers[slot]);
    const open = l.mask.reduce((n, m) => n + (m ? 0 : 1), 0);
    if (open === 0) {
      ctx.fail(`every expert is masked, so the layer would route to expert(s) 0..${topK - 1} with equal weights; leave at least one expert unmasked`, layer);
    }
    if (open < topK) {
      warnings.push(
        `${ctx.source}: layer ${layer}: only ${open} of ${numExperts} experts stay unmasked, fewer than the model's top-${topK}; ` +
          `they share all the routing weight and the other ${topK - open} slot(s) go to masked experts at weight 0 (listed in the captured expert ids)`,
      );
    }
  });
  return warnings;
}

/** Validates `plan` against the model and returns the steering tensors; `source` names the plan in errors and warnings. */
export function resolvePlan(plan: unknown, model: SteeringModelShape, source = 'steering plan'): ResolvedPlan {
  const out = neutralSteering(model);
  const ctx: PlanContext = new PlanContext(source, model, out);
  if (!isPlainObject(plan)) ctx.fail('a plan must be a JSON object');
  if ('format' in plan) {
    if (plan.format !== PLAN_FORMAT) ctx.fail(`unknown plan format ${JSON.stringify(plan.format)} (expected "${PLAN_FORMAT}")`);
    applyProjectPlan(ctx, plan);
  } else if ('steer_dict' in plan || 'lambda' in plan) {
    applyReferenceSteering(ctx, plan);
  } else if (Object.values(plan).every(Array.isArray)) {
    applyReferenceMasking(ctx, plan);
  } else {
    ctx.fail('not a recognised plan: expected {"format": "routescope-plan", ...}, {"lambda", "steer_dict"} or {"<layer>": [experts]}');
  }
  return { ...out, warnings: checkMaskCoverage(ctx) };
}

/** Reads a plan file (JSON) and resolves it; errors name the file. */
export function loadPlanFile(path: string, model: SteeringModelShape): ResolvedPlan {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ModelFolderError(`${file}: ${code === 'ENOENT' ? 'plan file not found' : `cannot read plan (${code ?? String(err)})`}`, { file });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ModelFolderError(`${file}: plan is not valid JSON (${(err as Error).message})`, { file });
  }
  return resolvePlan(parsed, model, file);
}

/** The project-format plan equivalent to `t` (only non-neutral entries), e.g. to save what an analysis produced. */
export function toProjectPlan(t: SteeringTensors, model: SteeringModelShape): Record<string, unknown> {
  const layers: Record<string, unknown> = {};
  t.perMoeLayer.forEach((l, slot) => {
    const spec: Record<string, unknown> = {};
    for (const f of FIELDS) {
      const entries: Record<string, number> = {};
      l[f].forEach((v, e) => {
        if (v !== 0) entries[String(e)] = v;
      });
      if (Object.keys(entries).length) spec[f] = entries;
    }
    const masked = [...l.mask.keys()].filter((e) => l.mask[e] === 1);
    if (masked.length) spec.mask = masked;
    if (Object.keys(spec).length) layers[String(model.moeLayers[slot])] = spec;
  });
  return { format: PLAN_FORMAT, version: PLAN_VERSION, layers };
}
