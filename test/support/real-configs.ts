/**
 * The config.json of one published checkpoint per supported architecture, with its complete field set and values
 * as shipped on the Hugging Face Hub (nulls, unused sliding-window fields, training-only fields and all), and
 * `shrinkRealConfig`, which replaces only the size fields so a test model stays a few hundred KB.
 *
 * Field sets and values were checked against copies of these files quoted in public repositories (tests, fixtures,
 * config dumps); the facts are transcribed, not copied code. Not independently confirmed: the transformers_version
 * strings of Qwen1.5-MoE, OLMoE and Granite (metadata, read by nobody) and OLMoE-0924's `bos_token_id: null` (the
 * GPT-NeoX-based OLMo tokenizer has no BOS; kept because a null id is exactly what the engine must tolerate).
 * Phi-3.5-MoE: the LongRoPE factor lists have head_dim / 2 = 64 entries, a size; they are kept as their first 8
 * entries (quoted in public test code), which is what head_dim 16 after shrinking needs. Field set checked against
 * derived re-saves, values against a fixture quoting the file; `_name_or_path`, `attention_dropout` and
 * `hidden_dropout` unverified (docs/model-folder.md, "Where the ... field sets were checked").
 * GPT-OSS: openai/gpt-oss-20b's config.json as published, `quantization_config` (MXFP4) included; every field and
 * value checked against two public copies. There is no torch_dtype field.
 * DeepSeek-V2-Lite: values checked against re-saves of the release; `transformers_version` unverified.
 */
import type { TinyArch } from './tiny-models.js';

export interface RealConfig {
  /** The Hub repository whose config.json this is. */
  checkpoint: string;
  config: Record<string, unknown>;
}

