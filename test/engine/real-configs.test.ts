/**
 * The engine on the config.json files published checkpoints actually ship (test/support/real-configs.ts: every
 * field, nulls and training-only fields included, only the sizes shrunk) with weights under the published tensor
 * names, in BF16 like the checkpoints: the config is read as transformers reads it, `inspect` describes the model,
 * and the graph agrees with the independent reference forward pass on both expert kernels.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { inspectCommand } from '../../src/cli/commands/inspect.js';
import { loadEngine, summarizeModel, type Engine } from '../../src/engine/index.js';
import { WeightStore } from '../../src/engine/safetensors.js';
import { neutralSteering } from '../../src/engine/steering-plan.js';
import { referenceForward } from '../support/reference-forward.js';
import { REAL_CONFIGS, SHRUNK_SIZES, TOKEN_ID_FIELDS, shrinkRealConfig } from '../support/real-configs.js';
import { TINY_ARCHS, buildTinyTokenizer, writeTinyModel, type TinyArch } from '../support/tiny-models.js';
import { seededIds, tempDir } from './graph-helpers.js';
import { expectMatchesReference } from './reference-suite.js';

const VOCAB = 320;
const special = buildTinyTokenizer().specialIds;
const TINY_IDS = { bos: special['<|endoftext|>']!, eos: special['<|im_end|>']!, pad: special['<|endoftext|>']! };

const tmp = tempDir('real-configs');
const cache = tempDir('real-configs-cache');
afterAll(() => {
  tmp.cleanup();
  cache.cleanup();
});

/** Every tensor of a published checkpoint of this architecture, by the names in its model.safetensors.index.json. */
function publishedTensorNames(arch: TinyArch, layers: number, experts: number): string[] {
  const names = ['model.embed_tokens.weight', 'model.norm.weight'];
  if (arch !== 'granitemoe') names.push('lm_head.weight'); // Granite ties it to the embedding and omits it
  if (arch === 'phimoe') names.push('lm_head.bias', 'model.norm.bias');
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    names.push(`${p}input_layernorm.weight`, `${p}post_attention_layernorm.weight`);
    for (const x of ['q', 'k', 'v', 'o']) names.push(`${p}self_attn.${x}_proj.weight`);
    const perExpert = (prefix: string, mats: string[]) => {
      for (let e = 0; e < experts; e++) for (const m of mats) names.push(`${prefix}.${e}.${m}.weight`);
    };
    switch (arch) {
      case 'qwen3_moe':
      case 'olmoe':
        names.push(`${p}self_attn.q_norm.weight`, `${p}self_attn.k_norm.weight`, `${p}mlp.gate.weight`);
        perExpert(`${p}mlp.experts`, ['gate_proj', 'up_proj', 'down_proj']);
        break;
      case 'qwen2_moe':
        for (const x of ['q', 'k', 'v']) names.push(`${p}self_attn.${x}_proj.bias`);
        names.push(`${p}mlp.gate.weight`, `${p}mlp.shared_expert_gate.weight`);
        for (const m of ['gate_proj', 'up_proj', 'down_proj']) names.push(`${p}mlp.shared_expert.${m}.weight`);
        perExpert(`${p}mlp.experts`, ['gate_proj', 'up_proj', 'down_proj']);
        break;
      case 'mixtral':
        names.push(`${p}block_sparse_moe.gate.weight`);
        perExpert(`${p}block_sparse_moe.experts`, ['w1', 'w2', 'w3']);
        break;
      case 'granitemoe':
        for (const m of ['input_linear', 'output_linear', 'router.layer']) names.push(`${p}block_sparse_moe.${m}.weight`);
        break;
      case 'phimoe':
        names.push(`${p}input_layernorm.bias`, `${p}post_attention_layernorm.bias`, `${p}block_sparse_moe.gate.weight`);
        for (const x of ['q', 'k', 'v', 'o']) names.push(`${p}self_attn.${x}_proj.bias`);
        perExpert(`${p}block_sparse_moe.experts`, ['w1', 'w2', 'w3']);
        break;
    }
  }
  return names.sort();
}

