/**
 * Turns a DecoderSpec into an ONNX model whose weights are external data pointing straight into the user's
 * safetensors files (offset = 8 + header length + data offset). Everything is standard ONNX (opset 17), so
 * the same graph runs on the CPU and CUDA providers. See docs/graph-contract.md for inputs and outputs.
 *
 * Routing is always built from standard ops: TopK breaks ties towards the lower expert index (the contract)
 * and the ids reported are exactly the ones used. The experts then run either
 * - `dispatch`: plain per-expert Gemms over zero-copy weight slices (~11 nodes per expert), or
 * - `fused`: one com.microsoft.MoE node fed crafted router logits (log of our weights for our selected
 *   experts, -1e30 elsewhere), so the op's own softmax -> top-k -> renormalise reproduces our routing
 *   exactly; it needs an interleaved copy of gate/up, kept in a cache file (fused-experts.ts, expert-cache.ts).
 */
import { realpathSync } from 'node:fs';
import { isAbsolute, parse, relative, sep } from 'node:path';
import { EngineError } from './errors.js';
import { MS_DOMAIN, OnnxGraph } from './onnx/graph.js';
import { DataType } from './onnx/model.js';
import type { WeightStore } from './safetensors.js';
import type { AttentionSpec, ClampedSwigluSpec, DecoderSpec, GatedMlpSpec, LinearSpec, MlaSpec, MoeSpec, TensorSlice } from './architectures/types.js';
import type { FusedExpertCache } from './expert-cache.js';
import { expertWidth, hasExpertBias, uniformExpertWidth } from './fused-experts.js';
import { sparsemixerRouting } from './routing-sparsemixer.js';
import type { HalfExpert, HalfExpertCache, HalfSource } from './half-experts.js';
import type { QuantExpertCache } from './quant-experts.js';
import { halfFusedMoe, type HalfFusedExpertCache } from './half-fused-experts.js';
import { DENSE_ACCURACY, DENSE_BLOCK, sliceKey, type DenseCache, type HalfTable, type QuantLinear } from './quant-dense.js';

/**
 * MatMulNBits accuracy_level of int4 experts on the dispatch kernel when the session does not set one
 * (QuantExpertCache.dispatchAccuracy; the session chooses in int4-kernel.ts): 4 rounds each block of an expert's input
 * to int8 (faster, more memory), 1 keeps fp32 activations (exact, the cache's memory).
 */
const EXPERT_ACCURACY = 4;

/** Additive attention bias for disallowed keys; finite so fully padded rows stay NaN-free. */
const MASKED_SCORE = -1e9;
/** Router logit given to masked experts (the steering rule's mask value). */
export const MASKED_EXPERT_LOGIT = -1e9;
/** Crafted logit for experts the fused op must not pick: exp(-1e30 - max) is exactly 0 in fp32. */
const FUSED_UNSELECTED_LOGIT = -1e30;
/**
 * Floor for a selected expert's weight before Log (a weight can underflow to 0, e.g. a masked expert picked
 * because fewer than k are unmasked): keeps it finite and strictly above the unselected ones, so the op
 * still picks exactly our k experts; its contribution (1e-30 relative) is what the dispatch path's 0 gives.
 */
const FUSED_WEIGHT_FLOOR = 1e-30;

/** How the experts of a MoE layer are executed (see the file comment). */
export type MoeKernelName = 'fused' | 'dispatch';

export const GraphNames = {
  inputIds: 'input_ids',
  attentionMask: 'attention_mask',
  positionIds: 'position_ids',
  /** LongRoPE models only: max(position_ids) + 1 of the whole forward call a run belongs to (see build()). */
  ropeLength: 'longrope_length',
  logits: 'logits',
  logitsRows: 'logits_rows',
  pastKey: (l: number) => `past_key_values.${l}.key`,
  pastValue: (l: number) => `past_key_values.${l}.value`,
  presentKey: (l: number) => `present.${l}.key`,
  presentValue: (l: number) => `present.${l}.value`,
  steerBias: (i: number) => `steer_bias.${i}`,
  steerScale: (i: number) => `steer_scale.${i}`,
  steerStd: (i: number) => `steer_std.${i}`,
  steerForce: (i: number) => `steer_force.${i}`,
  steerMask: (i: number) => `steer_mask.${i}`,
  routerLogits: (i: number) => `router_logits.${i}`,
  topkExperts: (i: number) => `topk_experts.${i}`,
  topkWeights: (i: number) => `topk_weights.${i}`,
} as const;

const DTYPES: Record<string, { type: DataType; size: number }> = {
  F32: { type: DataType.FLOAT, size: 4 },
  F16: { type: DataType.FLOAT16, size: 2 },
  BF16: { type: DataType.BFLOAT16, size: 2 },
};

export interface BuildOptions {
  moeKernel: MoeKernelName;
  /** Required for the fused kernel: where its expert layout was written. */
  fusedCache?: FusedExpertCache;
  /**
   * false = routing-only graph: no final norm, no lm_head, no `logits_rows` input or `logits` output, so an
   * F16/BF16 lm_head is never cast to an fp32 copy at load (default true).
   */
  withLogits?: boolean;
  /**
   * fp16 precision (dispatch kernel only): expert matrices at 16 bits, mapped from the checkpoint or its
   * fp16 cache, cast to fp32 inside each expert's If branch so only routed experts are ever widened.
   */
  halfExperts?: HalfExpertCache;
  /** int8/int4 precision (fused kernel): block-quantised experts run by com.microsoft.QMoE (quant-experts.ts). */
  quantExperts?: QuantExpertCache;
  /** fp16 precision on the fused kernel (CUDA): F16 experts run by an fp16 com.microsoft.MoE (half-fused-experts.ts). */
  halfFusedExperts?: HalfFusedExpertCache;
  /** fp16/int8/int4: quantised dense projections and 16-bit embedding / lm_head (quant-dense.ts). */
  dense?: DenseCache;
}

export interface BuiltDecoderModel {
  model: Uint8Array;
  moeKernel: MoeKernelName;
  /** The folder every external-data location is relative to (the session's external-initializers folder). */
  externalDataDir: string;
}

/** Deepest folder containing both paths (onnxruntime only maps files inside its external-data folder). */
export function commonAncestor(a: string, b: string): string | null {
  const root = parse(a).root;
  if (root !== parse(b).root) return null;
  const pa = a.slice(root.length).split(sep).filter(Boolean);
  const pb = b.slice(root.length).split(sep).filter(Boolean);
  let n = 0;
  while (n < pa.length && n < pb.length && pa[n] === pb[n]) n++;
  return root + pa.slice(0, n).join(sep);
}

class DecoderGraphBuilder {
  private g = new OnnxGraph();
  private weightCache = new Map<string, { raw: string; dtype: DataType }>();
  private floatCache = new Map<string, string>();
  private shapeBT = '';
  private modelDir: string;
  /** Folder external-data locations are relative to: the model folder, or for the fused kernel the common
   * ancestor of the model folder and the expert cache. Real paths, because onnxruntime canonicalises. */
  readonly baseDir: string;
  private moeKernel: MoeKernelName;
  private fusedCache?: FusedExpertCache;
  private withLogits: boolean;
  private halfExperts?: HalfExpertCache;
  private quantExperts?: QuantExpertCache;
  private halfFusedExperts?: HalfFusedExpertCache;
  private dense?: DenseCache;
  private denseTables = new Map<number, string>();

