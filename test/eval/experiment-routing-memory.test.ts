/**
 * Routing memory of long generations: the engine can fetch only the chosen experts and weights (no router logits)
 * or keep no routing at all and hand each token's routing to a callback; outputs stay identical. An experiment's
 * stored routing summary, now accumulated token by token, equals routingShare over a full capture of the same
 * generation.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/datasets/index.js';
import { loadEngine, type Engine } from '../../src/engine/index.js';
import { itemSeed, parseExperimentSpec, resolveArms, routingShare, runExperiment } from '../../src/eval/experiment/index.js';
import { prepareItems } from '../../src/eval/experiment/tasks.js';
import { createScorer } from '../../src/eval/scoring/index.js';
import { experimentResults, Store } from '../../src/store/index.js';
import { tempDir } from '../store/helpers.js';
import { writeTinyModel, type TinyModelInfo } from '../support/tiny-models.js';

let tmp: ReturnType<typeof tempDir>;
let model: TinyModelInfo;
let engine: Engine;
let mgsmDir: string;

beforeAll(async () => {
  tmp = tempDir('routescope-routing-memory-');
  model = writeTinyModel(join(tmp.dir, 'model'), 'qwen3_moe', { seed: 6 });
  mgsmDir = join(tmp.dir, 'mgsm');
  mkdirSync(mgsmDir);
  for (const lang of ['en', 'sw']) {
    writeFileSync(join(mgsmDir, `mgsm_${lang}.tsv`), Array.from({ length: 4 }, (_, i) => `${lang} a farmer has ${i} cows and ${i + 3} goats, how many?\t${2 * i + 3}`).join('\n') + '\n');
  }
  engine = await loadEngine(model.dir, { executionProvider: 'cpu' });
});

afterAll(async () => {
  await engine?.dispose();
  tmp?.cleanup();
});

const prompts = () => [[5, 9, 13, 2], [7, 7, 1], [3, 4, 5, 6, 8, 10]];

describe('routing memory', () => {
  it('routerLogits: false returns the same tokens, experts and weights without router logits; keepRouting: false keeps none but reports every token', async () => {
    const sampling = { temperature: 0.9, topK: 20, seeds: [1, 2, 3] };
    const full = await engine.generate({ prompts: prompts(), maxNewTokens: 7, sampling });
    const lean = await engine.generate({ prompts: prompts(), maxNewTokens: 7, sampling, routerLogits: false });
    const seen: { b: number; position: number; token: number; experts: number[][]; weights: number[][] }[] = [];
    const none = await engine.generate({
      prompts: prompts(), maxNewTokens: 7, sampling, routerLogits: false, keepRouting: false,
      onTokenRouting: (b, position, r) => seen.push({ b, position, token: r.token, experts: r.experts.map((x) => [...x]), weights: r.weights.map((x) => [...x]) }),
    });
    const k = engine.info.topK;
    full.forEach((f, b) => {
      expect(f.routing!.routerLogits[0]!.length).toBe(f.routing!.tokenIds.length * engine.info.numExperts);
      expect(lean[b]!.generatedIds).toEqual(f.generatedIds);
      expect(none[b]!.generatedIds).toEqual(f.generatedIds);
      expect(lean[b]!.routing!.routerLogits).toEqual([]);
      expect(lean[b]!.routing!.tokenIds).toEqual(f.routing!.tokenIds);
      expect(lean[b]!.routing!.experts).toEqual(f.routing!.experts);
      expect(lean[b]!.routing!.weights).toEqual(f.routing!.weights);
      expect(none[b]!.routing).toBeUndefined();
      const mine = seen.filter((s) => s.b === b);
      expect(mine.map((s) => s.position)).toEqual(f.routing!.tokenIds.map((_, i) => i));
      expect(mine.map((s) => s.token)).toEqual(f.routing!.tokenIds);
      mine.forEach((s, t) => {
        s.experts.forEach((ids, l) => expect(ids).toEqual([...f.routing!.experts[l]!.subarray(t * k, (t + 1) * k)]));
        s.weights.forEach((w, l) => expect(w).toEqual([...f.routing!.weights[l]!.subarray(t * k, (t + 1) * k)]));
      });
    });
    // Scoring with routerLogits: false: the same log-probabilities and routing, no logits.
    const items = [{ prompt: [5, 9], continuation: [13, 2, 4] }, { prompt: [7], continuation: [1, 8] }];
    const a = await engine.score(items);
    const c = await engine.score(items, { routerLogits: false });
    expect(c.map((x) => x.tokenLogprobs)).toEqual(a.map((x) => x.tokenLogprobs));
    expect(c.map((x) => x.routing!.experts)).toEqual(a.map((x) => x.routing!.experts));
    expect(c.every((x) => x.routing!.routerLogits.length === 0)).toBe(true);
  });

  it("an experiment's stored routing summary equals routingShare over a full capture of the same generation", async () => {
    const spec = parseExperimentSpec({
      name: 'mem', model: model.dir, task: 'generate', dataset: { kind: 'mgsm', path: mgsmDir, languages: ['en', 'sw'] }, batch_size: 2,
      decoding: { temperature: 0.8, top_k: 30, seed: 11, max_new_tokens: 6 }, scoring: { task: 'mgsm' },
      arms: [{ kind: 'baseline' }, { name: 'mask', kind: 'plan', plan: { [String(model.moeLayers[1])]: [0, 1, 2] } }, { name: 'mask2', kind: 'plan', plan: { [String(model.moeLayers[0])]: [3] } }],
    });
    const store = Store.open(join(tmp.dir, 'mem.db'));
    let rows;
    try {
      const r = await runExperiment({ store, spec, engine, scorer: await createScorer() });
      rows = experimentResults(store, r.experimentId);
    } finally {
      store.close();
    }
    const dataset = await loadDataset('mgsm', mgsmDir, { languages: ['en', 'sw'] });
    const arms = resolveArms(spec, engine.steeringModel);
    const work = ['en', 'sw'].flatMap((language) => dataset.ids.map((id, index) => ({ language, id, index })));
    const prepared = prepareItems(engine, spec, dataset, work);
    let checked = 0;
    for (const arm of arms) {
      const recorded = arm.kind === 'baseline' ? arms.filter((a) => a.kind !== 'baseline') : [arm];
      for (let i = 0; i < prepared.length; i += 2) {
        const unit = prepared.slice(i, i + 2);
        const out = await engine.generate({
          prompts: unit.map((p) => p.promptIds), maxNewTokens: 6, steering: arm.steering,
          sampling: { temperature: 0.8, topK: 30, topP: 1, seeds: unit.map((p) => itemSeed(11, p.language, p.id, 0)) },
        });
        unit.forEach((p, j) => {
          const stored = rows.find((x) => x.arm === arm.name && x.language === p.language && x.itemId === p.id)!;
          const g = out[j]!;
          expect(stored.numTokens).toBe(g.generatedIds.length);
          const total = p.promptIds.length + g.generatedIds.length;
          const expected = Object.fromEntries(recorded.map((a) => [a.name, routingShare(g.routing!, p.promptIds.length, total, a.experts)]));
          expect(stored.routing).toEqual(expected);
          checked++;
        });
      }
    }
    expect(checked).toBe(3 * 8);
    expect(rows.some((x) => Object.values(x.routing!).some((share) => share.some((v) => v !== null && v > 0)))).toBe(true);
  });
});
