/**
 * Sweeps from the workbench: a saved plan's recipe varied over lambda, MoE-layer bands, k, thr and target lists,
 * optionally with seeded random-expert controls of every point, written as the experiment spec's `sweeps` entry
 * (src/eval/experiment/spec.ts expands it into one recipe arm per point and one random arm per point and seed), and
 * read back as heatmap cells: each point's pooled paired difference with its interval, and Holm's correction over
 * the sweep's own cells and controls, so that "survives" means survives the multiple comparisons the heatmap shows.
 */
import { AnalysisInputError, randomMaskControl } from '../analysis/index.js';
import { ArmError, recipePlan } from '../eval/experiment/arms.js';
import { checkRecipe, expandSweep, sweepControls, type ExperimentSpec, type Recipe, type SweepGrid } from '../eval/experiment/spec.js';
import type { RandomControlSummary, ReportComparison } from '../eval/stats/index.js';
import { holm } from '../eval/stats/index.js';
import { getPlan, getRun, loadRunRouting, type Store } from '../store/index.js';
import { ApiError } from './errors.js';
import type { SweepArgs, SweepCell, SweepControlCell, SweepView } from './schemas/experiments.js';

/** More arms than this (points, and their controls) is a long run by mistake more often than by design (each is a full arm). */
export const MAX_SWEEP_POINTS = 64;
/** Random controls per point, as for an A/B run. */
export const MAX_SWEEP_CONTROLS = 20;
export const SWEEP_ALPHA = 0.05;
const SWEEP_NAME = 'sweep';

const bad = (field: string, message: string) => new ApiError('invalid-argument', `experiments.start: ${field}: ${message}`, { field });

/** The grid axes a point's "selects no expert" is blamed on, most likely first: a high thr, a band, a small k, targets. */
const BLAME_ORDER = ['thr', 'layers', 'k', 'targets'] as const;

