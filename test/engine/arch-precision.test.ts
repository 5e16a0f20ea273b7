/**
 * The papers' other architectures at the reduced precisions. DeepSeek-V2 (MLA, shared experts, routed scaling)
 * at fp16 equals the float64 reference run on a copy whose experts, embedding and head are fp16-rounded (int8 and
 * int4 are in graph-precision.test.ts's deepseek_v2 suite). Phi-3.5-MoE is
 * one of the shared suite's architectures (graph-precision.test.ts runs it at every precision).
 * GPT-OSS's biased, clamped-SwiGLU experts are refused below fp32 by name, before any cache is written, and
 * auto loads it at fp32.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summarizeModel } from '../../src/engine/index.js';
import type { Precision } from '../../src/engine/precision.js';
import { DecoderSession } from '../../src/engine/session.js';
import { writeRoundedCopy } from '../support/precision-copies.js';
import { referenceForward } from '../support/reference-forward.js';
import { writeTinyModel } from '../support/tiny-models.js';
import { seededIds, tempDir } from './graph-helpers.js';
import { expectMatchesReference } from './reference-suite.js';

const cache = tempDir('arch-precision-cache');
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

describe('GPT-OSS below fp32', () => {
  const tmp = tempDir('arch-precision-gptoss');
  const empty = tempDir('arch-precision-gptoss-cache');
  beforeAll(() => writeTinyModel(tmp.dir, 'gpt_oss', { seed: 44, withoutTokenizer: true }));
  afterAll(() => (tmp.cleanup(), empty.cleanup()));

  it.each<Precision>(['fp16', 'int8', 'int4'])('refuses --precision %s naming the architecture, the precision and why, writing no cache', async (precision) => {
    const load = DecoderSession.load(tmp.dir, { precision, cacheDir: empty.dir });
    await expect(load).rejects.toThrow(
      new RegExp(`^GptOssForCausalLM cannot run at --precision ${precision}: its experts have biases and a clamped swiglu activation, .*Use --precision fp32`),
    );
    expect(readdirSync(empty.dir)).toEqual([]);
  });

  it('the model summary (routescope inspect) shows only fp32 as available and auto on fp32', () => {
    const m = summarizeModel(tmp.dir).memory;
    expect(m.plans.map((p) => [p.precision, p.implemented])).toEqual([['fp32', true], ['fp16', false], ['int8', false], ['int4', false]]);
    expect(m.auto).toMatch(/^fp32: auto: fp32 /);
  });

  it('auto loads it at fp32 and matches the reference', async () => {
    const s = await DecoderSession.load(tmp.dir, { precision: 'auto', cacheDir: empty.dir });
    try {
      expect(s.info.precision?.name).toBe('fp32');
      const ids = [seededIds(6, s.info.vocabSize, 5)];
      expectMatchesReference(await s.forward(ids), referenceForward(tmp.dir, ids));
    } finally {
      await s.dispose();
    }
  });
});