export const REAL_CONFIGS: Record<TinyArch, RealConfig> = {
  qwen3_moe: {
    checkpoint: 'Qwen/Qwen3-30B-A3B',
    config: {
      architectures: ['Qwen3MoeForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: 151643,
      decoder_sparse_step: 1,
      eos_token_id: 151645,
      head_dim: 128,
      hidden_act: 'silu',
      hidden_size: 2048,
      initializer_range: 0.02,
      intermediate_size: 6144,
      max_position_embeddings: 40960,
      max_window_layers: 48,
      mlp_only_layers: [],
      model_type: 'qwen3_moe',
      moe_intermediate_size: 768,
      norm_topk_prob: true,
      num_attention_heads: 32,
      num_experts: 128,
      num_experts_per_tok: 8,
      num_hidden_layers: 48,
      num_key_value_heads: 4,
      output_router_logits: false,
      rms_norm_eps: 1e-6,
      rope_scaling: null,
      rope_theta: 1000000.0,
      router_aux_loss_coef: 0.001,
      sliding_window: null,
      tie_word_embeddings: false,
      torch_dtype: 'bfloat16',
      transformers_version: '4.51.0',
      use_cache: true,
      use_sliding_window: false,
      vocab_size: 151936,
    },
  },
  qwen2_moe: {
    checkpoint: 'Qwen/Qwen1.5-MoE-A2.7B-Chat',
    config: {
      architectures: ['Qwen2MoeForCausalLM'],
      attention_dropout: 0.0,
      bos_token_id: 151643,
      eos_token_id: 151645,
      decoder_sparse_step: 1,
      hidden_act: 'silu',
      hidden_size: 2048,
      initializer_range: 0.02,
      intermediate_size: 5632,
      max_position_embeddings: 32768,
      max_window_layers: 21,
      model_type: 'qwen2_moe',
      moe_intermediate_size: 1408,
      norm_topk_prob: false,
      num_attention_heads: 16,
      num_experts: 60,
      num_experts_per_tok: 4,
      num_hidden_layers: 24,
      num_key_value_heads: 16,
      output_router_logits: false,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      router_aux_loss_coef: 0.001,
      shared_expert_intermediate_size: 5632,
      sliding_window: 32768,
      tie_word_embeddings: false,
      torch_dtype: 'bfloat16',
      transformers_version: '4.40.0.dev0',
      use_cache: true,
      use_sliding_window: false,
      vocab_size: 151936,
    },
  },
  olmoe: {
    checkpoint: 'allenai/OLMoE-1B-7B-0924',
    config: {
      architectures: ['OlmoeForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: null,
      clip_qkv: null,
      eos_token_id: 50279,
      hidden_act: 'silu',
      hidden_size: 2048,
      initializer_range: 0.02,
      intermediate_size: 1024,
      max_position_embeddings: 4096,
      model_type: 'olmoe',
      norm_topk_prob: false,
      num_attention_heads: 16,
      num_experts: 64,
      num_experts_per_tok: 8,
      num_hidden_layers: 16,
      num_key_value_heads: 16,
      output_router_logits: false,
      pad_token_id: 1,
      rms_norm_eps: 1e-5,
      rope_scaling: null,
      rope_theta: 10000.0,
      router_aux_loss_coef: 0.01,
      tie_word_embeddings: false,
      torch_dtype: 'bfloat16',
      transformers_version: '4.43.0.dev0',
      use_cache: true,
      vocab_size: 50304,
    },
  },
  mixtral: {
    checkpoint: 'mistralai/Mixtral-8x7B-v0.1',
    config: {
      architectures: ['MixtralForCausalLM'],
      attention_dropout: 0.0,
      bos_token_id: 1,
      eos_token_id: 2,
      hidden_act: 'silu',
      hidden_size: 4096,
      initializer_range: 0.02,
      intermediate_size: 14336,
      max_position_embeddings: 32768,
      model_type: 'mixtral',
      num_attention_heads: 32,
      num_experts_per_tok: 2,
      num_hidden_layers: 32,
      num_key_value_heads: 8,
      num_local_experts: 8,
      output_router_logits: false,
      rms_norm_eps: 1e-5,
      rope_theta: 1000000.0,
      router_aux_loss_coef: 0.02,
      sliding_window: null,
      tie_word_embeddings: false,
      torch_dtype: 'bfloat16',
      transformers_version: '4.36.0.dev0',
      use_cache: true,
      vocab_size: 32000,
    },
  },
  granitemoe: {
    checkpoint: 'ibm-granite/granite-3.1-1b-a400m-instruct',
    config: {
      architectures: ['GraniteMoeForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.1,
      attention_multiplier: 0.015625,
      bos_token_id: 0,
      embedding_multiplier: 12.0,
      eos_token_id: 0,
      hidden_act: 'silu',
      hidden_size: 1024,
      initializer_range: 0.02,
      intermediate_size: 512,
      logits_scaling: 6.0,
      max_position_embeddings: 131072,
      model_type: 'granitemoe',
      num_attention_heads: 16,
      num_experts_per_tok: 8,
      num_hidden_layers: 24,
      num_key_value_heads: 8,
      num_local_experts: 32,
      output_router_logits: false,
      pad_token_id: 0,
      residual_multiplier: 0.22,
      rms_norm_eps: 1e-6,
      rope_scaling: null,
      rope_theta: 1500000.0,
      router_aux_loss_coef: 0.001,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      transformers_version: '4.46.0.dev0',
      use_cache: true,
      vocab_size: 49155,
    },
  },
  phimoe: {
    checkpoint: 'microsoft/Phi-3.5-MoE-instruct',
    config: {
      _name_or_path: 'Phi-3.5-MoE-instruct',
      architectures: ['PhiMoEForCausalLM'],
      attention_bias: true,
      attention_dropout: 0.0,
      auto_map: { AutoConfig: 'configuration_phimoe.PhiMoEConfig', AutoModelForCausalLM: 'modeling_phimoe.PhiMoEForCausalLM' },
      bos_token_id: 1,
      eos_token_id: 32000,
      hidden_act: 'silu',
      hidden_dropout: 0.0,
      hidden_size: 4096,
      initializer_range: 0.02,
      input_jitter_noise: 0.01,
      intermediate_size: 6400,
      lm_head_bias: true,
      max_position_embeddings: 131072,
      model_type: 'phimoe',
      num_attention_heads: 32,
      num_experts_per_tok: 2,
      num_hidden_layers: 32,
      num_key_value_heads: 8,
      num_local_experts: 16,
      original_max_position_embeddings: 4096,
      output_router_logits: false,
      rms_norm_eps: 1e-5,
      rope_scaling: {
        long_factor: [1.0199999809265137, 1.0299999713897705, 1.0399999618530273, 1.0499999523162842, 1.0499999523162842, 1.0499999523162842, 1.059999942779541, 1.059999942779541],
        long_mscale: 1.243163121016122,
        original_max_position_embeddings: 4096,
        short_factor: [1.0, 1.0399999618530273, 1.0399999618530273, 1.0399999618530273, 1.0499999523162842, 1.0499999523162842, 1.0499999523162842, 1.0499999523162842],
        short_mscale: 1.243163121016122,
        type: 'longrope',
      },
      rope_theta: 10000.0,
      router_aux_loss_coef: 0.0,
      router_jitter_noise: 0.01,
      sliding_window: 131072,
      tie_word_embeddings: false,
      torch_dtype: 'bfloat16',
      transformers_version: '4.43.3',
      use_cache: true,
      vocab_size: 32064,
    },
  },
  gpt_oss: {
    checkpoint: 'openai/gpt-oss-20b',
    config: {
      architectures: ['GptOssForCausalLM'],
      attention_bias: true,
      attention_dropout: 0.0,
      eos_token_id: 200002,
      experts_per_token: 4,
      head_dim: 64,
      hidden_act: 'silu',
      hidden_size: 2880,
      initial_context_length: 4096,
      initializer_range: 0.02,
      intermediate_size: 2880,
      layer_types: Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? 'sliding_attention' : 'full_attention')),
      max_position_embeddings: 131072,
      model_type: 'gpt_oss',
      num_attention_heads: 64,
      num_experts_per_tok: 4,
      num_hidden_layers: 24,
      num_key_value_heads: 8,
      num_local_experts: 32,
      output_router_logits: false,
      pad_token_id: 199999,
      quantization_config: { modules_to_not_convert: ['model.layers.*.self_attn', 'model.layers.*.mlp.router', 'model.embed_tokens', 'lm_head'], quant_method: 'mxfp4' },
      rms_norm_eps: 1e-5,
      rope_scaling: { beta_fast: 32.0, beta_slow: 1.0, factor: 32.0, original_max_position_embeddings: 4096, rope_type: 'yarn', truncate: false },
      rope_theta: 150000,
      router_aux_loss_coef: 0.9,
      sliding_window: 128,
      swiglu_limit: 7.0,
      tie_word_embeddings: false,
      transformers_version: '4.55.0.dev0',
      use_cache: true,
      vocab_size: 201088,
    },
  },
  deepseek_v2: {
    checkpoint: 'deepseek-ai/DeepSeek-V2-Lite',
    config: {
      architectures: ['DeepseekV2ForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      auto_map: {
        AutoConfig: 'configuration_deepseek.DeepseekV2Config',
        AutoModel: 'modeling_deepseek.DeepseekV2Model',
        AutoModelForCausalLM: 'modeling_deepseek.DeepseekV2ForCausalLM',
      },
      aux_loss_alpha: 0.001,
      bos_token_id: 100000,
      eos_token_id: 100001,
      first_k_dense_replace: 1,
      hidden_act: 'silu',
      hidden_size: 2048,
      initializer_range: 0.02,
      intermediate_size: 10944,
      kv_lora_rank: 512,
      max_position_embeddings: 163840,
      model_type: 'deepseek_v2',
      moe_intermediate_size: 1408,
      moe_layer_freq: 1,
      n_group: 1,
      n_routed_experts: 64,
      n_shared_experts: 2,
      norm_topk_prob: false,
      num_attention_heads: 16,
      num_experts_per_tok: 6,
      num_hidden_layers: 27,
      num_key_value_heads: 16,
      pretraining_tp: 1,
      q_lora_rank: null,
      qk_nope_head_dim: 128,
      qk_rope_head_dim: 64,
      rms_norm_eps: 1e-6,
      rope_scaling: { beta_fast: 32, beta_slow: 1, factor: 40, mscale: 0.707, mscale_all_dim: 0.707, original_max_position_embeddings: 4096, type: 'yarn' },
      rope_theta: 10000,
      routed_scaling_factor: 1.0,
      scoring_func: 'softmax',
      seq_aux: true,
      tie_word_embeddings: false,
      topk_group: 1,
      topk_method: 'greedy',
      torch_dtype: 'bfloat16',
      transformers_version: '4.33.1',
      use_cache: true,
      v_head_dim: 128,
      vocab_size: 102400,
    },
  },
};

/**
 * The size fields each architecture's weights depend on, with small values that keep the real checkpoint's
 * shape quirks: Qwen3's head_dim stays different from hidden/heads, Qwen3/Mixtral/Granite keep grouped-query
 * attention, Qwen1.5-MoE and OLMoE keep one KV head per query head, and Qwen1.5-MoE keeps an expert count that is
 * not a power of two (60 there). num_experts_per_tok is shrunk with the experts so routing still chooses. Hidden
 * sizes differ per architecture so nothing silently falls back to a default size.
 */
export const SHRUNK_SIZES: Record<TinyArch, Record<string, number>> = {
  qwen3_moe: { hidden_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, intermediate_size: 40, moe_intermediate_size: 12, num_experts: 16, num_experts_per_tok: 4 },
  qwen2_moe: { hidden_size: 24, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 2, intermediate_size: 40, moe_intermediate_size: 12, shared_expert_intermediate_size: 40, num_experts: 6, num_experts_per_tok: 2 },
  olmoe: { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4, intermediate_size: 16, num_experts: 8, num_experts_per_tok: 2 },
  mixtral: { hidden_size: 48, num_hidden_layers: 2, num_attention_heads: 6, num_key_value_heads: 2, intermediate_size: 24, num_local_experts: 8, num_experts_per_tok: 2 },
  granitemoe: { hidden_size: 40, num_hidden_layers: 2, num_attention_heads: 5, num_key_value_heads: 1, intermediate_size: 16, num_local_experts: 8, num_experts_per_tok: 2 },
  // head_dim 16 matches the 8 LongRoPE factors kept; 4 query heads per KV head as in the checkpoint (32 / 8).
  phimoe: { hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 1, intermediate_size: 16, num_local_experts: 8, num_experts_per_tok: 2 },
  // MLA dims keep nope != v and rope < nope as in the checkpoint; one dense layer then MoE layers.
  deepseek_v2: {
    hidden_size: 32,
    num_hidden_layers: 3,
    num_attention_heads: 4,
    num_key_value_heads: 4,
    intermediate_size: 40,
    moe_intermediate_size: 12,
    n_routed_experts: 8,
    num_experts_per_tok: 3,
    kv_lora_rank: 16,
    qk_nope_head_dim: 8,
    qk_rope_head_dim: 4,
    v_head_dim: 6,
  },
  // head_dim stays different from hidden / heads (64 vs 45 there); experts_per_token follows num_experts_per_tok.
  // hidden and intermediate are multiples of 32, the MXFP4 block (hidden spans two blocks, as 2880 spans 90).
  gpt_oss: { hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, intermediate_size: 32, num_local_experts: 8, num_experts_per_tok: 2, experts_per_token: 2 },
};

/** Special-token ids index the vocabulary, so they may change when it is shrunk. */
export const TOKEN_ID_FIELDS = ['bos_token_id', 'eos_token_id', 'pad_token_id'] as const;

/**
 * The published config with its size fields (and vocab_size) replaced. Special-token ids that would fall outside
 * the shrunk vocabulary are mapped to the tiny tokenizer's ids (`specialIds`); nulls and in-range ids are kept.
 */
export function shrinkRealConfig(arch: TinyArch, vocabSize: number, specialIds: { bos: number; eos: number; pad: number }): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(REAL_CONFIGS[arch].config);
  for (const [key, value] of Object.entries(SHRUNK_SIZES[arch])) {
    if (!(key in out) && key !== 'head_dim') throw new Error(`${REAL_CONFIGS[arch].checkpoint} has no size field ${key}`);
    out[key] = value;
  }
  out.vocab_size = vocabSize;
  // Lists with one entry per layer shrink with the layers.
  if (Array.isArray(out.layer_types)) out.layer_types = out.layer_types.slice(0, out.num_hidden_layers as number);
  const replacement = { bos_token_id: specialIds.bos, eos_token_id: specialIds.eos, pad_token_id: specialIds.pad };
  for (const key of TOKEN_ID_FIELDS) {
    const v = out[key];
    if (typeof v === 'number' && v >= vocabSize) out[key] = replacement[key];
  }
  return out;
}
