/**
 * The steering lab's API through `dispatch` on a real project database and a real capture of the embedded demo
 * model: paper presets, preview, save, list, rename, delete, and "try it on one prompt" with the real engine.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PlanView } from '../../src/api/contract.js';
import { DEMO_MODEL_DIR } from '../../src/demo/resources.js';
import { apiHarness } from './harness.js';

const { backend, call, refused, finished, capturedDemoProject } = apiHarness('routescope-plans-');

describe.skipIf(!existsSync(join(DEMO_MODEL_DIR, 'model.safetensors')))('plans on a captured demo run', () => {
  let projectId = '';
  let runId = 0;
  beforeAll(async () => {
    ({ projectId, runId } = await capturedDemoProject('Lab'));
  });

  it('offers the papers presets filled in for the run, and previews them', async () => {
    const presets = await call('plans.presets', { projectId, runId });
    expect(presets.map((p) => p.id)).toEqual(['2601.14050-steer', '2601.14050-mask', '2510.04694-soft', '2510.04694-hard']);
    const steer = presets[0]!.recipe;
    expect(steer).toMatchObject({ type: 'steer', mode: 'shared', thr: 0.7, lambda: 0.022, targets: ['eng', 'swh'] });
    const preview = await call('plans.preview', { projectId, runId, recipe: steer });
    const [lo, hi] = (steer as { layers: [number, number] }).layers;
    // Only decoder layers of the recipe's MoE-layer range, experts within the model, and the engine's scale =
    // lambda * s where s (a share of the first target) is below thr for a shared expert.
    const allowed = preview.moeLayers.slice(lo, hi + 1);
    expect(preview.touched).toBeGreaterThan(0);
    for (const l of preview.layers) {
      expect(allowed).toContain(l.decoderLayer);
      for (const e of l.experts) {
        expect(e.field).toBe('scale');
        expect(e.expert).toBeLessThan(preview.numExperts);
        expect(e.value).toBeGreaterThanOrEqual(0);
        expect(e.value).toBeLessThan(0.022 * 0.7);
      }
    }
    expect(preview.touched).toBe(preview.layers.reduce((n, l) => n + l.experts.length, 0));
    expect(JSON.parse(preview.json)).toMatchObject({ format: 'routescope-plan', version: 1 });

    // Its seeded random control: per layer as many experts, none of the plan's own, the same values; repeatable.
    const control = await call('plans.preview', { projectId, runId, recipe: steer, randomSeed: 7 });
    expect(control.randomSeed).toBe(7);
    expect(control.layers.map((l) => l.decoderLayer)).toEqual(preview.layers.map((l) => l.decoderLayer));
    control.layers.forEach((l, i) => {
      const own = preview.layers[i]!.experts;
      expect(l.experts).toHaveLength(own.length);
      for (const e of l.experts) expect(own.some((o) => o.expert === e.expert)).toBe(false);
      // Values pass through the engine's float32 tensors.
      const got = l.experts.map((e) => e.value).sort();
      own.map((e) => Math.fround(e.value)).sort().forEach((v, j) => expect(got[j]).toBeCloseTo(v, 9));
    });
    expect((await call('plans.preview', { projectId, runId, recipe: steer, randomSeed: 7 })).json).toBe(control.json);
  });

  it('explains a bad recipe by its field', async () => {
    expect(await refused('plans.preview', { projectId, runId, recipe: { type: 'steer', targets: ['eng'], k: 0, thr: 0.5, layers: '1-2', lambda: 1 } }))
      .toMatchObject({ code: 'invalid-argument', message: expect.stringMatching(/recipe\.k: must be >= 1/) });
    expect(await refused('plans.preview', { projectId, runId, recipe: { type: 'mask', targets: ['deu'], k: 4, thr: 0.4, layers: '0-1' } }))
      .toMatchObject({ code: 'invalid-argument', message: expect.stringMatching(/deu/) });
    expect(await refused('plans.preview', { projectId, runId, recipe: { type: 'mask', targets: ['eng'], k: 4, thr: 0.4, layers: '0-999' } }))
      .toMatchObject({ code: 'invalid-argument', message: expect.stringMatching(/999/) });
  });

  it('saves, lists, renames, deletes; tries a mask plan on one prompt with the real engine', async () => {
    const recipe = { type: 'mask', shared: false, targets: ['eng'], k: 4, thr: 0.05, layers: [0, 1] } as const;
    const saved: PlanView = await call('plans.save', { projectId, runId, recipe, name: 'mask eng' });
    expect(saved).toMatchObject({ name: 'mask eng', runId, scope: 'all' });
    expect(saved.touched).toBeGreaterThan(0);
    expect((await call('plans.list', { projectId })).map((p) => p.name)).toEqual(['mask eng']);
    expect((await call('plans.rename', { projectId, planId: saved.id, name: 'eng exclusive' })).name).toBe('eng exclusive');

    const tried = await call('plans.try', { projectId, planId: saved.id, prompt: 'The quick brown fox', maxNewTokens: 6 });
    expect(tried.baseline.tokens.length).toBeGreaterThan(0);
    const masked = new Map(saved.layers.map((l) => [l.decoderLayer, new Set(l.experts.map((e) => e.expert))]));
    // Independent of the plan code: no steered token may be routed to an expert its layer masks.
    for (const side of [tried.baseline, tried.steered]) {
      expect(side.text.length).toBeGreaterThan(0);
      for (const t of side.tokens) {
        for (const [i, experts] of t.experts.entries()) {
          expect(experts.length === 0 || experts.length === tried.topK).toBe(true);
          if (side === tried.steered) for (const e of experts) expect(masked.get(tried.moeLayers[i]!)?.has(e) ?? false).toBe(false);
        }
      }
    }
    // The baseline is routed to a masked expert somewhere, or the mask would be invisible in this test.
    const baseHits = tried.baseline.tokens.some((t) => t.experts.some((row, i) => row.some((e) => masked.get(tried.moeLayers[i]!)?.has(e))));
    expect(baseHits).toBe(true);
    // The second call reuses the loaded engine (no new load), and greedy decoding gives the very same answer.
    const loads = backend.engines.diagnostics().loads;
    const again = await call('plans.try', { projectId, planId: saved.id, prompt: 'The quick brown fox', maxNewTokens: 6 });
    expect(backend.engines.diagnostics().loads).toBe(loads);
    expect(tried.engine.reused).toBe(false);
    expect(tried.engine.loadMs).toBeGreaterThan(0);
    expect(again.engine).toEqual({ reused: true, loadMs: 0, precision: tried.engine.precision });
    expect({ ...again, engine: null }).toEqual({ ...tried, engine: null });
    // A capture loads its own engine: the one kept for trying is let go first, not held twice.
    expect(backend.engines.diagnostics().engines).toHaveLength(1);
    const [model] = await call('models.list', { projectId });
    const job = await call('capture.start', { projectId, modelId: model!.id, dataset: 'udhr', languages: ['eng'], limit: 1 });
    expect(backend.engines.diagnostics().engines).toEqual([]);
    await finished(job.id);
    expect(await refused('plans.try', { projectId, planId: saved.id, prompt: 'x', maxNewTokens: 1000 })).toMatchObject({ code: 'invalid-argument', message: expect.stringMatching(/maxNewTokens/) });

    expect(await call('plans.delete', { projectId, planId: saved.id })).toEqual({ deleted: saved.id });
    expect(await call('plans.list', { projectId })).toEqual([]);
    expect(await refused('plans.delete', { projectId, planId: saved.id })).toMatchObject({ code: 'not-found' });
  });
});