/** Parameter counts from the config alone (total, and active per token), to check `inspect` independently. */
function parameterCounts(arch: TinyArch, c: Record<string, number>): { total: number; active: number } {
  const H = c.hidden_size!;
  const L = c.num_hidden_layers!;
  const nH = c.num_attention_heads!;
  const nKV = c.num_key_value_heads!;
  const D = arch === 'qwen3_moe' ? c.head_dim! : H / nH;
  const E = (c.num_experts ?? c.num_local_experts)!;
  const K = c.num_experts_per_tok!;
  const I = (arch === 'qwen3_moe' || arch === 'qwen2_moe' ? c.moe_intermediate_size : c.intermediate_size)!;
  const V = c.vocab_size!;
  let layer = 2 * H + 2 * nH * D * H + 2 * nKV * D * H + E * H + E * 3 * I * H;
  if (arch === 'qwen3_moe') layer += 2 * D;
  if (arch === 'olmoe') layer += nH * D + nKV * D;
  if (arch === 'qwen2_moe') layer += nH * D + 2 * nKV * D + 3 * c.shared_expert_intermediate_size! * H + H;
  if (arch === 'phimoe') layer += 2 * H + nH * D + 2 * nKV * D + H; // LayerNorm biases, q/k/v/o biases
  const phiExtra = arch === 'phimoe' ? H + V : 0; // final LayerNorm bias, lm_head bias
  const total = V * H * (arch === 'granitemoe' ? 1 : 2) + H + phiExtra + L * layer;
  return { total, active: total - L * (E - K) * 3 * I * H };
}

async function captureStdout(run: () => Promise<unknown>): Promise<string> {
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  try {
    await run();
  } finally {
    spy.mockRestore();
  }
  return chunks.join('');
}

