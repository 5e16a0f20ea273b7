/**
 * The steering lab's back end: plans built from a capture run's routing with the experiment core's recipes
 * (src/eval/experiment recipePlan, which calls src/analysis steeringPlan / maskingPlan / deltaSteeringPlan, the
 * same functions as `routescope plan`), saved in the project, and tried on one prompt with the engine in this
 * process: greedy generation without and with the plan, each token's experts per layer.
 */
import { AnalysisInputError, type RoutingData } from '../analysis/index.js';
import { demoBands, DEMO_SPECIALISATION, DEMO_STEER, pivotCandidates, scaledK, targetCandidates } from '../demo/settings.js';
import type { GeneratedSequence } from '../engine/index.js';
import { parsePrecision } from '../engine/precision.js';
import { resolvePlan, toProjectPlan, type SteeringModelShape } from '../engine/steering-plan.js';
import { ArmError, randomControl, recipePlan } from '../eval/experiment/arms.js';
import { checkRecipe, ExperimentSpecError, type Recipe as SpecRecipe } from '../eval/experiment/spec.js';
import { findLanguage } from '../languages/index.js';
import { deletePlan, getPlan, getRun, insertPlan, listPlans, loadRunRouting, renamePlan, type PlanRecord } from '../store/index.js';
import { ApiError } from './errors.js';
import type { PlanLayerView, PlanPreset, PlanPreview, PlanView, Recipe, TryResult, TrySide } from './schemas/plans.js';
import { TRY_MAX_TOKENS } from './schemas/plans.js';
import type { EnginePool } from './engine-pool.js';
import type { Workspace } from './workspace.js';

type Scope = 'all' | 'content';

// The API's Recipe is written out for the renderer; these fail to compile if it drifts from the experiment core's.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const recipesAgree: Same<Recipe, SpecRecipe> = true;
void recipesAgree;

/** The experiment core's recipe check (defaults filled in, every problem named by its field, e.g. recipe.layers). */
export function validRecipe(v: Recipe): Recipe {
  try {
    return checkRecipe(v, 'recipe');
  } catch (err) {
    if (err instanceof ExperimentSpecError) throw new ApiError('invalid-argument', err.message, { field: err.field });
    throw err;
  }
}
const FIELDS = ['mask', 'scale', 'std', 'force', 'bias'] as const;

/** The project-format plan's layers as rows of (expert, field, value), decoder layers ascending. */
export function planLayers(plan: Record<string, unknown>): PlanLayerView[] {
  const layers = (plan.layers ?? {}) as Record<string, Record<string, unknown>>;
  return Object.keys(layers)
    .map(Number)
    .sort((a, b) => a - b)
    .map((decoderLayer) => {
      const entry = layers[String(decoderLayer)]!;
      const experts: PlanLayerView['experts'] = [];
      for (const field of FIELDS) {
        const v = entry[field];
        if (field === 'mask' && Array.isArray(v)) for (const e of v as number[]) experts.push({ expert: e, field, value: 1 });
        else if (v && typeof v === 'object') for (const [e, x] of Object.entries(v as Record<string, number>)) experts.push({ expert: Number(e), field, value: x });
      }
      experts.sort((a, b) => a.expert - b.expert);
      return { decoderLayer, experts };
    })
    .filter((l) => l.experts.length > 0);
}

export class PlanService {
  constructor(
    private readonly workspace: Workspace,
    private readonly engines: EnginePool,
  ) {}

  private routing(projectId: string, runId: number, scope: Scope): RoutingData {
    if (!this.workspace.exists(projectId)) throw this.workspace.deleted(projectId);
    return loadRunRouting(this.workspace.dbFile(projectId), runId, { scope });
  }

  private build(data: RoutingData, recipe: Recipe): Record<string, unknown> {
    try {
      return recipePlan(data, recipe);
    } catch (err) {
      // A target the run lacks, a layer range beyond its layers: the user's recipe, said as such.
      if (err instanceof AnalysisInputError || err instanceof ArmError) throw new ApiError('invalid-argument', `recipe: ${err.message}`, { field: 'recipe' });
      throw err;
    }
  }

  private view(runId: number, recipe: Recipe, data: RoutingData, plan: Record<string, unknown>): PlanPreview {
    const layers = planLayers(plan);
    return {
      runId, recipe, numExperts: data.numExperts, moeLayers: [...data.moeLayers], layers,
      touched: layers.reduce((n, l) => n + l.experts.length, 0), json: JSON.stringify(plan, null, 2),
    };
  }