/** The spec's `sweeps` entry for a saved plan and a grid, checked against the plan's run (bands, k, targets, controls). */
export function sweepDocument(store: Store, a: SweepArgs): { doc: Record<string, unknown>; model: string } {
  const plan = getPlan(store, a.planId);
  if (plan.runId === null) throw bad('sweep.planId', `plan ${plan.id} (${plan.name}): the run it was built from was deleted, so there is no routing to recompute its points from`);
  const run = getRun(store, plan.runId);
  if (!run.model) throw bad('sweep.planId', `plan ${plan.id}: run ${run.id} records no model folder`);
  const recipe: Recipe = checkRecipe(plan.recipe, 'sweep.planId');
  const grid: Record<string, unknown> = {};
  if (a.lambda) {
    if (recipe.type === 'mask') throw bad('sweep.lambda', `plan ${plan.id} is a mask recipe, which has no lambda (vary layers, k, thr or targets)`);
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
  for (const axis of ['k', 'thr'] as const) {
    const values = a[axis];
    if (!values) continue;
    if (recipe.type === 'delta') throw bad(`sweep.${axis}`, `plan ${plan.id} is a delta recipe, which has no ${axis} (it selects experts by tau)`);
    grid[axis] = values;
  }
  a.k?.forEach((k, i) => {
    if (k > routing.numExperts) throw bad(`sweep.k[${i}]`, `k ${k} is above the ${routing.numExperts} experts per layer of run ${run.id} (k must be a positive integer up to ${routing.numExperts})`);
  });
  if (a.targets) {
    const have = new Set(routing.languages.map((l) => l.language));
    a.targets.forEach((t, i) => {
      const missing = t.filter((l) => !have.has(l));
      if (missing.length) throw bad(`sweep.targets[${i}]`, `${missing.join(', ')} not in run ${run.id} (it has ${[...have].join(', ')})`);
      if (recipe.type === 'delta' && t.length !== 1) throw bad(`sweep.targets[${i}]`, `plan ${plan.id} is a delta recipe, which has one target; got ${t.join(', ')}`);
    });
    grid.targets = a.targets;
  }
  if (Object.keys(grid).length === 0) throw bad('sweep', 'give at least one of lambda, layers, k, thr, targets to vary');
  const seeds = a.randomSeeds ?? [];
  if (seeds.length > MAX_SWEEP_CONTROLS) throw bad('sweep.randomSeeds', `at most ${MAX_SWEEP_CONTROLS} random controls per point, got ${seeds.length}`);
  const size = Object.values(grid).reduce<number>((n, v) => n * (v as unknown[]).length, 1);
  const arms = size * (1 + seeds.length);
  if (arms > MAX_SWEEP_POINTS) {
    throw seeds.length && size <= MAX_SWEEP_POINTS
      ? bad('sweep.randomSeeds', `${size} grid points x (1 + ${seeds.length} random controls) = ${arms} arms; at most ${MAX_SWEEP_POINTS} (each is a full arm over every item)`)
      : bad('sweep', `${size} grid points; at most ${MAX_SWEEP_POINTS} (each point is a full arm over every item)`);
  }
  const routingRef = { db: store.file, run: plan.runId, scope: plan.scope };
  // A point whose plan edits no expert would stop the whole run at its start; say which point, now. So would a
  // point whose controls cannot be drawn (more experts in a layer than are left outside it).
  const points = expandSweep({ name: SWEEP_NAME, routing: routingRef, recipe, grid: grid as SweepGrid });
  for (const point of points) {
    let built: Record<string, unknown>;
    try {
      built = recipePlan(routing, point.recipe);
    } catch (err) {
      if (err instanceof AnalysisInputError || err instanceof ArmError) throw bad('sweep', `point ${point.name}: ${err.message}`);
      throw err;
    }
    const edited = editedExperts(built);
    if (edited.size === 0) {
      throw bad(blamedField(a, point.recipe), `point ${point.name} selects no expert on run ${run.id} (the plan's thr or k leave nothing in that band): it would change nothing`);
    }
    if (seeds.length) {
      try {
        randomMaskControl(edited, routing.numExperts, seeds[0]!);
      } catch (err) {
        if (err instanceof AnalysisInputError) throw bad('sweep.randomSeeds', `point ${point.name}: ${err.message}, so no control of the same size can be drawn`);
        throw err;
      }
    }
  }
  const doc = { name: SWEEP_NAME, routing: routingRef, recipe, grid, ...(seeds.length ? { controls: { seeds } } : {}) };
  return { doc, model: run.model.path };
}

/** The grid value a point that selects nothing is named under: the first varied axis in BLAME_ORDER, else the sweep. */
function blamedField(a: SweepArgs, r: Recipe): string {
  for (const axis of BLAME_ORDER) {
    const values = a[axis];
    if (!values) continue;
    const here = axis === 'layers' ? r.layers : axis === 'targets' ? targetsOf(r) : r.type === 'delta' ? undefined : r[axis];
    const i = values.findIndex((v) => JSON.stringify(v) === JSON.stringify(here));
    if (i >= 0) return `sweep.${axis}[${i}]`;
  }
  return 'sweep';
}

/** Per layer of a project-format plan, the experts it edits (in any field): what a control must match in size. */
function editedExperts(plan: Record<string, unknown>): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const [layer, entry] of Object.entries((plan.layers ?? {}) as Record<string, Record<string, unknown>>)) {
    const experts = new Set<number>();
    for (const v of Object.values(entry)) for (const e of Array.isArray(v) ? v : Object.keys(v as object)) experts.add(Number(e));
    if (experts.size) out.set(Number(layer), [...experts].sort((x, y) => x - y));
  }
  return out;
}

function targetsOf(r: Recipe): string[] {
  return r.type === 'delta' ? [r.target] : r.targets;
}

/**
 * The heatmap's cells: every sweep point with a pooled comparison so far, and every random control of a point, with
 * Holm's correction over all of them (the family the heatmap shows: a control can look "significant" too). A point's
 * standing among its own controls comes from the report's random-control summaries (pooled over languages).
 */
