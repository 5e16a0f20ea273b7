/**
 * Sweeps from the workbench: a saved plan's recipe varied over lambda, MoE-layer bands and target lists, written as
 * the experiment spec's `sweeps` entry (src/eval/experiment/spec.ts expands it into one recipe arm per point), and
 * read back as heatmap cells: each point's pooled paired difference with its interval, and Holm's correction over
 * the sweep's own cells, so that "survives" means survives the multiple comparisons the heatmap itself shows.
 */
import { AnalysisInputError } from '../analysis/index.js';
import { ArmError, recipePlan } from '../eval/experiment/arms.js';
import { checkRecipe, expandSweep, type ExperimentSpec, type Recipe, type SweepGrid } from '../eval/experiment/spec.js';
import type { ReportComparison } from '../eval/stats/index.js';
import { holm } from '../eval/stats/index.js';
import { getPlan, getRun, loadRunRouting, type Store } from '../store/index.js';
import { ApiError } from './errors.js';
import type { SweepArgs, SweepCell, SweepView } from './schemas/experiments.js';

/** More points than this is a long run by mistake more often than by design (each point is a full arm). */
export const MAX_SWEEP_POINTS = 64;
export const SWEEP_ALPHA = 0.05;
const SWEEP_NAME = 'sweep';

const bad = (field: string, message: string) => new ApiError('invalid-argument', `experiments.start: ${field}: ${message}`, { field });

/** The spec's `sweeps` entry for a saved plan and a grid, checked against the plan's run (bands, targets). */
export function sweepDocument(store: Store, a: SweepArgs): { doc: Record<string, unknown>; model: string } {
  const plan = getPlan(store, a.planId);
  if (plan.runId === null) throw bad('sweep.planId', `plan ${plan.id} (${plan.name}): the run it was built from was deleted, so there is no routing to recompute its points from`);
  const run = getRun(store, plan.runId);
  if (!run.model) throw bad('sweep.planId', `plan ${plan.id}: run ${run.id} records no model folder`);
  const recipe: Recipe = checkRecipe(plan.recipe, 'sweep.planId');
  const grid: Record<string, unknown> = {};
  if (a.lambda) {
    if (recipe.type === 'mask') throw bad('sweep.lambda', `plan ${plan.id} is a mask recipe, which has no lambda (vary layers or targets)`);
    grid.lambda = a.lambda;
  }
  const routing = loadRunRouting(store, plan.runId, { scope: plan.scope });
  if (a.layers) {
    const n = routing.moeLayers.length;
    a.layers.forEach(([lo, hi], i) => {
      if (hi >= n) throw bad(`sweep.layers[${i}]`, `band ${lo}-${hi} goes beyond run ${run.id}'s ${n} MoE layers (0-${n - 1})`);
    });
    grid.layers = a.layers;
  }
  if (a.targets) {
    const have = new Set(routing.languages.map((l) => l.language));
    a.targets.forEach((t, i) => {
      const missing = t.filter((l) => !have.has(l));
      if (missing.length) throw bad(`sweep.targets[${i}]`, `${missing.join(', ')} not in run ${run.id} (it has ${[...have].join(', ')})`);
      if (recipe.type === 'delta' && t.length !== 1) throw bad(`sweep.targets[${i}]`, `plan ${plan.id} is a delta recipe, which has one target; got ${t.join(', ')}`);
    });
    grid.targets = a.targets;
  }
  if (Object.keys(grid).length === 0) throw bad('sweep', 'give at least one of lambda, layers, targets to vary');
  const size = Object.values(grid).reduce<number>((n, v) => n * (v as unknown[]).length, 1);
  if (size > MAX_SWEEP_POINTS) throw bad('sweep', `${size} grid points; at most ${MAX_SWEEP_POINTS} (each point is a full arm over every item)`);
  const routingRef = { db: store.file, run: plan.runId, scope: plan.scope };
  // A point whose plan edits no expert would stop the whole run at its start; say which point, now.
  const points = expandSweep({ name: SWEEP_NAME, routing: routingRef, recipe, grid: grid as SweepGrid });
  for (const point of points) {
    let built: Record<string, unknown>;
    try {
      built = recipePlan(routing, point.recipe);
    } catch (err) {
      if (err instanceof AnalysisInputError || err instanceof ArmError) throw bad('sweep', `point ${point.name}: ${err.message}`);
      throw err;
    }
    if (editsNothing(built)) {
      const band = a.layers?.findIndex(([lo, hi]) => lo === point.recipe.layers[0] && hi === point.recipe.layers[1]) ?? -1;
      throw bad(band >= 0 ? `sweep.layers[${band}]` : 'sweep', `point ${point.name} selects no expert on run ${run.id} (the plan's thr or k leave nothing in that band): it would change nothing`);
    }
  }
  return { doc: { name: SWEEP_NAME, routing: routingRef, recipe, grid }, model: run.model.path };
}

function editsNothing(plan: Record<string, unknown>): boolean {
  const layers = Object.values((plan.layers ?? {}) as Record<string, Record<string, unknown>>);
  return layers.every((entry) => Object.values(entry).every((v) => (Array.isArray(v) ? v.length === 0 : Object.keys(v as object).length === 0)));
}

function targetsOf(r: Recipe): string[] {
  return r.type === 'delta' ? [r.target] : r.targets;
}

/** The heatmap's cells: every sweep point with a pooled comparison so far, Holm-adjusted over those cells. */
export function sweepView(spec: ExperimentSpec, comparisons: readonly ReportComparison[], metric: string, itemsUsed: 'all' | 'test'): SweepView | null {
  const sweep = spec.sweeps[0];
  if (!sweep) return null;
  const pooled = new Map(comparisons.filter((c) => c.language === 'all').map((c) => [c.arm, c]));
  const found = expandSweep(sweep).flatMap((arm) => {
    const c = pooled.get(arm.name);
    return c ? [{ arm, c }] : [];
  });
  const adjusted = holm(found.map(({ c }) => c.p));
  const cells: SweepCell[] = found.map(({ arm, c }, i) => ({
    arm: arm.name, lambda: arm.recipe.type === 'mask' ? null : arm.recipe.lambda, layers: arm.recipe.layers, targets: targetsOf(arm.recipe),
    n: c.n, baselineScore: c.baseline_score, armScore: c.arm_score, delta: c.delta, ci: c.ci, p: c.p, pHolm: adjusted[i]!,
    survives: adjusted[i]! < SWEEP_ALPHA, excludesZero: c.ci[0] > 0 || c.ci[1] < 0,
  }));
  const r = sweep.recipe;
  const lambdas = sweep.grid.lambda ?? [r.type === 'mask' ? null : r.lambda];
  const bands = sweep.grid.layers ?? [r.layers];
  const targets = sweep.grid.targets ?? [targetsOf(r)];
  const on = itemsUsed === 'test' ? ', on the held-out test items' : '';
  const legend =
    `Each cell: paired difference in ${metric} (sweep point minus baseline, all languages pooled${on}), Holm-adjusted over ${cells.length} cells; ` +
    `marked ★ where the Holm-adjusted p < ${SWEEP_ALPHA}.`;
  return { name: sweep.name, source: `${r.type} recipe over ${'db' in sweep.routing ? `run ${sweep.routing.run}` : 'recorder JSON'}`, lambdas, bands, targets, cells, alpha: SWEEP_ALPHA, legend };
}
