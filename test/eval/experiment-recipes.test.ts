/**
 * The shipped experiment recipes (resources/experiments/*.json) parse as specs and carry the papers' settings.
 * They cannot run here (the real models are absent), but with the published Qwen3-30B-A3B MGSM routing
 * (../shared/fixtures) the 2601.14050 steering arms resolve into plans for Qwen3-30B-A3B's shape.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { demoExperimentSpec } from '../../src/demo/experiment.js';
import { armNames, parseExperimentSpec, resolveArms, type ExperimentSpec } from '../../src/eval/experiment/index.js';

const DIR = resolve(import.meta.dirname, '../../resources/experiments');
const FIXTURE = resolve(import.meta.dirname, '../../../shared/fixtures/qwen3-30b-a3b-mgsm-routing');

function load(name: string): ExperimentSpec {
  return parseExperimentSpec(JSON.parse(readFileSync(join(DIR, name), 'utf8')), DIR);
}

describe('shipped experiment recipes', () => {
  it('every file in resources/experiments parses as a spec', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const f of files) expect(() => load(f), f).not.toThrow();
  });

  it('2601.14050 PolyMath steering: low split, six languages, en,zh lambda 0.022 and zh,en lambda 0.034, k 20, thr 0.7, layers 10-39, the paper decoding', () => {
    const s = load('2601.14050-polymath-steering.json');
    expect(s.dataset).toMatchObject({ kind: 'polymath', split: 'low', languages: ['ja', 'sw', 'fr', 'es', 'bn', 'de'] });
    expect(s.decoding).toEqual({ temperature: 0.7, topP: 0.8, topK: 20, seed: 2025, maxNewTokens: 4096, samples: 1 });
    expect(s.prompt).toMatchObject({ chat: true, enableThinking: false });
    expect(s.scoring).toMatchObject({ task: 'polymath', fallback: 'none', lenient: false });
    const recipes = s.arms.filter((a) => a.kind === 'recipe').map((a) => (a.kind === 'recipe' ? a.recipe : null));
    expect(recipes).toEqual([
      { type: 'steer', mode: 'shared', targets: ['en', 'zh'], k: 20, thr: 0.7, layers: [10, 39], lambda: 0.022 },
      { type: 'steer', mode: 'shared', targets: ['zh', 'en'], k: 20, thr: 0.7, layers: [10, 39], lambda: 0.034 },
    ]);
  });

  it('2601.14050 masking: MGSM k 15 thr 0.4 bands 0-4/22-26/43-47 x every target; XQuAD k 32 thr 0.5 bands 0-9/19-28/38-47', () => {
    const m = load('2601.14050-mgsm-masking.json');
    const arms = armNames(m);
    expect(arms).toHaveLength(1 + 3 * 8);
    expect(arms.map((a) => a.name)).toContain('mask:layers=22-26,targets=sw');
    const mr = m.sweeps[0]!.recipe;
    expect(mr).toMatchObject({ type: 'mask', k: 15, thr: 0.4 });
    expect(m.sweeps[0]!.grid.layers).toEqual([[0, 4], [22, 26], [43, 47]]);
    const x = load('2601.14050-xquad-masking.json');
    expect(x.sweeps[0]!.recipe).toMatchObject({ type: 'mask', k: 32, thr: 0.5 });
    expect(x.sweeps[0]!.grid.layers).toEqual([[0, 9], [19, 28], [38, 47]]);
    expect(armNames(x)).toHaveLength(1 + 3 * 5);
    expect(x.scoring).toMatchObject({ task: 'xquad', xquadEmpty: 'reference' });
  });

  it('2510.04694: soft and hard middle-layer steering of English task experts, greedy, with a dev/test split and random controls', () => {
    const s = load('2510.04694-mgsm-steering.json');
    expect(s.decoding.temperature).toBe(0);
    expect(s.devSplit).toEqual({ fraction: 0.3, seed: 2025 });
    const kinds = s.arms.map((a) => (a.kind === 'recipe' && a.recipe.type === 'delta' ? `${a.recipe.mode}:${a.recipe.layers.join('-')}` : a.kind));
    expect(kinds).toEqual(['baseline', 'soft:8-35', 'hard:8-35', 'random']);
    expect(armNames(s)).toHaveLength(3 + 5);
  });

  it('the demo recipe becomes a runnable spec once the demo fills in the model, languages and plan', () => {
    const plan = { lambda: 0.022, steer_dict: { '2': { '1': 0.5 } } };
    const s = demoExperimentSpec({ modelDir: '/m', target: 'swh', pivot: 'eng', plan, limit: 2 });
    expect(s.task).toBe('nll');
    expect(s.dataset).toMatchObject({ kind: 'udhr', split: 'heldout', languages: ['swh', 'eng'], limit: 2 });
    expect(s.arms.find((a) => a.name === 'steer')).toEqual({ name: 'steer', kind: 'plan', plan });
    expect(armNames(s).filter((a) => a.spec.kind === 'random')).toHaveLength(8);
  });

  it.skipIf(!existsSync(FIXTURE))('with the published MGSM routing, the PolyMath steering arms resolve for Qwen3-30B-A3B (48 x 128) (needs ../shared)', () => {
    const doc = JSON.parse(readFileSync(join(DIR, '2601.14050-polymath-steering.json'), 'utf8')) as { arms: { routing?: { folder: string } }[] };
    for (const a of doc.arms) if (a.routing) a.routing.folder = FIXTURE;
    const spec = parseExperimentSpec(doc, DIR);
    const shape = { numLayers: 48, numExperts: 128, topK: 8, moeLayers: Array.from({ length: 48 }, (_, i) => i) };
    const arms = resolveArms(spec, shape);
    expect(arms.map((a) => a.name)).toEqual(['baseline', 'steer-en-zh', 'steer-zh-en']);
    for (const a of arms.slice(1)) {
      const lambda = a.name === 'steer-en-zh' ? 0.022 : 0.034;
      const layers = Object.keys((a.plan as { layers: Record<string, unknown> }).layers).map(Number);
      expect(layers.length).toBeGreaterThan(0);
      for (const l of layers) {
        expect(l).toBeGreaterThanOrEqual(10);
        expect(l).toBeLessThanOrEqual(39);
      }
      // scale = lambda * s with 0 <= s < thr (shared mode: r below thr for both targets).
      for (const perLayer of a.steering!.perMoeLayer) for (const v of perLayer.scale) expect(v).toBeLessThan(lambda * 0.7 + 1e-9);
      expect(a.experts.slice(0, 10).every((e) => e.length === 0)).toBe(true);
    }
  });
});
