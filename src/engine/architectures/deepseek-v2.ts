/**
 * DeepseekV2ForCausalLM (the DeepSeek-V2-Lite layout), read from transformers' modular_deepseek_v2.py and
 * DeepSeek's own modeling_deepseek.py: multi-head latent attention (MlaSpec; the KV cache holds the compressed
 * latent), the first `first_k_dense_replace` layers dense, then MoE layers with `n_shared_experts` always-on
 * experts added to the routed ones, softmax over all routed experts, greedy top-k, weights times
 * `routed_scaling_factor`.
 *
 * Where transformers' port and DeepSeek's code disagree, the engine follows DeepSeek's code or refuses:
 * - softmax scale: DeepSeek multiplies qk_head_dim^-0.5 by yarn_mscale(factor, mscale_all_dim)^2 under YaRN
 *   (so does vLLM); the transformers port we read does not. V2-Lite ships YaRN with mscale_all_dim, so this matters.
 * - norm_topk_prob: DeepSeek's code renormalises the top-k weights, the port ignores the field: true is refused.
 * Grouped and bias-corrected routing (`topk_method` group_limited_greedy, noaux_tc) are refused.
 */
import { ConfigReader, WeightLookup } from './common.js';
import { assemble } from './decoder-base.js';
import { yarnRope } from './gpt-oss.js';
import type { BaseDims } from './decoder-base.js';
import type { DecoderSpec, LayerSpec, MlaSpec } from './types.js';

/** DeepSeek's yarn_get_mscale. */
const yarnMscale = (scale: number, m: number) => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);

function routingChecks(c: ConfigReader): void {
  const method = c.config.topk_method ?? 'greedy';
  if (method !== 'greedy') {
    c.refuse('topk_method', `is ${JSON.stringify(method)}; Routescope implements DeepSeek-V2's greedy top-k only (group_limited_greedy and noaux_tc are not implemented)`);
  }
  const scoring = c.config.scoring_func ?? 'softmax';
  if (scoring !== 'softmax') c.refuse('scoring_func', `is ${JSON.stringify(scoring)}; only softmax scoring is implemented`);
  if (c.bool('norm_topk_prob', false)) {
    c.refuse('norm_topk_prob', "is true; DeepSeek's code renormalises the top-k weights but transformers' DeepseekV2 ignores the field, so the intended rule is ambiguous");
  }
  const freq = c.positiveInt('moe_layer_freq', 1);
  if (freq !== 1) c.refuse('moe_layer_freq', `is ${freq}; only 1 (every layer after first_k_dense_replace is MoE) is implemented`);
}

