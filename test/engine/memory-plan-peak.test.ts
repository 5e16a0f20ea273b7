/**
 * The memory plan's loading term (precision.ts loadTransientBytes): what loading holds on top of the running
 * session, counted by hand here from the checkpoint's tensor names and dtypes (not from the DecoderSpec the code
 * walks). Measured against peak RSS by `npm run bench:precision -- --rss-only` (docs/precision.md): a BF16
 * checkpoint at fp32 peaks well above 4 bytes per parameter because the widened BF16 pages and the fp32 copies
 * are resident together; the plan's peak must stay above the measurement.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { decoderSpecFor } from '../../src/engine/architectures/index.js';
import { readModelFolder } from '../../src/engine/model-folder.js';
import { loadTransientBytes, memoryPlan } from '../../src/engine/precision.js';
import type { Precision } from '../../src/engine/precision.js';
import { isDenseProjection } from '../support/precision-copies.js';
import { writeTinyModel } from '../support/tiny-models.js';
import { tempDir } from './graph-helpers.js';

function byHand(dir: string) {
  const folder = readModelFolder(dir);
  const w = folder.weights;
  const spec = decoderSpecFor(folder.dir, folder.architecture, folder.config, w);
  let expertParams = 0;
  let expertStored = 0;
  // Narrow dense bytes widened at load, per precision: below fp32 the lm_head comes from the dense cache (16 or 8
  // bits), and at int8/int4 so do the dense projections (MatMulNBits), so those are not widened.
  const widened: Record<Precision, number> = { fp32: 0, fp16: 0, int8: 0, int4: 0 };
  const perLayer = new Map<string, number>();
  // One expert's weights: named per expert (experts.<e>.), or a slice of a stacked [E, ...] tensor (layer / E).
  const perExpert = new Map<string, number>();
  let stacked = false;
  for (const name of w.names()) {
    const i = w.info(name);
    const n = i.shape.reduce((a, b) => a * b, 1);
    const narrow = i.dtype !== 'F32';
    if (/\.experts\./.test(name)) {
      expertParams += n;
      if (narrow) expertStored += i.byteLength;
      const layer = /layers\.(\d+)\./.exec(name)![1]!;
      perLayer.set(layer, (perLayer.get(layer) ?? 0) + n);
      const e = /\.experts\.(\d+)\./.exec(name);
      if (e) perExpert.set(`${layer}.${e[1]}`, (perExpert.get(`${layer}.${e[1]}`) ?? 0) + n);
      else {
        stacked = true;
        perExpert.set(`${layer}.${name}`, n / i.shape[0]!);
      }
    } else if (name !== 'model.embed_tokens.weight' && narrow) {
      widened.fp32 += i.byteLength;
      if (name !== 'lm_head.weight') widened.fp16 += i.byteLength;
      if (name !== 'lm_head.weight' && !isDenseProjection(name)) widened.int8 = widened.int4 += i.byteLength;
    }
  }
  // The layer being converted and the previous one (its buffers not yet collected): the two largest.
  const twoLayers = [...perLayer.values()].sort((a, b) => b - a).slice(0, 2).reduce((a, b) => a + b, 0);
  // A stacked layer's gate_up and down tensors are two entries of perExpert: one expert is their sum.
  const largestExpert = stacked ? Math.max(...[...perLayer.values()]) / spec.numExperts : Math.max(...perExpert.values());
  return { spec, weights: w, expertParams, expertStored, widened, twoLayers, largestExpert, stacked };
}

/**
 * int8/int4 caches are converted expert by expert: two layers' codes and fp32 block scales (one per 64 weights),
 * plus the fp32 copy of stacked expert tensors, and eight experts' fp32 rows at 8 bytes per weight.
 */
function quantConversion(h: ReturnType<typeof byHand>, bits: 8 | 4): number {
  return h.twoLayers * (bits / 8 + 4 / 64 + (h.stacked ? 4 : 0)) + 8 * 8 * h.largestExpert;
}

