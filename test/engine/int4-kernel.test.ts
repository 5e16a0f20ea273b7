/**
 * Which kernel runs int4 experts (src/engine/int4-kernel.ts) and what the memory plan counts for it: `auto` takes the
 * dispatch kernel at fp32 activations (the cache's memory) where it can run and QMoE otherwise, `dispatch` the
 * int8-activation packing (8 / block more bytes per expert weight, counted), `fused` QMoE. Configs and headers only:
 * no session is built here (graph-precision.test.ts runs each kernel against the float64 reference).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { decoderSpecFor } from '../../src/engine/architectures/index.js';
import { chooseInt4Kernel } from '../../src/engine/int4-kernel.js';
import { readModelFolder } from '../../src/engine/model-folder.js';
import { choosePrecision, memoryPlan } from '../../src/engine/precision.js';
import { writeTinyModel, type TinyArch } from '../support/tiny-models.js';
import { tempDir } from './graph-helpers.js';

const dirs: { cleanup: () => void }[] = [];
afterAll(() => dirs.forEach((d) => d.cleanup()));

function specOf(arch: TinyArch, opts: { hiddenSize?: number; numLayers?: number; numExperts?: number } = {}) {
  const tmp = tempDir(`int4-kernel-${arch}`);
  dirs.push(tmp);
  writeTinyModel(tmp.dir, arch, { seed: 3, ...opts });
  const folder = readModelFolder(tmp.dir);
  return { spec: decoderSpecFor(folder.dir, folder.architecture, folder.config, folder.weights), weights: folder.weights };
}

describe('int4 expert kernel choice', () => {
  it('auto: the dispatch kernel at accuracy_level 1 for SiLU experts without biases on blocks of 16 or more', () => {
    // Qwen3-MoE tiny: hidden 32, expert width 16, so blocks of 16.
    const { spec } = specOf('qwen3_moe');
    const k = chooseInt4Kernel(spec, 'auto');
    expect(k.name).toBe('dispatch');
    expect(k.expertAccuracy).toBe(1);
    expect(k.reason).toMatch(/accuracy_level 1 .*same memory as QMoE/);
    expect(chooseInt4Kernel(spec, undefined)).toEqual(k);
  });

  it('dispatch: accuracy_level 4 (int8 activations), saying it holds more; fused: QMoE', () => {
    const { spec } = specOf('mixtral');
    const fast = chooseInt4Kernel(spec, 'dispatch');
    expect(fast).toMatchObject({ name: 'dispatch', expertAccuracy: 4 });
    // Blocks of 16: a scale copy and a block sum per block, 8 / 16 bytes per weight.
    expect(fast.reason).toMatch(/0\.500 more bytes per expert weight .*counted in the memory plan/);
    const qmoe = chooseInt4Kernel(spec, 'fused');
    expect(qmoe.name).toBe('fused');
    expect(qmoe.expertAccuracy).toBeUndefined();
    expect(qmoe.reason).toMatch(/com\.microsoft\.QMoE \(moeKernel fused requested/);
  });

  it('auto keeps QMoE beyond 3072 experts in all (session creation on the dispatch kernel grows about quadratically); dispatch still forces it', () => {
    // The tiny model's first layer is dense: 25 layers give 24 MoE layers (3072 experts), 26 give 3200.
    const at = specOf('qwen3_moe', { numLayers: 25, numExperts: 128 }).spec;
    expect(at.moeLayers.length * 128).toBe(3072);
    expect(chooseInt4Kernel(at, 'auto')).toMatchObject({ name: 'dispatch', expertAccuracy: 1 });
    const { spec } = specOf('qwen3_moe', { numLayers: 26, numExperts: 128 });
    const k = chooseInt4Kernel(spec, 'auto');
    expect(k.name).toBe('fused');
    expect(k.reason).toMatch(/QMoE \(3200 experts: creating a dispatch-kernel session grows about quadratically .*up to 3072; moeKernel dispatch forces it\)/);
    expect(chooseInt4Kernel(spec, 'dispatch')).toMatchObject({ name: 'dispatch', expertAccuracy: 4 });
  });

  it('auto keeps QMoE, and says why, where MatMulNBits cannot take the blocks; dispatch is refused there', () => {
    // Hidden 40 and width 16: no block of 64, 32 or 16 divides both, so one scale per row.
    const { spec } = specOf('qwen3_moe', { hiddenSize: 40 });
    const k = chooseInt4Kernel(spec, 'auto');
    expect(k.name).toBe('fused');
    expect(k.reason).toMatch(/QMoE \(int4 on the dispatch kernel needs a block size of at least 16 .*one scale per row\)/);
    expect(() => chooseInt4Kernel(spec, 'dispatch')).toThrow(/needs a block size of at least 16.*use moeKernel auto \(QMoE\)/);
  });

  it('auto keeps QMoE for experts with biases and a clamped SwiGLU (GPT-OSS)', () => {
    const { spec } = specOf('gpt_oss');
    const k = chooseInt4Kernel(spec, 'auto');
    expect(k.name).toBe('fused');
    expect(k.reason).toMatch(/GptOssForCausalLM's experts have biases or a clamped SwiGLU/);
    expect(() => chooseInt4Kernel(spec, 'dispatch')).toThrow(/SiLU-gated experts without biases/);
  });

  it('the plan counts the int8-activation packing at int4 only when it runs', () => {
    const { spec, weights } = specOf('mixtral');
    // Mixtral tiny: 2 layers of 4 experts of 3 x 32 x 16 weights, blocks of 16.
    const experts = 2 * 4 * 3 * 32 * 16;
    expect(memoryPlan(spec, weights, 'int4', 100).expertBytes).toBe(experts * (0.5 + 4 / 64));
    expect(memoryPlan(spec, weights, 'int4', 100, 'auto').expertBytes).toBe(experts * (0.5 + 4 / 64));
    expect(memoryPlan(spec, weights, 'int4', 100, 'fused').expertBytes).toBe(experts * (0.5 + 4 / 64));
    expect(memoryPlan(spec, weights, 'int4', 100, 'dispatch').expertBytes).toBe(experts * (0.5 + 4 / 64 + 8 / 16));
    expect(memoryPlan(spec, weights, 'int8', 100, 'dispatch').expertBytes).toBe(experts * (1 + 4 / 64));
    const gpt = specOf('gpt_oss');
    expect(memoryPlan(gpt.spec, gpt.weights, 'int4', 100, 'dispatch').expertBytes).toBe(memoryPlan(gpt.spec, gpt.weights, 'int4', 100).expertBytes);
    // choosePrecision judges the fit on that plan.
    const roomy = { totalBytes: 2 ** 40, availableBytes: 2 ** 40 };
    const withDispatch = choosePrecision(spec, weights, 'int4', { context: 100, machine: roomy, moeKernel: 'dispatch' });
    expect(withDispatch.plan.expertBytes).toBe(experts * (0.5 + 4 / 64 + 8 / 16));
  });
});