  constructor(
    private spec: DecoderSpec,
    private weights: WeightStore,
    modelDir: string,
    opts: BuildOptions = { moeKernel: 'dispatch' },
  ) {
    this.modelDir = realpathSync(modelDir);
    this.moeKernel = opts.moeKernel;
    this.fusedCache = opts.fusedCache;
    this.withLogits = opts.withLogits ?? true;
    this.halfExperts = opts.halfExperts;
    this.quantExperts = opts.quantExperts;
    this.halfFusedExperts = opts.halfFusedExperts;
    this.baseDir = this.modelDir;
    if (this.moeKernel === 'fused') {
      const cacheFile = this.quantExperts?.file ?? this.halfFusedExperts?.file ?? this.fusedCache?.file;
      if (!cacheFile) throw new EngineError('internal error: the fused MoE kernel needs its expert cache');
      if (this.halfExperts) throw new EngineError('internal error: fp16 experts run on the dispatch kernel');
      const base = commonAncestor(this.modelDir, cacheFile);
      if (!base) throw new EngineError(`the expert cache ${cacheFile} and the model folder ${this.modelDir} share no common folder (different drives?); use moeKernel 'dispatch' or another cache folder`);
      this.baseDir = base;
    }
    if (this.moeKernel === 'dispatch' && this.quantExperts) {
      const base = commonAncestor(this.modelDir, this.quantExperts.file);
      if (!base) throw new EngineError(`the expert cache ${this.quantExperts.file} and the model folder ${this.modelDir} share no common folder (different drives?); set another cache folder`);
      this.baseDir = base;
    }
    if (this.halfExperts?.file) {
      const base = commonAncestor(this.modelDir, this.halfExperts.file);
      if (!base) throw new EngineError(`the fp16 expert cache ${this.halfExperts.file} and the model folder ${this.modelDir} share no common folder (different drives?); set another cache folder`);
      this.baseDir = base;
    }
    // Tensors derived at load (dequantised MXFP4 experts) live in the cache folder: map them from there too.
    for (const file of weights.derivedFiles) {
      const base = commonAncestor(this.baseDir, realpathSync(file));
      if (!base) throw new EngineError(`the weight cache ${file} and the model folder ${this.modelDir} share no common folder (different drives?); set another cache folder`);
      this.baseDir = base;
    }
    this.dense = opts.dense;
    if (this.dense?.file) {
      const base = commonAncestor(this.baseDir, this.dense.file);
      if (!base) throw new EngineError(`the dense weight cache ${this.dense.file} and the model folder ${this.modelDir} share no common folder (different drives?); set another cache folder`);
      this.baseDir = base;
    }
  }

  private location(file: string): string {
    return relative(this.baseDir, realpathSync(file)).split(sep).join('/');
  }

  /** An initializer stored in the fused (fp32) or quantised expert cache file. */
  private cachedWeight(name: string, dims: number[], segment: { offset: number; length: number }, dataType = DataType.FLOAT): string {
    const location = this.location(this.quantExperts?.file ?? this.halfFusedExperts?.file ?? this.fusedCache!.file);
    return this.g.initializer({ name, dataType, dims, payload: { kind: 'external', location, ...segment } });
  }

  /** The external initializer for a slice, in its stored dtype. */
  private rawWeight(slice: TensorSlice): { raw: string; dtype: DataType } {
    const key = `${slice.tensor}@${slice.offsetElements}:${slice.shape.join('x')}`;
    const hit = this.weightCache.get(key);
    if (hit) return hit;
    const info = this.weights.info(slice.tensor);
    const dt = DTYPES[info.dtype];
    if (!dt) throw new EngineError(`tensor '${slice.tensor}' has dtype ${info.dtype}; the engine runs F32, F16 and BF16 weights`);
    const inModel = relative(this.modelDir, realpathSync(info.file));
    const outside = isAbsolute(inModel) || inModel.startsWith('..' + sep) || inModel === '..';
    if (outside && !this.weights.derivedFiles.includes(info.file)) {
      throw new EngineError(`weight file ${info.file} lies outside the model folder ${this.modelDir}; onnxruntime only maps files inside it`);
    }
    const length = slice.shape.reduce((a, b) => a * b, 1) * dt.size;
    const offset = info.fileOffset + slice.offsetElements * dt.size;
    if (slice.offsetElements * dt.size + length > info.byteLength) {
      throw new EngineError(`internal error: slice of '${slice.tensor}' runs past the tensor's end`);
    }
    const name = slice.offsetElements === 0 ? slice.tensor : `${slice.tensor}[${slice.offsetElements}]`;
    this.g.initializer({
      name,
      dataType: dt.type,
      dims: slice.shape,
      payload: { kind: 'external', location: this.location(info.file), offset, length },
    });
    const entry = { raw: name, dtype: dt.type };
    this.weightCache.set(key, entry);
    return entry;
  }

  /** The slice as float32 (a Cast for F16/BF16, which constant folding turns into an fp32 copy at load). */
  private weight(slice: TensorSlice): string {
    const { raw, dtype } = this.rawWeight(slice);
    if (dtype === DataType.FLOAT) return raw;
    const hit = this.floatCache.get(raw);
    if (hit) return hit;
    const cast = this.g.cast(raw, DataType.FLOAT);
    this.floatCache.set(raw, cast);
    return cast;
  }

  private linear(x: string, l: LinearSpec): string {
    const q = this.dense?.linears[sliceKey(l.weight)];
    if (q) {
      const y = this.matMulNBits(x, q, l.weight.offsetElements ? `${l.weight.tensor}[${l.weight.offsetElements}]` : l.weight.tensor);
      return l.bias ? this.g.add(y, this.weight(l.bias)) : y;
    }
    const w = this.weight(l.weight);
    const b = l.bias ? this.weight(l.bias) : undefined;
    if (l.layout === 'out_in') return this.g.linear(x, w, b);
    const y = this.g.op('MatMul', [x, w]);
    return b ? this.g.add(y, b) : y;
  }

  /** x [M, K] times a block-quantised [N, K] weight of the dense cache (com.microsoft.MatMulNBits). */
  private matMulNBits(x: string, q: QuantLinear, name: string): string {
    const location = this.location(this.dense!.file!);
    const blocks = Math.ceil(q.k / DENSE_BLOCK);
    const b = this.g.initializer({ name: `${name}.q${q.bits}`, dataType: DataType.UINT8, dims: [q.n, blocks, (DENSE_BLOCK * q.bits) / 8], payload: { kind: 'external', location, ...q.codes } });
    const s = this.g.initializer({ name: `${name}.q${q.bits}_scales`, dataType: DataType.FLOAT, dims: [q.n * blocks], payload: { kind: 'external', location, ...q.scales } });
    return this.g.op('MatMulNBits', [x, b, s], { K: q.k, N: q.n, bits: q.bits, block_size: DENSE_BLOCK, accuracy_level: DENSE_ACCURACY[q.bits] }, MS_DOMAIN);
  }

