/**
 * The parts every supported MoE decoder shares (Llama-style pre-norm blocks with RoPE attention); each
 * architecture file supplies its config fields, weight names and MoE block.
 */
import { ConfigReader, WeightLookup } from './common.js';
import type { AttentionSpec, DecoderSpec, LayerSpec, TensorSlice } from './types.js';

export type BaseDims = Pick<
  DecoderSpec,
  'vocabSize' | 'hiddenSize' | 'numLayers' | 'numHeads' | 'numKvHeads' | 'headDim' | 'rmsNormEps' | 'ropeTheta' | 'maxPositions'
>;

export function readBaseDims(c: ConfigReader): BaseDims {
  c.activation();
  const hiddenSize = c.positiveInt('hidden_size');
  const numHeads = c.positiveInt('num_attention_heads');
  const numKvHeads = c.positiveInt('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new Error(`${c.file}: num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  }
  const headDim = c.has('head_dim') ? c.positiveInt('head_dim') : hiddenSize / numHeads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new Error(`${c.file}: head dimension ${headDim} must be an even integer`);
  return {
    vocabSize: c.positiveInt('vocab_size'),
    hiddenSize,
    numLayers: c.positiveInt('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: c.num('rms_norm_eps', 1e-6),
    ropeTheta: c.ropeTheta(10000),
    maxPositions: c.has('max_position_embeddings') ? c.positiveInt('max_position_embeddings') : null,
  };
}

export function attention(w: WeightLookup, prefix: string, d: BaseDims, qkNorm?: 'per_head' | 'full'): AttentionSpec {
  const qOut = d.numHeads * d.headDim;
  const kvOut = d.numKvHeads * d.headDim;
  const spec: AttentionSpec = {
    q: w.linear(`${prefix}.q_proj`, qOut, d.hiddenSize),
    k: w.linear(`${prefix}.k_proj`, kvOut, d.hiddenSize),
    v: w.linear(`${prefix}.v_proj`, kvOut, d.hiddenSize),
    o: w.linear(`${prefix}.o_proj`, d.hiddenSize, qOut),
  };
  if (qkNorm === 'per_head') {
    spec.qkNorm = { kind: 'per_head', q: w.tensor(`${prefix}.q_norm.weight`, [d.headDim]), k: w.tensor(`${prefix}.k_norm.weight`, [d.headDim]) };
  } else if (qkNorm === 'full') {
    spec.qkNorm = { kind: 'full', q: w.tensor(`${prefix}.q_norm.weight`, [qOut]), k: w.tensor(`${prefix}.k_norm.weight`, [kvOut]) };
  }
  return spec;
}

export interface AssembleOptions {
  architecture: string;
  dims: BaseDims;
  config: ConfigReader;
  weights: WeightLookup;
  layers: LayerSpec[];
  slidingWindow?: number | null;
  attentionScale?: number;
  embeddingMultiplier?: number;
  residualMultiplier?: number;
  logitsDivisor?: number;
  clipQkv?: number | null;
}

export function assemble(o: AssembleOptions): DecoderSpec {
  const { dims: d, weights: w, config: c } = o;
  const embed = w.tensor('model.embed_tokens.weight', [d.vocabSize, d.hiddenSize]);
  // Tied checkpoints usually omit lm_head.weight; when both exist, tie_word_embeddings decides as in transformers.
  const tie = c.bool('tie_word_embeddings', false) || !w.has('lm_head.weight');
  const lmHead: TensorSlice = tie ? embed : w.tensor('lm_head.weight', [d.vocabSize, d.hiddenSize]);
  const moeLayers: number[] = [];
  let numExperts = 0;
  let topK = 0;
  o.layers.forEach((l, i) => {
    if (l.mlp.kind === 'moe') {
      moeLayers.push(i);
      numExperts = l.mlp.moe.numExperts;
      topK = l.mlp.moe.topK;
    }
  });
  return {
    architecture: o.architecture,
    ...d,
    slidingWindow: o.slidingWindow ?? null,
    attentionScale: o.attentionScale ?? 1 / Math.sqrt(d.headDim),
    embeddingMultiplier: o.embeddingMultiplier ?? 1,
    residualMultiplier: o.residualMultiplier ?? 1,
    logitsDivisor: o.logitsDivisor ?? 1,
    clipQkv: o.clipQkv ?? null,
    embed,
    finalNorm: w.tensor('model.norm.weight', [d.hiddenSize]),
    lmHead,
    layers: o.layers,
    moeLayers,
    numExperts,
    topK,
  };
}

export function checkTopK(c: ConfigReader, numExperts: number, topK: number, expertsField: string): void {
  if (topK > numExperts) throw new Error(`${c.file}: num_experts_per_tok (${topK}) exceeds ${expertsField} (${numExperts})`);
}

/** Qwen's rule for which decoder layers are sparse. */
export function qwenIsMoeLayer(c: ConfigReader, layer: number, numExperts: number): boolean {
  const step = c.positiveInt('decoder_sparse_step', 1);
  const mlpOnly = c.intList('mlp_only_layers');
  return !mlpOnly.includes(layer) && numExperts > 0 && (layer + 1) % step === 0;
}

/** Mixtral / Qwen2 sliding window only applies when the config turns it on. */
export function slidingWindowOf(c: ConfigReader, flag?: string): number | null {
  if (flag && !c.bool(flag, false)) return null;
  return c.has('sliding_window') ? c.positiveInt('sliding_window') : null;
}
