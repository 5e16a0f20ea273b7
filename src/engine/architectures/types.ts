/**
 * The normalised decoder description every architecture adapter produces and the graph builder consumes.
 * Weights are referenced as slices of the user's safetensors tensors, so a fused 3-D expert tensor can be
 * addressed expert by expert without copying.
 */

/** A contiguous slice of one safetensors tensor: `offsetElements` from its start, viewed with `shape`. */
export interface TensorSlice {
  tensor: string;
  offsetElements: number;
  shape: number[];
}

/** A linear layer. `out_in` is the nn.Linear layout [out, in]; `in_out` is its transpose [in, out]. */
export interface LinearSpec {
  weight: TensorSlice;
  bias?: TensorSlice;
  layout: 'out_in' | 'in_out';
}

/** A SiLU-gated MLP: down(silu(gate(x)) * up(x)); `gateUp` holds gate then up along the output axis. */
export type GatedMlpSpec =
  | { kind: 'split'; gate: LinearSpec; up: LinearSpec; down: LinearSpec }
  | {
      kind: 'fused';
      gateUp: LinearSpec;
      intermediate: number;
      down: LinearSpec;
      /** GPT-OSS: gate and up alternate along the output axis (gate = even, up = odd) instead of gate then up. */
      interleaved?: boolean;
    };

/**
 * GPT-OSS's expert activation: gate clamped above at `limit`, up clamped to [-limit, limit],
 * out = (up + 1) * gate * sigmoid(alpha * gate).
 */
export interface ClampedSwigluSpec {
  kind: 'clamped_swiglu';
  alpha: number;
  limit: number;
}

export interface MoeSpec {
  numExperts: number;
  topK: number;
  /**
   * `softmax_topk`: softmax over all experts, top-k, optional renormalisation (Qwen, OLMoE, Mixtral).
   * `topk_softmax`: top-k on the logits, softmax over the k (Granite).
   */
  routing: 'softmax_topk' | 'topk_softmax' | 'sparsemixer';
  normTopK: boolean;
  /**
   * `sparsemixer` (Phi-3.5-MoE, inference mode, top-2): router_jitter_noise, the relative margin eps within
   * which experts stay in each pick's softmax ((max - z) / max(|z|, max) <= 2 eps).
   */
  jitterEps?: number;
  router: LinearSpec;
  experts: GatedMlpSpec[];
  /** The experts' activation when it is not SiLU(gate) * up (absent = SiLU-gated). */
  expertActivation?: ClampedSwigluSpec;
  /** Always-on expert: Qwen2-MoE's scaled by sigmoid(gate(x)); DeepSeek-V2's (no gate) added as is. */
  shared?: { mlp: GatedMlpSpec; gate?: LinearSpec };
  /** DeepSeek-V2: the selected weights are multiplied by this (routed_scaling_factor). */
  routedScalingFactor?: number;
}

export interface AttentionSpec {
  kind?: 'mha';
  q: LinearSpec;
  k: LinearSpec;
  v: LinearSpec;
  o: LinearSpec;
  /** Qwen3: RMSNorm over each head's D; OLMoE: RMSNorm over the whole q / k projection. */
  qkNorm?: { kind: 'per_head' | 'full'; q: TensorSlice; k: TensorSlice };
  /** GPT-OSS: one learned logit per query head [numHeads], an extra softmax column whose probability is dropped. */
  sinks?: TensorSlice;
}

/**
 * DeepSeek-V2 multi-head latent attention. q = q_proj(x), or q_b(RMSNorm(q_a(x))) with q_lora_rank; per head
 * [nope | rope]. kv_a(x) = [latent (kvLoraRank) | k_pe (ropeDim, shared by all heads)]; keys/values per head come
 * from kv_b(RMSNorm(latent)) = [k_nope | v]. The KV cache holds the normalised latent (`key`) and the rotated
 * k_pe (`value`), one "head" each: kvLoraRank + ropeDim floats per token and layer.
 */
export interface MlaSpec {
  kind: 'mla';
  q?: LinearSpec;
  qA?: LinearSpec;
  qANorm?: TensorSlice;
  qB?: LinearSpec;
  kvA: LinearSpec;
  kvANorm: TensorSlice;
  kvB: LinearSpec;
  o: LinearSpec;
  /** eps of q_a_layernorm / kv_a_layernorm (transformers builds them with the RMSNorm default, 1e-6). */
  latentNormEps: number;
  kvLoraRank: number;
  nopeDim: number;
  ropeDim: number;
  valueDim: number;
}

export interface LayerSpec {
  inputNorm: TensorSlice;
  postAttentionNorm: TensorSlice;
  /** LayerNorm biases (only with DecoderSpec.normKind 'layer'). */
  inputNormBias?: TensorSlice;
  postAttentionNormBias?: TensorSlice;
  /** This layer's attention window when it differs from DecoderSpec.slidingWindow (GPT-OSS layer_types); null = full. */
  slidingWindow?: number | null;
  attention: AttentionSpec | MlaSpec;
  mlp: { kind: 'dense'; mlp: GatedMlpSpec } | { kind: 'moe'; moe: MoeSpec };
}

/**
 * Phi-3 LongRoPE: inv_freq[i] = 1 / (factor[i] * theta^(2i/D)), cos and sin multiplied by mscale; the long
 * factors and long_mscale apply when max(position_ids) + 1 exceeds originalMaxPositions (per forward call, as in
 * transformers: cached keys keep the rotation of the call that made them; the session feeds a chunked call's
 * whole length as graph input `longrope_length`).
 */
export type RopeScalingSpec =
  | {
      kind: 'longrope';
      shortFactor: number[];
      longFactor: number[];
      shortMscale: number;
      longMscale: number;
      originalMaxPositions: number;
    }
  | {
      /** YaRN: inverse frequencies computed by the adapter from the config, cos and sin times attentionFactor. */
      kind: 'yarn';
      invFreq: number[];
      attentionFactor: number;
      factor: number;
      originalMaxPositions: number;
    };

export interface DecoderSpec {
  architecture: string;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  /**
   * config.json's max_position_embeddings: position ids must stay below it (the context the model was trained
   * for; the engine refuses longer input, see session.ts). null when the config has no such field.
   */
  maxPositions: number | null;
  /** Keys further back than this (in cache positions) are not attended to; null = full attention. */
  slidingWindow: number | null;
  attentionScale: number;
  embeddingMultiplier: number;
  residualMultiplier: number;
  /** Logits are divided by this (Granite's logits_scaling). */
  logitsDivisor: number;
  clipQkv: number | null;
  embed: TensorSlice;
  finalNorm: TensorSlice;
  lmHead: TensorSlice;
  layers: LayerSpec[];
  /** 'layer' = LayerNorm with weight and bias (Phi-3.5-MoE) for the block and final norms; absent = RMSNorm. */
  normKind?: 'rms' | 'layer';
  finalNormBias?: TensorSlice;
  lmHeadBias?: TensorSlice;
  /** RoPE frequency scaling; absent = the default RoPE with ropeTheta. */
  ropeScaling?: RopeScalingSpec;
  /** Shape of each layer's cached key and value when not [numKvHeads, headDim] (DeepSeek-V2's latent cache). */
  kvCache?: { keyHeads: number; keyDim: number; valueHeads: number; valueDim: number };
  /** Decoder layer index of each MoE layer, in order; MoE layer i of the graph contract is moeLayers[i]. */
  moeLayers: number[];
  numExperts: number;
  topK: number;
}