  /**
   * The papers' settings on this run: 2601.14050 steering (k 20 of 128 experts, thr 0.7, lambda 0.022, shared
   * experts of pivot and target, middle layers) and masking (k 15 of 128, thr 0.4, the target's exclusive experts),
   * and 2510.04694 soft and hard steering (tau 0.3), with k scaled to the model's expert count and the middle third
   * of the MoE layers.
   */
  presets(projectId: string, runId: number): PlanPreset[] {
    const data = this.routing(projectId, runId, 'all');
    const langs = data.languages.map((l) => l.language);
    const resourceOf = (code: string) => findLanguage(code)?.resource;
    const pivot = pivotCandidates(langs, resourceOf)[0] ?? langs[0]!;
    const target = targetCandidates(langs, resourceOf, pivot)[0] ?? langs.find((l) => l !== pivot) ?? pivot;
    const n = data.moeLayers.length;
    const middle = demoBands(n).middle ?? [0, n - 1];
    const steerK = scaledK(DEMO_STEER.paperK, data.numExperts, data.topK);
    const maskK = scaledK(DEMO_SPECIALISATION.paperK, data.numExperts, data.topK);
    const scaled = (paper: number, k: number) => (k === paper && data.numExperts === 128 ? `k ${k}` : `k ${k} (the paper's ${paper} of 128 scaled to ${data.numExperts} experts)`);
    return [
      {
        id: '2601.14050-steer', label: 'arXiv 2601.14050 shared steering',
        source: `${scaled(DEMO_STEER.paperK, steerK)}, thr ${DEMO_STEER.thr}, λ ${DEMO_STEER.lambda}, shared experts of ${pivot} and ${target}, middle MoE layers ${middle[0]}–${middle[1]}`,
        recipe: { type: 'steer', mode: 'shared', targets: [pivot, target], k: steerK, thr: DEMO_STEER.thr, layers: middle, lambda: DEMO_STEER.lambda },
      },
      {
        id: '2601.14050-mask', label: 'arXiv 2601.14050 masking',
        source: `${scaled(DEMO_SPECIALISATION.paperK, maskK)}, thr ${DEMO_SPECIALISATION.thr}, ${target}'s exclusive experts, middle MoE layers ${middle[0]}–${middle[1]}`,
        recipe: { type: 'mask', shared: false, targets: [target], k: maskK, thr: DEMO_SPECIALISATION.thr, layers: middle },
      },
      {
        id: '2510.04694-soft', label: 'arXiv 2510.04694 soft steering',
        source: `experts more frequent on ${target} than on ${pivot} by more than tau 0.3; z' = z + λ·std(z), λ 0.5; middle MoE layers`,
        recipe: { type: 'delta', mode: 'soft', target, pivot, tau: 0.3, layers: middle, lambda: 0.5, eps: 1e-3, suppress: false },
      },
      {
        id: '2510.04694-hard', label: 'arXiv 2510.04694 hard steering',
        source: `the same experts forced into the top-k: z' = max(z) + eps, eps 0.001; middle MoE layers`,
        recipe: { type: 'delta', mode: 'hard', target, pivot, tau: 0.3, layers: middle, lambda: 0.5, eps: 1e-3, suppress: false },
      },
    ];
  }

  preview(projectId: string, runId: number, given: Recipe, scope: Scope = 'all', randomSeed?: number): PlanPreview {
    const recipe = validRecipe(given);
    const data = this.routing(projectId, runId, scope);
    const plan = this.build(data, recipe);
    if (randomSeed === undefined) return this.view(runId, recipe, data, plan);
    // The experiment core's random control (same experts per layer, drawn outside the plan, carrying its values).
    // Plans name only MoE layers, so the highest of them bounds the decoder layers the check needs.
    const shape: SteeringModelShape = { numLayers: Math.max(...data.moeLayers) + 1, numExperts: data.numExperts, moeLayers: data.moeLayers, topK: data.topK };
    let control: Record<string, unknown>;
    try {
      control = toProjectPlan(randomControl(resolvePlan(plan, shape, 'recipe'), data.numExperts, randomSeed), shape);
    } catch (err) {
      if (err instanceof AnalysisInputError) throw new ApiError('invalid-argument', `random control: ${err.message}`, { field: 'randomSeed' });
      throw err;
    }
    return { ...this.view(runId, recipe, data, control), randomSeed };
  }

  save(projectId: string, runId: number, given: Recipe, scope: Scope = 'all', name: string): PlanView {
    const recipe = validRecipe(given);
    const data = this.routing(projectId, runId, scope);
    const plan = this.build(data, recipe);
    const p = this.view(runId, recipe, data, plan);
    if (p.touched === 0) throw new ApiError('invalid-argument', `plan '${name}' selects no expert on run ${runId}: it would change nothing (loosen thr or k, or widen the layers)`, { field: 'recipe' });
    const id = this.workspace.with(projectId, (store) => insertPlan(store, { name, runId, scope, recipe, plan, experts: p.touched }));
    return this.get(projectId, id);
  }

