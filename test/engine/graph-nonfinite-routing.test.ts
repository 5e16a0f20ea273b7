/**
 * A checkpoint with NaN/Inf weights: forward passes refuse with the first MoE layer whose router output is not
 * finite (instead of returning NaN routing weights), on both kernels and through the capture backend.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineBackend } from '../../src/capture/engine-backend.js';
import { DecoderSession } from '../../src/engine/session.js';
import { neutralSteering } from '../../src/engine/steering-plan.js';
import { overwriteF32, writeTinyModel, type TinyModelInfo } from '../support/tiny-models.js';
import { seededIds, tempDir } from './graph-helpers.js';

describe('non-finite router outputs', () => {
  const tmp = tempDir('nonfinite');
  const cache = tempDir('nonfinite-cache');
  let routerNaN: TinyModelInfo;
  let attentionInf: TinyModelInfo;
  let hidden: number;
  beforeAll(() => {
    // NaN in one expert's router row of the SECOND MoE layer: the first MoE layer is still finite.
    routerNaN = writeTinyModel(join(tmp.dir, 'router-nan'), 'qwen3_moe', { seed: 3 });
    hidden = (routerNaN.config as { hidden_size: number }).hidden_size;
    overwriteF32(routerNaN.dir, `model.layers.${routerNaN.moeLayers[1]}.mlp.gate.weight`, 3 * hidden, Array<number>(hidden).fill(NaN));
    // Inf in layer 0's attention output projection: everything from layer 0's router on is poisoned.
    attentionInf = writeTinyModel(join(tmp.dir, 'attn-inf'), 'qwen3_moe', { seed: 3 });
    overwriteF32(attentionInf.dir, 'model.layers.0.self_attn.o_proj.weight', 0, Array<number>(hidden).fill(Infinity));
  });
  afterAll(() => {
    tmp.cleanup();
    cache.cleanup();
  });

  it.each(['dispatch', 'fused'] as const)('forward names the first MoE layer with a non-finite router output (%s kernel)', async (kernel) => {
    for (const [m, layer] of [
      [routerNaN, routerNaN.moeLayers[1]],
      [attentionInf, attentionInf.moeLayers[0]],
    ] as const) {
      const s = await DecoderSession.load(m.dir, { moeKernel: kernel, cacheDir: cache.dir });
      try {
        await expect(s.forward([seededIds(4, m.vocabSize, 1)])).rejects.toThrow(new RegExp(`decoder layer ${layer}\\b.*not finite`));
      } finally {
        await s.dispose();
      }
    }
  });

  it('steering that overflows fp32 is named as such (finite logits, non-finite weights)', async () => {
    const clean = writeTinyModel(join(tmp.dir, 'clean'), 'qwen3_moe', { seed: 3 });
    const s = await DecoderSession.load(clean.dir, { moeKernel: 'dispatch', cacheDir: cache.dir });
    try {
      const steering = neutralSteering(clean);
      // bias + scale*|z| overflows to +Inf on two experts: softmax gives Inf - Inf = NaN.
      for (const e of [0, 1]) (steering.perMoeLayer[0]!.bias[e] = 3e38), (steering.perMoeLayer[0]!.scale[e] = 3e38);
      await expect(s.forward([seededIds(4, clean.vocabSize, 1)], { steering })).rejects.toThrow(
        new RegExp(`routing weights of decoder layer ${clean.moeLayers[0]}\\b.*not finite.*steering values overflow`),
      );
    } finally {
      await s.dispose();
    }
  });

  it('capture refuses the batch with the same message', async () => {
    const backend = await EngineBackend.load(routerNaN.dir, { moeKernel: 'dispatch', cacheDir: cache.dir });
    try {
      const batch = [seededIds(3, routerNaN.vocabSize, 2), seededIds(5, routerNaN.vocabSize, 3)];
      await expect(backend.route(batch, { withLogits: false })).rejects.toThrow(new RegExp(`decoder layer ${routerNaN.moeLayers[1]}\\b.*not finite`));
    } finally {
      await backend.dispose();
    }
  });
});