  /** A 16-bit table of the dense cache (or the checkpoint's own F16 tensor), as an fp16 initializer. */
  private halfTable(t: HalfTable, slice: TensorSlice): string {
    if (t.kind === 'checkpoint') return this.rawWeight(slice).raw;
    const hit = this.denseTables.get(t.segment.offset);
    if (hit) return hit;
    const name = this.g.initializer({ name: `${slice.tensor}.fp16`, dataType: DataType.FLOAT16, dims: t.shape, payload: { kind: 'external', location: this.location(this.dense!.file!), ...t.segment } });
    this.denseTables.set(t.segment.offset, name);
    return name;
  }

  /** The final projection to the vocabulary, at the dense cache's precision when it has one. */
  private lmHead(x: string, rowsInput: string): string {
    const s = this.spec;
    const head = this.dense?.head;
    let logits: string;
    if (head?.kind === 'quant') logits = this.matMulNBits(x, head.linear, s.lmHead.tensor);
    else if (head?.kind === 'half') {
      // Widened on every pass: the Reshape's shape depends on a run-time zero, so the Cast is not folded into a
      // resident fp32 copy of the head (docs/precision.md).
      const g = this.g;
      const size = g.op('Size', [rowsInput]);
      const w = g.cast(g.reshape(this.halfTable(head.table, s.lmHead), g.add(g.int64(s.lmHead.shape), g.sub(size, size))), DataType.FLOAT);
      logits = g.linear(x, w);
    } else return this.linear(x, { weight: s.lmHead, bias: s.lmHeadBias, layout: 'out_in' });
    return s.lmHeadBias ? this.g.add(logits, this.weight(s.lmHeadBias)) : logits;
  }

  private rmsNorm(x: string, weight: TensorSlice, eps = this.spec.rmsNormEps): string {
    const g = this.g;
    const variance = g.reduceMean(g.mul(x, x), [-1]);
    const normed = g.div(x, g.op('Sqrt', [g.add(variance, g.scalarF(eps))]));
    return g.mul(normed, this.weight(weight));
  }

  /** The block/final norm: RMSNorm, or LayerNorm with bias when the spec says so (Phi-3.5-MoE). */
  private blockNorm(x: string, weight: TensorSlice, bias?: TensorSlice): string {
    if (this.spec.normKind !== 'layer') return this.rmsNorm(x, weight);
    if (!bias) throw new EngineError(`internal error: LayerNorm '${weight.tensor}' has no bias`);
    return this.g.op('LayerNormalization', [x, this.weight(weight), this.weight(bias)], { axis: -1, epsilon: { float: this.spec.rmsNormEps } });
  }

  private gatedMlp(x: string, m: GatedMlpSpec, activation?: ClampedSwigluSpec): string {
    const g = this.g;
    let gate: string;
    let up: string;
    if (m.kind === 'split') {
      gate = this.linear(x, m.gate);
      up = this.linear(x, m.up);
    } else if (m.interleaved) {
      // [N, 2I] with gate_j, up_j adjacent: view as [N, I, 2] and take the two columns.
      const pairs = g.reshape(this.linear(x, m.gateUp), g.int64([-1, m.intermediate, 2]));
      const [a, b] = g.opN('Split', [pairs, g.int64([1, 1])], 2, { axis: -1 }) as [string, string];
      gate = g.squeeze(a, [-1]);
      up = g.squeeze(b, [-1]);
    } else {
      [gate, up] = g.opN('Split', [this.linear(x, m.gateUp), g.int64([m.intermediate, m.intermediate])], 2, { axis: -1 }) as [string, string];
    }
    return this.linear(this.gatedActivation(gate, up, activation), m.down);
  }

  /** silu(gate) * up, or GPT-OSS's clamped SwiGLU (gate <= limit, |up| <= limit, (up + 1) * gate * sigmoid(alpha gate)). */
  private gatedActivation(gate: string, up: string, activation?: ClampedSwigluSpec): string {
    const g = this.g;
    if (activation?.kind === 'clamped_swiglu') {
      const limit = g.scalarF(activation.limit);
      const clampedGate = g.op('Min', [gate, limit]);
      const clampedUp = g.op('Clip', [up, g.scalarF(-activation.limit), limit]);
      const glu = g.mul(clampedGate, g.op('Sigmoid', [g.mul(clampedGate, g.scalarF(activation.alpha))]));
      return g.mul(g.add(clampedUp, g.scalarF(1)), glu);
    }
    return g.mul(g.mul(gate, g.op('Sigmoid', [gate])), up);
  }

  private rope(x: string, cos: string, sin: string): string {
    const g = this.g;
    const half = this.spec.headDim / 2;
    const [x1, x2] = g.opN('Split', [x, g.int64([half, half])], 2, { axis: -1 }) as [string, string];
    const rotated = g.concat([g.op('Neg', [x2]), x1], -1);
    return g.add(g.mul(x, cos), g.mul(rotated, sin));
  }

  /** [N, heads*D] -> [B, heads, T, D]. */
  private toHeads(x: string, heads: number): string {
    const g = this.g;
    const shape = g.concat([this.shapeBT, g.int64([heads, this.spec.headDim])], 0);
    return g.reshape(x, shape);
  }

  private attention(layer: number, a: AttentionSpec, x: string, cos: string, sin: string, bias: string): string {
    const g = this.g;
    const s = this.spec;
    let q = this.linear(x, a.q);
    let k = this.linear(x, a.k);
    let v = this.linear(x, a.v);
    if (a.qkNorm?.kind === 'full') {
      q = this.rmsNorm(q, a.qkNorm.q);
      k = this.rmsNorm(k, a.qkNorm.k);
    }
    if (s.clipQkv !== null) {
      const lo = g.scalarF(-s.clipQkv);
      const hi = g.scalarF(s.clipQkv);
      q = g.op('Clip', [q, lo, hi]);
      k = g.op('Clip', [k, lo, hi]);
      v = g.op('Clip', [v, lo, hi]);
    }
    let q4 = this.toHeads(q, s.numHeads);
    let k4 = this.toHeads(k, s.numKvHeads);
    if (a.qkNorm?.kind === 'per_head') {
      q4 = this.rmsNorm(q4, a.qkNorm.q);
      k4 = this.rmsNorm(k4, a.qkNorm.k);
    }
    q4 = this.rope(g.transpose(q4, [0, 2, 1, 3]), cos, sin);
    k4 = this.rope(g.transpose(k4, [0, 2, 1, 3]), cos, sin);
    const v4 = g.transpose(this.toHeads(v, s.numKvHeads), [0, 2, 1, 3]);

    const kvShape = ['batch', s.numKvHeads, 'total_sequence', s.headDim];
    const pastK = g.input(GraphNames.pastKey(layer), DataType.FLOAT, ['batch', s.numKvHeads, 'past_sequence', s.headDim]);
    const pastV = g.input(GraphNames.pastValue(layer), DataType.FLOAT, ['batch', s.numKvHeads, 'past_sequence', s.headDim]);
    const keys = g.concat([pastK, k4], 2);
    const values = g.concat([pastV, v4], 2);
    g.output(keys, GraphNames.presentKey(layer), DataType.FLOAT, kvShape);
    g.output(values, GraphNames.presentValue(layer), DataType.FLOAT, kvShape);

    // Grouped-query attention without repeating K/V: query heads are grouped [B, kvH, rep, T, D] and
    // broadcast against [B, kvH, 1, S, D]; query head h uses kv head floor(h / rep), as repeat_kv does.
    const rep = s.numHeads / s.numKvHeads;
    const q5 = g.reshape(q4, g.int64([0, s.numKvHeads, rep, -1, s.headDim]));
    const kT = g.unsqueeze(g.transpose(keys, [0, 1, 3, 2]), [2]);
    const scores = g.add(g.mul(g.op('MatMul', [q5, kT]), g.scalarF(s.attentionScale)), bias);
    const probs = a.sinks ? this.softmaxWithSinks(scores, a.sinks) : g.op('Softmax', [scores], { axis: -1 });
    const ctx5 = g.op('MatMul', [probs, g.unsqueeze(values, [2])]);
    const ctx = g.reshape(g.transpose(g.reshape(ctx5, g.int64([0, s.numHeads, -1, s.headDim])), [0, 2, 1, 3]), g.int64([-1, s.numHeads * s.headDim]));
    return this.linear(ctx, a.o);
  }

