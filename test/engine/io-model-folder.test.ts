import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelFolderError } from '../../src/engine/errors.js';
import { roundToBf16, roundToF16 } from '../../src/numeric/float16.js';
import { readModelFolder } from '../../src/engine/model-folder.js';
import { TINY_ARCHS, writeTinyModel } from '../support/tiny-models.js';
import { referenceForward } from '../support/reference-forward.js';

const root = mkdtempSync(join(tmpdir(), 'rs-mf-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const CLASS = {
  qwen3_moe: 'Qwen3MoeForCausalLM',
  qwen2_moe: 'Qwen2MoeForCausalLM',
  olmoe: 'OlmoeForCausalLM',
  mixtral: 'MixtralForCausalLM',
  granitemoe: 'GraniteMoeForCausalLM',
  phimoe: 'PhimoeForCausalLM',
  gpt_oss: 'GptOssForCausalLM',
  deepseek_v2: 'DeepseekV2ForCausalLM',
} as const;

describe('tiny model folders', () => {
  for (const arch of TINY_ARCHS) {
    it(`${arch}: a real folder with the architecture's own names and shapes`, () => {
      const info = writeTinyModel(join(root, arch), arch);
      const folder = readModelFolder(info.dir);
      expect(folder.architecture).toBe(CLASS[arch]);
      expect(folder.hasTokenizer).toBe(true);
      expect(folder.generationConfig?.eos_token_id).toBeInstanceOf(Array);
      const c = folder.config;
      const H = c.hidden_size as number;
      const E = (c.num_experts ?? c.num_local_experts) as number;
      expect(E).toBe(info.numExperts);
      const w = folder.weights;
      expect(w.info('model.embed_tokens.weight').shape).toEqual([c.vocab_size, H]);
      const l = info.moeLayers[0]!;
      const router = {
        qwen3_moe: `model.layers.${l}.mlp.gate.weight`,
        qwen2_moe: `model.layers.${l}.mlp.gate.weight`,
        olmoe: `model.layers.${l}.mlp.gate.weight`,
        mixtral: `model.layers.${l}.block_sparse_moe.gate.weight`,
        granitemoe: `model.layers.${l}.block_sparse_moe.router.layer.weight`,
        phimoe: `model.layers.${l}.block_sparse_moe.gate.weight`,
        gpt_oss: `model.layers.${l}.mlp.router.weight`,
        deepseek_v2: `model.layers.${l}.mlp.gate.weight`,
      }[arch];
      expect(w.info(router).shape).toEqual([E, H]);
      if (arch === 'mixtral') expect(w.has(`model.layers.${l}.block_sparse_moe.experts.0.w1.weight`)).toBe(true);
      if (arch === 'granitemoe') {
        const I = c.intermediate_size as number;
        expect(w.info(`model.layers.${l}.block_sparse_moe.input_linear.weight`).shape).toEqual([E, 2 * I, H]);
        expect(w.info(`model.layers.${l}.block_sparse_moe.output_linear.weight`).shape).toEqual([E, H, I]);
        expect(w.has('lm_head.weight')).toBe(false); // tied
      }
      if (arch === 'qwen3_moe') {
        // head_dim deliberately differs from hidden/heads, and layer 1 is a dense MLP (mlp_only_layers).
        expect(c.head_dim).not.toBe(H / (c.num_attention_heads as number));
        expect(w.info('model.layers.0.self_attn.q_norm.weight').shape).toEqual([c.head_dim]);
        expect(info.moeLayers).toEqual([0, 2, 3]);
        expect(w.has('model.layers.1.mlp.gate_proj.weight')).toBe(true);
        expect(w.has('model.layers.1.mlp.gate.weight')).toBe(false);
      }
      if (arch === 'qwen2_moe') {
        expect(info.moeLayers).toEqual([1, 3]);
        expect(w.info(`model.layers.${l}.mlp.shared_expert_gate.weight`).shape).toEqual([1, H]);
        expect(w.has('model.layers.0.self_attn.q_proj.bias')).toBe(true);
        expect(c.norm_topk_prob).toBe(false);
      }
      if (arch === 'olmoe') expect(w.info('model.layers.0.self_attn.q_norm.weight').shape).toEqual([H]);
      if (arch === 'phimoe') {
        for (const n of ['model.layers.0.input_layernorm.bias', 'model.layers.0.post_attention_layernorm.bias', 'model.norm.bias']) expect(w.info(n).shape).toEqual([H]);
        expect(w.info('lm_head.bias').shape).toEqual([c.vocab_size]);
        expect(w.has(`model.layers.${l}.block_sparse_moe.experts.0.w3.weight`)).toBe(true);
      }
    });
  }

  it('fused 3-D experts hold the same numbers as per-expert tensors', () => {
    for (const arch of ['qwen3_moe', 'mixtral'] as const) {
      const a = readModelFolder(writeTinyModel(join(root, `${arch}-per`), arch, { seed: 7 }).dir).weights;
      const b = readModelFolder(writeTinyModel(join(root, `${arch}-fused`), arch, { seed: 7, fusedExperts: true }).dir).weights;
      const pre = arch === 'mixtral' ? 'model.layers.0.block_sparse_moe.experts.' : 'model.layers.0.mlp.experts.';
      const [gName, uName, dName] = arch === 'mixtral' ? ['w1', 'w3', 'w2'] : ['gate_proj', 'up_proj', 'down_proj'];
      const gu = b.readFloat32('model.layers.0.mlp.experts.gate_up_proj');
      const down = b.readFloat32('model.layers.0.mlp.experts.down_proj');
      const [E, twoI, H] = b.info('model.layers.0.mlp.experts.gate_up_proj').shape as [number, number, number];
      expect(b.info('model.layers.0.mlp.experts.down_proj').shape).toEqual([E, H, twoI / 2]);
      const e = E - 1;
      const gate = a.readFloat32(`${pre}${e}.${gName}.weight`);
      const up = a.readFloat32(`${pre}${e}.${uName}.weight`);
      expect(Array.from(gu.subarray(e * twoI * H, e * twoI * H + gate.length))).toEqual(Array.from(gate));
      expect(Array.from(gu.subarray(e * twoI * H + gate.length, (e + 1) * twoI * H))).toEqual(Array.from(up));
      expect(Array.from(down.subarray(e * H * (twoI / 2), (e + 1) * H * (twoI / 2)))).toEqual(Array.from(a.readFloat32(`${pre}${e}.${dName}.weight`)));
      expect(b.has(`${pre}0.${gName}.weight`)).toBe(false);
    }
  });

  it('F16 and BF16 folders hold the rounded F32 weights; shards hold the same tensors', () => {
    const f32 = readModelFolder(writeTinyModel(join(root, 'd32'), 'olmoe', { seed: 3 }).dir).weights;
    const f16 = readModelFolder(writeTinyModel(join(root, 'd16'), 'olmoe', { seed: 3, dtype: 'F16', shards: 3 }).dir).weights;
    const bf16 = readModelFolder(writeTinyModel(join(root, 'dbf'), 'olmoe', { seed: 3, dtype: 'BF16', shards: 2 }).dir).weights;
    expect(f16.files.length).toBe(3);
    expect(bf16.files.length).toBe(2);
    expect(f16.names().sort()).toEqual(f32.names().sort());
    for (const name of ['model.layers.1.mlp.experts.3.up_proj.weight', 'model.norm.weight', 'lm_head.weight']) {
      const ref = f32.readFloat32(name);
      expect(f16.info(name).dtype).toBe('F16');
      expect(Array.from(f16.readFloat32(name))).toEqual(Array.from(ref, roundToF16));
      expect(Array.from(bf16.readFloat32(name))).toEqual(Array.from(ref, roundToBf16));
    }
    const cfg = JSON.parse(readFileSync(join(root, 'dbf', 'config.json'), 'utf8'));
    expect(cfg.torch_dtype).toBe('bfloat16');
    expect(readdirSync(join(root, 'dbf'))).toContain('model.safetensors.index.json');
  });

  it('a streamed folder (shardPerLayer) has a shard per layer plus embedding and head, and its layers do not depend on the vocabulary', () => {
    const shards: string[] = [];
    const a = writeTinyModel(join(root, 'stream-a'), 'qwen3_moe', { seed: 5, dtype: 'BF16', shardPerLayer: true, numLayers: 3, onShard: (i, n) => shards.push(`${i}/${n}`) });
    const b = writeTinyModel(join(root, 'stream-b'), 'qwen3_moe', { seed: 5, dtype: 'BF16', shardPerLayer: true, numLayers: 3, vocabSize: 700 });
    expect(shards).toEqual(['1/5', '2/5', '3/5', '4/5', '5/5']);
    const wa = readModelFolder(a.dir).weights;
    const wb = readModelFolder(b.dir).weights;
    expect(wa.files.length).toBe(5);
    expect(wa.names().sort()).toEqual([...a.tensorNames].sort());
    expect(wa.info('lm_head.weight').shape[0]).not.toBe(wb.info('lm_head.weight').shape[0]);
    for (const f of ['model-00002-of-00005.safetensors', 'model-00004-of-00005.safetensors']) {
      expect(readFileSync(join(b.dir, f)).equals(readFileSync(join(a.dir, f))), f).toBe(true);
    }
    // One layer's numbers come from its own seed: not a copy of the previous layer's.
    expect(Array.from(wa.readFloat32('model.layers.1.self_attn.q_proj.weight'))).not.toEqual(Array.from(wa.readFloat32('model.layers.0.self_attn.q_proj.weight')));
  });

  it('fused, sharded and per-expert folders give the same reference outputs', () => {
    const a = writeTinyModel(join(root, 'ref-a'), 'qwen2_moe', { seed: 11 });
    const b = writeTinyModel(join(root, 'ref-b'), 'qwen2_moe', { seed: 11, fusedExperts: true, shards: 4 });
    const ids = [[3, 50, 120, 7]];
    expect(referenceForward(b.dir, ids).logits).toEqual(referenceForward(a.dir, ids).logits);
  });
});

describe('readModelFolder errors', () => {
  it('missing folder, missing config.json, bad config, missing weights', () => {
    const expectErr = (fn: () => unknown, ...parts: string[]) => {
      try {
        fn();
        expect.fail('expected an error');
      } catch (err) {
        expect(err).toBeInstanceOf(ModelFolderError);
        for (const p of parts) expect((err as Error).message).toContain(p);
      }
    };
    const dir = join(root, 'broken');
    expectErr(() => readModelFolder(dir), dir, 'not found');
    mkdirSync(dir);
    expectErr(() => readModelFolder(dir), 'config.json not found');
    writeFileSync(join(dir, 'config.json'), '{"architectures": ["MixtralForCausalLM"], ');
    expectErr(() => readModelFolder(dir), 'config.json', 'not valid JSON');
    writeFileSync(join(dir, 'config.json'), '{"model_type": "mixtral"}');
    expectErr(() => readModelFolder(dir), 'config.json', '"architectures"');
    writeFileSync(join(dir, 'config.json'), '{"architectures": ["MixtralForCausalLM"]}');
    expectErr(() => readModelFolder(dir), dir, 'no weights');
  });

  it('reports a folder without a tokenizer', () => {
    const info = writeTinyModel(join(root, 'notok'), 'mixtral', { withoutTokenizer: true });
    expect(readModelFolder(info.dir).hasTokenizer).toBe(false);
  });
});
