/**
 * Sweeps, dev/test splits, rename and delete of experiments through the API, on a real demo capture: bad sweep
 * arguments are refused naming the field; a 2 lambda x 2 band sweep with a dev/test split runs as a job; its cells
 * are checked against a hand computation on the test items and an independent Holm adjustment; the reading equals
 * the report `routescope experiment report` writes (same seed, 10,000 resamples); a running experiment cannot be
 * deleted, a finished one is renamed and deleted.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { DEMO_MODEL_DIR } from '../../src/demo/resources.js';
import { splitDevTest } from '../../src/eval/stats/index.js';
import { apiHarness } from './harness.js';

const { tmp, events, call, refused, finished, capturedDemoProject } = apiHarness('routescope-sweep-api-');
const root = resolve(import.meta.dirname, '../..');

/** Holm's step-down adjustment written out again from its definition, to check the service's. */
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

describe.skipIf(!existsSync(join(DEMO_MODEL_DIR, 'model.safetensors')))('sweeps and dev/test splits from the workbench', () => {
  it('refuses bad sweeps naming the field, runs a 2 x 2 sweep with a dev/test split, reads its cells as the CLI does, renames and deletes it', async () => {
    const { projectId, runId } = await capturedDemoProject('Sweep');
    // The paper's shared steering preset for this run (2601.14050), swept over lambda and single-layer bands.
    const preset = (await call('plans.presets', { projectId, runId }))[0]!.recipe;
    expect(preset.type).toBe('steer');
    const steer = await call('plans.save', { projectId, runId, recipe: preset, name: 'steer preset' });
    const mask = await call('plans.save', { projectId, runId, recipe: { type: 'mask', shared: false, targets: ['eng'], k: 4, thr: 0.05, layers: [0, 1] }, name: 'mask eng' });
    const base = { projectId, name: 'sweep', dataset: 'udhr', languages: ['eng', 'swh'], task: 'nll', planIds: [], limit: 4 } as const;

    const field = async (args: unknown) => (await refused('experiments.start', args)).details?.field;
    expect(await field(base)).toBe('planIds');
    expect(await field({ ...base, sweep: { planId: mask.id, lambda: [1, 2] } })).toBe('sweep.lambda');
    expect(await field({ ...base, sweep: { planId: steer.id, layers: ['0-1', '0-9'] } })).toBe('sweep.layers[1]');
    expect(await field({ ...base, sweep: { planId: steer.id, layers: ['1-0'] } })).toBe('sweep.layers[0]');
    // At the preset's thr 0.7, MoE layer 0 of this run has no expert both languages share: that point would be a no-op.
    const empty = await refused('experiments.start', { ...base, sweep: { planId: steer.id, layers: ['2-2', '0-0'] } });
    expect(empty.details?.field).toBe('sweep.layers[1]');
    expect(empty.message).toMatch(/layers=0-0 selects no expert/);
    expect(await field({ ...base, sweep: { planId: steer.id, targets: [['eng'], ['zzz']] } })).toBe('sweep.targets[1]');
    expect(await field({ ...base, sweep: { planId: steer.id, lambda: [-1] } })).toBe('sweep.lambda[0]');
    expect(await field({ ...base, sweep: { planId: steer.id, gamma: [1] } })).toBe('sweep.gamma');
    expect(await field({ ...base, sweep: { planId: steer.id } })).toBe('sweep');
    // The same band twice: the spec parser's duplicate arm, named under the API's field.
    const twice = await refused('experiments.start', { ...base, sweep: { planId: steer.id, layers: ['2-2', [2, 2]] } });
    expect(twice).toMatchObject({ details: { field: 'sweep' } });
    expect(twice.message).toMatch(/duplicate arm name 'sweep:layers=2-2'/);
    expect(await field({ ...base, sweep: { planId: steer.id, lambda: Array.from({ length: 65 }, (_, i) => i / 10) } })).toBe('sweep');
    expect(await field({ ...base, sweep: { planId: steer.id, lambda: [1] }, randomSeeds: [1] })).toBe('randomSeeds');
    expect(await field({ ...base, sweep: { planId: steer.id, lambda: [1] }, devSplit: { fraction: 1 } })).toBe('devSplit.fraction');
    expect(await refused('experiments.start', { ...base, sweep: { planId: 999, lambda: [1] } })).toMatchObject({ code: 'not-found' });

    const job = await call('experiments.start', { ...base, sweep: { planId: steer.id, lambda: [1, 3], layers: ['2-2', [3, 3]] }, devSplit: { fraction: 0.5, seed: 7 } });
    await new Promise<void>((res) => {
      const t = setInterval(() => {
        if (events.some((e) => e.job.id === job.id && (e.job.experimentId || e.job.status !== 'running'))) (clearInterval(t), res());
      }, 5);
    });
    const first = events.find((e) => e.job.id === job.id && (e.job.experimentId || e.job.status !== 'running'))!.job;
    expect(first.error).toBeNull();
    const running = first.experimentId!;
    // Deleting a running experiment is refused (its job would go on writing results): cancel first.
    const busy = await refused('experiments.delete', { projectId, experimentId: running });
    expect(busy.code).toBe('conflict');
    expect(busy.message).toMatch(/cancel it first/);
    const done = await finished(job.id);
    expect(done).toMatchObject({ status: 'completed', experimentId: running });

    const view = await call('experiments.get', { projectId, experimentId: running });
    const sweep = view.sweep!;
    expect(sweep.lambdas).toEqual([1, 3]);
    expect(sweep.bands).toEqual([[2, 2], [3, 3]]);
    expect(sweep.cells.map((c) => [c.lambda, c.layers])).toEqual([[1, [2, 2]], [1, [3, 3]], [3, [2, 2]], [3, [3, 3]]]);
    expect(sweep.legend).toMatch(/paired difference in .*Holm-adjusted over 4 cells/);
    expect(view.itemsUsed).toBe('test');
    expect(view.devSplit).toEqual({ fraction: 0.5, seed: 7 });
    // The best point was chosen on the dev items, so it carries no selection warning; it is one of the cells.
    expect(view.selection).toMatchObject({ on: 'dev', warning: null });
    expect(sweep.cells.map((c) => c.arm)).toContain(view.selection!.arm);

    // Each cell by hand: the mean paired difference over the test items only (the split is by item id).
    const ids = [...new Set(view.items.map((r) => r.itemId))];
    const { test } = splitDevTest(ids, { seed: 7, devFraction: 0.5 });
    expect(test.size).toBeGreaterThan(0);
    for (const c of sweep.cells) {
      const rows = view.items.filter((r) => r.arm === c.arm && test.has(r.itemId));
      expect(c.n).toBe(rows.length);
      expect(c.delta).toBeCloseTo(rows.reduce((s, r) => s + r.value! - r.baseline!, 0) / rows.length, 9);
      expect(c.survives).toBe(c.pHolm < sweep.alpha);
      expect(c.excludesZero).toBe(c.ci[0] > 0 || c.ci[1] < 0);
    }
    const ref = holmReference(sweep.cells.map((c) => c.p));
    sweep.cells.forEach((c, i) => expect(c.pHolm).toBeCloseTo(ref[i]!, 12));

    // The same figures as the CLI's report (its default seed and 10,000 resamples), effect by effect.
    const db = join(tmp.dir, 'data', 'projects', projectId, 'project.db');
    const out = join(tmp.dir, 'report');
    execFileSync(process.execPath, [join(root, 'bin/routescope.mjs'), 'experiment', 'report', String(running), '--db', db, '--out', out], { stdio: 'pipe' });
    const cli = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { comparisons: { arm: string; language: string; delta: number; ci: [number, number]; p: number; p_holm: number }[]; selection: unknown };
    expect(view.effects.map((e) => [e.arm, e.language, e.delta, e.ci, e.p, e.pHolm])).toEqual(cli.comparisons.map((c) => [c.arm, c.language, c.delta, c.ci, c.p, c.p_holm]));
    expect(view.selection).toEqual(cli.selection);
    // The reading is kept, not recomputed, while the experiment is unchanged: scores edited behind the service's
    // back (the experiment row untouched) show in the per-item rows but not yet in the effects.
    const edited = sweep.cells[0]!.arm;
    const raw = new Database(db);
    raw.prepare('UPDATE experiment_result SET score = score + 1 WHERE experiment_id = ? AND arm = ?').run(running, edited);
    raw.close();
    const kept = await call('experiments.get', { projectId, experimentId: running });
    expect(kept.effects).toEqual(view.effects);
    expect(kept.items.find((r) => r.arm === edited)!.value).toBeCloseTo(view.items.find((r) => r.arm === edited)!.value! + 1, 9);

    // A rename changes the experiment, so the next reading is computed afresh: that arm's differences are 1 higher.
    const renamed = await call('experiments.rename', { projectId, experimentId: running, name: 'λ × band sweep' });
    const fresh = await call('experiments.get', { projectId, experimentId: running });
    const pooledOf = (v: typeof view) => v.effects.find((e) => e.arm === edited && e.language === 'all')!;
    expect(pooledOf(fresh).delta).toBeCloseTo(pooledOf(view).delta + 1, 9);
    expect(pooledOf(fresh).ci[0]).toBeCloseTo(pooledOf(view).ci[0] + 1, 9);
    expect(renamed).toMatchObject({ id: running, name: 'λ × band sweep', status: 'completed' });
    expect((await call('experiments.list', { projectId }))[0]!.name).toBe('λ × band sweep');
    expect((await refused('experiments.rename', { projectId, experimentId: running, name: '' })).details?.field).toBe('name');
    expect(await refused('experiments.rename', { projectId, experimentId: 999, name: 'x' })).toMatchObject({ code: 'not-found' });
    expect(await call('experiments.delete', { projectId, experimentId: running })).toEqual({ deleted: running });
    expect(await call('experiments.list', { projectId })).toEqual([]);
    expect(await refused('experiments.get', { projectId, experimentId: running })).toMatchObject({ code: 'not-found' });

    // Without a split, the best point is chosen on the items it is reported on: the view carries the warning.
    const same = await call('experiments.start', { ...base, languages: ['eng'], limit: 2, sweep: { planId: steer.id, lambda: [1, 3], layers: ['2-2'] } });
    const sameDone = await finished(same.id);
    expect(sameDone.status).toBe('completed');
    const naive = await call('experiments.get', { projectId, experimentId: sameDone.experimentId! });
    expect(naive.itemsUsed).toBe('all');
    expect(naive.devSplit).toBeNull();
    expect(naive.selection).toMatchObject({ on: 'all' });
    expect(naive.selection!.warning).toMatch(/selected as the best of 2 arms on the same items/);
    expect(naive.verdict).toContain(naive.selection!.warning!);
  }, 180_000);
});
