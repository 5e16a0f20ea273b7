/**
 * The papers' other architectures at the reduced precisions. DeepSeek-V2 (MLA, shared experts, routed scaling)
 * at fp16 equals the float64 reference run on a copy whose experts, embedding and head are fp16-rounded (int8 and
 * int4 are in graph-precision.test.ts's deepseek_v2 suite). Phi-3.5-MoE is
 * one of the shared suite's architectures (graph-precision.test.ts runs it at every precision).
 * GPT-OSS's biased, clamped-SwiGLU experts run on the fused kernel at fp32 (MoE with bias inputs), fp16
 * (dispatch; and the CUDA fp16 fused graph checked on CPU), int8 and int4 (QMoE with fp32 bias inputs, attention
 * and head through MatMulNBits), each against the reference on the matching copy (int4: routing exact, logits
 * within the 8-bit head's activation rounding; int8: top-k agreement), with the clamp shown to be active; the
 * opt-in int4 dispatch kernel, which has no expert biases or clamp, is refused.
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
import { relativeError, seededIds, tempDir } from './graph-helpers.js';
import { expectMatchesReference, expectRoutingMatchesReference, expectTopKAgreement, INT8_FIRST_ROUTER_TOL } from './reference-suite.js';

const cache = tempDir('arch-precision-cache');
const specOf = (dir: string) => {
  const folder = readModelFolder(dir);
  return { spec: decoderSpecFor(folder.dir, folder.architecture, folder.config, folder.weights), weights: folder.weights };
};
afterAll(() => cache.cleanup());

/** The int4 session's logits stand more than 1e-3 from the unrounded fp32 reference: the rounding is really applied. */
async function expectInt4Differs(dir: string): Promise<void> {
  const s = await DecoderSession.load(dir, { precision: 'int4', cacheDir: cache.dir });
  try {
    const ids = [seededIds(7, s.info.vocabSize, 21)];
    const got = await s.forward(ids);
    const exact = referenceForward(dir, ids).logits.flat(2);
    expect(Math.max(...exact.map((v, i) => Math.abs(v - got.logits[i]!)))).toBeGreaterThan(1e-3);
  } finally {
    await s.dispose();
  }
}

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

  it("the memory plan counts, by hand from the checkpoint, the absorbed attention's second fp32 kv_b_proj per layer at fp32/fp16 only", () => {
    const { spec, weights } = specOf(tmp.dir);
    // The absorbed MLA form needs kv_b_proj as an fp32 matrix: at int8/int4 kv_b_proj is a MatMulNBits weight and the
    // attention stays decompressed, so only the quantised copy counts. Projections by name ([out, in]: per row
    // ceil(in / 32) blocks of codes plus one fp32 scale), the untied head at 8 bits the same way below fp16.
    const quant = (shape: number[], bits: 8 | 4) => shape[0]! * Math.ceil(shape[1]! / 32) * ((32 * bits) / 8 + 4);
    const isProjection = (name: string) => /self_attn\.(q|q_a|q_b|kv_a|kv_b|o)_proj(_with_mqa)?\.weight$|mlp\.(shared_experts\.)?(gate|up|down)_proj\.weight$/.test(name);
    let rest = 0;
    let proj = 0;
    const projQuant = { 8: 0, 4: 0 };
    let head = 0;
    let headQuant8 = 0;
    let kvB = 0;
    for (const name of weights.names()) {
      const shape = weights.info(name).shape;
      const n = shape.reduce((a, b) => a * b, 1);
      if (/\.mlp\.experts\./.test(name) || name === 'model.embed_tokens.weight') continue;
      if (name.endsWith('.self_attn.kv_b_proj.weight')) kvB += n;
      if (name === 'lm_head.weight') (head += n), (headQuant8 += quant(shape, 8));
      else if (isProjection(name)) (proj += n), (projQuant[8] += quant(shape, 8)), (projQuant[4] += quant(shape, 4));
      else rest += n;
    }
    expect(kvB).toBeGreaterThan(0);
    expect(head).toBeGreaterThan(0);
    expect(memoryPlan(spec, weights, 'fp32', 100).denseBytes).toBe((rest + proj + head + kvB) * 4);
    expect(memoryPlan(spec, weights, 'fp16', 100).denseBytes).toBe((rest + proj + kvB) * 4 + head * 2);
    expect(memoryPlan(spec, weights, 'int8', 100).denseBytes).toBe(rest * 4 + projQuant[8] + headQuant8);
    expect(memoryPlan(spec, weights, 'int4', 100).denseBytes).toBe(rest * 4 + projQuant[4] + headQuant8);
  });

  it('differs from the fp32 reference at int4 (the rounding is really applied)', () => expectInt4Differs(tmp.dir));
});

