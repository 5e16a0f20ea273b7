/**
 * Phi-3.5-MoE specifics beyond the shared reference suites (which run the tiny phimoe model on both kernels):
 * LongRoPE's switch to the long factors past original_max_position_embeddings, attention_bias read as
 * transformers reads it, and config combinations the engine refuses with the field named.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readModelFolder } from '../../src/engine/model-folder.js';
import { decoderSpecFor } from '../../src/engine/architectures/index.js';
import { generate } from '../../src/engine/generate.js';
import { DecoderSession } from '../../src/engine/session.js';
import { WeightStore } from '../../src/engine/safetensors.js';
import { writeSafetensors, type TensorToWrite } from '../../src/engine/safetensors-writer.js';
import { clearReferenceCache, referenceForward, type ReferenceResult } from '../support/reference-forward.js';
import { writeTinyModel } from '../support/tiny-models.js';
import { relativeError, seededIds, specWithConfig, tempDir } from './graph-helpers.js';
import { expectMatchesReference } from './reference-suite.js';

const tmp = tempDir('phimoe');
afterAll(() => tmp.cleanup());

function rope(config: Record<string, unknown>): Record<string, unknown> {
  return config.rope_scaling as Record<string, unknown>;
}

describe('Phi-3.5-MoE LongRoPE', () => {
  it('uses the long factors and long_mscale once max(position_ids) + 1 exceeds original_max_position_embeddings', async () => {
    const dir = join(tmp.dir, 'longrope');
    const info = writeTinyModel(dir, 'phimoe', { seed: 3, withoutTokenizer: true });
    const config = { ...info.config, original_max_position_embeddings: 6, rope_scaling: { ...rope(info.config), original_max_position_embeddings: 6 } };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    clearReferenceCache();
    const s = await DecoderSession.load(dir, { moeKernel: 'dispatch' });
    try {
      const long = [seededIds(9, s.info.vocabSize, 7)];
      const short = [long[0]!.slice(0, 6)];
      const gotLong = await s.forward(long);
      const gotShort = await s.forward(short);
      expectMatchesReference(gotLong, referenceForward(dir, long));
      expectMatchesReference(gotShort, referenceForward(dir, short));
      // The switch is real: the first 6 positions differ between the 9-token call (long factors) and the
      // 6-token call (short factors), though causal attention makes them see the same tokens.
      const V = s.info.vocabSize;
      expect(relativeError(gotLong.logits.subarray(0, 6 * V), gotShort.logits)).toBeGreaterThan(1e-3);
    } finally {
      await s.dispose();
    }
  });
});

/** Position t of a one-sequence reference result, as the reference of a one-token decode step. */
function referenceAt(ref: ReferenceResult, t: number): ReferenceResult {
  const at = <X>(perLayer: X[][][][]) => perLayer.map((l) => [[l[0]![t]!]]);
  return { logits: [[ref.logits[0]![t]!]], routerLogits: at(ref.routerLogits), experts: at(ref.experts), weights: at(ref.weights), steeredLogits: at(ref.steeredLogits) };
}