  /**
   * DeepSeek-V2 multi-head latent attention with the compressed cache (see MlaSpec). The rope half of q and k is
   * rotated in adjacent pairs (transformers' complex multiplication); the same permutation of both (pairs
   * de-interleaved, then the rotate-half form with the shared cos/sin tables) leaves every q.k product unchanged.
   * `bias` is the [B, 1, 1, T, S] attention bias of the grouped path.
   */
  private mlaAttention(layer: number, a: MlaSpec, x: string, cos: string, sin: string, bias: string): string {
    const g = this.g;
    const s = this.spec;
    const H = s.numHeads;
    const qk = a.nopeDim + a.ropeDim;
    const q = a.q ? this.linear(x, a.q) : this.linear(this.rmsNorm(this.linear(x, a.qA!), a.qANorm!, a.latentNormEps), a.qB!);
    const q4 = g.transpose(g.reshape(q, g.concat([this.shapeBT, g.int64([H, qk])], 0)), [0, 2, 1, 3]);
    const [qNope, qPeRaw] = g.opN('Split', [q4, g.int64([a.nopeDim, a.ropeDim])], 2, { axis: -1 }) as [string, string];
    const [latentRaw, kPeRaw] = g.opN('Split', [this.linear(x, a.kvA), g.int64([a.kvLoraRank, a.ropeDim])], 2, { axis: -1 }) as [string, string];
    const oneHead = (t: string, dim: number) => g.transpose(g.reshape(t, g.concat([this.shapeBT, g.int64([1, dim])], 0)), [0, 2, 1, 3]);
    const pairsToHalves = (t: string) => {
      const shape = g.op('Shape', [t]);
      const pairs = g.reshape(t, g.int64([0, 0, 0, a.ropeDim / 2, 2]));
      return g.reshape(g.transpose(pairs, [0, 1, 2, 4, 3]), shape);
    };
    const qPe = this.rope(pairsToHalves(qPeRaw), cos, sin);
    const latent = oneHead(this.rmsNorm(latentRaw, a.kvANorm, a.latentNormEps), a.kvLoraRank);
    const kPe = this.rope(pairsToHalves(oneHead(kPeRaw, a.ropeDim)), cos, sin);

    const c = s.kvCache!;
    const pastK = g.input(GraphNames.pastKey(layer), DataType.FLOAT, ['batch', c.keyHeads, 'past_sequence', c.keyDim]);
    const pastV = g.input(GraphNames.pastValue(layer), DataType.FLOAT, ['batch', c.valueHeads, 'past_sequence', c.valueDim]);
    const latents = g.concat([pastK, latent], 2);
    const kPes = g.concat([pastV, kPe], 2);
    g.output(latents, GraphNames.presentKey(layer), DataType.FLOAT, ['batch', c.keyHeads, 'total_sequence', c.keyDim]);
    g.output(kPes, GraphNames.presentValue(layer), DataType.FLOAT, ['batch', c.valueHeads, 'total_sequence', c.valueDim]);

    const scale = (scores: string) => g.add(g.mul(scores, g.scalarF(s.attentionScale)), g.squeeze(bias, [1]));
    const peScores = () => g.op('MatMul', [qPe, g.transpose(kPes, [0, 1, 3, 2])]);
    const ctxShape = { elemType: DataType.FLOAT, shape: ['batch', H, 'sequence', a.valueDim] };

    // Decompressed form: per-head k_nope and v for every cached position, [B, 1, S, r] -> [B, H, S, nope + v].
    const decompressed = () => {
      const batch = g.op('Gather', [this.shapeBT, g.scalarI(0)], { axis: 0 });
      const kv2 = this.linear(g.reshape(latents, g.int64([-1, a.kvLoraRank])), a.kvB);
      const kv4 = g.transpose(g.reshape(kv2, g.concat([g.unsqueeze(batch, [0]), g.int64([-1, H, a.nopeDim + a.valueDim])], 0)), [0, 2, 1, 3]);
      const [kNope, v] = g.opN('Split', [kv4, g.int64([a.nopeDim, a.valueDim])], 2, { axis: -1 }) as [string, string];
      const scores = g.add(g.op('MatMul', [qNope, g.transpose(kNope, [0, 1, 3, 2])]), peScores());
      return g.op('MatMul', [g.op('Softmax', [scale(scores)], { axis: -1 }), v]);
    };
    // A quantised kv_b_proj (int8/int4: MatMulNBits, quant-dense.ts) has no fp32 matrix to absorb; absorbing the
    // checkpoint's own weights instead would run other numbers than the decompressed form. So it stays decompressed.
    const kvBQuantised = this.dense?.linears[sliceKey(a.kvB.weight)] !== undefined;
    if (a.kvB.layout !== 'out_in' || a.kvB.bias || kvBQuantised) return this.linear(g.reshape(g.transpose(decompressed(), [0, 2, 1, 3]), g.int64([-1, H * a.valueDim])), a.o);
    // The weights' fp32 form is made here, in the main graph: a Cast created inside an If branch would be cached
    // and then read outside it.
    const kvB = this.weight(a.kvB.weight);

    // Absorbed form: q_nope . (W_UK c_j) = (W_UK^T q_nope) . c_j, and sum_j p_j (W_UV c_j) = W_UV (sum_j p_j c_j), so
    // attention runs on the latents themselves. Per new position it costs 2 H S r multiply-adds against the
    // decompressed form's S r H (nope + v) for the cache's keys and values plus H T S (nope + rope + v): cheaper
    // while T (2r - nope - rope - v) < r (nope + v), i.e. for decode steps and short chunks, not for long prefills.
    const perHead = g.reshape(kvB, g.int64([H, a.nopeDim + a.valueDim, a.kvLoraRank]));
    const [wUK, wUV] = g.opN('Split', [perHead, g.int64([a.nopeDim, a.valueDim])], 2, { axis: 1 }) as [string, string];
    const wUVt = g.transpose(wUV, [0, 2, 1]);
    const absorbed = () => {
      const qLatent = g.op('MatMul', [qNope, wUK]); // [B, H, T, nope] x [H, nope, r] -> [B, H, T, r]
      const scores = g.add(g.op('MatMul', [qLatent, g.transpose(latents, [0, 1, 3, 2])]), peScores());
      const ctxLatent = g.op('MatMul', [g.op('Softmax', [scale(scores)], { axis: -1 }), latents]);
      return g.op('MatMul', [ctxLatent, wUVt]); // [B, H, T, r] x [H, r, v] -> [B, H, T, v]
    };
    const extra = 2 * a.kvLoraRank - a.nopeDim - a.ropeDim - a.valueDim;
    const maxAbsorbedT = extra <= 0 ? Number.MAX_SAFE_INTEGER : Math.floor((a.kvLoraRank * (a.nopeDim + a.valueDim)) / extra);
    const seq = g.op('Gather', [this.shapeBT, g.scalarI(1)], { axis: 0 });
    const useAbsorbed = g.op('LessOrEqual', [seq, g.scalarI(maxAbsorbedT)]);
    const ctx = g.op('If', [useAbsorbed], {
      then_branch: { graph: g.subgraph(`mla${layer}_absorbed`, ctxShape, absorbed) },
      else_branch: { graph: g.subgraph(`mla${layer}_decompressed`, ctxShape, decompressed) },
    });
    return this.linear(g.reshape(g.transpose(ctx, [0, 2, 1, 3]), g.int64([-1, H * a.valueDim])), a.o);
  }

