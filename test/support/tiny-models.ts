/**
 * Writes small but real Hugging Face MoE model folders (config.json with each architecture's own
 * field names, safetensors weights single or sharded, tokenizer, chat template, generation config)
 * with seeded random weights, so engine tests run on the same files a user would point at.
 *
 * Tensor names and layouts follow transformers' modeling files:
 * - per-expert (the layout on the Hub): `mlp.experts.{e}.{gate,up,down}_proj.weight` (Mixtral: `block_sparse_moe.experts.{e}.w1/w3/w2`);
 * - fused (transformers >= 5 in-memory layout, see its conversion_mapping.py): `mlp.experts.gate_up_proj` [E, 2I, H]
 *   (gate rows first, then up rows) and `mlp.experts.down_proj` [E, H, I]; Mixtral's fused form also moves the router
 *   to `mlp.gate.weight`;
 * - Phi-3.5-MoE (`phimoe`): Mixtral's per-expert names (`block_sparse_moe.gate`, `experts.{e}.w1/w3/w2`) plus LayerNorm
 *   biases (`input_layernorm.bias`, `post_attention_layernorm.bias`, `model.norm.bias`), q/k/v/o biases and
 *   `lm_head.bias`; config with LongRoPE factors of length head_dim / 2;
 * - GPT-OSS (bf16 layout): `mlp.router.{weight,bias}`, `mlp.experts.gate_up_proj` [E, H, 2I] (gate/up columns
 *   interleaved) with `gate_up_proj_bias` [E, 2I], `mlp.experts.down_proj` [E, I, H] with `down_proj_bias` [E, H],
 *   q/k/v/o biases and `self_attn.sinks` [heads];
 * - GraniteMoE is always fused in its own names: `block_sparse_moe.input_linear.weight` [E, 2I, H],
 *   `block_sparse_moe.output_linear.weight` [E, H, I], router `block_sparse_moe.router.layer.weight` [E, H].
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { WeightStore } from '../../src/engine/safetensors.js';
import { writeSafetensors, type TensorToWrite } from '../../src/engine/safetensors-writer.js';
import { seededRandom } from '../../src/numeric/random.js';

export type TinyArch = 'qwen3_moe' | 'qwen2_moe' | 'olmoe' | 'mixtral' | 'granitemoe' | 'phimoe' | 'gpt_oss' | 'deepseek_v2';
/** The architectures every shared suite runs on both expert kernels (GPT-OSS runs dispatch only: its own test file). */
export const TINY_ARCHS: TinyArch[] = ['qwen3_moe', 'qwen2_moe', 'olmoe', 'mixtral', 'granitemoe', 'phimoe'];

export interface TinyModelOptions {
  seed?: number;
  dtype?: 'F32' | 'F16' | 'BF16';
  /** Stacked 3-D expert tensors instead of one tensor per expert (GraniteMoE is always stacked). */
  fusedExperts?: boolean;
  /** Number of safetensors shards (1 = a single model.safetensors). */
  shards?: number;
  vocabSize?: number;
  hiddenSize?: number;
  numLayers?: number;
  numExperts?: number;
  topK?: number;
  numHeads?: number;
  numKvHeads?: number;
  tieEmbeddings?: boolean;
  /** Overrides the architecture's norm_topk_prob (ignored by Mixtral/Granite, which always renormalise). */
  normTopkProb?: boolean;
  /** Extra/overriding config.json fields. */
  configOverrides?: Record<string, unknown>;
  /**
   * A complete config.json to write as given (e.g. a published checkpoint's config with its size fields shrunk):
   * no field is added or dropped, and the weights follow its size fields. The size options above are ignored.
   */
  config?: Record<string, unknown>;
  /** Leave the tokenizer files out (to test the missing-tokenizer path). */
  withoutTokenizer?: boolean;
  /**
   * Checkpoints too large to hold in memory (bench:precision's multi-GB ones): one shard per decoder layer, written
   * as soon as the layer is drawn (embedding and final norm + head get their own shards), each shard drawn from its
   * own seed so a layer's numbers do not depend on the vocabulary. Overrides `shards`.
   */
  shardPerLayer?: boolean;
  /** Called after each streamed shard (`shardPerLayer`), e.g. for a benchmark's progress line. */
  onShard?: (written: number, count: number) => void;
}

export interface TinyModelInfo {
  dir: string;
  arch: TinyArch;
  architecture: string;
  config: Record<string, unknown>;
  numLayers: number;
  numExperts: number;
  topK: number;
  /** Decoder layer index of each MoE layer, in order. */
  moeLayers: number[];
  vocabSize: number;
  tensorNames: string[];
}