describe('Phi-3.5-MoE LongRoPE under the KV cache (original_max_position_embeddings 8)', () => {
  const dir = join(tmp.dir, 'longrope-cache');
  const ORIGINAL = 8;
  const writeModel = () => {
    const info = writeTinyModel(dir, 'phimoe', { seed: 7, withoutTokenizer: true });
    const config = { ...info.config, original_max_position_embeddings: ORIGINAL, rope_scaling: { ...rope(info.config), original_max_position_embeddings: ORIGINAL } };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    clearReferenceCache();
    return info.vocabSize;
  };

  it('decoding across the threshold rotates each new token by its own call, cached keys keep theirs (as transformers)', async () => {
    const V = writeModel();
    const ids = seededIds(12, V, 8);
    const s = await DecoderSession.load(dir, { moeKernel: 'dispatch' });
    try {
      // Prefill 6 tokens (max position 5: short factors), then one token per call: the call at position p is long
      // once p + 1 > 8, i.e. from p = 8; positions 0-7 stay rotated with the short factors in the cache.
      let out = await s.forward([ids.slice(0, 6)]);
      const steps = new Map<number, Awaited<ReturnType<DecoderSession['forward']>>>();
      for (let p = 6; p < 12; p++) {
        out = await s.forward([[ids[p]!]], { past: out.cache });
        steps.set(p, out);
      }
      const perCall = referenceForward(dir, [ids], { longRopeTokens: [ids.map((_, t) => t >= ORIGINAL)] });
      const oneCall = referenceForward(dir, [ids]);
      for (const [p, got] of steps) {
        expectMatchesReference(got, referenceAt(perCall, p));
        // Against one 12-token call (every key long) the cached short keys make a real difference.
        if (p >= ORIGINAL) expect(relativeError(got.logits, oneCall.logits[0]![p]!), `position ${p}`).toBeGreaterThan(1e-3);
      }
    } finally {
      await s.dispose();
    }
  });

  it('a prefill fed in chunks uses the factors of the whole call, as one transformers call would', async () => {
    const V = writeModel();
    const ids = [seededIds(12, V, 9), seededIds(12, V, 10)];
    // Chunks of 4: the first two end at positions 3 and 7 (short on their own), the whole call reaches 11 (long).
    const s = await DecoderSession.load(dir, { moeKernel: 'dispatch', prefillChunk: 4 });
    try {
      expectMatchesReference(await s.forward(ids), referenceForward(dir, ids));
    } finally {
      await s.dispose();
    }
  });

  it('batched generate: a finished row keeps counting positions, so the active row switches when transformers would', async () => {
    const V = writeModel();
    const prompts = [seededIds(7, V, 24), seededIds(4, V, 124)];
    const s = await DecoderSession.load(dir, { moeKernel: 'dispatch' });
    try {
      // Row 0 stops at its first token (position 7). transformers keeps feeding it padding with attention-mask
      // ones, so its positions 8, 9, ... still count in max(position_ids): the call feeding row 1's position 5 is
      // long (9 > 8). Had the finished row dropped out, row 1 would stay short until its own position 8.
      const [first] = await generate(s, { prompts: [prompts[0]!], maxNewTokens: 1 });
      const out = await generate(s, { prompts, maxNewTokens: 5, stopIds: [first!.generatedIds[0]!] });
      expect(out[0]!.generatedIds).toEqual(first!.generatedIds);
      expect(out[1]!.finishReason).toBe('length');
      // Greedy decoding of row 1 alone by the float64 reference, token j rotated long from position 5 on.
      const greedy = (longFrom: number) => {
        const seq = [...prompts[1]!];
        for (let i = 0; i < 5; i++) {
          const ref = referenceForward(dir, [seq], { longRopeTokens: [seq.map((_, j) => j >= longFrom)] });
          const last = ref.logits[0]![seq.length - 1]!;
          seq.push(last.indexOf(Math.max(...last)));
        }
        return seq.slice(prompts[1]!.length);
      };
      expect(out[1]!.generatedIds).toEqual(greedy(5));
      // The rule matters for these weights: switching only at row 1's own position 8 gives other tokens.
      expect(greedy(ORIGINAL)).not.toEqual(greedy(5));
    } finally {
      await s.dispose();
    }
  });

  it('in a batch the decision is the batch maximum: a shorter row crossing later still gets the long factors', async () => {
    const V = writeModel();
    const ids = [seededIds(10, V, 11), seededIds(10, V, 12)];
    const s = await DecoderSession.load(dir, { moeKernel: 'dispatch' });
    try {
      // Row 1 is left-padded by 3, so its positions run 3 behind row 0; prefill 7 columns, then 3 decode steps.
      const mask = [Array<number>(10).fill(1), [0, 0, 0, ...Array<number>(7).fill(1)]];
      let out = await s.forward(ids.map((r) => r.slice(0, 7)), { attentionMask: mask.map((r) => r.slice(0, 7)) });
      const got: Awaited<ReturnType<DecoderSession['forward']>>[] = [];
      for (let c = 7; c < 10; c++) {
        out = await s.forward(ids.map((r) => [r[c]!]), { past: out.cache, attentionMask: mask.map((r) => r.slice(0, c + 1)) });
        got.push(out);
      }
      // transformers' positions: real tokens before, padding 1. Column c's call is long when row 0's position c
      // (the batch maximum) + 1 > 8, so row 1's token at position c - 3 = 5..6 is rotated long as well.
      const positions = mask.map((r) => {
        let n = 0;
        return r.map((m) => (m ? n++ : 1));
      });
      const long = ids.map(() => Array.from({ length: 10 }, (_, c) => c >= 7 && c + 1 > ORIGINAL));
      const ref = referenceForward(dir, ids, { attentionMask: mask, positionIds: positions, longRopeTokens: long });
      got.forEach((step, i) => {
        const c = 7 + i;
        const at = <X>(perLayer: X[][][][]) => perLayer.map((l) => l.map((rows) => [rows[c]!]));
        expectMatchesReference(step, { logits: ref.logits.map((rows) => [rows[c]!]), routerLogits: at(ref.routerLogits), experts: at(ref.experts), weights: at(ref.weights), steeredLogits: at(ref.steeredLogits) });
      });
    } finally {
      await s.dispose();
    }
  });
});