  /**
   * GPT-OSS attention sinks: softmax over [scores, sink_h] with the sink's column dropped, i.e.
   * exp(s - m) / (sum exp(s - m) + exp(sink - m)) with m = max(max s, sink). Scores are [B, kvH, rep, T, S].
   */
  private softmaxWithSinks(scores: string, sinks: TensorSlice): string {
    const g = this.g;
    const s = this.spec;
    const sink = g.reshape(this.weight(sinks), g.int64([1, s.numKvHeads, s.numHeads / s.numKvHeads, 1, 1]));
    const m = g.op('Max', [g.op('ReduceMax', [scores], { axes: [-1], keepdims: 1 }), sink]);
    const e = g.op('Exp', [g.sub(scores, m)]);
    return g.div(e, g.add(g.reduceSum(e, [-1]), g.op('Exp', [g.sub(sink, m)])));
  }

  /** The steering rule of the graph contract, applied to raw router logits z [N, E]. */
  private steer(moeIndex: number, z: string, numExperts: number): string {
    const g = this.g;
    const vec = (name: string) => g.input(name, DataType.FLOAT, [numExperts]);
    const bias = vec(GraphNames.steerBias(moeIndex));
    const scale = vec(GraphNames.steerScale(moeIndex));
    const std = vec(GraphNames.steerStd(moeIndex));
    const force = vec(GraphNames.steerForce(moeIndex));
    const mask = vec(GraphNames.steerMask(moeIndex));
    const mean = g.reduceMean(z, [-1]);
    const centred = g.sub(z, mean);
    const stddev = g.op('Sqrt', [g.reduceMean(g.mul(centred, centred), [-1])]);
    const z1 = g.add(g.add(g.add(z, bias), g.mul(scale, g.op('Abs', [z]))), g.mul(std, stddev));
    const zMax = g.op('ReduceMax', [z1], { axes: [-1], keepdims: 1 });
    const zMin = g.op('ReduceMin', [z1], { axes: [-1], keepdims: 1 });
    const zero = g.scalarF(0);
    const z2 = g.where(g.op('Greater', [force, zero]), g.add(zMax, force), g.where(g.op('Less', [force, zero]), g.add(zMin, force), z1));
    const masked = g.op('Not', [g.op('Equal', [mask, zero])]);
    return g.where(masked, g.scalarF(MASKED_EXPERT_LOGIT), z2);
  }

  private moe(moeIndex: number, m: MoeSpec, x: string): string {
    const g = this.g;
    const z = this.linear(x, m.router);
    g.output(z, GraphNames.routerLogits(moeIndex), DataType.FLOAT, ['tokens', m.numExperts]);
    const steered = this.steer(moeIndex, z, m.numExperts);
    const k = g.int64([m.topK]);
    let topW: string;
    let topI: string;
    if (m.routing === 'sparsemixer') {
      [topW, topI] = sparsemixerRouting(g, steered, m.jitterEps ?? 0);
    } else if (m.routing === 'softmax_topk') {
      const probs = g.op('Softmax', [steered], { axis: -1 });
      [topW, topI] = g.opN('TopK', [probs, k], 2, { axis: -1, largest: 1, sorted: 1 }) as [string, string];
      if (m.normTopK) topW = g.div(topW, g.reduceSum(topW, [-1]));
      if (m.routedScalingFactor !== undefined && m.routedScalingFactor !== 1) topW = g.mul(topW, g.scalarF(m.routedScalingFactor));
    } else {
      const [topZ, idx] = g.opN('TopK', [steered, k], 2, { axis: -1, largest: 1, sorted: 1 }) as [string, string];
      topI = idx;
      topW = g.op('Softmax', [topZ], { axis: -1 });
    }
    g.output(topI, GraphNames.topkExperts(moeIndex), DataType.INT64, ['tokens', m.topK]);
    g.output(topW, GraphNames.topkWeights(moeIndex), DataType.FLOAT, ['tokens', m.topK]);
    const routed = this.moeKernel === 'fused' ? this.fusedExperts(moeIndex, m, x, z, topI, topW) : this.dispatchExperts(moeIndex, m, x, topI, topW);
    if (!m.shared) return routed;
    const sharedOut = this.gatedMlp(x, m.shared.mlp);
    if (!m.shared.gate) return g.add(routed, sharedOut);
    return g.add(routed, g.mul(sharedOut, g.op('Sigmoid', [this.linear(x, m.shared.gate)])));
  }