describe('GPT-OSS on the fused kernel and below fp32', () => {
  // The tiny config's swiglu_limit is 1.5, so the clamp bites on many gate/up values; each case also shows the
  // unclamped reference (same weights, limit 1000) is several times further from what the engine returns.
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
  ])('%s matches the reference on the correspondingly rounded copy (fp32/fp16 within 1e-4, int4 routing within 1e-4, int8 by top-k agreement), with the clamp active', async (name, precision, moeKernel, kernel) => {
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
      const want = referenceForward(ref, ids);
      // fp32/fp16 hold exactly the copy's values: 1e-4 everywhere. int4's dense projections run at accuracy_level 1
      // (exact on the dequantised weights): routing within 1e-4, logits carry the 8-bit head's int8 activation
      // rounding. int8 rounds every dense projection's input to int8: first router within INT8_FIRST_ROUTER_TOL,
      // >= 90% identical top-k sets (reference-suite.ts says why).
      if (precision === 'int8') expectTopKAgreement(got, want, ids, INT8_FIRST_ROUTER_TOL);
      else if (precision === 'int4') expectRoutingMatchesReference(got, want);
      else expectMatchesReference(got, want);
      // The second MoE layer's router is the first output downstream of a clamped SwiGLU: the unclamped reference
      // (same weights) must be several times further from it than the clamped one, at every precision (measured:
      // ~4x at int8, whose activation rounding is the largest difference from the clamped copy; > 1e5x elsewhere).
      const unclamped = referenceForward(unclampedCopy(ref), ids);
      const secondRouter = got.routing![1]!.routerLogits;
      expect(relativeError(secondRouter, unclamped.routerLogits[1]!.flat(2))).toBeGreaterThan(3 * relativeError(secondRouter, want.routerLogits[1]!.flat(2)));
    } finally {
      await s.dispose();
    }
  });

  it('differs from the fp32 reference at int4 (the rounding is really applied)', () => expectInt4Differs(tmp.dir));

  it('the model summary (routescope inspect) shows every precision as available', () => {
    const m = summarizeModel(tmp.dir).memory;
    expect(m.plans.map((p) => [p.precision, p.implemented])).toEqual([['fp32', true], ['fp16', true], ['int8', true], ['int4', true]]);
  });

  it('the memory plan narrows the expert matrices, keeps their biases at fp32, quantises attention and the head below fp16 (counted by hand)', () => {
    const { spec, weights } = specOf(tmp.dir);
    // By name and shape from the checkpoint: the stacked expert matrices; the attention projections and the head
    // ([out, in]: MatMulNBits keeps per row ceil(in / 32) blocks of 32 codes plus one fp32 scale; o_proj's in = 48
    // pads its second block); the embedding; everything else (expert biases, attention biases, sinks, routers,
    // norms) at fp32.
    let matrices = 0;
    let proj = 0;
    const projQuant = { 8: 0, 4: 0 };
    let head = 0;
    let headQuant8 = 0;
    let embedding = 0;
    let rest = 0;
    const quant = (shape: number[], bits: 8 | 4) => shape[0]! * Math.ceil(shape[1]! / 32) * ((32 * bits) / 8 + 4);
    for (const name of weights.names()) {
      const shape = weights.info(name).shape;
      const n = shape.reduce((a, b) => a * b, 1);
      if (/\.mlp\.experts\.(gate_up|down)_proj$/.test(name)) matrices += n;
      else if (/\.self_attn\.[qkvo]_proj\.weight$/.test(name)) {
        proj += n;
        projQuant[8] += quant(shape, 8);
        projQuant[4] += quant(shape, 4);
      } else if (name === 'lm_head.weight') (head += n), (headQuant8 += quant(shape, 8));
      else if (name === 'model.embed_tokens.weight') embedding += n;
      else rest += n;
    }
    expect([matrices, proj, head, embedding, rest].every((n) => n > 0)).toBe(true);
    const plan = (p: Precision) => memoryPlan(spec, weights, p, 100);
    expect(plan('fp32').expertBytes).toBe(matrices * 4);
    expect(plan('fp32').denseBytes).toBe((rest + proj + head) * 4);
    expect(plan('fp32').embeddingBytes).toBe(embedding * 4);
    expect(plan('fp16').expertBytes).toBe(matrices * 2);
    expect(plan('fp16').denseBytes).toBe((rest + proj) * 4 + head * 2);
    for (const bits of [8, 4] as const) {
      const p = plan(bits === 8 ? 'int8' : 'int4');
      expect(p.expertBytes).toBeCloseTo(matrices * (bits / 8 + 4 / 64), 6);
      expect(p.denseBytes).toBe(rest * 4 + projQuant[bits] + headQuant8);
      expect(p.embeddingBytes).toBe(embedding * 2);
    }
  });

  it('refuses the opt-in int4 dispatch kernel (MatMulNBits experts without biases or clamp)', async () => {
    await expect(DecoderSession.load(tmp.dir, { precision: 'int4', moeKernel: 'dispatch', cacheDir: cache.dir })).rejects.toThrow(/int4 on the dispatch kernel runs SiLU-gated experts without biases; GptOssForCausalLM's experts have biases or a clamped SwiGLU: use moeKernel auto \(QMoE\)/);
  });
});
