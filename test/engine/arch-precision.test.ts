/**
 * The papers' other architectures at the reduced precisions. DeepSeek-V2 (MLA, shared experts, routed scaling)
 * at fp16 equals the float64 reference run on a copy whose experts, embedding and head are fp16-rounded (int8 and
 * int4 are in graph-precision.test.ts's deepseek_v2 suite). Phi-3.5-MoE is
 * one of the shared suite's architectures (graph-precision.test.ts runs it at every precision).
 * GPT-OSS's biased, clamped-SwiGLU experts run on the fused kernel at fp32 (MoE with bias inputs), fp16
 * (dispatch; and the CUDA fp16 fused graph checked on CPU), int8 and int4 (QMoE with fp32 bias inputs), each
 * against the reference on the matching copy, with the clamp shown to be active.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summarizeModel } from '../../src/engine/index.js';
import { decoderSpecFor } from '../../src/engine/architectures/index.js';
import { readModelFolder } from '../../src/engine/model-folder.js';
import { memoryPlan, type Precision } from '../../src/engine/precision.js';
import { DecoderSession } from '../../src/engine/session.js';
import { writeDequantizedCopy, writeRoundedCopy } from '../support/precision-copies.js';
import { referenceForward } from '../support/reference-forward.js';
import { writeTinyModel } from '../support/tiny-models.js';
import { seededIds, tempDir } from './graph-helpers.js';
import { expectMatchesReference } from './reference-suite.js';

const cache = tempDir('arch-precision-cache');
const specOf = (dir: string) => {
  const folder = readModelFolder(dir);
  return { spec: decoderSpecFor(folder.dir, folder.architecture, folder.config, folder.weights), weights: folder.weights };
};
afterAll(() => cache.cleanup());

describe('DeepSeek-V2 at fp16, int8 and int4', () => {
  const tmp = tempDir('arch-precision-deepseek');
  const refs = tempDir('arch-precision-deepseek-refs');
  beforeAll(() => writeTinyModel(tmp.dir, 'deepseek_v2', { seed: 43 }));
  afterAll(() => (tmp.cleanup(), refs.cleanup()));

  // int8 and int4 (QMoE experts, MatMulNBits MLA projections, shared experts and dense layer) are in
  // graph-precision.test.ts's deepseek_v2 suite, which allows for MatMulNBits' int8 activation rounding.
  it('fp16 equals the reference on correspondingly rounded expert, embedding and head weights within 1e-4', async () => {
    const precision = 'fp16';
    const s = await DecoderSession.load(tmp.dir, { precision, cacheDir: cache.dir });
    try {
      expect(s.info.precision?.name).toBe(precision);
      expect(s.info.moeKernel?.name).toBe('dispatch');
      const ref = join(refs.dir, precision);
      mkdirSync(ref, { recursive: true });
      writeRoundedCopy(tmp.dir, ref);
      const ids = [seededIds(7, s.info.vocabSize, 21), seededIds(7, s.info.vocabSize, 22)];
      expectMatchesReference(await s.forward(ids), referenceForward(ref, ids));
    } finally {
      await s.dispose();
    }
  });

  it("the memory plan counts, by hand from the checkpoint, the absorbed attention's second fp32 kv_b_proj per layer", () => {
    const { spec, weights } = specOf(tmp.dir);
    let dense = 0;
    let kvB = 0;
    for (const name of weights.names()) {
      const n = weights.info(name).shape.reduce((a, b) => a * b, 1);
      if (/\.mlp\.experts\./.test(name) || name === 'model.embed_tokens.weight') continue;
      dense += n;
      if (name.endsWith('.self_attn.kv_b_proj.weight')) kvB += n;
    }
    expect(kvB).toBeGreaterThan(0);
    expect(memoryPlan(spec, weights, 'int4', 100).denseBytes).toBe((dense + kvB) * 4);
  });

  it('differs from the fp32 reference at int4 (the rounding is really applied)', async () => {
    const s = await DecoderSession.load(tmp.dir, { precision: 'int4', cacheDir: cache.dir });
    try {
      const ids = [seededIds(7, s.info.vocabSize, 21)];
      const got = await s.forward(ids);
      const exact = referenceForward(tmp.dir, ids).logits.flat(2);
      expect(Math.max(...exact.map((v, i) => Math.abs(v - got.logits[i]!)))).toBeGreaterThan(1e-3);
    } finally {
      await s.dispose();
    }
  });
});

describe('GPT-OSS on the fused kernel and below fp32', () => {
  // The tiny config's swiglu_limit is 1.5, so the clamp bites on many gate/up values; each case also shows the
  // unclamped reference (same weights, limit 1000) is far from what the engine returns.
  const tmp = tempDir('arch-precision-gptoss');
  const refs = tempDir('arch-precision-gptoss-refs');
  beforeAll(() => writeTinyModel(tmp.dir, 'gpt_oss', { seed: 44, withoutTokenizer: true }));
  afterAll(() => (tmp.cleanup(), refs.cleanup()));

  const unclampedCopy = (dir: string): string => {
    const out = `${dir}-unclamped`;
    mkdirSync(out, { recursive: true });
    for (const f of readdirSync(dir)) copyFileSync(join(dir, f), join(out, f));
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(out, 'config.json'), JSON.stringify({ ...config, swiglu_limit: 1000 }));
    return out;
  };

  it.each<[string, Precision, 'fused' | 'dispatch', string]>([
    ['fp32 fused (MoE with bias inputs, swiglu_limit, alpha 1.702, beta 1)', 'fp32', 'fused', 'fused'],
    ['fp16 dispatch (16-bit experts, fp32 biases)', 'fp16', 'auto' as 'fused', 'dispatch'],
    ['fp16 fused (the CUDA fp16 MoE graph, run by the CPU provider)', 'fp16', 'fused', 'fused'],
    ['int8 (QMoE with fp32 bias inputs)', 'int8', 'auto' as 'fused', 'fused'],
    ['int4 (QMoE with fp32 bias inputs)', 'int4', 'auto' as 'fused', 'fused'],
  ])('%s equals the reference on correspondingly rounded experts within 1e-4, with the clamp active', async (name, precision, moeKernel, kernel) => {
    const s = await DecoderSession.load(tmp.dir, { precision, moeKernel, cacheDir: cache.dir });
    try {
      expect(s.info.precision?.name).toBe(precision);
      expect(s.info.moeKernel?.name).toBe(kernel);
      const ref = join(refs.dir, name.split(' ').slice(0, 2).join('-'));
      mkdirSync(ref, { recursive: true });
      if (precision === 'fp32') for (const f of readdirSync(tmp.dir)) copyFileSync(join(tmp.dir, f), join(ref, f));
      else if (precision === 'fp16') writeRoundedCopy(tmp.dir, ref, { roundBiases: kernel === 'fused' });
      else writeDequantizedCopy(tmp.dir, ref, precision === 'int8' ? 8 : 4, s.info.precision!.blockSize!);
      const ids = [seededIds(7, s.info.vocabSize, 21), seededIds(7, s.info.vocabSize, 22)];
      const got = await s.forward(ids);
      expectMatchesReference(got, referenceForward(ref, ids));
      const unclamped = referenceForward(unclampedCopy(ref), ids).logits.flat(2);
      expect(Math.max(...unclamped.map((v, i) => Math.abs(v - got.logits[i]!)))).toBeGreaterThan(1e-2);
    } finally {
      await s.dispose();
    }
  });

  it('differs from the fp32 reference at int4 (the rounding is really applied)', async () => {
    const s = await DecoderSession.load(tmp.dir, { precision: 'int4', cacheDir: cache.dir });
    try {
      const ids = [seededIds(7, s.info.vocabSize, 21)];
      const got = await s.forward(ids);
      const exact = referenceForward(tmp.dir, ids).logits.flat(2);
      expect(Math.max(...exact.map((v, i) => Math.abs(v - got.logits[i]!)))).toBeGreaterThan(1e-3);
    } finally {
      await s.dispose();
    }
  });

  it('the model summary (routescope inspect) shows every precision as available', () => {
    const m = summarizeModel(tmp.dir).memory;
    expect(m.plans.map((p) => [p.precision, p.implemented])).toEqual([['fp32', true], ['fp16', true], ['int8', true], ['int4', true]]);
  });

  it('the memory plan narrows the expert matrices and keeps their biases at fp32 (counted by hand)', () => {
    const { spec, weights } = specOf(tmp.dir);
    let matrices = 0;
    let rest = 0;
    for (const name of weights.names()) {
      const n = weights.info(name).shape.reduce((a, b) => a * b, 1);
      if (/\.mlp\.experts\.(gate_up|down)_proj$/.test(name)) matrices += n;
      else if (name !== 'model.embed_tokens.weight') rest += n;
    }
    const fp32 = memoryPlan(spec, weights, 'fp32', 100);
    const int4 = memoryPlan(spec, weights, 'int4', 100);
    expect(fp32.expertBytes).toBe(matrices * 4);
    expect(int4.expertBytes).toBeCloseTo(matrices * (0.5 + 4 / 64), 6);
    expect(int4.denseBytes).toBe(rest * 4);
    expect(fp32.denseBytes).toBe(rest * 4);
  });
});