  /**
   * One com.microsoft.MoE node running exactly our routing. Its CPU kernel takes a softmax over the logits it
   * is given, keeps the top k and divides by their sum. Given log(w) for our k experts and -1e30 for the rest,
   * the softmax is w_i / sum(w) on our experts and exactly 0 elsewhere, so its top k is our set whatever its
   * tie-break, and its weights are ours renormalised. Without norm_topk_prob our weights do not sum to 1, so
   * the output is scaled back by sum(w) per token.
   */
  private fusedExperts(moeIndex: number, m: MoeSpec, x: string, z: string, topI: string, topW: string): string {
    const g = this.g;
    const H = this.spec.hiddenSize;
    const I = uniformExpertWidth(m.experts, `MoE layer ${moeIndex}`, 'cannot use the fused kernel');
    const floor = g.op('Expand', [g.scalarF(FUSED_UNSELECTED_LOGIT), g.op('Shape', [z])]);
    const logW = g.op('Log', [g.op('Max', [topW, g.scalarF(FUSED_WEIGHT_FLOOR)])]);
    const crafted = g.op('ScatterElements', [floor, topI, logW], { axis: 1 });
    // onnxruntime's interleaved SwiGLU (moe_utils.cc, checked on CPU against a float64 reference): gate = even
    // fc1 row clamped above at swiglu_limit, linear = odd row clamped to [-limit, limit], out =
    // gate * sigmoid(alpha * gate) * (linear + beta). alpha 1, beta 0, no limit is SiLU(gate) * up; GPT-OSS's
    // clamped SwiGLU is alpha 1.702, beta 1, limit 7, exactly.
    const act = m.expertActivation;
    const attrs = {
      k: m.topK,
      activation_type: 'swiglu',
      swiglu_fusion: 1,
      activation_alpha: { float: act ? act.alpha : 1 },
      activation_beta: { float: act ? 1 : 0 },
      ...(act ? { swiglu_limit: { float: act.limit } } : {}),
      normalize_routing_weights: 1,
    };
    const biases = (layer: { fc1Bias?: { offset: number; length: number }; fc2Bias?: { offset: number; length: number } }, dataType = DataType.FLOAT) => {
      if (!layer.fc1Bias !== !m.experts.some(hasExpertBias)) throw new EngineError(`internal error: the expert cache's biases for MoE layer ${moeIndex} do not match the model`);
      if (!layer.fc1Bias || !layer.fc2Bias) return ['', ''] as const;
      const tag = dataType === DataType.FLOAT16 ? '_fp16' : '';
      return [
        this.cachedWeight(`moe${moeIndex}.fc1_bias${tag}`, [m.numExperts, 2 * I], layer.fc1Bias, dataType),
        this.cachedWeight(`moe${moeIndex}.fc2_bias${tag}`, [m.numExperts, H], layer.fc2Bias, dataType),
      ] as const;
    };
    let out: string;
    if (this.quantExperts) {
      // QMoE's CPU routing is top-k on the given logits, then a softmax over those k: on the crafted logits that
      // is again exactly our experts with w_i / sum(w).
      const q = this.quantExperts;
      const layer = q.layers[moeIndex];
      if (!layer) throw new EngineError(`internal error: the int${q.bits} expert cache has no entry for MoE layer ${moeIndex}`);
      const scaleDims = (rows: number, cols: number) => (q.blockSize ? [m.numExperts, rows, cols / q.blockSize] : [m.numExperts, rows]);
      // Sessions with MatMulNBits run with prepacking on (quant-dense.ts), and a prepacked int4 QMoE decoded 2.4x
      // slower (measured, docs/precision.md): a Reshape to a shape that depends on a run-time zero makes its weights
      // non-constant, so they are never prepacked and stay mapped cache pages.
      const size = g.op('Size', [topI]);
      const runtimeZero = g.sub(size, size);
      const unpacked = (name: string, dims: number[], segment: { offset: number; length: number }, dataType = DataType.FLOAT) =>
        g.reshape(this.cachedWeight(name, dims, segment, dataType), g.add(g.int64(dims), runtimeZero));
      const fc1 = unpacked(`moe${moeIndex}.fc1_q${q.bits}`, [m.numExperts, 2 * I, (H * q.bits) / 8], layer.fc1, DataType.UINT8);
      const fc1Scales = unpacked(`moe${moeIndex}.fc1_scales`, scaleDims(2 * I, H), layer.fc1Scales);
      const fc2 = unpacked(`moe${moeIndex}.fc2_q${q.bits}`, [m.numExperts, H, (I * q.bits) / 8], layer.fc2, DataType.UINT8);
      const fc2Scales = unpacked(`moe${moeIndex}.fc2_scales`, scaleDims(H, I), layer.fc2Scales);
      const [b1, b2] = biases(layer);
      out = g.op('QMoE', [x, crafted, fc1, fc1Scales, b1, fc2, fc2Scales, b2], { ...attrs, expert_weight_bits: q.bits, block_size: q.blockSize }, MS_DOMAIN);
    } else if (this.halfFusedExperts) {
      const layer = this.halfFusedExperts.layers[moeIndex];
      if (!layer) throw new EngineError(`internal error: the fp16 fused expert cache has no entry for MoE layer ${moeIndex}`);
      const fc1 = this.cachedWeight(`moe${moeIndex}.fc1_fp16`, [m.numExperts, 2 * I, H], layer.fc1, DataType.FLOAT16);
      const fc2 = this.cachedWeight(`moe${moeIndex}.fc2_fp16`, [m.numExperts, H, I], layer.fc2, DataType.FLOAT16);
      const [b1, b2] = biases(layer, DataType.FLOAT16);
      out = halfFusedMoe(g, x, crafted, fc1, fc2, attrs, b1, b2);
    } else {
      const cached = this.fusedCache!.layers[moeIndex];
      if (!cached) throw new EngineError(`internal error: the expert cache has no entry for MoE layer ${moeIndex}`);
      const fc1 = this.cachedWeight(`moe${moeIndex}.fc1_interleaved`, [m.numExperts, 2 * I, H], cached.fc1);
      const fc2 = cached.fc2.kind === 'mapped' ? this.rawWeight(cached.fc2.slice).raw : this.cachedWeight(`moe${moeIndex}.fc2`, [m.numExperts, H, I], cached.fc2.segment);
      const [b1, b2] = biases(cached);
      out = g.op('MoE', [x, crafted, fc1, b1, fc2, b2], attrs, MS_DOMAIN);
    }
    // Sparsemixer's two weights come from two different softmaxes and do not sum to 1.
    const renormalised = m.routing === 'topk_softmax' || (m.routing === 'softmax_topk' && m.normTopK);
    return renormalised ? out : g.mul(out, g.reduceSum(topW, [-1]));
  }

  /**
   * A 16-bit expert matrix as fp32, widened at run time. The Reshape's shape depends on a run-time zero, so
   * onnxruntime cannot constant-fold the Cast into a resident fp32 copy (it would, for a Cast of an initializer).
   */
  private halfLinear(x: string, src: HalfSource, name: string, runtimeZero: string): string {
    const g = this.g;
    let raw: string;
    let dtype: DataType;
    let dims: number[];
    let layout: 'out_in' | 'in_out';
    if (src.kind === 'cache') {
      dtype = src.dtype === 'F16' ? DataType.FLOAT16 : DataType.FLOAT;
      dims = src.shape;
      layout = 'out_in';
      const location = this.location(this.halfExperts!.file!);
      raw = g.initializer({ name, dataType: dtype, dims, payload: { kind: 'external', location, ...src.segment } });
    } else {
      ({ raw, dtype } = this.rawWeight(src.linear.weight));
      dims = src.linear.weight.shape;
      layout = src.linear.layout;
    }
    let w = raw;
    if (dtype !== DataType.FLOAT) w = g.cast(g.reshape(raw, g.add(g.int64(dims), runtimeZero)), DataType.FLOAT);
    return layout === 'out_in' ? g.linear(x, w) : g.op('MatMul', [x, w]);
  }

