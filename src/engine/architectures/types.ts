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
  | { kind: 'fused'; gateUp: LinearSpec; intermediate: number; down: LinearSpec };

export interface MoeSpec {
  numExperts: number;
  topK: number;
  /**
   * `softmax_topk`: softmax over all experts, top-k, optional renormalisation (Qwen, OLMoE, Mixtral).
   * `topk_softmax`: top-k on the logits, softmax over the k (Granite).
   */
  routing: 'softmax_topk' | 'topk_softmax';
  normTopK: boolean;
  router: LinearSpec;
  experts: GatedMlpSpec[];
  /** Qwen2-MoE's always-on expert, scaled by sigmoid(gate(x)). */
  shared?: { mlp: GatedMlpSpec; gate: LinearSpec };
}

export interface AttentionSpec {
  q: LinearSpec;
  k: LinearSpec;
  v: LinearSpec;
  o: LinearSpec;
  /** Qwen3: RMSNorm over each head's D; OLMoE: RMSNorm over the whole q / k projection. */
  qkNorm?: { kind: 'per_head' | 'full'; q: TensorSlice; k: TensorSlice };
}

export interface LayerSpec {
  inputNorm: TensorSlice;
  postAttentionNorm: TensorSlice;
  attention: AttentionSpec;
  mlp: { kind: 'dense'; mlp: GatedMlpSpec } | { kind: 'moe'; moe: MoeSpec };
}

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
  /** Decoder layer index of each MoE layer, in order; MoE layer i of the graph contract is moeLayers[i]. */
  moeLayers: number[];
  numExperts: number;
  topK: number;
}