describe.each(TINY_ARCHS)('published config of %s', (arch) => {
  const real = REAL_CONFIGS[arch];
  const dir = join(tmp.dir, arch);
  let config: Record<string, unknown>;

  beforeAll(() => {
    config = shrinkRealConfig(arch, VOCAB, TINY_IDS);
    writeTinyModel(dir, arch, { config, dtype: 'BF16', seed: 29 });
  });

  it(`the folder holds ${real.checkpoint}'s field set and values, sizes shrunk, and its tensor names`, () => {
    const onDisk = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(onDisk).sort()).toEqual(Object.keys(real.config).sort());
    const resized = new Set<string>([...Object.keys(SHRUNK_SIZES[arch]), 'vocab_size']);
    for (const [key, value] of Object.entries(real.config)) {
      if (resized.has(key)) continue;
      const remapped = (TOKEN_ID_FIELDS as readonly string[]).includes(key) && typeof value === 'number' && value >= VOCAB;
      if (!remapped) expect(onDisk[key], key).toEqual(value);
    }
    const store = WeightStore.fromFolder(dir);
    expect(store.names().slice().sort()).toEqual(publishedTensorNames(arch, config.num_hidden_layers as number, (config.num_experts ?? config.num_local_experts) as number));
    expect(new Set(store.names().map((n) => store.info(n).dtype))).toEqual(new Set(['BF16']));
  });

  it('summarizeModel and `routescope inspect` describe it', async () => {
    const s = summarizeModel(dir);
    const L = config.num_hidden_layers as number;
    const counts = parameterCounts(arch, config as Record<string, number>);
    // Phi-3.5-MoE's remote-code class name is reported as the transformers class it maps to.
    expect(s.architecture).toBe(arch === 'phimoe' ? 'PhimoeForCausalLM' : (real.config.architectures as string[])[0]);
    expect(s.numLayers).toBe(L);
    // Every decoder layer of these checkpoints is sparse (decoder_sparse_step 1, mlp_only_layers empty or absent).
    expect(s.moeLayers).toEqual(Array.from({ length: L }, (_, i) => i));
    expect(s.numExperts).toBe(config.num_experts ?? config.num_local_experts);
    expect(s.topK).toBe(config.num_experts_per_tok);
    expect(s.hiddenSize).toBe(config.hidden_size);
    expect(s.vocabSize).toBe(VOCAB);
    expect(s.totalParameters).toBe(counts.total);
    expect(s.activeParameters).toBe(counts.active);
    expect(s.dtypes).toEqual(['BF16']);

    const json = await captureStdout(() => inspectCommand.run([dir, '--json']));
    const shown = JSON.parse(json) as typeof s;
    // Free memory changes between two calls: compare the plans, not the machine's current figures.
    const machineFree = { executionProvider: undefined, moeKernel: undefined, memory: undefined };
    expect({ ...shown, ...machineFree }).toEqual({ ...s, ...machineFree });
    expect(shown.memory.plans.map((p) => p.totalBytes)).toEqual(s.memory.plans.map((p) => p.totalBytes));
    const text = await captureStdout(() => inspectCommand.run([dir]));
    expect(text).toContain(s.architecture);
    expect(text).toContain(`${s.numExperts} per MoE layer, top-${s.topK}`);
    expect(text).toContain(`expert kernel     ${s.moeKernel.name}`);
    for (const f of s.features) expect(text).toContain(f);
    if (arch === 'phimoe') {
      expect(s.features.join('\n')).toMatch(/sparsemixer routing \(top-2, inference mode, jitter eps 0\.01/);
      expect(s.features).toContain('LayerNorm with bias (eps 0.00001)');
      expect(s.features.join('\n')).toContain('LongRoPE (short factors up to 4096 positions');
      expect(s.features).toContain('attention biases (q, k, v, o)');
    }
  });

  it('the engine reads every field as transformers does', async () => {
    const engine = await loadEngine(dir, { moeKernel: 'dispatch', cacheDir: cache.dir });
    try {
      const spec = engine.spec;
      const moe = spec.layers.map((l) => (l.mlp.kind === 'moe' ? l.mlp.moe : undefined));
      expect(moe.every(Boolean)).toBe(true);
      expect(spec.rmsNormEps).toBe(real.config.rms_norm_eps);
      expect(spec.ropeTheta).toBe(real.config.rope_theta);
      // sliding_window is null, or (Qwen1.5-MoE: 32768) switched off by use_sliding_window: false; Phi-3.5-MoE's
      // 131072 is applied (Mixtral's mask rule), though no input of that length fits its context anyway.
      expect(spec.slidingWindow).toBe(arch === 'phimoe' ? 131072 : null);
      expect(spec.clipQkv).toBeNull();
      expect(spec.numKvHeads).toBe(config.num_key_value_heads);
      expect(spec.headDim).toBe(arch === 'qwen3_moe' ? config.head_dim : (config.hidden_size as number) / (config.num_attention_heads as number));
      const renormalise = { qwen3_moe: true, qwen2_moe: false, olmoe: false, mixtral: true, granitemoe: false, phimoe: false, gpt_oss: false, deepseek_v2: false }[arch];
      for (const m of moe) {
        expect(m!.routing).toBe(arch === 'granitemoe' ? 'topk_softmax' : arch === 'phimoe' ? 'sparsemixer' : 'softmax_topk');
        if (arch !== 'granitemoe') expect(m!.normTopK).toBe(renormalise);
        if (arch === 'phimoe') expect(m!.jitterEps).toBe(0.01);
        expect(Boolean(m!.shared)).toBe(arch === 'qwen2_moe');
      }
      if (arch === 'phimoe') {
        expect(spec.normKind).toBe('layer');
        expect(spec.finalNormBias?.tensor).toBe('model.norm.bias');
        expect(spec.lmHeadBias?.tensor).toBe('lm_head.bias');
        expect(spec.layers.every((l) => l.inputNormBias && l.postAttentionNormBias && l.attention.kind !== 'mla' && l.attention.q.bias && l.attention.o.bias)).toBe(true);
        const rope = (real.config.rope_scaling ?? {}) as Record<string, unknown>;
        expect(spec.ropeScaling).toEqual({
          kind: 'longrope',
          shortFactor: rope.short_factor,
          longFactor: rope.long_factor,
          shortMscale: 1.243163121016122,
          longMscale: 1.243163121016122,
          originalMaxPositions: 4096,
        });
      } else {
        expect(spec.normKind ?? 'rms').toBe('rms');
        expect(spec.ropeScaling).toBeUndefined();
      }
      if (arch === 'granitemoe') {
        expect(spec.attentionScale).toBe(0.015625);
        expect(spec.embeddingMultiplier).toBe(12);
        expect(spec.residualMultiplier).toBe(0.22);
        expect(spec.logitsDivisor).toBe(6);
        expect(spec.lmHead.tensor).toBe('model.embed_tokens.weight');
      } else {
        expect(spec.attentionScale).toBeCloseTo(1 / Math.sqrt(spec.headDim), 12);
        expect([spec.embeddingMultiplier, spec.residualMultiplier, spec.logitsDivisor]).toEqual([1, 1, 1]);
        expect(spec.lmHead.tensor).toBe('lm_head.weight');
      }
      // The config's eos id (remapped into the tiny vocabulary where the real one does not fit) stops generation.
      expect(engine.tokenizer?.eosIds).toContain(config.eos_token_id);
    } finally {
      await engine.dispose();
    }
  });

  describe.each(['dispatch', 'fused'] as const)('%s kernel', (kernel) => {
    let engine: Engine;
    let ids: number[][];
    beforeAll(async () => {
      engine = await loadEngine(dir, { moeKernel: kernel, cacheDir: cache.dir });
      expect(engine.info.moeKernel?.name).toBe(kernel);
      ids = [seededIds(9, VOCAB, 41), seededIds(9, VOCAB, 42)];
    });
    afterAll(async () => {
      await engine?.dispose();
    });

    it('matches the reference forward pass (logits, router logits, experts, weights)', async () => {
      expectMatchesReference(await engine.forward(ids), referenceForward(dir, ids));
    });

    it('matches the reference under steering', async () => {
      const s = neutralSteering(engine.steeringModel);
      const E = engine.info.numExperts;
      for (const l of s.perMoeLayer) {
        l.mask[0] = 1;
        l.force[E - 1] = 0.5;
        l.bias[1] = 1.5;
      }
      expectMatchesReference(await engine.forward(ids, { steering: s }), referenceForward(dir, ids, { steering: s }));
    });
  });
});

