/**
 * Sweeps over k and thr with random-expert controls, through the API on a real demo capture: every bad k, thr or
 * control argument is refused naming its field; a k x lambda sweep with two controls per point runs as a job; its
 * controls are checked in the store (same experts per layer as their point, none of the point's, the point's values),
 * its cells and controls against the per-item results, an independent Holm adjustment over points and controls, and
 * each point's standing among its own controls counted by hand.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { DEMO_MODEL_DIR } from '../../src/demo/resources.js';
import { apiHarness } from './harness.js';

const { tmp, call, refused, finished, capturedDemoProject } = apiHarness('routescope-sweep-controls-api-');

/** Holm's step-down adjustment from its definition (written again here, not the service's). */
function holmReference(p: number[]): number[] {
  const order = p.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(p.length);
  let prev = 0;
  order.forEach(([x, i], rank) => {
    prev = Math.max(prev, Math.min(1, x * (p.length - rank)));
    out[i] = prev;
  });
  return out;
}

type PlanJson = { layers: Record<string, Record<string, Record<string, number> | number[]>> };

/** Per decoder layer, the plan's steered values, sorted (which experts carry them aside). */
function valuesByLayer(plan: PlanJson): Record<string, number[]> {
  return Object.fromEntries(Object.entries(plan.layers).map(([l, e]) => [l, Object.values(e).flatMap((v) => (Array.isArray(v) ? v.map(() => 1) : Object.values(v))).sort((a, b) => a - b)]));
}