  /** down(act(gate(x), up(x))) on 16-bit weights, with the expert's fp32 biases (GPT-OSS) when it has them. */
  private halfMlp(x: string, e: HalfExpert, prefix: string, runtimeZero: string, activation?: ClampedSwigluSpec): string {
    const g = this.g;
    const withBias = (y: string, part: 'gate' | 'up' | 'down', n: number) => {
      const segment = e.bias?.[part];
      if (!segment) return y;
      const location = this.location(this.halfExperts!.file!);
      return g.add(y, g.initializer({ name: `${prefix}.${part}_bias`, dataType: DataType.FLOAT, dims: [n], payload: { kind: 'external', location, ...segment } }));
    };
    const I = e.gate.kind === 'cache' ? e.gate.shape[0] : e.gate.linear.layout === 'out_in' ? e.gate.linear.weight.shape[0]! : e.gate.linear.weight.shape[1]!;
    const gate = withBias(this.halfLinear(x, e.gate, `${prefix}.gate`, runtimeZero), 'gate', I);
    const up = withBias(this.halfLinear(x, e.up, `${prefix}.up`, runtimeZero), 'up', I);
    return withBias(this.halfLinear(this.gatedActivation(gate, up, activation), e.down, `${prefix}.down`, runtimeZero), 'down', this.spec.hiddenSize);
  }

  /**
   * int4 on the dispatch kernel (moeKernel 'dispatch'): one expert as two prepacked MatMulNBits over its rows of the
   * QMoE cache, whose [rows, H * bits / 8] codes and [rows, H / block] scales are already MatMulNBits' layout (fc1
   * rows interleave gate and up), at the accuracy_level the session chose (int4-kernel.ts: speed and memory of each).
   */
  private quantExpertMlp(moeIndex: number, e: number, rows: string, I: number): string {
    const g = this.g;
    const q = this.quantExperts!;
    const layer = q.layers[moeIndex];
    if (!layer) throw new EngineError(`internal error: the int${q.bits} expert cache has no entry for MoE layer ${moeIndex}`);
    const H = this.spec.hiddenSize;
    const bs = q.blockSize;
    const matmul = (input: string, name: string, n: number, k: number, codes: { offset: number }, scales: { offset: number }) => {
      const rowBytes = (k * q.bits) / 8;
      const B = this.cachedWeight(`${name}_q${q.bits}`, [n, k / bs, (bs * q.bits) / 8], { offset: codes.offset + e * n * rowBytes, length: n * rowBytes }, DataType.UINT8);
      const S = this.cachedWeight(`${name}_scales`, [n * (k / bs)], { offset: scales.offset + e * n * (k / bs) * 4, length: n * (k / bs) * 4 });
      return g.op('MatMulNBits', [input, B, S], { K: k, N: n, bits: q.bits, block_size: bs, accuracy_level: q.dispatchAccuracy ?? EXPERT_ACCURACY }, MS_DOMAIN);
    };
    const fc1 = matmul(rows, `moe${moeIndex}.e${e}.fc1`, 2 * I, H, layer.fc1, layer.fc1Scales);
    // fc1's outputs interleave gate (even) and up (odd): two strided Slices, fewer nodes per expert than Reshape/Split/Squeeze.
    const strided = (start: number) => g.op('Slice', [fc1, g.int64([start]), g.int64([2 * I]), g.int64([1]), g.int64([2])]);
    const gate = strided(0);
    const act = g.mul(g.mul(gate, g.op('Sigmoid', [gate])), strided(1));
    return matmul(act, `moe${moeIndex}.e${e}.fc2`, H, I, layer.fc2, layer.fc2Scales);
  }

  private dispatchExperts(moeIndex: number, m: MoeSpec, x: string, topI: string, topW: string): string {
    const g = this.g;

    // Sparse dispatch: each expert runs only on the (token, slot) pairs that selected it; the outputs are
    // put back in (token, slot) order through the inverse permutation, weighted and summed over the k slots.
    const flat = g.reshape(topI, g.int64([-1]));
    const outputs: string[] = [];
    const positions: string[] = [];
    const half = this.halfExperts?.layers[moeIndex];
    if (this.halfExperts && (!half || half.length !== m.experts.length)) throw new EngineError(`internal error: the fp16 expert cache has no entry for MoE layer ${moeIndex}`);
    if (half && half.some((h, e) => !h.bias !== !hasExpertBias(m.experts[e]!))) throw new EngineError(`internal error: the fp16 expert cache's biases for MoE layer ${moeIndex} do not match the model`);
    const size = half ? g.op('Size', [flat]) : '';
    const runtimeZero = half ? g.sub(size, size) : '';
    m.experts.forEach((expert, e) => {
      const savedScope = g.scope;
      g.scope = `${savedScope}e${e}_`;
      const pos = g.squeeze(g.op('NonZero', [g.op('Equal', [flat, g.scalarI(e)])]), [0]);
      const rows = g.op('Gather', [x, g.div(pos, g.scalarI(m.topK))], { axis: 0 });
      if (this.quantExperts) {
        outputs.push(this.quantExpertMlp(moeIndex, e, rows, expertWidth(expert)));
        positions.push(pos);
        g.scope = savedScope;
        return;
      }
      if (half) {
        // Only a routed expert's branch runs, so only its weights are widened to fp32 (and only briefly).
        const out = { elemType: DataType.FLOAT, shape: [`moe${moeIndex}_e${e}_rows`, this.spec.hiddenSize] }; // a dim name per expert: equal names promise equal sizes
        const thenBranch = g.subgraph(`moe${moeIndex}_e${e}_run`, out, () => this.halfMlp(rows, half[e]!, `moe${moeIndex}.e${e}`, runtimeZero, m.expertActivation));
        const elseBranch = g.subgraph(`moe${moeIndex}_e${e}_skip`, out, () => rows);
        const routed = g.op('Greater', [g.op('Size', [pos]), g.scalarI(0)]);
        outputs.push(g.op('If', [routed], { then_branch: { graph: thenBranch }, else_branch: { graph: elseBranch } }));
        positions.push(pos);
        g.scope = savedScope;
        return;
      }
      outputs.push(this.gatedMlp(rows, expert, m.expertActivation));
      positions.push(pos);
      g.scope = savedScope;
    });
    const grouped = g.concat(outputs, 0);
    const order = g.concat(positions, 0);
    const slots = g.op('Range', [g.scalarI(0), g.op('Size', [flat]), g.scalarI(1)]);
    const inverse = g.op('ScatterElements', [g.mul(flat, g.scalarI(0)), order, slots], { axis: 0 });
    const perSlot = g.mul(g.op('Gather', [grouped, inverse], { axis: 0 }), g.reshape(topW, g.int64([-1, 1])));
    return g.reduceSum(g.reshape(perSlot, g.int64([-1, m.topK, this.spec.hiddenSize])), [1], 0);
  }