describe('memory plan: bytes held while loading', () => {
  const bf16 = tempDir('plan-bf16');
  const f32 = tempDir('plan-f32');
  const f16 = tempDir('plan-f16');
  afterAll(() => (bf16.cleanup(), f32.cleanup(), f16.cleanup()));

  it('BF16: widened dense pages (fewer below fp32: head and, at int8/int4, projections come from the dense cache); at fp32 the larger of the widened expert pages and two layers converted', () => {
    writeTinyModel(bf16.dir, 'qwen3_moe', { seed: 3, dtype: 'BF16', numExperts: 16, numLayers: 12, tieEmbeddings: false });
    const h = byHand(bf16.dir);
    expect(h.expertStored).toBe(h.expertParams * 2);
    const conversion = 8 * h.twoLayers;
    expect(h.widened.fp32).toBeGreaterThan(h.widened.fp16);
    expect(h.widened.fp16).toBeGreaterThan(h.widened.int4);
    expect(loadTransientBytes(h.spec, h.weights, 'fp32')).toBe(h.widened.fp32 + Math.max(h.expertParams * 2, conversion));
    // fp16: the CPU cache goes expert by expert (eight in flight); CUDA's fused cache a layer at a time.
    expect(loadTransientBytes(h.spec, h.weights, 'fp16')).toBe(h.widened.fp16 + 8 * 8 * h.largestExpert);
    expect(loadTransientBytes(h.spec, h.weights, 'fp16', 'cuda')).toBe(h.widened.fp16 + conversion);
    expect(memoryPlan(h.spec, h.weights, 'fp16', 100, undefined, 'cuda').totalBytes - memoryPlan(h.spec, h.weights, 'fp16', 100).totalBytes).toBe(conversion - 8 * 8 * h.largestExpert);
    expect(loadTransientBytes(h.spec, h.weights, 'int4')).toBe(h.widened.int4 + quantConversion(h, 4));
    expect(quantConversion(h, 4)).toBeLessThan(conversion / 2);
    // Enough layers that widening every expert outweighs converting two layers: the expert pages count at fp32.
    expect(h.expertParams * 2).toBeGreaterThan(conversion);
    const plan = memoryPlan(h.spec, h.weights, 'fp32', 100);
    expect(plan.totalBytes).toBe(plan.expertBytes + plan.denseBytes + plan.embeddingBytes + plan.kvBytes + plan.runtimeBytes + plan.transientBytes);
    // Peak per parameter at fp32 for a BF16 checkpoint: at least the 4 + 2 bytes of both copies, beyond what a fp32-only count gave.
    expect((plan.expertBytes + plan.transientBytes) / h.expertParams).toBeGreaterThanOrEqual(6);
  });

  it('F32: nothing to widen; converting two layers counts at fp32 and for CUDA fp16, eight experts for the CPU fp16 cache', () => {
    writeTinyModel(f32.dir, 'mixtral', { seed: 3 });
    const h = byHand(f32.dir);
    expect(h.widened.fp32).toBe(0);
    expect(loadTransientBytes(h.spec, h.weights, 'fp32')).toBe(8 * h.twoLayers);
    expect(loadTransientBytes(h.spec, h.weights, 'fp16', 'cuda')).toBe(8 * h.twoLayers);
    expect(loadTransientBytes(h.spec, h.weights, 'fp16')).toBe(8 * 8 * h.largestExpert);
    expect(loadTransientBytes(h.spec, h.weights, 'int8')).toBe(quantConversion(h, 8));
  });

  it('stacked [E, ...] expert tensors at int4: the fp32 copy of each layer is held while its experts are quantised', () => {
    const stacked = tempDir('plan-stacked');
    try {
      writeTinyModel(stacked.dir, 'qwen3_moe', { seed: 3, dtype: 'BF16', fusedExperts: true });
      const h = byHand(stacked.dir);
      expect(h.stacked).toBe(true);
      expect(loadTransientBytes(h.spec, h.weights, 'int4')).toBe(h.widened.int4 + quantConversion(h, 4));
      // fp16 on the CPU: the layer's stacked fp32 copy (two layers, as the collector may lag) and eight experts.
      expect(loadTransientBytes(h.spec, h.weights, 'fp16')).toBe(h.widened.fp16 + 4 * h.twoLayers + 8 * 8 * h.largestExpert);
    } finally {
      stacked.cleanup();
    }
  });

  it('F16 experts at fp16 are mapped as stored: no conversion, only the widened dense pages', () => {
    writeTinyModel(f16.dir, 'olmoe', { seed: 3, dtype: 'F16' });
    const h = byHand(f16.dir);
    expect(h.widened.fp16).toBeGreaterThan(0);
    expect(loadTransientBytes(h.spec, h.weights, 'fp16')).toBe(h.widened.fp16);
    expect(loadTransientBytes(h.spec, h.weights, 'fp32')).toBe(h.widened.fp32 + Math.max(h.expertParams * 2, 8 * h.twoLayers));
  });
});
