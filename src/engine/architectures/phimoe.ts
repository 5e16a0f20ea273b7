/**
 * PhimoeForCausalLM (Phi-3.5-MoE; the Hub's remote-code config names it PhiMoEForCausalLM): Mixtral's layout
 * (`block_sparse_moe.gate`, experts `w1`/`w3`/`w2`) with LayerNorm (weight and bias, eps = rms_norm_eps) instead
 * of RMSNorm, q/k/v/o biases when attention_bias, an lm_head bias when lm_head_bias, LongRoPE, and the
 * sparsemixer routing rule in inference mode (top-2 with the router_jitter_noise margin; see
 * src/engine/graph/routing-sparsemixer.ts). Read from transformers' modular_phimoe.py.
 */
import { ConfigReader, WeightLookup } from './common.js';
import { assemble, attention, readBaseDims, slidingWindowOf } from './decoder-base.js';
import type { AttentionSpec, DecoderSpec, LayerSpec, LinearSpec, RopeScalingSpec } from './types.js';

/** LongRoPE as Phimoe's rotary embedding reads it; any other non-default type is refused by readBaseDims. */
function longRope(c: ConfigReader, headDim: number): RopeScalingSpec | undefined {
  const s = c.ropeScaling();
  if (!s) return undefined;
  const p = s.params;
  const fromScaling = p.optionalNum('original_max_position_embeddings');
  const topLevel = c.optionalNum('original_max_position_embeddings');
  if (fromScaling !== null && topLevel !== null && fromScaling !== topLevel) {
    c.refuse('original_max_position_embeddings', `is ${topLevel} but ${s.field}.original_max_position_embeddings is ${fromScaling}; which one switches to the long factors is ambiguous`);
  }
  const original = fromScaling ?? topLevel;
  if (original === null) c.refuse(`${s.field}.original_max_position_embeddings`, 'is missing (LongRoPE switches factors at that length)');
  return {
    kind: 'longrope',
    shortFactor: p.numList('short_factor', headDim / 2),
    longFactor: p.numList('long_factor', headDim / 2),
    // Phimoe multiplies cos/sin by these (it does not derive the attention factor LongRoPE's paper suggests).
    shortMscale: p.num('short_mscale'),
    longMscale: p.num('long_mscale'),
    originalMaxPositions: original,
  };
}

/** attention_bias decides, as nn.Linear(bias=...) does: biases are required when true and unused when false. */
function withBiases(w: WeightLookup, a: AttentionSpec, prefix: string, on: boolean): AttentionSpec {
  const fix = (l: LinearSpec, name: string): LinearSpec => {
    if (!on) return { weight: l.weight, layout: l.layout };
    return { ...l, bias: w.tensor(`${prefix}.${name}.bias`, [l.weight.shape[0]!]) };
  };
  return { ...a, q: fix(a.q, 'q_proj'), k: fix(a.k, 'k_proj'), v: fix(a.v, 'v_proj'), o: fix(a.o, 'o_proj') };
}

export function phimoeSpec(c: ConfigReader, w: WeightLookup): DecoderSpec {
  const d = readBaseDims(c, ['default', 'longrope']);
  const numExperts = c.positiveInt('num_local_experts');
  const topK = c.positiveInt('num_experts_per_tok');
  if (topK !== 2) c.refuse('num_experts_per_tok', `is ${topK}; Phi-3.5-MoE's sparsemixer routing picks exactly 2 experts`);
  if (numExperts < 2) c.refuse('num_local_experts', `is ${numExperts}; sparsemixer needs at least 2 experts`);
  const inter = c.positiveInt('intermediate_size');
  const jitterEps = c.num('router_jitter_noise', 0.01);
  const attnBias = c.bool('attention_bias', false);
  const layers: LayerSpec[] = [];
  for (let i = 0; i < d.numLayers; i++) {
    const p = `model.layers.${i}`;
    const block = `${p}.block_sparse_moe`;
    layers.push({
      inputNorm: w.tensor(`${p}.input_layernorm.weight`, [d.hiddenSize]),
      inputNormBias: w.tensor(`${p}.input_layernorm.bias`, [d.hiddenSize]),
      postAttentionNorm: w.tensor(`${p}.post_attention_layernorm.weight`, [d.hiddenSize]),
      postAttentionNormBias: w.tensor(`${p}.post_attention_layernorm.bias`, [d.hiddenSize]),
      attention: withBiases(w, attention(w, `${p}.self_attn`, d), `${p}.self_attn`, attnBias),
      mlp: {
        kind: 'moe',
        moe: {
          numExperts,
          topK,
          routing: 'sparsemixer',
          normTopK: false,
          jitterEps,
          router: w.linear(`${block}.gate`, numExperts, d.hiddenSize, 'none'),
          experts: w.experts(`${block}.experts`, numExperts, d.hiddenSize, inter, ['w1', 'w3', 'w2']),
        },
      },
    });
  }
  const lmHeadBias = c.bool('lm_head_bias', false) ? w.tensor('lm_head.bias', [d.vocabSize]) : undefined;
  return assemble({
    architecture: 'PhimoeForCausalLM',
    dims: d,
    config: c,
    weights: w,
    layers,
    slidingWindow: slidingWindowOf(c),
    extra: { normKind: 'layer', finalNormBias: w.tensor('model.norm.bias', [d.hiddenSize]), lmHeadBias, ropeScaling: longRope(c, d.headDim) },
  });
}