  private toView(r: PlanRecord, numExperts: number, moeLayers: number[]): PlanView {
    const layers = planLayers(r.plan);
    return {
      id: r.id, name: r.name, runId: r.runId, scope: r.scope, recipe: r.recipe as Recipe, numExperts, moeLayers, layers, touched: r.experts,
      json: JSON.stringify(r.plan, null, 2), createdAt: r.createdAt,
    };
  }

  private shapeOf(store: Parameters<Parameters<Workspace['with']>[1]>[0], r: PlanRecord): { numExperts: number; moeLayers: number[] } {
    const layers = planLayers(r.plan);
    if (r.runId !== null) {
      try {
        const run = getRun(store, r.runId);
        if (run.model) return { numExperts: run.model.numExperts, moeLayers: run.moeLayers };
      } catch {
        // the run was deleted: fall back to what the plan itself shows
      }
    }
    return { numExperts: Math.max(0, ...layers.flatMap((l) => l.experts.map((e) => e.expert + 1))), moeLayers: layers.map((l) => l.decoderLayer) };
  }

  get(projectId: string, planId: number): PlanView {
    return this.workspace.with(projectId, (store) => {
      const r = getPlan(store, planId);
      const shape = this.shapeOf(store, r);
      return this.toView(r, shape.numExperts, shape.moeLayers);
    });
  }

  list(projectId: string): PlanView[] {
    return this.workspace.with(projectId, (store) =>
      listPlans(store).reverse().map((r) => {
        const shape = this.shapeOf(store, r);
        return this.toView(r, shape.numExperts, shape.moeLayers);
      }),
    );
  }

  rename(projectId: string, planId: number, name: string): PlanView {
    this.workspace.with(projectId, (store) => renamePlan(store, planId, name));
    return this.get(projectId, planId);
  }

  delete(projectId: string, planId: number): void {
    this.workspace.with(projectId, (store) => deletePlan(store, planId));
  }

  /**
   * Generates greedily from the prompt without and with the plan, capturing routing, on the model of the plan's run
   * at the run's precision. The engine is kept loaded in the pool for the next prompt (idle timeout, disposed on
   * shutdown or when the project is deleted); calls on it take turns.
   */
  async try(projectId: string, planId: number, prompt: string, maxNewTokens = 24): Promise<TryResult> {
    const { record, modelPath, precision } = this.workspace.with(projectId, (store) => {
      const record = getPlan(store, planId);
      if (record.runId === null) throw new ApiError('invalid-argument', `plan ${planId}: the run it was built from was deleted, so its model folder is unknown`, { planId: String(planId) });
      const run = getRun(store, record.runId);
      if (!run.model) throw new ApiError('invalid-argument', `plan ${planId}: run ${run.id} records no model folder`, { planId: String(planId) });
      return { record, modelPath: run.model.path, precision: parsePrecision(run.precision ?? undefined, `run ${run.id}'s recorded precision`) };
    });
    return this.engines.use(projectId, modelPath, precision, async (engine, use) => {
      const tok = engine.tokenizer;
      if (!tok) throw new ApiError('invalid-argument', `model ${modelPath} has no tokenizer.json, so it cannot take a text prompt`, { model: modelPath });
      const steering = resolvePlan(record.plan, engine.steeringModel, `plan ${planId}`);
      const ids = tok.encode(prompt);
      const n = Math.min(maxNewTokens, TRY_MAX_TOKENS);
      // Greedy (temperature 0, lowest id wins ties): the two sides differ only by the plan.
      const [base] = await engine.generate({ prompts: [ids], maxNewTokens: n, capture: true });
      const [steered] = await engine.generate({ prompts: [ids], maxNewTokens: n, capture: true, steering });
      const k = engine.info.topK;
      const side = (g: GeneratedSequence): TrySide => {
        const pieces = tok.tokenPieces(g.generatedIds);
        const offset = g.promptIds.length;
        return {
          text: tok.decode(g.generatedIds, { skipSpecialTokens: true }),
          finishReason: g.finishReason,
          tokens: g.generatedIds.map((_, i) => ({
            text: pieces[i] ?? '',
            experts: (g.routing?.experts ?? []).map((layer) => [...layer.subarray((offset + i) * k, (offset + i + 1) * k)].sort((a, b) => a - b)),
          })),
        };
      };
      const a = side(base!);
      const b = side(steered!);
      let changedTokens = 0;
      for (let i = 0; i < Math.min(a.tokens.length, b.tokens.length); i++) {
        if (a.tokens[i]!.experts.some((row, l) => row.join(',') !== b.tokens[i]!.experts[l]!.join(','))) changedTokens++;
      }
      return {
        prompt, moeLayers: engine.info.moeLayers, topK: k, baseline: a, steered: b, changedTokens,
        engine: { reused: use.reused, loadMs: use.loadMs, precision: engine.info.precision?.name ?? null },
      };
    });
  }
}