describe('Phi-3.5-MoE config fields', () => {
  it('attention_bias: false leaves checkpoint biases unused, as nn.Linear(bias=False) would', async () => {
    const dir = join(tmp.dir, 'no-attn-bias');
    const info = writeTinyModel(dir, 'phimoe', { seed: 4, withoutTokenizer: true, configOverrides: { attention_bias: false } });
    const s = await DecoderSession.load(dir, { moeKernel: 'dispatch' });
    try {
      const attn = s.spec.layers[0]!.attention;
      expect(attn.kind !== 'mla' && attn.q.bias).toBeFalsy();
      const ids = [seededIds(6, info.vocabSize, 2)];
      expectMatchesReference(await s.forward(ids), referenceForward(dir, ids));
    } finally {
      await s.dispose();
    }
  });

  const base = writeTinyModel(join(tmp.dir, 'base'), 'phimoe', { seed: 5, withoutTokenizer: true });
  const specFor = (edit: (c: Record<string, unknown>) => void) => specWithConfig(base.dir, edit);

  it.each<[string, (c: Record<string, unknown>) => void, RegExp]>([
    ['top-3 routing', (c) => (c.num_experts_per_tok = 3), /field 'num_experts_per_tok' is 3; Phi-3.5-MoE's sparsemixer routing picks exactly 2 experts/],
    ['a yarn rope', (c) => (c.rope_scaling = { type: 'yarn', factor: 4 }), /field 'rope_scaling' uses rope type 'yarn'.*supported here: default, longrope/],
    ['a short factor list of the wrong length', (c) => (rope(c).short_factor = [1, 1]), /\(rope_scaling\): field 'short_factor' has 2 values, expected 4/],
    ['a missing long_mscale', (c) => delete rope(c).long_mscale, /\(rope_scaling\): field 'long_mscale' is missing/],
    ['two different original lengths', (c) => (c.original_max_position_embeddings = 2048), /field 'original_max_position_embeddings' is 2048 but rope_scaling.original_max_position_embeddings is 4096/],
  ])('refuses %s naming the field', (_name, edit, message) => {
    expect(() => specFor(edit)).toThrow(message);
  });

  it('refuses attention_bias: true when the checkpoint has no q_proj bias, naming the tensor', () => {
    const dir = join(tmp.dir, 'missing-bias');
    writeTinyModel(dir, 'phimoe', { seed: 6, withoutTokenizer: true });
    const store = WeightStore.fromFolder(dir);
    const kept: Record<string, TensorToWrite> = {};
    for (const name of store.names()) {
      if (name.endsWith('self_attn.q_proj.bias')) continue;
      kept[name] = { dtype: 'F32', shape: store.info(name).shape, data: store.readFloat32(name) };
    }
    writeSafetensors(join(dir, 'model.safetensors'), kept);
    const folder = readModelFolder(dir);
    expect(() => decoderSpecFor(folder.dir, folder.architecture, folder.config, folder.weights)).toThrow(/weight 'model\.layers\.0\.self_attn\.q_proj\.bias' is missing/);
  });
});