  build(): Uint8Array {
    const g = this.g;
    const s = this.spec;
    const ids = g.input(GraphNames.inputIds, DataType.INT64, ['batch', 'sequence']);
    const mask = g.input(GraphNames.attentionMask, DataType.INT64, ['batch', 'total_sequence']);
    const positions = g.input(GraphNames.positionIds, DataType.INT64, ['batch', 'sequence']);
    this.shapeBT = g.op('Shape', [ids]);

    // Only the gathered rows are widened, so a 16-bit table stays 16-bit in memory.
    const embedRaw = this.dense?.embed ? { raw: this.halfTable(this.dense.embed, s.embed), dtype: DataType.FLOAT16 } : this.rawWeight(s.embed);
    let embedded = g.op('Gather', [embedRaw.raw, ids], { axis: 0 });
    if (embedRaw.dtype !== DataType.FLOAT) embedded = g.cast(embedded, DataType.FLOAT);
    let x = g.reshape(embedded, g.int64([-1, s.hiddenSize]));
    if (s.embeddingMultiplier !== 1) x = g.mul(x, g.scalarF(s.embeddingMultiplier));

    // RoPE tables for these positions, in fp32 as transformers computes them.
    const half = s.headDim / 2;
    const invFreqWith = (factor?: number[]) => Array.from({ length: half }, (_, i) => 1 / ((factor?.[i] ?? 1) * Math.pow(s.ropeTheta, (2 * i) / s.headDim)));
    let invFreq: string;
    let mscale: string | undefined;
    if (s.ropeScaling?.kind === 'yarn') {
      invFreq = g.float(s.ropeScaling.invFreq);
      mscale = g.scalarF(s.ropeScaling.attentionFactor);
    } else if (s.ropeScaling?.kind !== 'longrope') {
      invFreq = g.float(invFreqWith());
    } else {
      // LongRoPE switches to the long factors when max(position_ids) + 1 of the forward call exceeds the original
      // context (transformers decides per call). The session feeds that length: a call split into chunks must use
      // the whole call's decision in every chunk, which the chunk's own positions cannot tell.
      const r = s.ropeScaling;
      const length = g.input(GraphNames.ropeLength, DataType.INT64, [1]);
      const isLong = g.op('Greater', [length, g.scalarI(r.originalMaxPositions)]);
      invFreq = g.where(isLong, g.float(invFreqWith(r.longFactor)), g.float(invFreqWith(r.shortFactor)));
      mscale = g.where(isLong, g.scalarF(r.longMscale), g.scalarF(r.shortMscale));
    }
    const freqs = g.mul(g.unsqueeze(g.cast(positions, DataType.FLOAT), [2]), invFreq);
    const angles = g.concat([freqs, freqs], -1);
    let cos = g.unsqueeze(g.op('Cos', [angles]), [1]);
    let sin = g.unsqueeze(g.op('Sin', [angles]), [1]);
    if (mscale) {
      cos = g.mul(cos, mscale);
      sin = g.mul(sin, mscale);
    }

    // Attention bias [B, 1, 1, T, S]: query t sits at cache index past + t; key j is visible when
    // j <= past + t (causal), attention_mask[b, j] = 1 (left padding), and within the sliding window.
    const total = g.op('Gather', [g.op('Shape', [mask]), g.scalarI(1)], { axis: 0 });
    const seq = g.op('Gather', [this.shapeBT, g.scalarI(1)], { axis: 0 });
    const keyIdx = g.unsqueeze(g.op('Range', [g.scalarI(0), total, g.scalarI(1)]), [0]);
    const queryIdx = g.unsqueeze(g.add(g.op('Range', [g.scalarI(0), seq, g.scalarI(1)]), g.sub(total, seq)), [1]);
    const causal = g.op('LessOrEqual', [keyIdx, queryIdx]);
    const notPadding = g.unsqueeze(g.cast(mask, DataType.BOOL), [1]);
    // One bias per distinct window (GPT-OSS alternates sliding and full layers).
    const biases = new Map<number | null, string>();
    const biasFor = (window: number | null): string => {
      const hit = biases.get(window);
      if (hit) return hit;
      let visible = causal;
      if (window !== null) visible = g.op('And', [visible, g.op('Greater', [keyIdx, g.sub(queryIdx, g.scalarI(window))])]);
      const allowed = g.op('And', [g.unsqueeze(visible, [0]), notPadding]);
      const b = g.unsqueeze(g.where(allowed, g.scalarF(0), g.scalarF(MASKED_SCORE)), [1, 2]);
      biases.set(window, b);
      return b;
    };

    let moeIndex = 0;
    s.layers.forEach((layer, i) => {
      g.scope = `l${i}_`;
      const window = layer.slidingWindow !== undefined ? layer.slidingWindow : s.slidingWindow;
      const normed = this.blockNorm(x, layer.inputNorm, layer.inputNormBias);
      const a = layer.attention;
      const attn = a.kind === 'mla' ? this.mlaAttention(i, a, normed, cos, sin, biasFor(window)) : this.attention(i, a, normed, cos, sin, biasFor(window));
      x = g.add(x, s.residualMultiplier === 1 ? attn : g.mul(attn, g.scalarF(s.residualMultiplier)));
      const h = this.blockNorm(x, layer.postAttentionNorm, layer.postAttentionNormBias);
      const mlp = layer.mlp.kind === 'moe' ? this.moe(moeIndex++, layer.mlp.moe, h) : this.gatedMlp(h, layer.mlp.mlp);
      x = g.add(x, s.residualMultiplier === 1 ? mlp : g.mul(mlp, g.scalarF(s.residualMultiplier)));
    });
    g.scope = '';
    if (!this.withLogits) return g.encode(`routescope-${s.architecture}`, { architecture: s.architecture });
    // Only the requested token rows reach the final norm and lm_head (both per-row, so selecting first is
    // exact): capture asks for none, generation for the last position; the lm_head is the largest matmul per
    // token for small models and [rows, V] floats dominate memory for large vocabularies.
    const rows = g.input(GraphNames.logitsRows, DataType.INT64, ['logits_rows']);
    const selected = g.op('Gather', [x, rows], { axis: 0 });
    let logits = this.lmHead(this.blockNorm(selected, s.finalNorm, s.finalNormBias), rows);
    if (s.logitsDivisor !== 1) logits = g.div(logits, g.scalarF(s.logitsDivisor));
    g.output(logits, GraphNames.logits, DataType.FLOAT, ['logits_rows', s.vocabSize]);
    return g.encode(`routescope-${s.architecture}`, { architecture: s.architecture });
  }
}

/** The decoder with the chosen MoE kernel; load it with `externalDataDir` as the external-initializers folder. */
export function buildDecoderModel(spec: DecoderSpec, weights: WeightStore, modelDir: string, opts: BuildOptions): BuiltDecoderModel {
  const b = new DecoderGraphBuilder(spec, weights, modelDir, opts);
  return { model: b.build(), moeKernel: opts.moeKernel, externalDataDir: b.baseDir };
}