describe.skipIf(!existsSync(join(DEMO_MODEL_DIR, 'model.safetensors')))('sweeps over k and thr with random controls', () => {
  it('refuses bad k, thr and control arguments naming the field, runs a k x lambda sweep with controls and reads them back', async () => {
    const { projectId, runId } = await capturedDemoProject('Sweep controls');
    // The 2601.14050 shared steering preset of this run: k 4, thr 0.7, MoE layers 2-3 of the demo's 16 experts.
    const preset = (await call('plans.presets', { projectId, runId }))[0]!.recipe;
    expect(preset).toMatchObject({ type: 'steer', k: 4, thr: 0.7 });
    const steer = await call('plans.save', { projectId, runId, recipe: preset, name: 'steer preset' });
    const delta = await call('plans.save', { projectId, runId, recipe: { type: 'delta', mode: 'hard', target: 'swh', pivot: 'eng', tau: 0.1, layers: [2, 3], eps: 0.001 }, name: 'delta swh' });
    const base = { projectId, name: 'sweep', dataset: 'udhr', languages: ['eng'], task: 'nll', planIds: [], limit: 2 } as const;
    const field = async (sweep: Record<string, unknown>) => {
      const err = await refused('experiments.start', { ...base, sweep: { planId: steer.id, ...sweep } });
      return [err.details?.field, err.message] as const;
    };

    expect((await field({ k: [0] }))[0]).toBe('sweep.k[0]');
    expect((await field({ k: [2.5] }))[0]).toBe('sweep.k[0]');
    expect((await field({ k: [2, 2] }))[0]).toBe('sweep.k');
    const over = await field({ k: [4, 17] });
    expect(over[0]).toBe('sweep.k[1]');
    expect(over[1]).toMatch(/k 17 is above the 16 experts per layer/);
    expect((await field({ thr: [1.5] }))[0]).toBe('sweep.thr[0]');
    expect((await field({ thr: [-0.1] }))[0]).toBe('sweep.thr[0]');
    // At thr 0.3 no expert of MoE layers 2-3 is shared by eng and swh's top-k: that point is named, under its thr.
    const empty = await field({ thr: [0.7, 0.3] });
    expect(empty[0]).toBe('sweep.thr[1]');
    expect(empty[1]).toMatch(/point sweep:thr=0\.3 selects no expert/);
    const deltaK = await refused('experiments.start', { ...base, sweep: { planId: delta.id, k: [2] } });
    expect(deltaK.details?.field).toBe('sweep.k');
    expect(deltaK.message).toMatch(/delta recipe, which has no k/);
    expect((await refused('experiments.start', { ...base, sweep: { planId: delta.id, thr: [0.5] } })).details?.field).toBe('sweep.thr');
    expect((await field({ k: [4], randomSeeds: [-1] }))[0]).toBe('sweep.randomSeeds[0]');
    expect((await field({ k: [4], randomSeeds: [1, 1] }))[0]).toBe('sweep.randomSeeds');
    expect((await field({ k: [4], randomSeeds: Array.from({ length: 21 }, (_, i) => i) }))[0]).toBe('sweep.randomSeeds');
    const tooMany = await field({ k: [1, 2, 3, 4], lambda: [1, 2], randomSeeds: [1, 2, 3, 4, 5, 6, 7, 8] });
    expect(tooMany[0]).toBe('sweep.randomSeeds');
    expect(tooMany[1]).toMatch(/8 grid points x \(1 \+ 8 random controls\) = 72 arms; at most 64/);
    // k 16 at thr 0.9 edits 10 of a layer's 16 experts: no control of that size fits outside them.
    const noRoom = await field({ k: [16], thr: [0.9], randomSeeds: [1] });
    expect(noRoom[0]).toBe('sweep.randomSeeds');
    expect(noRoom[1]).toMatch(/point sweep:k=16,thr=0\.9: .*only \d+ are outside the plan, so no control of the same size/);
    expect(await call('experiments.list', { projectId })).toEqual([]);

    const job = await call('experiments.start', { ...base, sweep: { planId: steer.id, k: [1, 4], lambda: [1, 3], randomSeeds: [1, 2] } });
    const done = await finished(job.id);
    expect(done).toMatchObject({ status: 'completed', error: null });
    const view = await call('experiments.get', { projectId, experimentId: done.experimentId! });
    const sweep = view.sweep!;
    const points = ['sweep:lambda=1,k=1', 'sweep:lambda=1,k=4', 'sweep:lambda=3,k=1', 'sweep:lambda=3,k=4'];
    const controls = points.flatMap((p) => [`${p}:random-s1`, `${p}:random-s2`]);
    expect(view.arms.map((a) => [a.arm, a.kind])).toEqual([['baseline', 'baseline'], ...points.map((p) => [p, 'recipe']), ...controls.map((c) => [c, 'random'])]);
    expect(sweep).toMatchObject({ lambdas: [1, 3], ks: [1, 4], thrs: [0.7], bands: [[2, 3]], targets: [['eng', 'swh']], controlSeeds: [1, 2] });
    expect(sweep.cells.map((c) => [c.arm, c.lambda, c.k, c.thr])).toEqual([[points[0], 1, 1, 0.7], [points[1], 1, 4, 0.7], [points[2], 3, 1, 0.7], [points[3], 3, 4, 0.7]]);
    expect(sweep.controls.map((c) => [c.arm, c.of, c.seed])).toEqual(controls.map((c, i) => [c, points[Math.floor(i / 2)], 1 + (i % 2)]));
    expect(sweep.legend).toMatch(/Holm-adjusted over 12 cells \(4 points and 8 random controls\)/);
    expect(sweep.legend).toMatch(/for each of the 4 points, 2 seeded draws \(seeds 1, 2\) of the same number of experts .*8 control arms in all/);

    // In the store: each control edits as many experts per layer as its point, none of the point's, with its values.
    const db = new Database(join(tmp.dir, 'data', 'projects', projectId, 'project.db'), { readonly: true });
    const rows = db.prepare('SELECT name, experts, plan FROM experiment_arm WHERE experiment_id = ?').all(done.experimentId!) as { name: string; experts: string; plan: string | null }[];
    db.close();
    const arm = new Map(rows.map((r) => [r.name, { experts: JSON.parse(r.experts) as number[][], plan: r.plan ? (JSON.parse(r.plan) as PlanJson) : null }]));
    for (const c of sweep.controls) {
      const mine = arm.get(c.arm)!;
      const point = arm.get(c.of)!;
      expect(mine.experts.map((e) => e.length)).toEqual(point.experts.map((e) => e.length));
      mine.experts.forEach((e, slot) => expect(e.filter((x) => point.experts[slot]!.includes(x))).toEqual([]));
      expect(valuesByLayer(mine.plan!)).toEqual(valuesByLayer(point.plan!));
    }
    // k 4 keeps more experts per language than k 1, so its points edit more (3 against 1 here); lambda changes values only,
    // so for one seed the control draws the same experts at lambda 1 and 3.
    const count = (name: string) => arm.get(name)!.experts.flat().length;
    expect(count(points[1]!)).toBeGreaterThan(count(points[0]!));
    expect(arm.get(`${points[0]}:random-s1`)!.experts).toEqual(arm.get(`${points[2]}:random-s1`)!.experts);
    expect(arm.get(`${points[0]}:random-s1`)!.experts).not.toEqual(arm.get(`${points[0]}:random-s2`)!.experts);

    // Cells and controls from the per-item rows; Holm over all 12; each point among its own controls (NLL: lower wins).
    const meanDiff = (name: string) => {
      const r = view.items.filter((x) => x.arm === name);
      return r.reduce((s, x) => s + x.value! - x.baseline!, 0) / r.length;
    };
    for (const c of [...sweep.cells, ...sweep.controls]) {
      expect(c.n).toBe(view.items.filter((x) => x.arm === c.arm).length);
      expect(c.delta).toBeCloseTo(meanDiff(c.arm), 9);
      expect(c.survives).toBe(c.pHolm < sweep.alpha);
    }
    const family = [...sweep.cells, ...sweep.controls];
    const ref = holmReference(family.map((c) => c.p));
    family.forEach((c, i) => expect(c.pHolm).toBeCloseTo(ref[i]!, 12));
    for (const c of sweep.cells) {
      const mine = sweep.controls.filter((x) => x.of === c.arm).map((x) => x.delta);
      const beats = mine.filter((d) => d > c.delta).length;
      expect(c.controls).toEqual({ count: 2, meanDelta: expect.closeTo((mine[0]! + mine[1]!) / 2, 12), beats, pEmpirical: expect.closeTo((1 + 2 - beats) / 3, 12) });
    }
    // The verdict (summary.md) sets every point among its own controls.
    for (const p of points) expect(view.verdict).toContain(`all: ${p} beats`);
  }, 180_000);
});
