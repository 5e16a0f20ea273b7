/**
 * GptOssForCausalLM (gpt-oss-20b / -120b), bf16 layout, read from transformers' modular_gpt_oss.py: q/k/v/o
 * biases, a learned attention sink per query head, layers alternating sliding-window and full attention
 * (`layer_types`), YaRN rope, a router with bias (top-k on the logits, softmax over the k), and experts stored
 * stacked as `gate_up_proj` [E, H, 2I] (gate and up columns interleaved) and `down_proj` [E, I, H], both with
 * biases, under a clamped SwiGLU ((up + 1) * gate * sigmoid(1.702 gate), gate <= limit, |up| <= limit).
 * The released MXFP4 checkpoints (`*_blocks` / `*_scales`) reach this adapter as the same BF16 tensors: the
 * model folder presents each pair as its dequantised tensor and a session writes it once (src/engine/mxfp4.ts).
 */
import { ConfigReader, WeightLookup } from './common.js';
import { assemble, attention, checkTopK, readBaseDims } from './decoder-base.js';
import type { AttentionSpec, DecoderSpec, GatedMlpSpec, LayerSpec, LinearSpec, RopeScalingSpec } from './types.js';

/** transformers hard-codes the SwiGLU slope; the limit is config.swiglu_limit. */
const GPT_OSS_SWIGLU_ALPHA = 1.702;