const ARCH_CLASS: Record<TinyArch, string> = {
  qwen3_moe: 'Qwen3MoeForCausalLM',
  qwen2_moe: 'Qwen2MoeForCausalLM',
  olmoe: 'OlmoeForCausalLM',
  mixtral: 'MixtralForCausalLM',
  granitemoe: 'GraniteMoeForCausalLM',
  phimoe: 'PhimoeForCausalLM',
  gpt_oss: 'GptOssForCausalLM',
  deepseek_v2: 'DeepseekV2ForCausalLM',
};

/** Other class names a published config may give for the same architecture (remote-code names). */
const ARCH_CLASS_ALIASES: Partial<Record<TinyArch, string[]>> = { phimoe: ['PhiMoEForCausalLM'] };

const TORCH_DTYPE = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' } as const;


function normalSampler(rand: () => number): () => number {
  return () => {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

// ---------------------------------------------------------------- tokenizer

/** GPT-2's byte -> printable character table (so every byte has a visible vocab entry). */
function byteToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (printable.includes(b)) table[b] = String.fromCodePoint(b);
    else table[b] = String.fromCodePoint(256 + extra++);
  }
  return table;
}

const MERGE_CORPUS =
  'the cat sat on the mat and the dog ate the bread . this is the house that they built then there was the end . ' +
  'le chat est sur la table et le chien mange le pain . der Hund und die Katze sind in dem Haus . ' +
  'what is the answer to the question ? the answer is in the text .';

export const TINY_SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<think>', '</think>'] as const;