export function sweepView(
  spec: ExperimentSpec, comparisons: readonly ReportComparison[], randomControls: readonly RandomControlSummary[], metric: string, itemsUsed: 'all' | 'test',
): SweepView | null {
  const sweep = spec.sweeps[0];
  if (!sweep) return null;
  const pooled = new Map(comparisons.filter((c) => c.language === 'all').map((c) => [c.arm, c]));
  const found = expandSweep(sweep).flatMap((arm) => {
    const c = pooled.get(arm.name);
    return c ? [{ arm, c }] : [];
  });
  const foundControls = sweepControls(sweep).flatMap((ctl) => {
    const c = pooled.get(ctl.name);
    return c ? [{ ctl, c }] : [];
  });
  const adjusted = holm([...found.map(({ c }) => c.p), ...foundControls.map(({ c }) => c.p)]);
  const standing = new Map(randomControls.filter((r) => r.language === 'all').map((r) => [r.plan, r]));
  const cells: SweepCell[] = found.map(({ arm, c }, i) => {
    const rc = standing.get(arm.name);
    const r = arm.recipe;
    return {
      arm: arm.name, lambda: r.type === 'mask' ? null : r.lambda, layers: r.layers, k: r.type === 'delta' ? null : r.k, thr: r.type === 'delta' ? null : r.thr, targets: targetsOf(r),
      n: c.n, baselineScore: c.baseline_score, armScore: c.arm_score, delta: c.delta, ci: c.ci, p: c.p, pHolm: adjusted[i]!,
      survives: adjusted[i]! < SWEEP_ALPHA, excludesZero: c.ci[0] > 0 || c.ci[1] < 0,
      controls: rc ? { count: rc.controls.length, meanDelta: rc.controls.reduce((s2, x) => s2 + x.effect, 0) / rc.controls.length, beats: rc.beats, pEmpirical: rc.pEmpirical } : null,
    };
  });
  const controls: SweepControlCell[] = foundControls.map(({ ctl, c }, j) => {
    const p = adjusted[found.length + j]!;
    return { arm: ctl.name, of: ctl.of, seed: ctl.seed, n: c.n, delta: c.delta, ci: c.ci, p: c.p, pHolm: p, survives: p < SWEEP_ALPHA, excludesZero: c.ci[0] > 0 || c.ci[1] < 0 };
  });
  const r = sweep.recipe;
  const lambdas = sweep.grid.lambda ?? [r.type === 'mask' ? null : r.lambda];
  const bands = sweep.grid.layers ?? [r.layers];
  const ks = sweep.grid.k ?? [r.type === 'delta' ? null : r.k];
  const thrs = sweep.grid.thr ?? [r.type === 'delta' ? null : r.thr];
  const targets = sweep.grid.targets ?? [targetsOf(r)];
  const seeds = sweep.controls?.seeds ?? [];
  const on = itemsUsed === 'test' ? ', on the held-out test items' : '';
  const family = controls.length ? `${cells.length + controls.length} cells (${cells.length} points and ${controls.length} random controls)` : `${cells.length} cells`;
  const points = expandSweep(sweep).length;
  const controlText = seeds.length
    ? ` Random controls: for each of the ${points} points, ${seeds.length} seeded draw${seeds.length > 1 ? 's' : ''} (seed${seeds.length > 1 ? 's' : ''} ${seeds.join(', ')}) of the same number of experts in every MoE layer as the point, ` +
      `drawn outside the point's own experts and carrying its values: ${points * seeds.length} control arms in all, each compared with the baseline like a point. ` +
      `Points that differ only in λ draw the same experts for a seed. "vs random" counts the point's own controls it beats; with ${seeds.length} control${seeds.length > 1 ? 's' : ''} ` +
      `no empirical p below ${(1 / (seeds.length + 1)).toFixed(3)} is possible. A point that does no better than its controls shows the effect of editing any ${seeds.length > 1 ? 'experts' : 'expert set'} of that size, not of the experts it chose.`
    : '';
  const legend =
    `Each cell: paired difference in ${metric} (sweep point minus baseline, all languages pooled${on}), Holm-adjusted over ${family}; ` +
    `marked ★ where the Holm-adjusted p < ${SWEEP_ALPHA}.${controlText}`;
  return {
    name: sweep.name, source: `${r.type} recipe over ${'db' in sweep.routing ? `run ${sweep.routing.run}` : 'recorder JSON'}`, lambdas, bands, ks, thrs, targets, cells,
    controlSeeds: seeds, controls, alpha: SWEEP_ALPHA, legend,
  };
}