export function deepseekV2Spec(c: ConfigReader, w: WeightLookup): DecoderSpec {
  c.activation();
  routingChecks(c);
  const hiddenSize = c.positiveInt('hidden_size');
  const numHeads = c.positiveInt('num_attention_heads');
  const kvLoraRank = c.positiveInt('kv_lora_rank');
  const qLoraRank = c.has('q_lora_rank') ? c.positiveInt('q_lora_rank') : null;
  const nopeDim = c.positiveInt('qk_nope_head_dim');
  const ropeDim = c.positiveInt('qk_rope_head_dim');
  const valueDim = c.positiveInt('v_head_dim');
  if (ropeDim % 2 !== 0) c.refuse('qk_rope_head_dim', `is ${ropeDim}; it must be even`);
  if (c.bool('attention_bias', false)) c.refuse('attention_bias', 'is true; DeepSeek-V2 checkpoints have no attention biases and this is not implemented');
  // transformers 5 writes mlp_bias (false for the releases); true would mean MLP biases this adapter does not read.
  if (c.bool('mlp_bias', false)) c.refuse('mlp_bias', 'is true; DeepSeek-V2 checkpoints have no MLP biases and this is not implemented');
  const ropeTheta = c.ropeTheta(10000, ['default', 'yarn']);
  const d: BaseDims = {
    vocabSize: c.positiveInt('vocab_size'),
    hiddenSize,
    numLayers: c.positiveInt('num_hidden_layers'),
    numHeads,
    // Every head has its own keys, decompressed from the shared latent; the rope tables are ropeDim wide.
    numKvHeads: numHeads,
    headDim: ropeDim,
    rmsNormEps: c.num('rms_norm_eps', 1e-6),
    ropeTheta,
    maxPositions: c.has('max_position_embeddings') ? c.positiveInt('max_position_embeddings') : null,
  };
  const rope = yarnRope(c, ropeDim, ropeTheta);
  let scale = 1 / Math.sqrt(nopeDim + ropeDim);
  const scaling = c.ropeScaling();
  if (rope?.kind === 'yarn' && scaling?.params.has('mscale_all_dim')) {
    const m = yarnMscale(rope.factor, scaling.params.num('mscale_all_dim'));
    scale *= m * m;
  }
  const numExperts = c.positiveInt('n_routed_experts');
  const topK = c.positiveInt('num_experts_per_tok');
  if (topK > numExperts) c.refuse('num_experts_per_tok', `(${topK}) exceeds n_routed_experts (${numExperts})`);
  const moeInter = c.positiveInt('moe_intermediate_size');
  const sharedCount = c.int('n_shared_experts', 0);
  const firstDense = c.int('first_k_dense_replace', 0);
  const routedScalingFactor = c.num('routed_scaling_factor', 1);
  const qk = nopeDim + ropeDim;
  const layers: LayerSpec[] = [];
  for (let i = 0; i < d.numLayers; i++) {
    const p = `model.layers.${i}`;
    const a = `${p}.self_attn`;
    const mla: MlaSpec = {
      kind: 'mla',
      kvA: w.linear(`${a}.kv_a_proj_with_mqa`, kvLoraRank + ropeDim, hiddenSize, 'none'),
      kvANorm: w.tensor(`${a}.kv_a_layernorm.weight`, [kvLoraRank]),
      kvB: w.linear(`${a}.kv_b_proj`, numHeads * (nopeDim + valueDim), kvLoraRank, 'none'),
      o: w.linear(`${a}.o_proj`, hiddenSize, numHeads * valueDim, 'none'),
      latentNormEps: 1e-6,
      kvLoraRank,
      nopeDim,
      ropeDim,
      valueDim,
    };
    if (qLoraRank === null) mla.q = w.linear(`${a}.q_proj`, numHeads * qk, hiddenSize, 'none');
    else {
      mla.qA = w.linear(`${a}.q_a_proj`, qLoraRank, hiddenSize, 'none');
      mla.qANorm = w.tensor(`${a}.q_a_layernorm.weight`, [qLoraRank]);
      mla.qB = w.linear(`${a}.q_b_proj`, numHeads * qk, qLoraRank, 'none');
    }
    layers.push({
      inputNorm: w.tensor(`${p}.input_layernorm.weight`, [hiddenSize]),
      postAttentionNorm: w.tensor(`${p}.post_attention_layernorm.weight`, [hiddenSize]),
      attention: mla,
      mlp:
        i < firstDense
          ? { kind: 'dense', mlp: w.mlp(`${p}.mlp`, hiddenSize, c.positiveInt('intermediate_size')) }
          : {
              kind: 'moe',
              moe: {
                numExperts,
                topK,
                routing: 'softmax_topk',
                normTopK: false,
                routedScalingFactor,
                router: w.linear(`${p}.mlp.gate`, numExperts, hiddenSize, 'none'),
                experts: w.experts(`${p}.mlp.experts`, numExperts, hiddenSize, moeInter),
                shared: sharedCount > 0 ? { mlp: w.mlp(`${p}.mlp.shared_experts`, hiddenSize, moeInter * sharedCount) } : undefined,
              },
            },
    });
  }
  const spec = assemble({ architecture: 'DeepseekV2ForCausalLM', dims: d, config: c, weights: w, layers, attentionScale: scale, extra: { ropeScaling: rope } });
  return { ...spec, kvCache: { keyHeads: 1, keyDim: kvLoraRank, valueHeads: 1, valueDim: ropeDim } };
}