/** A byte-level BPE over 256 byte tokens plus merges learned from a fixed sentence mix. */
export function buildTinyTokenizer(numMerges = 40): { tokenizerJson: object; vocabSize: number; specialIds: Record<string, number> } {
  const b2u = byteToUnicode();
  const vocab: Record<string, number> = {};
  b2u.forEach((ch, b) => {
    vocab[ch] = b;
  });
  const words = MERGE_CORPUS.split(' ').map((w, i) => {
    const bytes = Buffer.from((i === 0 ? '' : ' ') + w, 'utf8');
    return Array.from(bytes, (b) => b2u[b]!);
  });
  const merges: string[] = [];
  for (let m = 0; m < numMerges; m++) {
    const counts = new Map<string, number>();
    for (const w of words) for (let i = 0; i + 1 < w.length; i++) {
      const key = `${w[i]} ${w[i + 1]}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    let best: string | undefined;
    let bestCount = 1;
    for (const [k, c] of [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1))) if (c > bestCount) { best = k; bestCount = c; }
    if (!best) break;
    const [a, b] = best.split(' ') as [string, string];
    merges.push(best);
    vocab[a + b] = Object.keys(vocab).length;
    for (const w of words) for (let i = 0; i + 1 < w.length; i++) if (w[i] === a && w[i + 1] === b) w.splice(i, 2, a + b);
  }
  const specialIds: Record<string, number> = {};
  const added = TINY_SPECIAL_TOKENS.map((content) => {
    const id = Object.keys(vocab).length + Object.keys(specialIds).length;
    specialIds[content] = id;
    return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: !content.includes('think') };
  });
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
  return { tokenizerJson, vocabSize: Object.keys(vocab).length + added.length, specialIds };
}

/** Qwen3-style chat template (im_start/im_end turns; enable_thinking=false adds an empty think block). */
export const TINY_CHAT_TEMPLATE =
  "{%- for message in messages -%}" +
  "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}" +
  '{%- endfor -%}' +
  '{%- if add_generation_prompt -%}' +
  "{{- '<|im_start|>assistant\\n' -}}" +
  '{%- if enable_thinking is defined and enable_thinking is false -%}' +
  "{{- '<think>\\n\\n</think>\\n\\n' -}}" +
  '{%- endif -%}' +
  '{%- endif -%}';

export function writeTinyTokenizer(dir: string): { vocabSize: number; specialIds: Record<string, number> } {
  const { tokenizerJson, vocabSize, specialIds } = buildTinyTokenizer();
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson, null, 1));
  const addedDecoder: Record<string, object> = {};
  for (const t of (tokenizerJson as { added_tokens: { id: number; content: string; special: boolean }[] }).added_tokens) {
    addedDecoder[String(t.id)] = { content: t.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: t.special };
  }
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify(
      {
        add_bos_token: false,
        add_prefix_space: false,
        added_tokens_decoder: addedDecoder,
        bos_token: null,
        chat_template: TINY_CHAT_TEMPLATE,
        clean_up_tokenization_spaces: false,
        eos_token: '<|im_end|>',
        errors: 'replace',
        model_max_length: 4096,
        pad_token: '<|endoftext|>',
        split_special_tokens: false,
        tokenizer_class: 'Qwen2Tokenizer',
        unk_token: null,
      },
      null,
      1,
    ),
  );
  return { vocabSize, specialIds };
}

// ---------------------------------------------------------------- weights

interface Dims {
  V: number;
  H: number;
  L: number;
  E: number;
  K: number;
  nH: number;
  nKV: number;
  D: number;
  I: number; // expert intermediate
  denseI: number;
  sharedI: number;
}

function buildConfig(arch: TinyArch, d: Dims, opts: TinyModelOptions, specialIds: Record<string, number>): { config: Record<string, unknown>; moeLayers: number[] } {
  const dtype = opts.dtype ?? 'F32';
  const common = {
    architectures: [ARCH_CLASS[arch]],
    model_type: arch,
    vocab_size: d.V,
    hidden_size: d.H,
    num_hidden_layers: d.L,
    num_attention_heads: d.nH,
    num_key_value_heads: d.nKV,
    hidden_act: 'silu',
    // The tiny tokenizer's 40 merges give ~3x the tokens of a real one (a UDHR article reaches ~600), and the
    // engine refuses input past this limit: match the tokenizer's model_max_length.
    max_position_embeddings: 4096,
    initializer_range: 0.02,
    attention_dropout: 0.0,
    use_cache: true,
    bos_token_id: specialIds['<|endoftext|>'],
    eos_token_id: specialIds['<|im_end|>'],
    pad_token_id: specialIds['<|endoftext|>'],
    torch_dtype: TORCH_DTYPE[dtype],
    transformers_version: '4.56.0',
    num_experts_per_tok: d.K,
    output_router_logits: false,
    router_aux_loss_coef: 0.001,
  };
  let config: Record<string, unknown>;
  switch (arch) {
    case 'qwen3_moe':
      config = {
        ...common,
        head_dim: d.D,
        intermediate_size: d.denseI,
        moe_intermediate_size: d.I,
        num_experts: d.E,
        norm_topk_prob: opts.normTopkProb ?? true,
        decoder_sparse_step: 1,
        mlp_only_layers: [1],
        rms_norm_eps: 1e-6,
        rope_theta: 1000000.0,
        rope_scaling: null,
        attention_bias: false,
        use_sliding_window: false,
        sliding_window: null,
        max_window_layers: d.L,
        tie_word_embeddings: opts.tieEmbeddings ?? false,
      };
      break;
    case 'qwen2_moe':
      config = {
        ...common,
        intermediate_size: d.denseI,
        moe_intermediate_size: d.I,
        shared_expert_intermediate_size: d.sharedI,
        num_experts: d.E,
        norm_topk_prob: opts.normTopkProb ?? false,
        decoder_sparse_step: 2,
        mlp_only_layers: [],
        rms_norm_eps: 1e-6,
        rope_theta: 1000000.0,
        use_sliding_window: false,
        sliding_window: null,
        max_window_layers: d.L,
        tie_word_embeddings: opts.tieEmbeddings ?? false,
      };
      break;
    case 'olmoe':
      config = {
        ...common,
        intermediate_size: d.I,
        num_experts: d.E,
        norm_topk_prob: opts.normTopkProb ?? false,
        rms_norm_eps: 1e-5,
        rope_theta: 10000.0,
        rope_scaling: null,
        attention_bias: false,
        clip_qkv: null,
        tie_word_embeddings: opts.tieEmbeddings ?? false,
      };
      break;
    case 'mixtral':
      config = {
        ...common,
        intermediate_size: d.I,
        num_local_experts: d.E,
        rms_norm_eps: 1e-5,
        rope_theta: 1000000.0,
        sliding_window: null,
        tie_word_embeddings: opts.tieEmbeddings ?? false,
      };
      break;
    case 'granitemoe':
      config = {
        ...common,
        intermediate_size: d.I,
        num_local_experts: d.E,
        rms_norm_eps: 1e-6,
        rope_theta: 10000.0,
        rope_scaling: null,
        attention_bias: false,
        embedding_multiplier: 4.0,
        attention_multiplier: 0.2,
        residual_multiplier: 0.5,
        logits_scaling: 2.0,
        position_embedding_type: 'rope',
        tie_word_embeddings: opts.tieEmbeddings ?? true,
      };
      break;
    case 'deepseek_v2':
      config = {
        ...common,
        intermediate_size: d.denseI,
        moe_intermediate_size: d.I,
        n_routed_experts: d.E,
        n_shared_experts: 2,
        first_k_dense_replace: 1,
        moe_layer_freq: 1,
        topk_method: 'greedy',
        n_group: 1,
        topk_group: 1,
        scoring_func: 'softmax',
        norm_topk_prob: false,
        // V2-Lite uses 1.0; another value shows the factor is applied.
        routed_scaling_factor: 1.5,
        kv_lora_rank: 16,
        q_lora_rank: null,
        qk_nope_head_dim: 8,
        qk_rope_head_dim: 4,
        v_head_dim: 6,
        attention_bias: false,
        max_position_embeddings: 512,
        rope_theta: 10000,
        rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 128, mscale: 0.707, mscale_all_dim: 0.707, beta_fast: 32, beta_slow: 1 },
        rms_norm_eps: 1e-6,
        tie_word_embeddings: opts.tieEmbeddings ?? false,
      };
      break;
    case 'gpt_oss':
      config = {
        ...common,
        head_dim: d.D,
        intermediate_size: d.I,
        num_local_experts: d.E,
        experts_per_token: d.K,
        attention_bias: true,
        layer_types: Array.from({ length: d.L }, (_, i) => (i % 2 === 0 ? 'sliding_attention' : 'full_attention')),
        // A window shorter than the test sequences, so sliding layers differ from full ones.
        sliding_window: 4,
        max_position_embeddings: 512,
        initial_context_length: 16,
        rope_theta: 150000,
        rope_scaling: { beta_fast: 32.0, beta_slow: 1.0, factor: 32.0, original_max_position_embeddings: 16, rope_type: 'yarn', truncate: false },
        rms_norm_eps: 1e-5,
        // Below gpt-oss's 7.0 so the tiny experts' activations actually reach the clamp.
        swiglu_limit: 1.5,
        tie_word_embeddings: opts.tieEmbeddings ?? false,
      };
      break;
    case 'phimoe':
      config = {
        ...common,
        intermediate_size: d.I,
        num_local_experts: d.E,
        attention_bias: true,
        lm_head_bias: true,
        rms_norm_eps: 1e-5,
        rope_theta: 10000.0,
        // Distinct short and long factors; the tiny sequences stay below original_max_position_embeddings.
        rope_scaling: {
          type: 'longrope',
          short_factor: Array.from({ length: d.D / 2 }, (_, i) => 1 + 0.25 * i),
          long_factor: Array.from({ length: d.D / 2 }, (_, i) => 2 + 0.5 * i),
          short_mscale: 1.25,
          long_mscale: 1.5,
          original_max_position_embeddings: 4096,
        },
        original_max_position_embeddings: 4096,
        // Larger than Phi-3.5-MoE's 0.01 so the tiny routers' margins actually keep several experts in a softmax.
        router_jitter_noise: 0.3,
        input_jitter_noise: 0.01,
        sliding_window: 131072,
        tie_word_embeddings: opts.tieEmbeddings ?? false,
      };
      break;
  }
  Object.assign(config, opts.configOverrides ?? {});
  return { config, moeLayers: moeLayersOf(arch, config) };
}

/** Which decoder layers are MoE, by each architecture's own rule. */
export function moeLayersOf(arch: TinyArch, config: Record<string, unknown>): number[] {
  const L = config.num_hidden_layers as number;
  const out: number[] = [];
  for (let l = 0; l < L; l++) {
    if (arch === 'deepseek_v2') {
      if (l >= ((config.first_k_dense_replace as number | undefined) ?? 0)) out.push(l);
    } else if (arch === 'qwen3_moe' || arch === 'qwen2_moe') {
      const step = (config.decoder_sparse_step as number | undefined) ?? 1;
      const only = (config.mlp_only_layers as number[] | undefined) ?? [];
      const E = config.num_experts as number;
      if (!only.includes(l) && E > 0 && (l + 1) % step === 0) out.push(l);
    } else {
      out.push(l);
    }
  }
  return out;
}

export function writeTinyModel(dir: string, arch: TinyArch, opts: TinyModelOptions = {}): TinyModelInfo {
  mkdirSync(dir, { recursive: true });
  const dtype = opts.dtype ?? 'F32';
  const rand = seededRandom(opts.seed ?? 1234);
  let normal = normalSampler(rand);

  const tok = opts.withoutTokenizer ? buildTinyTokenizer() : writeTinyTokenizer(dir);
  const given = opts.config ? dimsFromConfig(arch, opts.config) : undefined;
  const V = given?.V ?? opts.vocabSize ?? Math.max(tok.vocabSize, 304);
  if (V < tok.vocabSize) throw new Error(`vocabSize ${V} is smaller than the tiny tokenizer (${tok.vocabSize} tokens)`);
  const H = given?.H ?? opts.hiddenSize ?? 32;
  const nH = given?.nH ?? opts.numHeads ?? 4;
  const defaults: Record<TinyArch, { L: number; E: number; nKV: number; D: number }> = {
    // Qwen3's head_dim is its own field and need not equal hidden/heads; exercise that.
    qwen3_moe: { L: 4, E: 8, nKV: 2, D: 16 },
    qwen2_moe: { L: 4, E: 8, nKV: 2, D: H / nH },
    olmoe: { L: 2, E: 8, nKV: 4, D: H / nH },
    mixtral: { L: 2, E: 4, nKV: 2, D: H / nH },
    granitemoe: { L: 2, E: 4, nKV: 2, D: H / nH },
    phimoe: { L: 2, E: 6, nKV: 2, D: H / nH },
    gpt_oss: { L: 2, E: 8, nKV: 2, D: 12 },
    deepseek_v2: { L: 3, E: 8, nKV: 4, D: H / nH },
  };
  const def = defaults[arch];
  const d: Dims = given ?? {
    V,
    H,
    L: opts.numLayers ?? def.L,
    E: opts.numExperts ?? def.E,
    K: opts.topK ?? (arch === 'gpt_oss' ? 3 : 2),
    nH,
    nKV: opts.numKvHeads ?? def.nKV,
    D: arch === 'qwen3_moe' || arch === 'gpt_oss' ? def.D : H / nH,
    I: 16,
    denseI: 40,
    sharedI: 24,
  };
  const { config, moeLayers } = opts.config ? { config: opts.config, moeLayers: moeLayersOf(arch, opts.config) } : buildConfig(arch, d, opts, tok.specialIds);
  const tie = config.tie_word_embeddings === true;

  const tensors: Record<string, TensorToWrite> = {};
  const stream = opts.shardPerLayer ? new LayerShards(dir, d.L + 2) : undefined;
  const streamed: string[] = [];
  /** Streaming only: writes what was drawn since the last call as the next shard, and reseeds for the next one. */
  const flush = () => {
    if (!stream) return;
    streamed.push(...Object.keys(tensors));
    stream.write(tensors);
    for (const name of Object.keys(tensors)) delete tensors[name];
    normal = normalSampler(seededRandom((opts.seed ?? 1234) + 7919 * stream.written));
    opts.onShard?.(stream.written, d.L + 2);
  };
  if (stream) normal = normalSampler(seededRandom(opts.seed ?? 1234));
  const put = (name: string, shape: number[], std: number, mean = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = mean + std * normal();
    tensors[name] = { dtype, shape, data };
  };
  const linear = (name: string, out: number, inp: number) => put(name, [out, inp], 1 / Math.sqrt(inp));
  const norm = (name: string, n: number) => put(name, [n], 0.1, 1);

  put('model.embed_tokens.weight', [V, H], 0.5);
  for (let l = 0; l < d.L; l++) {
    flush();
    const p = `model.layers.${l}.`;
    norm(`${p}input_layernorm.weight`, H);
    norm(`${p}post_attention_layernorm.weight`, H);
    if (arch === 'deepseek_v2') {
      writeDeepseekLayer(config, p, H, nH, l, linear, norm, put);
      continue;
    }
    linear(`${p}self_attn.q_proj.weight`, nH * d.D, H);
    linear(`${p}self_attn.k_proj.weight`, d.nKV * d.D, H);
    linear(`${p}self_attn.v_proj.weight`, d.nKV * d.D, H);
    linear(`${p}self_attn.o_proj.weight`, H, nH * d.D);
    if (arch === 'gpt_oss') {
      put(`${p}self_attn.q_proj.bias`, [nH * d.D], 0.2);
      put(`${p}self_attn.k_proj.bias`, [d.nKV * d.D], 0.2);
      put(`${p}self_attn.v_proj.bias`, [d.nKV * d.D], 0.2);
      put(`${p}self_attn.o_proj.bias`, [H], 0.2);
      put(`${p}self_attn.sinks`, [nH], 1);
      put(`${p}mlp.router.weight`, [d.E, H], 2 / Math.sqrt(H));
      put(`${p}mlp.router.bias`, [d.E], 0.5);
      put(`${p}mlp.experts.gate_up_proj`, [d.E, H, 2 * d.I], 1 / Math.sqrt(H));
      put(`${p}mlp.experts.gate_up_proj_bias`, [d.E, 2 * d.I], 0.3);
      put(`${p}mlp.experts.down_proj`, [d.E, d.I, H], 1 / Math.sqrt(d.I));
      put(`${p}mlp.experts.down_proj_bias`, [d.E, H], 0.1);
      continue;
    }
    if (arch === 'phimoe') {
      put(`${p}input_layernorm.bias`, [H], 0.1);
      put(`${p}post_attention_layernorm.bias`, [H], 0.1);
      put(`${p}self_attn.q_proj.bias`, [nH * d.D], 0.2);
      put(`${p}self_attn.k_proj.bias`, [d.nKV * d.D], 0.2);
      put(`${p}self_attn.v_proj.bias`, [d.nKV * d.D], 0.2);
      put(`${p}self_attn.o_proj.bias`, [H], 0.2);
    }
    if (arch === 'qwen2_moe') {
      put(`${p}self_attn.q_proj.bias`, [nH * d.D], 0.2);
      put(`${p}self_attn.k_proj.bias`, [d.nKV * d.D], 0.2);
      put(`${p}self_attn.v_proj.bias`, [d.nKV * d.D], 0.2);
    }
    if (arch === 'qwen3_moe') {
      norm(`${p}self_attn.q_norm.weight`, d.D);
      norm(`${p}self_attn.k_norm.weight`, d.D);
    }
    if (arch === 'olmoe') {
      norm(`${p}self_attn.q_norm.weight`, nH * d.D);
      norm(`${p}self_attn.k_norm.weight`, d.nKV * d.D);
    }
    if (!moeLayers.includes(l)) {
      linear(`${p}mlp.gate_proj.weight`, d.denseI, H);
      linear(`${p}mlp.up_proj.weight`, d.denseI, H);
      linear(`${p}mlp.down_proj.weight`, H, d.denseI);
      continue;
    }
    // Routers get a larger spread than a trained model's so the tiny models route decisively.
    const routerStd = 2 / Math.sqrt(H);
    if (arch === 'granitemoe') {
      put(`${p}block_sparse_moe.router.layer.weight`, [d.E, H], routerStd);
      const perExpert: { gate: TensorToWrite; up: TensorToWrite; down: TensorToWrite }[] = [];
      for (let e = 0; e < d.E; e++) {
        linear('tmp.gate', d.I, H);
        linear('tmp.up', d.I, H);
        linear('tmp.down', H, d.I);
        perExpert.push({ gate: tensors['tmp.gate']!, up: tensors['tmp.up']!, down: tensors['tmp.down']! });
        delete tensors['tmp.gate'];
        delete tensors['tmp.up'];
        delete tensors['tmp.down'];
      }
      tensors[`${p}block_sparse_moe.input_linear.weight`] = { dtype, shape: [d.E, 2 * d.I, H], data: packExperts(perExpert, d, 'gate_up') };
      tensors[`${p}block_sparse_moe.output_linear.weight`] = { dtype, shape: [d.E, H, d.I], data: packExperts(perExpert, d, 'down') };
      continue;
    }
    const mixtralPerExpert = (arch === 'mixtral' || arch === 'phimoe') && !opts.fusedExperts;
    const moe = mixtralPerExpert ? `${p}block_sparse_moe.` : `${p}mlp.`;
    put(`${moe}gate.weight`, [d.E, H], routerStd);
    // Draw per-expert matrices in the same order either way, so a fused folder and a per-expert
    // folder with the same seed hold identical numbers (and must give identical outputs).
    const perExpert: { gate: TensorToWrite; up: TensorToWrite; down: TensorToWrite }[] = [];
    for (let e = 0; e < d.E; e++) {
      const names = mixtralPerExpert ? (['w1', 'w3', 'w2'] as const) : (['gate_proj', 'up_proj', 'down_proj'] as const);
      const x = `${moe}experts.${e}.`;
      linear(`${x}${names[0]}.weight`, d.I, H);
      linear(`${x}${names[1]}.weight`, d.I, H);
      linear(`${x}${names[2]}.weight`, H, d.I);
      perExpert.push({ gate: tensors[`${x}${names[0]}.weight`]!, up: tensors[`${x}${names[1]}.weight`]!, down: tensors[`${x}${names[2]}.weight`]! });
      if (opts.fusedExperts) for (const n of names) delete tensors[`${x}${n}.weight`];
    }
    if (opts.fusedExperts) {
      tensors[`${moe}experts.gate_up_proj`] = { dtype, shape: [d.E, 2 * d.I, H], data: packExperts(perExpert, d, 'gate_up') };
      tensors[`${moe}experts.down_proj`] = { dtype, shape: [d.E, H, d.I], data: packExperts(perExpert, d, 'down') };
    }
    if (arch === 'qwen2_moe' && d.sharedI > 0) {
      linear(`${p}mlp.shared_expert.gate_proj.weight`, d.sharedI, H);
      linear(`${p}mlp.shared_expert.up_proj.weight`, d.sharedI, H);
      linear(`${p}mlp.shared_expert.down_proj.weight`, H, d.sharedI);
      put(`${p}mlp.shared_expert_gate.weight`, [1, H], 1 / Math.sqrt(H));
    }
  }
  flush();
  norm('model.norm.weight', H);
  if (!tie) linear('lm_head.weight', V, H);
  if (arch === 'phimoe') {
    put('model.norm.bias', [H], 0.1);
    if (config.lm_head_bias === true) put('lm_head.bias', [V], 0.5);
  }

  if (stream) {
    flush();
    stream.finish();
  } else {
    writeWeights(dir, tensors, opts.shards ?? 1);
  }
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  writeFileSync(
    join(dir, 'generation_config.json'),
    JSON.stringify(
      {
        bos_token_id: tok.specialIds['<|endoftext|>'],
        eos_token_id: [tok.specialIds['<|im_end|>'], tok.specialIds['<|endoftext|>']],
        pad_token_id: tok.specialIds['<|endoftext|>'],
        do_sample: true,
        temperature: 0.7,
        top_p: 0.8,
        top_k: 20,
        transformers_version: '4.56.0',
      },
      null,
      2,
    ),
  );
  return {
    dir,
    arch,
    architecture: ARCH_CLASS[arch],
    config,
    numLayers: d.L,
    numExperts: d.E,
    topK: d.K,
    moeLayers,
    vocabSize: V,
    tensorNames: stream ? streamed : Object.keys(tensors),
  };
}

/** One DeepSeek-V2 decoder layer's tensors (MLA attention; dense MLP before first_k_dense_replace, else MoE). */
function writeDeepseekLayer(
  c: Record<string, unknown>,
  p: string,
  H: number,
  nH: number,
  l: number,
  linear: (name: string, out: number, inp: number) => void,
  norm: (name: string, n: number) => void,
  put: (name: string, shape: number[], std: number) => void,
): void {
  const n = (k: string) => c[k] as number;
  const qk = n('qk_nope_head_dim') + n('qk_rope_head_dim');
  const r = n('kv_lora_rank');
  if (typeof c.q_lora_rank === 'number') {
    linear(`${p}self_attn.q_a_proj.weight`, c.q_lora_rank, H);
    norm(`${p}self_attn.q_a_layernorm.weight`, c.q_lora_rank);
    linear(`${p}self_attn.q_b_proj.weight`, nH * qk, c.q_lora_rank);
  } else linear(`${p}self_attn.q_proj.weight`, nH * qk, H);
  linear(`${p}self_attn.kv_a_proj_with_mqa.weight`, r + n('qk_rope_head_dim'), H);
  norm(`${p}self_attn.kv_a_layernorm.weight`, r);
  linear(`${p}self_attn.kv_b_proj.weight`, nH * (n('qk_nope_head_dim') + n('v_head_dim')), r);
  linear(`${p}self_attn.o_proj.weight`, H, nH * n('v_head_dim'));
  const mlp = (prefix: string, inter: number) => {
    linear(`${prefix}.gate_proj.weight`, inter, H);
    linear(`${prefix}.up_proj.weight`, inter, H);
    linear(`${prefix}.down_proj.weight`, H, inter);
  };
  if (l < n('first_k_dense_replace')) return mlp(`${p}mlp`, n('intermediate_size'));
  put(`${p}mlp.gate.weight`, [n('n_routed_experts'), H], 2 / Math.sqrt(H)); // decisive tiny routers, as for the others
  for (let e = 0; e < n('n_routed_experts'); e++) mlp(`${p}mlp.experts.${e}`, n('moe_intermediate_size'));
  if (n('n_shared_experts') > 0) mlp(`${p}mlp.shared_experts`, n('moe_intermediate_size') * n('n_shared_experts'));
}

/** The weight sizes a given config.json implies, read with each architecture's own field names. */
function dimsFromConfig(arch: TinyArch, c: Record<string, unknown>): Dims {
  const cls = (c.architectures as unknown[] | undefined)?.[0];
  if (cls !== ARCH_CLASS[arch] && !(ARCH_CLASS_ALIASES[arch] ?? []).includes(String(cls))) throw new Error(`config.architectures[0] is ${JSON.stringify(cls)}, expected ${ARCH_CLASS[arch]}`);
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`config field ${key} must be an integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const qwen = arch === 'qwen3_moe' || arch === 'qwen2_moe' || arch === 'deepseek_v2';
  const H = int('hidden_size');
  const nH = int('num_attention_heads');
  return {
    V: int('vocab_size'),
    H,
    L: int('num_hidden_layers'),
    E: int(arch === 'deepseek_v2' ? 'n_routed_experts' : arch === 'mixtral' || arch === 'granitemoe' || arch === 'phimoe' || arch === 'gpt_oss' ? 'num_local_experts' : 'num_experts'),
    K: int('num_experts_per_tok'),
    nH,
    nKV: int('num_key_value_heads', nH),
    D: arch === 'qwen3_moe' || arch === 'mixtral' || arch === 'gpt_oss' ? int('head_dim', H / nH) : H / nH,
    I: int(qwen ? 'moe_intermediate_size' : 'intermediate_size'),
    denseI: qwen ? int('intermediate_size') : 0,
    sharedI: arch === 'qwen2_moe' ? int('shared_expert_intermediate_size', 0) : 0,
  };
}

/** [E, 2I, H] with each expert's gate rows then up rows, or [E, H, I] down projections. */
function packExperts(experts: { gate: TensorToWrite; up: TensorToWrite; down: TensorToWrite }[], d: Dims, which: 'gate_up' | 'down'): Float32Array {
  const per = which === 'gate_up' ? 2 * d.I * d.H : d.H * d.I;
  const out = new Float32Array(experts.length * per);
  experts.forEach((x, e) => {
    if (which === 'gate_up') {
      out.set(x.gate.data, e * per);
      out.set(x.up.data, e * per + d.I * d.H);
    } else {
      out.set(x.down.data, e * per);
    }
  });
  return out;
}

function writeWeights(dir: string, tensors: Record<string, TensorToWrite>, shards: number): void {
  const names = Object.keys(tensors);
  if (shards <= 1) {
    writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
    return;
  }
  const n = Math.min(shards, names.length);
  const pad = (i: number) => String(i).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (let s = 0; s < n; s++) {
    const file = `model-${pad(s + 1)}-of-${pad(n)}.safetensors`;
    const part: Record<string, TensorToWrite> = {};
    // Contiguous, non-empty runs of tensors, like save_pretrained's size-based split.
    for (const name of names.slice(Math.floor((s * names.length) / n), Math.floor(((s + 1) * names.length) / n))) {
      part[name] = tensors[name]!;
      weightMap[name] = file;
      totalSize += tensors[name]!.data.length * (tensors[name]!.dtype === 'F32' ? 4 : 2);
    }
    writeSafetensors(join(dir, file), part, { format: 'pt' });
  }
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2));
}

