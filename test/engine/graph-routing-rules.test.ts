/**
 * The routing-rule table (src/engine/graph/routing.ts): each kind's `sumsToOne` claim decides whether the fused
 * kernels scale their renormalised output back, so it is checked here against the weights the graph reports.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decoderSpecFor } from '../../src/engine/architectures/index.js';
import type { MoeSpec } from '../../src/engine/architectures/types.js';
import { ROUTING_RULES } from '../../src/engine/graph/routing.js';
import { readModelFolder } from '../../src/engine/model-folder.js';
import { DecoderSession } from '../../src/engine/session.js';
import { writeTinyModel, type TinyArch, type TinyModelOptions } from '../support/tiny-models.js';
import { seededIds, tempDir } from './graph-helpers.js';

const tmp = tempDir('routing-rules');
const cache = tempDir('routing-rules-cache');
afterAll(() => {
  tmp.cleanup();
  cache.cleanup();
});

const cases: [string, TinyArch, TinyModelOptions, MoeSpec['routing'], boolean][] = [
  ['softmax_topk renormalised (Mixtral)', 'mixtral', {}, 'softmax_topk', true],
  ['softmax_topk not renormalised (Qwen3, norm_topk_prob false)', 'qwen3_moe', { normTopkProb: false }, 'softmax_topk', false],
  ['topk_softmax (Granite)', 'granitemoe', {}, 'topk_softmax', true],
  ['sparsemixer (Phi-3.5-MoE)', 'phimoe', {}, 'sparsemixer', false],
];

describe('routing rules', () => {
  it('cover every routing kind a MoeSpec can name', () => {
    expect(Object.keys(ROUTING_RULES).sort()).toEqual([...new Set(cases.map((c) => c[3]))].sort());
  });

  it.each(cases)('%s: the reported weights sum to 1 exactly when the rule says so', async (_name, arch, opts, routing, sumsToOne) => {
    const m = writeTinyModel(join(tmp.dir, arch), arch, { seed: 11, withoutTokenizer: true, ...opts });
    const folder = readModelFolder(m.dir);
    const moe = decoderSpecFor(folder.dir, folder.architecture, folder.config, folder.weights).layers.find((l) => l.mlp.kind === 'moe')!.mlp;
    if (moe.kind !== 'moe') throw new Error('no MoE layer');
    expect(moe.moe.routing).toBe(routing);
    expect(ROUTING_RULES[routing].sumsToOne(moe.moe)).toBe(sumsToOne);
    const s = await DecoderSession.load(m.dir, { moeKernel: 'dispatch', cacheDir: cache.dir, logits: 'none' });
    try {
      const out = await s.forward([seededIds(6, m.vocabSize, 2)]);
      const k = moe.moe.topK;
      for (const layer of out.routing!) {
        const sums = Array.from({ length: layer.weights.length / k }, (_, t) => layer.weights.subarray(t * k, (t + 1) * k).reduce((a, b) => a + b, 0));
        for (const sum of sums) {
          if (sumsToOne) expect(sum).toBeCloseTo(1, 5);
          else expect(Math.abs(sum - 1)).toBeGreaterThan(1e-3);
        }
      }
    } finally {
      await s.dispose();
    }
  });
});
