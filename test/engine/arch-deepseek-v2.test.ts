/**
 * DeepseekV2ForCausalLM (V2-Lite layout) against the independent reference (deepseekForward in
 * test/support/reference-forward.ts): multi-head latent attention with the compressed-latent KV cache, a dense
 * first layer, shared experts, softmax -> greedy top-k -> routed_scaling_factor, YaRN; steering and masking on the
 * raw router logits; both expert kernels; q_lora_rank present; the published config shrunk; refusals.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEngine, summarizeModel } from '../../src/engine/index.js';
import type { MoeKernelName } from '../../src/engine/graph-builder.js';
import { WeightStore } from '../../src/engine/safetensors.js';
import { DecoderSession } from '../../src/engine/session.js';
import type { SteeringTensors } from '../../src/engine/steering-plan.js';
import { referenceForward } from '../support/reference-forward.js';
import { REAL_CONFIGS, shrinkRealConfig } from '../support/real-configs.js';
import { buildTinyTokenizer, writeTinyModel } from '../support/tiny-models.js';
import { editedSteering, relativeError, row, seededIds, specWithConfig, tempDir } from './graph-helpers.js';
import { expectMatchesReference } from './reference-suite.js';

const tmp = tempDir('deepseek');
const cache = tempDir('deepseek-cache');
afterAll(() => {
  tmp.cleanup();
  cache.cleanup();
});

describe.each<MoeKernelName>(['dispatch', 'fused'])('DeepSeek-V2 tiny model vs reference (%s kernel)', (kernel) => {
  const dir = join(tmp.dir, `tiny-${kernel}`);
  let session: DecoderSession;
  let ids: number[][];
  const steering = (edit: (t: SteeringTensors, E: number) => void) => editedSteering(session.info, edit);
  beforeAll(async () => {
    writeTinyModel(dir, 'deepseek_v2', { seed: 17 });
    session = await DecoderSession.load(dir, { moeKernel: kernel, cacheDir: cache.dir });
    expect(session.info.moeKernel?.name).toBe(kernel);
    ids = [seededIds(8, session.info.vocabSize, 3), seededIds(8, session.info.vocabSize, 4)];
  });
  afterAll(async () => {
    await session?.dispose();
  });

  it('layer 0 is dense, the others MoE', () => {
    expect(session.info.moeLayers).toEqual([1, 2]);
  });

  it('matches logits, router logits, experts and (scaled) weights', async () => {
    const got = await session.forward(ids);
    expectMatchesReference(got, referenceForward(dir, ids));
    // routed_scaling_factor 1.5: the k weights (softmax over all 8, not renormalised) sum to less than 1.5, and
    // some row sums above 1 (which unscaled softmax weights never do).
    const k = session.info.topK;
    const sums = Array.from({ length: 16 }, (_, r) => row(got.routing![0]!.weights, r, k).reduce((a, b) => a + b, 0));
    expect(Math.max(...sums)).toBeLessThan(1.5);
    expect(Math.max(...sums)).toBeGreaterThan(1);
  });

  it.each<[string, (t: SteeringTensors, E: number) => void]>([
    ['bias', (t, E) => t.perMoeLayer.forEach((l) => ((l.bias[E - 1] = 2.5), (l.bias[0] = -1)))],
    ['scale and std', (t) => t.perMoeLayer.forEach((l) => ((l.scale[1] = 1.5), (l.std[2] = 2)))],
    ['force', (t, E) => t.perMoeLayer.forEach((l) => ((l.force[E - 2] = 0.5), (l.force[1] = -0.5)))],
    ['mask', (t) => t.perMoeLayer.forEach((l) => ((l.mask[0] = 1), (l.mask[3] = 1)))],
  ])('matches the reference with %s steering', async (_name, edit) => {
    const s = steering(edit);
    expectMatchesReference(await session.forward(ids, { steering: s }), referenceForward(dir, ids, { steering: s }));
  });

  it('left padding: matches the reference on the real tokens', async () => {
    const mask = [[0, 0, 1, 1, 1, 1, 1, 1], Array(8).fill(1)];
    const padded = [[0, 0, ...ids[0]!.slice(0, 6)], ids[1]!];
    const positions = [[1, 1, 0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5, 6, 7]];
    expectMatchesReference(await session.forward(padded, { attentionMask: mask }), referenceForward(dir, padded, { attentionMask: mask, positionIds: positions }), mask);
  });

  it('the latent KV cache: [B, 1, S, kv_lora_rank] and [B, 1, S, rope dim]; decoding equals full recompute', async () => {
    const V = session.info.vocabSize;
    const k = session.info.topK;
    const full = await session.forward(ids);
    let step = await session.forward(ids.map((r) => r.slice(0, 3)));
    expect(step.cache.keys[0]!.dims).toEqual([2, 1, 3, 16]);
    expect(step.cache.values[0]!.dims).toEqual([2, 1, 3, 4]);
    for (let t = 3; t < 8; t++) {
      step = await session.forward(ids.map((r) => [r[t]!]), { past: step.cache, positionIds: [[t], [t]] });
      for (let b = 0; b < 2; b++) {
        expect(relativeError(row(step.logits, b, V), row(full.logits, b * 8 + t, V))).toBeLessThan(1e-4);
        step.routing!.forEach((l, i) => expect(row(l.experts, b, k)).toEqual(row(full.routing![i]!.experts, b * 8 + t, k)));
      }
    }
  });
});

describe('DeepSeek-V2 attention forms: absorbed (W_UK into q, W_UV into the output) and decompressed', () => {
  // Tiny dims r 16, nope 8, rope 4, v 6: the graph runs the absorbed form while T (2r - nope - rope - v) <=
  // r (nope + v), i.e. for calls of up to 16 new positions, and decompresses the latents for longer ones.
  const dir = join(tmp.dir, 'forms');
  let ids: number[][];
  beforeAll(() => {
    const info = writeTinyModel(dir, 'deepseek_v2', { seed: 23, withoutTokenizer: true });
    ids = [seededIds(24, info.vocabSize, 31), seededIds(24, info.vocabSize, 32)];
  });

  it('a 24-token call (decompressed) and the same input in chunks of 4 (absorbed, through the cache) both match the reference', async () => {
    const ref = referenceForward(dir, ids);
    const whole = await DecoderSession.load(dir, { moeKernel: 'dispatch' });
    const chunked = await DecoderSession.load(dir, { moeKernel: 'dispatch', prefillChunk: 4 });
    try {
      expectMatchesReference(await whole.forward(ids), ref);
      expectMatchesReference(await chunked.forward(ids), ref);
    } finally {
      await whole.dispose();
      await chunked.dispose();
    }
  });

  it('decode steps after a decompressed 20-token prefill match the reference', async () => {
    const s = await DecoderSession.load(dir, { moeKernel: 'dispatch' });
    try {
      const ref = referenceForward(dir, ids);
      const V = s.info.vocabSize;
      let step = await s.forward(ids.map((r) => r.slice(0, 20)));
      for (let t = 20; t < 24; t++) {
        step = await s.forward(ids.map((r) => [r[t]!]), { past: step.cache });
        for (let b = 0; b < 2; b++) expect(relativeError(row(step.logits, b, V), ref.logits[b]![t]!), `b${b} t${t}`).toBeLessThan(1e-4);
      }
    } finally {
      await s.dispose();
    }
  });
});

describe('DeepSeek-V2 variants and the published config', () => {
  it('q_lora_rank present (q_a_proj, q_a_layernorm, q_b_proj) matches the reference', async () => {
    const dir = join(tmp.dir, 'q-lora');
    const info = writeTinyModel(dir, 'deepseek_v2', { seed: 5, withoutTokenizer: true, configOverrides: { q_lora_rank: 12 } });
    const s = await DecoderSession.load(dir, { moeKernel: 'dispatch' });
    try {
      const ids = [seededIds(7, info.vocabSize, 9)];
      expectMatchesReference(await s.forward(ids), referenceForward(dir, ids));
    } finally {
      await s.dispose();
    }
  });

  it('deepseek-ai/DeepSeek-V2-Lite config (shrunk, BF16) loads, inspect describes it, and it matches the reference', async () => {
    const dir = join(tmp.dir, 'published');
    const special = buildTinyTokenizer().specialIds;
    const config = shrinkRealConfig('deepseek_v2', 320, { bos: special['<|endoftext|>']!, eos: special['<|im_end|>']!, pad: special['<|endoftext|>']! });
    expect(Object.keys(config).sort()).toEqual(Object.keys(REAL_CONFIGS.deepseek_v2.config).sort());
    writeTinyModel(dir, 'deepseek_v2', { config, dtype: 'BF16', seed: 29 });
    // The tensor names of DeepSeek-V2-Lite's shards (docs/model-folder.md says where they were checked).
    const names = WeightStore.fromFolder(dir).names();
    const layer = (l: number) => names.filter((n) => n.startsWith(`model.layers.${l}.`)).map((n) => n.slice(`model.layers.${l}.`.length)).sort();
    const attention = ['kv_a_layernorm', 'kv_a_proj_with_mqa', 'kv_b_proj', 'o_proj', 'q_proj'].map((x) => `self_attn.${x}.weight`);
    const mlp = (prefix: string) => ['down_proj', 'gate_proj', 'up_proj'].map((x) => `${prefix}.${x}.weight`);
    expect(names.filter((n) => !n.startsWith('model.layers.')).sort()).toEqual(['lm_head.weight', 'model.embed_tokens.weight', 'model.norm.weight']);
    expect(layer(0)).toEqual(['input_layernorm.weight', ...mlp('mlp'), 'post_attention_layernorm.weight', ...attention].sort());
    const experts = Array.from({ length: config.n_routed_experts as number }, (_, e) => mlp(`mlp.experts.${e}`)).flat();
    expect(layer(1)).toEqual(['input_layernorm.weight', ...experts, 'mlp.gate.weight', ...mlp('mlp.shared_experts'), 'post_attention_layernorm.weight', ...attention].sort());
    const summary = summarizeModel(dir);
    expect(summary.moeLayers).toEqual([1, 2]);
    expect(summary.features.join('\n')).toContain('multi-head latent attention (kv_lora_rank 16, no q_lora, nope/rope/v head dims 8/4/6');
    expect(summary.features).toContain('shared experts added to the routed ones');
    expect(summary.features).toContain('1 dense MLP layer');
    expect(summary.features).toContain('softmax over all experts, then top-k');
    const engine = await loadEngine(dir, { moeKernel: 'dispatch', cacheDir: cache.dir });
    try {
      // DeepSeek's softmax scale under YaRN: (qk_head_dim)^-0.5 * (0.1 * mscale_all_dim * ln(factor) + 1)^2.
      const m = 0.1 * 0.707 * Math.log(40) + 1;
      expect(engine.spec.attentionScale).toBeCloseTo((1 / Math.sqrt(12)) * m * m, 12);
      const ids = [seededIds(9, 320, 41), seededIds(9, 320, 42)];
      expectMatchesReference(await engine.forward(ids), referenceForward(dir, ids));
    } finally {
      await engine.dispose();
    }
  });
});

describe('DeepSeek-V2-Lite re-saved by transformers 5', () => {
  it('rope_parameters (rope_theta and the YaRN fields inside), dtype, head_dim, mlp_bias and a null pad id: same rope, same scale', async () => {
    // The field set of a transformers 5.7 dump of DeepSeek-V2-Lite-Chat (docs/model-folder.md), sizes shrunk.
    const special = buildTinyTokenizer().specialIds;
    const { rope_scaling, rope_theta, torch_dtype, ...rest } = shrinkRealConfig('deepseek_v2', 320, { bos: special['<|endoftext|>']!, eos: special['<|im_end|>']!, pad: special['<|endoftext|>']! });
    const headDim = rest.qk_rope_head_dim as number;
    const config = { ...rest, dtype: torch_dtype, head_dim: headDim, mlp_bias: false, pad_token_id: null, rope_parameters: { ...(rope_scaling as object), rope_theta, rope_type: 'yarn' }, transformers_version: '5.7.0' };
    const dir = join(tmp.dir, 'transformers-5');
    writeTinyModel(dir, 'deepseek_v2', { config, dtype: 'BF16', seed: 29 });
    const engine = await loadEngine(dir, { moeKernel: 'dispatch', cacheDir: cache.dir });
    try {
      const m = 0.1 * 0.707 * Math.log(40) + 1;
      expect(engine.spec.attentionScale).toBeCloseTo((1 / Math.sqrt(12)) * m * m, 12);
      expect(engine.spec.ropeScaling?.kind).toBe('yarn');
      const ids = [seededIds(9, 320, 43)];
      expectMatchesReference(await engine.forward(ids), referenceForward(dir, ids));
    } finally {
      await engine.dispose();
    }
  });
});

describe('DeepSeek-V2 refusals', () => {
  const dir = join(tmp.dir, 'refuse');
  beforeAll(() => writeTinyModel(dir, 'deepseek_v2', { seed: 2, withoutTokenizer: true }));
  const specFor = (edit: (c: Record<string, unknown>) => void) => specWithConfig(dir, edit);
  it.each<[string, (c: Record<string, unknown>) => void, RegExp]>([
    ['group_limited_greedy', (c) => (c.topk_method = 'group_limited_greedy'), /field 'topk_method' is "group_limited_greedy"; .*greedy top-k only/],
    ['noaux_tc', (c) => (c.topk_method = 'noaux_tc'), /field 'topk_method' is "noaux_tc"/],
    ['sigmoid scoring', (c) => (c.scoring_func = 'sigmoid'), /field 'scoring_func' is "sigmoid"/],
    ['norm_topk_prob true', (c) => (c.norm_topk_prob = true), /field 'norm_topk_prob' is true; .*ambiguous/],
    ['moe_layer_freq 2', (c) => (c.moe_layer_freq = 2), /field 'moe_layer_freq' is 2/],
    ['mlp_bias true', (c) => (c.mlp_bias = true), /field 'mlp_bias' is true; .*no MLP biases/],
  ])('refuses %s naming the field', (_name, edit, message) => {
    expect(() => specFor(edit)).toThrow(message);
  });

  it('the reference and the engine both see routed_scaling_factor (a different factor changes the output)', () => {
    const other = join(tmp.dir, 'factor');
    const info = writeTinyModel(other, 'deepseek_v2', { seed: 2, withoutTokenizer: true });
    writeFileSync(join(other, 'config.json'), JSON.stringify({ ...info.config, routed_scaling_factor: 1 }));
    const ids = [seededIds(6, info.vocabSize, 1)];
    const a = referenceForward(dir, ids).logits[0]![5]!;
    const b = referenceForward(other, ids).logits[0]![5]!;
    expect(relativeError(a, b)).toBeGreaterThan(1e-3);
  });
});