/** Shards written one at a time (model-0000i-of-0000n.safetensors), then their index. */
class LayerShards {
  written = 0;
  private readonly weightMap: Record<string, string> = {};
  private totalSize = 0;
  constructor(
    private readonly dir: string,
    private readonly count: number,
  ) {}

  write(tensors: Record<string, TensorToWrite>): void {
    if (this.written >= this.count) throw new Error(`LayerShards: more than the ${this.count} shards planned`);
    const pad = (i: number) => String(i).padStart(5, '0');
    const file = `model-${pad(++this.written)}-of-${pad(this.count)}.safetensors`;
    for (const [name, t] of Object.entries(tensors)) {
      this.weightMap[name] = file;
      this.totalSize += t.data.length * (t.dtype === 'F32' ? 4 : 2);
    }
    writeSafetensors(join(this.dir, file), tensors, { format: 'pt' });
  }

  finish(): void {
    if (this.written !== this.count) throw new Error(`LayerShards: ${this.written} shards written, ${this.count} planned`);
    writeFileSync(join(this.dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: this.totalSize }, weight_map: this.weightMap }, null, 2));
  }
}

/** Overwrites elements `index..` of an F32 tensor in place (e.g. a NaN in a checkpoint), keeping the file's size. */
export function overwriteF32(dir: string, tensor: string, index: number, values: number[]): void {
  const info = WeightStore.fromFolder(dir).info(tensor);
  if (info.dtype !== 'F32' || (index + values.length) * 4 > info.byteLength) throw new Error(`overwriteF32: ${tensor} is ${info.dtype} of ${info.byteLength} bytes`);
  const fd = openSync(info.file, 'r+');
  try {
    const bytes = new Uint8Array(Float32Array.from(values).buffer);
    writeSync(fd, bytes, 0, bytes.length, info.fileOffset + index * 4);
  } finally {
    closeSync(fd);
  }
}
