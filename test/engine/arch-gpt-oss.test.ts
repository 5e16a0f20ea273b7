/**
 * GptOssForCausalLM (bf16 layout) against the independent reference (test/support/reference-forward.ts, written
 * from modular_gpt_oss.py): attention sinks, alternating sliding/full layers, q/k/v/o and router biases, YaRN,
 * interleaved gate/up with biases and the clamped SwiGLU; steering and masking on the raw router logits (with the
 * router bias) before top-k -> softmax; left padding; the KV cache; the published config shrunk; what `inspect`
 * says; and the refusals (unknown layer types, ambiguous YaRN). MXFP4 checkpoints: arch-gpt-oss-mxfp4.test.ts.
 * The experts run on both kernels: com.microsoft.MoE takes their biases and the clamped SwiGLU exactly (auto picks
 * it on CPU); the dispatch kernel builds them from standard ops. Lower precisions: arch-precision.test.ts.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEngine, summarizeModel } from '../../src/engine/index.js';
import { WeightStore } from '../../src/engine/safetensors.js';
import { DecoderSession } from '../../src/engine/session.js';
import type { SteeringTensors } from '../../src/engine/steering-plan.js';
import { convertToMxfp4 } from '../support/mxfp4.js';
import { clearReferenceCache, referenceForward } from '../support/reference-forward.js';
import { buildTinyTokenizer, writeTinyModel } from '../support/tiny-models.js';
import { REAL_CONFIGS, shrinkRealConfig } from '../support/real-configs.js';
import { editedSteering, relativeError, row, seededIds, specWithConfig, tempDir } from './graph-helpers.js';
import { expectMatchesReference } from './reference-suite.js';

const tmp = tempDir('gpt-oss');
const cache = tempDir('gpt-oss-cache');
afterAll(() => {
  tmp.cleanup();
  cache.cleanup();
});

describe('GPT-OSS tiny model vs reference (fused kernel, picked by auto)', () => {
  const dir = join(tmp.dir, 'tiny');
  let session: DecoderSession;
  let ids: number[][];
  const steering = (edit: (t: SteeringTensors, E: number) => void) => editedSteering(session.info, edit);
  beforeAll(async () => {
    writeTinyModel(dir, 'gpt_oss', { seed: 13 });
    session = await DecoderSession.load(dir, { moeKernel: 'auto', cacheDir: cache.dir });
    ids = [seededIds(9, session.info.vocabSize, 3), seededIds(9, session.info.vocabSize, 4)];
  });
  afterAll(async () => {
    await session?.dispose();
  });

  it('auto picks the fused kernel on CPU', () => {
    expect(session.info.moeKernel?.name).toBe('fused');
  });

  it('the dispatch kernel matches the reference too', async () => {
    const s = await DecoderSession.load(dir, { moeKernel: 'dispatch', cacheDir: cache.dir });
    try {
      expect(s.info.moeKernel?.name).toBe('dispatch');
      const ids = [seededIds(7, s.info.vocabSize, 8)];
      expectMatchesReference(await s.forward(ids), referenceForward(dir, ids));
    } finally {
      await s.dispose();
    }
  });

  it('matches logits, raw router logits (with the router bias), experts and weights', async () => {
    expectMatchesReference(await session.forward(ids), referenceForward(dir, ids));
  });

  it.each<[string, (t: SteeringTensors, E: number) => void]>([
    ['bias', (t, E) => t.perMoeLayer.forEach((l) => ((l.bias[E - 1] = 2.5), (l.bias[0] = -1)))],
    ['scale', (t) => t.perMoeLayer.forEach((l) => ((l.scale[1] = 1.5), (l.scale[2] = -0.5)))],
    ['std', (t) => t.perMoeLayer.forEach((l) => (l.std[2] = 2))],
    ['force', (t, E) => t.perMoeLayer.forEach((l) => ((l.force[E - 2] = 0.5), (l.force[1] = -0.5)))],
    ['mask', (t) => t.perMoeLayer.forEach((l) => ((l.mask[0] = 1), (l.mask[3] = 1)))],
  ])('matches the reference with %s steering', async (_name, edit) => {
    const s = steering(edit);
    const got = await session.forward(ids, { steering: s });
    expectMatchesReference(got, referenceForward(dir, ids, { steering: s }));
    if (_name === 'mask') for (const l of got.routing!) expect(Array.from(l.experts).some((e) => e === 0 || e === 3)).toBe(false);
  });

  it('left padding: matches the reference on the real tokens', async () => {
    const mask = [[0, 0, 0, 1, 1, 1, 1, 1, 1], Array(9).fill(1)];
    const padded = [[0, 0, 0, ...ids[0]!.slice(0, 6)], ids[1]!];
    const positions = [[1, 1, 1, 0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5, 6, 7, 8]];
    expectMatchesReference(await session.forward(padded, { attentionMask: mask }), referenceForward(dir, padded, { attentionMask: mask, positionIds: positions }), mask);
  });

  it('incremental decoding equals full recompute past the sliding window', async () => {
    const V = session.info.vocabSize;
    const k = session.info.topK;
    const full = await session.forward(ids);
    let step = await session.forward(ids.map((r) => r.slice(0, 3)));
    for (let t = 3; t < 9; t++) {
      step = await session.forward(ids.map((r) => [r[t]!]), { past: step.cache, positionIds: [[t], [t]] });
      for (let b = 0; b < 2; b++) {
        expect(relativeError(row(step.logits, b, V), row(full.logits, b * 9 + t, V))).toBeLessThan(1e-4);
        step.routing!.forEach((l, i) => expect(row(l.experts, b, k)).toEqual(row(full.routing![i]!.experts, b * 9 + t, k)));
      }
    }
  });

  it('the sinks, the window and the clamp all change the output (the reference sees each)', () => {
    const base = referenceForward(dir, [ids[0]!]).logits[0]![8]!;
    const variant = (name: string, edit: (c: Record<string, unknown>) => void) => {
      const d = join(tmp.dir, name);
      const info = writeTinyModel(d, 'gpt_oss', { seed: 13, withoutTokenizer: true });
      edit(info.config);
      writeFileSync(join(d, 'config.json'), JSON.stringify(info.config));
      clearReferenceCache();
      return referenceForward(d, [ids[0]!]).logits[0]![8]!;
    };
    expect(relativeError(variant('full', (c) => (c.layer_types = ['full_attention', 'full_attention'])), base)).toBeGreaterThan(1e-3);
    expect(relativeError(variant('unclamped', (c) => (c.swiglu_limit = 1000)), base)).toBeGreaterThan(1e-3);
  });

  it('inspect names sinks, the window pattern, YaRN, the clamped SwiGLU and the kernel', () => {
    const s = summarizeModel(dir);
    expect(s.architecture).toBe('GptOssForCausalLM');
    expect(s.features).toContain('attention sinks (one learned logit per head)');
    expect(s.features).toContain('sliding window 4 on 1 of 2 layers (the others full attention)');
    expect(s.features.join('\n')).toMatch(/YaRN rope \(factor 32, original context 16, attention factor 1\.3466\)/);
    expect(s.features.join('\n')).toContain('experts: clamped SwiGLU (alpha 1.702, limit 1.5, (up + 1) * glu)');
    expect(s.features).toContain('top-k on the router logits, then softmax over the k');
    expect(s.moeKernel.name).toBe('fused');
  });
});

describe('GPT-OSS published config (openai/gpt-oss-20b: MXFP4 experts, shrunk)', () => {
  it('loads and matches the reference, with the 128-token window of the real config', async () => {
    const dir = join(tmp.dir, 'published');
    const special = buildTinyTokenizer().specialIds;
    const ids0 = { bos: special['<|endoftext|>']!, eos: special['<|im_end|>']!, pad: special['<|endoftext|>']! };
    const config = shrinkRealConfig('gpt_oss', 320, ids0);
    expect(Object.keys(config).sort()).toEqual(Object.keys(REAL_CONFIGS.gpt_oss.config).sort());
    writeTinyModel(dir, 'gpt_oss', { config, dtype: 'BF16', seed: 29 });
    // As released: BF16 everywhere except the experts, which are MXFP4 (the twin holds their values for the reference).
    const twin = join(tmp.dir, 'published-twin');
    convertToMxfp4(dir, twin);
    // The tensor names of gpt-oss-20b's shards (docs/model-folder.md says where they were checked).
    const names = WeightStore.fromFolder(dir).names();
    expect(names.filter((n) => !n.startsWith('model.layers.')).sort()).toEqual(['lm_head.weight', 'model.embed_tokens.weight', 'model.norm.weight']);
    expect(names.filter((n) => n.startsWith('model.layers.0.')).map((n) => n.slice('model.layers.0.'.length)).sort()).toEqual([
      'input_layernorm.weight',
      ...['down_proj_bias', 'down_proj_blocks', 'down_proj_scales', 'gate_up_proj_bias', 'gate_up_proj_blocks', 'gate_up_proj_scales'].map((n) => `mlp.experts.${n}`),
      'mlp.router.bias',
      'mlp.router.weight',
      'post_attention_layernorm.weight',
      ...['k_proj', 'o_proj', 'q_proj'].flatMap((x) => [`self_attn.${x}.bias`, `self_attn.${x}.weight`]),
      'self_attn.sinks',
      'self_attn.v_proj.bias',
      'self_attn.v_proj.weight',
    ]);
    const engine = await loadEngine(dir, { moeKernel: 'dispatch', cacheDir: cache.dir });
    try {
      const spec = engine.spec;
      expect(spec.layers.map((l) => l.slidingWindow)).toEqual([128, null]);
      expect(spec.ropeScaling?.kind).toBe('yarn');
      const ids = [seededIds(9, 320, 41), seededIds(9, 320, 42)];
      expectMatchesReference(await engine.forward(ids), referenceForward(twin, ids));
    } finally {
      await engine.dispose();
    }
  });
});

describe('GPT-OSS re-saved by transformers 5', () => {
  it('rope_theta and the YaRN fields inside rope_parameters, dtype: same rope, matches the reference', async () => {
    const special = buildTinyTokenizer().specialIds;
    const ids0 = { bos: special['<|endoftext|>']!, eos: special['<|im_end|>']!, pad: special['<|endoftext|>']! };
    const { rope_scaling, rope_theta, ...rest } = shrinkRealConfig('gpt_oss', 320, ids0);
    const dir = join(tmp.dir, 'transformers-5');
    writeTinyModel(dir, 'gpt_oss', { config: { ...rest, dtype: 'bfloat16', rope_parameters: { ...(rope_scaling as object), rope_theta } }, dtype: 'BF16', seed: 31 });
    const twin = join(tmp.dir, 'transformers-5-twin');
    convertToMxfp4(dir, twin);
    const engine = await loadEngine(dir, { moeKernel: 'dispatch', cacheDir: cache.dir });
    try {
      expect(engine.spec.ropeTheta).toBe(150000);
      expect(engine.spec.ropeScaling).toMatchObject({ kind: 'yarn', factor: 32, originalMaxPositions: 4096 });
      const ids = [seededIds(9, 320, 43)];
      expectMatchesReference(await engine.forward(ids), referenceForward(twin, ids));
    } finally {
      await engine.dispose();
    }
  });
});

describe('GPT-OSS refusals', () => {
  const dir = join(tmp.dir, 'refuse');
  beforeAll(() => writeTinyModel(dir, 'gpt_oss', { seed: 2, withoutTokenizer: true }));
  const specFor = (edit: (c: Record<string, unknown>) => void) => specWithConfig(dir, edit);

  it.each<[string, (c: Record<string, unknown>) => void, RegExp]>([
    ['an unknown layer type', (c) => (c.layer_types = ['sliding_attention', 'chunked_attention']), /field 'layer_types' entry 1 is "chunked_attention"/],
    ['a layer_types list of the wrong length', (c) => (c.layer_types = ['full_attention']), /field 'layer_types' must list one attention type per layer \(2\)/],
    ['a llama3 rope', (c) => (c.rope_scaling = { rope_type: 'llama3', factor: 8 }), /field 'rope_scaling' uses rope type 'llama3'.*supported here: default, yarn/],
    ['a YaRN factor that disagrees with the position ratio', (c) => (c.max_position_embeddings = 1024), /rope_scaling.factor' is 32 but max_position_embeddings \/ original_max_position_embeddings is 64/],
  ])('refuses %s naming the field', (_name, edit, message) => {
    expect(() => specFor(edit)).toThrow(message);
  });
});
