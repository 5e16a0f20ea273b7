import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEngine, type Engine } from '../../src/engine/index.js';

const root = resolve(import.meta.dirname, '../..');
const modelDir = resolve(root, 'resources/demo-model');
const referenceFile = resolve(root, 'tools/train-demo-model/reference-forward.json');

interface ReferenceCase {
  text: string;
  input_ids: number[];
  last_logits_top10: { id: number; logit: number }[];
  logits_checksum: { sum: number; sum_abs: number };
  routing: { moe_layer: number; experts: number[][]; weights: number[][] }[];
}

// The committed demo model against the float64 NumPy forward pass written independently from transformers'
// modeling_qwen3_moe.py (tools/train-demo-model/reference_check.py) when the model was trained: same tokenizer
// ids, same logits, same experts at every token and layer, for both kernels. reference-forward.json is rewritten with
// the model by `sh tools/train-demo-model/regenerate.sh` (Debian python3-torch 1.13.1 and python3-numpy,
// /usr/bin/python3; see tools/train-demo-model/README.md).
describe.skipIf(!existsSync(modelDir) || !existsSync(referenceFile))('embedded demo model vs its NumPy reference', () => {
  const cases = (JSON.parse(readFileSync(referenceFile, 'utf8')) as { cases: ReferenceCase[] }).cases;
  const engines: Partial<Record<'fused' | 'dispatch', Engine>> = {};

  beforeAll(async () => {
    engines.fused = await loadEngine(modelDir, { moeKernel: 'fused' });
    engines.dispatch = await loadEngine(modelDir, { moeKernel: 'dispatch' });
  });
  afterAll(async () => {
    await engines.fused?.dispose();
    await engines.dispatch?.dispose();
  });

  it('has reference cases to compare with', () => {
    expect(cases.length).toBeGreaterThan(0);
  });

  for (const kernel of ['fused', 'dispatch'] as const) {
    it(`tokenizes, scores and routes like the reference (${kernel} kernel)`, async () => {
      const engine = engines[kernel]!;
      const tokenizer = engine.tokenizer;
      if (!tokenizer) throw new Error('the demo model folder has no tokenizer.json');
      for (const c of cases) {
        expect(tokenizer.encode(c.text, { addSpecialTokens: false })).toEqual(c.input_ids);
        const r = await engine.forward([c.input_ids], { logits: 'all' });
        const V = r.vocabSize;
        const T = c.input_ids.length;
        const last = r.logits.subarray((T - 1) * V, T * V);
        for (const { id, logit } of c.last_logits_top10) expect(last[id]).toBeCloseTo(logit, 3);
        let sum = 0;
        let sumAbs = 0;
        for (const x of r.logits) {
          sum += x;
          sumAbs += Math.abs(x);
        }
        expect(Math.abs(sumAbs - c.logits_checksum.sum_abs) / c.logits_checksum.sum_abs).toBeLessThan(1e-5);
        expect(Math.abs(sum - c.logits_checksum.sum)).toBeLessThan(1e-5 * c.logits_checksum.sum_abs);
        for (const layer of c.routing) {
          const got = r.routing![layer.moe_layer]!;
          const k = layer.experts[0]!.length;
          for (let t = 0; t < T; t++) {
            expect(Array.from(got.experts.subarray(t * k, (t + 1) * k))).toEqual(layer.experts[t]);
            for (let j = 0; j < k; j++) expect(got.weights[t * k + j]).toBeCloseTo(layer.weights[t]![j]!, 4);
          }
        }
      }
    });
  }
});