/** YaRN inverse frequencies and attention factor, as transformers' _compute_yarn_parameters derives them. */
export function yarnRope(c: ConfigReader, headDim: number, theta: number): RopeScalingSpec | undefined {
  const s = c.ropeScaling();
  if (!s) return undefined;
  const p = s.params;
  if (c.has('partial_rotary_factor') && c.num('partial_rotary_factor') !== 1) c.refuse('partial_rotary_factor', `is ${c.num('partial_rotary_factor')}; only full-width rotary embeddings are supported`);
  const factor = p.num('factor');
  const maxPositions = c.positiveInt('max_position_embeddings');
  const original = p.has('original_max_position_embeddings') ? p.positiveInt('original_max_position_embeddings') : maxPositions;
  if (p.has('original_max_position_embeddings') && maxPositions / original !== factor) {
    // Recent transformers replace factor by this ratio, older ones use factor: refuse rather than pick one.
    c.refuse(`${s.field}.factor`, `is ${factor} but max_position_embeddings / original_max_position_embeddings is ${maxPositions / original}; transformers versions disagree on which applies`);
  }
  const mscale = p.optionalNum('mscale');
  const mscaleAllDim = p.optionalNum('mscale_all_dim');
  const yarnMscale = (scale: number, m = 1) => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);
  const attentionFactor = p.optionalNum('attention_factor') ?? (mscale && mscaleAllDim ? yarnMscale(factor, mscale) / yarnMscale(factor, mscaleAllDim) : yarnMscale(factor));
  const betaFast = p.optionalNum('beta_fast') || 32;
  const betaSlow = p.optionalNum('beta_slow') || 1;
  const truncate = p.bool('truncate', true);
  const dim = headDim;
  const correctionDim = (rotations: number) => (dim * Math.log(original / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
  let low = correctionDim(betaFast);
  let high = correctionDim(betaSlow);
  if (truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  if (low === high) high += 0.001;
  const invFreq = Array.from({ length: dim / 2 }, (_, i) => {
    const posFreq = Math.pow(theta, (2 * i) / dim);
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    const extrapolation = 1 - ramp;
    return (1 / (factor * posFreq)) * (1 - extrapolation) + (1 / posFreq) * extrapolation;
  });
  return { kind: 'yarn', invFreq, attentionFactor, factor, originalMaxPositions: original };
}

function withBiases(w: WeightLookup, a: AttentionSpec, prefix: string, on: boolean): AttentionSpec {
  const fix = (l: LinearSpec, name: string): LinearSpec =>
    on ? { ...l, bias: w.tensor(`${prefix}.${name}.bias`, [l.weight.shape[0]!]) } : { weight: l.weight, layout: l.layout };
  return { ...a, q: fix(a.q, 'q_proj'), k: fix(a.k, 'k_proj'), v: fix(a.v, 'v_proj'), o: fix(a.o, 'o_proj') };
}

function layerWindows(c: ConfigReader, numLayers: number, window: number): (number | null)[] {
  const raw = c.config.layer_types;
  const types = raw === undefined || raw === null ? Array.from({ length: numLayers }, (_, i) => ((i + 1) % 2 ? 'sliding_attention' : 'full_attention')) : raw;
  if (!Array.isArray(types) || types.length !== numLayers) c.refuse('layer_types', `must list one attention type per layer (${numLayers})`);
  return types.map((t, i) => {
    if (t === 'sliding_attention') return window;
    if (t === 'full_attention') return null;
    return c.refuse('layer_types', `entry ${i} is ${JSON.stringify(t)}; supported: sliding_attention, full_attention`);
  });
}

function experts(w: WeightLookup, prefix: string, E: number, H: number, I: number): GatedMlpSpec[] {
  const gu = `${prefix}.gate_up_proj`;
  const dn = `${prefix}.down_proj`;
  w.tensor(gu, [E, H, 2 * I]);
  w.tensor(`${gu}_bias`, [E, 2 * I]);
  w.tensor(dn, [E, I, H]);
  w.tensor(`${dn}_bias`, [E, H]);
  return Array.from({ length: E }, (_, e) => ({
    kind: 'fused' as const,
    interleaved: true,
    intermediate: I,
    gateUp: {
      layout: 'in_out' as const,
      weight: { tensor: gu, offsetElements: e * H * 2 * I, shape: [H, 2 * I] },
      bias: { tensor: `${gu}_bias`, offsetElements: e * 2 * I, shape: [2 * I] },
    },
    down: {
      layout: 'in_out' as const,
      weight: { tensor: dn, offsetElements: e * I * H, shape: [I, H] },
      bias: { tensor: `${dn}_bias`, offsetElements: e * H, shape: [H] },
    },
  }));
}

export function gptOssSpec(c: ConfigReader, w: WeightLookup): DecoderSpec {
  const d = readBaseDims(c, ['default', 'yarn']);
  const numExperts = c.positiveInt('num_local_experts');
  const topK = c.positiveInt('num_experts_per_tok');
  checkTopK(c, numExperts, topK, 'num_local_experts');
  const inter = c.positiveInt('intermediate_size');
  const limit = c.num('swiglu_limit', 7.0);
  const attnBias = c.bool('attention_bias', true);
  const windows = layerWindows(c, d.numLayers, c.positiveInt('sliding_window', 128));
  const layers: LayerSpec[] = [];
  for (let i = 0; i < d.numLayers; i++) {
    const p = `model.layers.${i}`;
    const attn = withBiases(w, attention(w, `${p}.self_attn`, d), `${p}.self_attn`, attnBias);
    attn.sinks = w.tensor(`${p}.self_attn.sinks`, [d.numHeads]);
    layers.push({
      inputNorm: w.tensor(`${p}.input_layernorm.weight`, [d.hiddenSize]),
      postAttentionNorm: w.tensor(`${p}.post_attention_layernorm.weight`, [d.hiddenSize]),
      attention: attn,
      slidingWindow: windows[i]!,
      mlp: {
        kind: 'moe',
        moe: {
          numExperts,
          topK,
          routing: 'topk_softmax',
          normTopK: false,
          router: { ...w.linear(`${p}.mlp.router`, numExperts, d.hiddenSize, 'none'), bias: w.tensor(`${p}.mlp.router.bias`, [numExperts]) },
          experts: experts(w, `${p}.mlp.experts`, numExperts, d.hiddenSize, inter),
          expertActivation: { kind: 'clamped_swiglu', alpha: GPT_OSS_SWIGLU_ALPHA, limit },
        },
      },
    });
  }
  return assemble({
    architecture: 'GptOssForCausalLM',
    dims: d,
    config: c,
    weights: w,
    layers,
    extra: { ropeScaling: yarnRope(c, d.headDim, d.ropeTheta) },
  });
}