describe('fields a short test could otherwise not tell apart', () => {
  it("Qwen1.5-MoE's sliding_window applies only with use_sliding_window (shrunk to 2 tokens, still off)", async () => {
    const dir = join(tmp.dir, 'qwen2-window-off');
    writeTinyModel(dir, 'qwen2_moe', { config: { ...shrinkRealConfig('qwen2_moe', VOCAB, TINY_IDS), sliding_window: 2, max_window_layers: 1 }, dtype: 'BF16', seed: 30 });
    const engine = await loadEngine(dir, { moeKernel: 'dispatch', cacheDir: cache.dir });
    try {
      expect(engine.spec.slidingWindow).toBeNull();
      const ids = [seededIds(9, VOCAB, 43)];
      expectMatchesReference(await engine.forward(ids), referenceForward(dir, ids));
    } finally {
      await engine.dispose();
    }
  });

  it('Qwen3-30B-A3B re-saved the transformers 5 way (rope_theta inside rope_parameters, dtype) keeps its RoPE base', async () => {
    const dir = join(tmp.dir, 'qwen3-v5');
    const { rope_theta, rope_scaling: _scaling, torch_dtype, ...rest } = shrinkRealConfig('qwen3_moe', VOCAB, TINY_IDS);
    writeTinyModel(dir, 'qwen3_moe', { config: { ...rest, dtype: torch_dtype, rope_parameters: { rope_theta, rope_type: 'default' } }, dtype: 'BF16', seed: 31 });
    const engine = await loadEngine(dir, { moeKernel: 'dispatch', cacheDir: cache.dir });
    try {
      expect(engine.spec.ropeTheta).toBe(1000000);
      const ids = [seededIds(9, VOCAB, 44)];
      expectMatchesReference(await engine.forward(ids), referenceForward(dir, ids));
    } finally {
      await engine.dispose();
    }
  });
});
