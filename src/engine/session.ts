/**
 * A model folder turned into a running onnxruntime session: builds the graph once, then runs forward
 * passes with a KV cache, steering inputs and (optionally) the per-MoE-layer routing outputs.
 * Steering values are plain inputs, so changing them never rebuilds anything.
 */
import * as ort from 'onnxruntime-node';
import { decoderSpecFor } from './architectures/index.js';
import type { DecoderSpec } from './architectures/types.js';
import { EngineError } from './errors.js';
import { chooseExecutionProvider, createInferenceSession, type ExecutionProviderChoice, type ExecutionProviderPreference } from './execution-provider.js';
import { buildDecoderModel, GraphNames } from './graph-builder.js';
import { defaultCacheRoot, prepareFusedExpertCache, type CacheNotice, type CacheProgress } from './expert-cache.js';
import { prepareHalfExpertCache, type KeptFp32 } from './half-experts.js';
import { prepareQuantExpertCache } from './quant-experts.js';
import { chooseInt4Kernel } from './int4-kernel.js';
import { prepareDenseCache } from './quant-dense.js';
import { chooseMoeKernel, parseMoeKernel, type MoeKernelChoice, type MoeKernelPreference } from './moe-kernel.js';
import { chooseHalfKernel, prepareHalfFusedExpertCache } from './half-fused-experts.js';
import { precisionRefusal, runnablePrecisions } from './architectures/precision-support.js';
import { choosePrecision, IMPLEMENTED_PRECISIONS, parsePrecision, type MemoryPlan, type Precision, type PrecisionPreference } from './precision.js';
import { readModelFolder, type ModelFolder } from './model-folder.js';
import { dequantiseMxfp4 } from './mxfp4.js';
import { assertFiniteRouting } from './routing-check.js';

/** Per-MoE-layer steering vectors (length numExperts each); structurally the same as steering-plan's SteeringTensors. */
export interface SteeringInput {
  perMoeLayer: { bias: Float32Array; scale: Float32Array; std: Float32Array; force: Float32Array; mask: Uint8Array | Float32Array }[];
}

/** Keys/values of every decoder layer, [B, kvHeads, length, headDim] each, kept as onnxruntime tensors. */
export interface KvCache {
  batch: number;
  length: number;
  keys: ort.Tensor[];
  values: ort.Tensor[];
}

/**
 * Which token positions get logits (graph input `logits_rows`; docs/graph-contract.md, "Logits modes"):
 * - `all`: every position, [B*T, V] in (batch, position) order (the default, as before);
 * - `last`: position T-1 of every row, [B, V]: with left padding that is each row's last real token, so it is
 *   all that next-token prediction needs;
 * - `none`: no logits (routing only): the final norm and lm_head run on zero rows.
 */
export type LogitsMode = 'all' | 'last' | 'none';
/** A mode, or explicit flattened rows `b*T + t` (any order, repeats allowed; the logits come back in that order). */
export type LogitsSelection = LogitsMode | { rows: ArrayLike<number> };

export function parseLogitsMode(value: unknown, source: string): LogitsMode {
  if (value === 'all' || value === 'last' || value === 'none') return value;
  throw new EngineError(`${source} must be 'all', 'last' or 'none', got ${JSON.stringify(value)}`);
}

export interface ForwardOptions {
  /** [B][past + T], 1 for real tokens, 0 for (left) padding; default all ones. */
  attentionMask?: number[][];
  /** [B][T]; default: count of real tokens before each position (padding gets 1, as transformers does). */
  positionIds?: number[][];
  past?: KvCache;
  steering?: SteeringInput;
  /** Fetch router logits and top-k ids/weights (default true). */
  capture?: boolean;
  /**
   * With capture: also fetch the raw router logits (default true). False fetches only the top-k ids and weights
   * (routerLogits come back empty): [tokens, E] floats per MoE layer are what makes long generations' routing
   * large, and consumers that summarise the chosen experts never read them.
   */
  routerLogits?: boolean;
  /** Positions that get logits (default: the session's `logits` option, else 'all'). */
  logits?: LogitsSelection;
}

/** Routing of one MoE layer, rows in (batch, position) order. */
export interface LayerRouting {
  routerLogits: Float32Array; // [B*T, E], raw (before steering); empty when fetched with routerLogits: false
  experts: Int32Array; // [B*T, k], after steering
  weights: Float32Array; // [B*T, k]
}

export interface ForwardResult {
  batch: number;
  seq: number;
  vocabSize: number;
  /** [logitsRows.length * V]; [B*T*V] for 'all', [B*V] for 'last', empty for 'none'. */
  logits: Float32Array;
  /** The flattened position `b*T + t` of each logits row. */
  logitsRows: Int32Array;
  routing?: LayerRouting[];
  cache: KvCache;
}

/** What a run fetches of the routing: everything, the top-k ids and weights only, or nothing. */
type Capture = 'full' | 'topk' | 'none';

export interface ModelInfo {
  architecture: string;
  numLayers: number;
  /** config.json's max_position_embeddings: the most tokens one sequence may hold (null: no limit given). */
  maxPositions: number | null;
  moeLayers: number[];
  numExperts: number;
  topK: number;
  vocabSize: number;
  hiddenSize: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  executionProvider: ExecutionProviderChoice;
  /** How the experts run (fused com.microsoft.MoE or standard-op dispatch) and why. */
  moeKernel?: MoeKernelChoice;
  /** The weight precision the session runs at, why, and its memory plan. */
  precision?: PrecisionInfo;
}

export interface PrecisionInfo {
  name: Precision;
  reason: string;
  plan: MemoryPlan;
  /** fp16: expert matrices kept at fp32 because fp16 would overflow. */
  keptFp32?: KeptFp32[];
  /** fp16: non-zero expert weights below the fp16 normal range (stored with fewer significant bits). */
  subnormalWeights?: number;
  /** fp16: the converted expert cache (absent when every expert matrix is mapped from an F16 checkpoint); int8/int4: the quantised one. */
  cacheFile?: string;
  /** int8/int4: weights per scale along the input axis (0 = one scale per row). */
  blockSize?: number;
  /** fp16/int8/int4: the cache of quantised dense projections and 16-bit embedding/lm_head (quant-dense.ts); null when nothing had to be written. */
  denseCacheFile?: string | null;
  /** int8/int4: dense projections run through MatMulNBits. */
  denseQuantised?: number;
  /** Embedding or lm_head tensors left in their stored dtype because fp16 would overflow them. */
  keptWide?: { tensor: string; maxAbs: number }[];
}

export interface SessionOptions {
  executionProvider?: ExecutionProviderPreference;
  threads?: number;
  /** Expert execution: auto (default; fused on CPU when the cache fits), fused or dispatch. See moe-kernel.ts. */
  moeKernel?: MoeKernelPreference;
  /** Root of the fused kernel's expert cache (default: ROUTESCOPE_CACHE_DIR or ~/.cache/routescope). Never the model folder. */
  cacheDir?: string;
  /**
   * Called while the expert cache is written (first load of a checkpoint with the fused kernel), and while MXFP4
   * experts are dequantised (first load of a GPT-OSS release; `layer` then counts the dequantised tensors).
   */
  onCacheProgress?: (p: CacheProgress) => void;
  /** Hears that the expert cache is rebuilt (corrupt, truncated) or re-verified; default: one line on stderr. */
  onCacheNotice?: CacheNotice;
  /** Cancels writing the expert cache (the only long step of loading). */
  signal?: AbortSignal;
  /**
   * Default logits mode of forward() calls that do not choose one (default 'all'). 'none' here builds a
   * routing-only graph without the final norm and lm_head (capture: no fp32 copy of an F16/BF16 lm_head is
   * ever made); such a session refuses calls that ask for logits.
   */
  logits?: LogitsMode;
  /**
   * Most new positions one onnxruntime run processes. Default: chosen per call so that one attention score
   * tensor [B, heads, chunk, past + T] (fp32) stays within `attentionScoreBudget` bytes (at least 32 positions).
   * Longer input is fed in chunks through the KV cache (same results; memory linear, not quadratic, in the
   * context length). Tests and benchmarks set it; the budget is the knob for memory.
   */
  prefillChunk?: number;
  /**
   * Bytes one attention score tensor of a run may take when the chunk is chosen automatically. Default: 1/32 of
   * the checkpoint's weight bytes, within 64 MiB..1 GiB (defaultAttentionScoreBudget).
   */
  attentionScoreBudget?: number;
  /**
   * Weight precision (default: ROUTESCOPE_PRECISION, else auto = the most faithful precision whose memory
   * plan fits this machine). See precision.ts.
   */
  precision?: PrecisionPreference;
  /** Context length the memory plan budgets the KV cache for (default 4096). */
  planContext?: number;
}

/**
 * The attention of one run materialises [B, heads, chunk, S] fp32 scores (several such tensors live at once:
 * product, scaled, biased, softmax). Capping one of them keeps memory linear in S: 13,000 tokens in one run
 * would need 2.7 GB per tensor on the 4-head demo model. onnxruntime's fused CPU attention does not avoid this
 * (GroupQueryAttention allocates B x heads x S x T probabilities too, and assumes no padding), so the engine chunks.
 * The default cap scales with the model: every run streams the weights of nearly every expert (tens of GB for a
 * real MoE on CPU), so a big model wants few, large chunks, and scores of 1/32 of its weights (about 1/8 with
 * the tensors alive at once) are small next to them; a small model gets 64 MiB, which is also faster there.
 */
export function defaultAttentionScoreBudget(weightBytes: number): number {
  return Math.min(2 ** 30, Math.max(64 * 2 ** 20, Math.floor(weightBytes / 32)));
}
/** Smallest automatic chunk, so very long contexts do not turn into thousands of runs. */
const MIN_PREFILL_CHUNK = 32;

export function modelInfoOf(spec: DecoderSpec, provider: ExecutionProviderChoice, moeKernel?: MoeKernelChoice, precision?: PrecisionInfo): ModelInfo {
  return {
    architecture: spec.architecture,
    numLayers: spec.numLayers,
    maxPositions: spec.maxPositions,
    moeLayers: spec.moeLayers,
    numExperts: spec.numExperts,
    topK: spec.topK,
    vocabSize: spec.vocabSize,
    hiddenSize: spec.hiddenSize,
    numHeads: spec.numHeads,
    numKvHeads: spec.numKvHeads,
    headDim: spec.headDim,
    executionProvider: provider,
    ...(moeKernel ? { moeKernel } : {}),
    ...(precision ? { precision } : {}),
  };
}

function int64Tensor(rows: number[][], dims: number[]): ort.Tensor {
  const data = new BigInt64Array(rows.length * (rows[0]?.length ?? 0));
  let i = 0;
  for (const r of rows) for (const v of r) data[i++] = BigInt(v);
  return new ort.Tensor('int64', data, dims);
}

/** transformers' default for left-padded batches: position = number of real tokens before it, pads get 1. */
export function defaultPositionIds(mask: number[][], seq: number): number[][] {
  return mask.map((row) => {
    let count = 0;
    const pos = row.map((m) => (m ? count++ : 1));
    return pos.slice(row.length - seq);
  });
}

export class DecoderSession {
  private neutral: Record<string, ort.Tensor> = {};
  private emptyPast = new Map<string, ort.Tensor>();

  private constructor(
    readonly folder: ModelFolder,
    readonly spec: DecoderSpec,
    readonly session: ort.InferenceSession,
    readonly info: ModelInfo,
    /** Milliseconds: expert cache (fused kernel; ~0 when reused), graph build, onnxruntime session creation. */
    readonly timings: { cacheMs: number; buildMs: number; sessionMs: number },
    /** Logits mode of forward() calls that do not choose one. */
    readonly defaultLogits: LogitsMode = 'all',
    /** How long inputs are split (SessionOptions.prefillChunk / attentionScoreBudget). */
    private readonly chunking: { fixed?: number; budget: number } = { budget: defaultAttentionScoreBudget(0) },
  ) {
    const zeros = new Float32Array(spec.numExperts);
    spec.moeLayers.forEach((_, i) => {
      for (const name of [GraphNames.steerBias(i), GraphNames.steerScale(i), GraphNames.steerStd(i), GraphNames.steerForce(i), GraphNames.steerMask(i)]) {
        this.neutral[name] = new ort.Tensor('float32', zeros, [spec.numExperts]);
      }
    });
  }

  static async load(dir: string, opts: SessionOptions = {}): Promise<DecoderSession> {
    const defaultLogits = opts.logits === undefined ? 'all' : parseLogitsMode(opts.logits, 'the logits option');
    for (const [name, v] of [['prefillChunk', opts.prefillChunk], ['attentionScoreBudget', opts.attentionScoreBudget]] as const) {
      if (v !== undefined && !(Number.isSafeInteger(v) && v > 0)) throw new EngineError(`the ${name} option must be a positive integer, got ${v}`);
    }
    const opened = readModelFolder(dir);
    const t0 = performance.now();
    const spec = decoderSpecFor(opened.dir, opened.architecture, opened.config, opened.weights);
    const cacheRoot = opts.cacheDir ?? defaultCacheRoot();
    const precisionPref = opts.precision ?? parsePrecision(process.env.ROUTESCOPE_PRECISION, 'ROUTESCOPE_PRECISION');
    // Decided from config and headers only, so a model that does not fit is refused before any allocation.
    // QMoE (int8/int4) runs on the CPU provider only, so auto does not pick it elsewhere.
    const onCpu = chooseExecutionProvider(opts.executionProvider).name === 'cpu';
    // An architecture whose experts a precision cannot express (precision-support.ts) is refused by name, and auto skips it.
    const refusal = precisionPref === 'auto' ? null : precisionRefusal(spec, precisionPref);
    if (refusal) throw new EngineError(refusal);
    const runnable = runnablePrecisions(spec, onCpu ? IMPLEMENTED_PRECISIONS : ['fp32', 'fp16']);
    const moeKernelPref = opts.moeKernel ?? parseMoeKernel(process.env.ROUTESCOPE_MOE_KERNEL, 'ROUTESCOPE_MOE_KERNEL');
    // The kernel preference is part of the plan: int4's dispatch kernel at int8 activations holds more (int4-kernel.ts).
    const precision = choosePrecision(spec, opened.weights, precisionPref, { context: opts.planContext, runnable, moeKernel: moeKernelPref, device: onCpu ? 'cpu' : 'cuda' });
    let kernel: MoeKernelChoice;
    let halfFused = false;
    if (precision.name === 'fp16' && spec.moeLayers.length > 0) {
      // CUDA: the fp16 fused MoE op; CPU: 16-bit storage on the dispatch kernel (half-fused-experts.ts).
      ({ halfFused, ...kernel } = chooseHalfKernel(chooseExecutionProvider(opts.executionProvider).name, opts.moeKernel));
    } else if ((precision.name === 'int8' || precision.name === 'int4') && spec.moeLayers.length > 0) {
      const ep = chooseExecutionProvider(opts.executionProvider).name;
      if (ep !== 'cpu') throw new EngineError(`precision ${precision.name} runs onnxruntime's QMoE CPU kernel; the ${ep.toUpperCase()} provider is not supported for it: use --ep cpu or precision fp32/fp16`);
      if (precision.name === 'int4') {
        // auto: the dispatch kernel at accuracy_level 1 where it runs (same memory as QMoE, faster); int4-kernel.ts.
        kernel = chooseInt4Kernel(spec, moeKernelPref);
      } else {
        if (opts.moeKernel === 'dispatch') throw new EngineError(`precision ${precision.name} runs the experts through com.microsoft.QMoE (the fused kernel); use moeKernel auto or fused`);
        kernel = { name: 'fused', reason: `${precision.name} precision: block-quantised experts through com.microsoft.QMoE`, expertCopyBytes: 0 };
      }
    } else {
      kernel = chooseMoeKernel(spec, opened.weights, opened.dir, cacheRoot, chooseExecutionProvider(opts.executionProvider).name, opts.moeKernel);
    }
    const cacheOpts = { onProgress: opts.onCacheProgress, onNotice: opts.onCacheNotice, signal: opts.signal };
    // MXFP4 experts (GPT-OSS as released) are dequantised once into the cache folder; from here on they are BF16 tensors.
    const weights = opened.mxfp4 ? (await dequantiseMxfp4(opened.mxfp4, opened.dir, spec, cacheRoot, cacheOpts)).weights : opened.weights;
    const folder: ModelFolder = { ...opened, weights };
    const quantBits = precision.name === 'int8' ? 8 : precision.name === 'int4' ? 4 : null;
    const quantCache = quantBits && spec.moeLayers.length > 0 ? await prepareQuantExpertCache(spec, folder.weights, folder.dir, cacheRoot, quantBits, cacheOpts) : undefined;
    const quantExperts = quantCache && kernel.expertAccuracy ? { ...quantCache, dispatchAccuracy: kernel.expertAccuracy } : quantCache;
    const fusedCache = kernel.name === 'fused' && !quantExperts && !halfFused ? await prepareFusedExpertCache(spec, folder.weights, folder.dir, cacheRoot, cacheOpts) : undefined;
    const halfExperts = precision.name === 'fp16' && spec.moeLayers.length > 0 && !halfFused ? await prepareHalfExpertCache(spec, folder.weights, folder.dir, cacheRoot, cacheOpts) : undefined;
    const halfFusedExperts = halfFused ? await prepareHalfFusedExpertCache(spec, folder.weights, folder.dir, cacheRoot, cacheOpts) : undefined;
    const dense = precision.name !== 'fp32' ? await prepareDenseCache(spec, folder.weights, folder.dir, cacheRoot, precision.name, cacheOpts) : undefined;
    const denseInfo = dense ? { denseCacheFile: dense.file, denseQuantised: Object.keys(dense.linears).length, keptWide: dense.keptWide } : {};
    let precisionInfo: PrecisionInfo = {
      ...precision,
      ...(halfExperts ? { keptFp32: halfExperts.keptFp32, subnormalWeights: halfExperts.subnormal, ...(halfExperts.file ? { cacheFile: halfExperts.file } : {}) } : {}),
      ...(halfFusedExperts ? { keptFp32: [], subnormalWeights: halfFusedExperts.subnormal, cacheFile: halfFusedExperts.file } : {}),
      ...(quantExperts ? { cacheFile: quantExperts.file, blockSize: quantExperts.blockSize } : {}),
      ...denseInfo,
    };
    const t1 = performance.now();
    const prepack = dense?.head?.kind === 'quant' || Object.keys(dense?.linears ?? {}).length > 0;
    let built = buildDecoderModel(spec, folder.weights, folder.dir, { moeKernel: kernel.name, fusedCache, halfExperts, halfFusedExperts, quantExperts, dense, withLogits: defaultLogits !== 'none' });
    const t2 = performance.now();
    let { session, provider } = await createInferenceSession(built.model, { externalDataDir: built.externalDataDir, intraOpThreads: opts.threads, prepack }, opts.executionProvider);
    if (halfFused && provider.name === 'cpu' && chooseExecutionProvider(opts.executionProvider).name === 'cuda') {
      // CUDA did not start and auto fell back to CPU, where the fp16 CUDA graph would run through an fp32 copy of
      // every expert: build the CPU fp16 graph (16-bit storage on the dispatch kernel) instead.
      // Not exercised by the tests: it needs a CUDA provider library that then fails to start.
      await session.release();
      const cpuHalf = await prepareHalfExpertCache(spec, folder.weights, folder.dir, cacheRoot, cacheOpts);
      kernel = { name: 'dispatch', reason: 'fp16 precision after the CUDA fallback: 16-bit experts, each widened to fp32 only while it runs', expertCopyBytes: 0 };
      precisionInfo = { ...precision, keptFp32: cpuHalf.keptFp32, subnormalWeights: cpuHalf.subnormal, ...(cpuHalf.file ? { cacheFile: cpuHalf.file } : {}), ...denseInfo };
      built = buildDecoderModel(spec, folder.weights, folder.dir, { moeKernel: 'dispatch', halfExperts: cpuHalf, dense, withLogits: defaultLogits !== 'none' });
      ({ session } = await createInferenceSession(built.model, { externalDataDir: built.externalDataDir, intraOpThreads: opts.threads, prepack }, 'cpu'));
    }
    const t3 = performance.now();
    const info = modelInfoOf(spec, provider, { ...kernel, ...(fusedCache ? { cacheFile: fusedCache.file, cacheReused: fusedCache.reused } : {}) }, precisionInfo);
    return new DecoderSession(folder, spec, session, info, { cacheMs: t1 - t0, buildMs: t2 - t1, sessionMs: t3 - t2 }, defaultLogits, {
      fixed: opts.prefillChunk,
      budget: opts.attentionScoreBudget ?? defaultAttentionScoreBudget(folder.weights.names().reduce((a, n) => a + folder.weights.info(n).byteLength, 0)),
    });
  }

  private emptyCache(batch: number): KvCache {
    // DeepSeek-V2's latent cache has its own key and value shapes (DecoderSpec.kvCache).
    const c = this.spec.kvCache ?? { keyHeads: this.spec.numKvHeads, keyDim: this.spec.headDim, valueHeads: this.spec.numKvHeads, valueDim: this.spec.headDim };
    const empty = (heads: number, dim: number) => {
      const key = `${batch}:${heads}x${dim}`;
      let t = this.emptyPast.get(key);
      if (!t) {
        t = new ort.Tensor('float32', new Float32Array(0), [batch, heads, 0, dim]);
        this.emptyPast.set(key, t);
      }
      return t;
    };
    const n = this.spec.numLayers;
    return { batch, length: 0, keys: Array(n).fill(empty(c.keyHeads, c.keyDim)), values: Array(n).fill(empty(c.valueHeads, c.valueDim)) };
  }

  private steeringFeeds(steering: SteeringInput | undefined): Record<string, ort.Tensor> {
    if (!steering) return this.neutral;
    const E = this.spec.numExperts;
    if (steering.perMoeLayer.length !== this.spec.moeLayers.length) {
      throw new EngineError(`steering has ${steering.perMoeLayer.length} MoE layers, the model has ${this.spec.moeLayers.length}`);
    }
    const feeds: Record<string, ort.Tensor> = {};
    steering.perMoeLayer.forEach((s, i) => {
      const entries: [string, Float32Array | Uint8Array, string][] = [
        [GraphNames.steerBias(i), s.bias, 'bias'],
        [GraphNames.steerScale(i), s.scale, 'scale'],
        [GraphNames.steerStd(i), s.std, 'std'],
        [GraphNames.steerForce(i), s.force, 'force'],
        [GraphNames.steerMask(i), s.mask, 'mask'],
      ];
      for (const [name, arr, what] of entries) {
        if (arr.length !== E) throw new EngineError(`steering ${what} for MoE layer ${i} has ${arr.length} values, the model has ${E} experts`);
        const f = arr instanceof Float32Array ? arr : Float32Array.from(arr);
        for (const v of f) if (!Number.isFinite(v)) throw new EngineError(`steering ${what} for MoE layer ${i} contains a non-finite value`);
        feeds[name] = new ort.Tensor('float32', f, [E]);
      }
    });
    return feeds;
  }

  /** The flattened rows b*T + t that get logits; validated, since Gather would fail with a less clear message. */
  private logitsRows(selection: LogitsSelection, B: number, T: number): Int32Array {
    if (selection === 'all') return Int32Array.from({ length: B * T }, (_, i) => i);
    if (selection === 'last') return Int32Array.from({ length: B }, (_, b) => b * T + T - 1);
    if (selection === 'none') return new Int32Array(0);
    if (typeof selection !== 'object' || selection === null || !('rows' in selection)) {
      throw new EngineError(`logits must be 'all', 'last', 'none' or { rows }, got ${JSON.stringify(selection)}`);
    }
    const rows = Int32Array.from(selection.rows, (r, i) => {
      if (!Number.isInteger(r) || r < 0 || r >= B * T) throw new EngineError(`logits row ${i} is ${r}; rows are b*T + t within 0..${B * T - 1} (${B} x ${T} positions)`);
      return r;
    });
    return rows;
  }

  /** One forward pass over `inputIds` [B][T] (all rows the same length; left-pad with attentionMask). */
  async forward(inputIds: number[][], opts: ForwardOptions = {}): Promise<ForwardResult> {
    const s = this.spec;
    const B = inputIds.length;
    const T = inputIds[0]?.length ?? 0;
    if (B === 0 || T === 0) throw new EngineError('forward needs at least one sequence with at least one token');
    for (const [b, row] of inputIds.entries()) {
      if (row.length !== T) throw new EngineError(`input row ${b} has ${row.length} tokens, row 0 has ${T}; pad rows to the same length`);
      for (const id of row) {
        if (!Number.isInteger(id) || id < 0 || id >= s.vocabSize) {
          throw new EngineError(`token id ${id} in row ${b} is outside the vocabulary (0..${s.vocabSize - 1})`);
        }
      }
    }
    const past = opts.past ?? this.emptyCache(B);
    if (past.batch !== B) throw new EngineError(`the KV cache holds ${past.batch} sequences, the input has ${B}`);
    const S = past.length + T;
    const mask = opts.attentionMask ?? inputIds.map(() => Array<number>(S).fill(1));
    if (mask.length !== B || mask.some((r) => r.length !== S)) {
      throw new EngineError(`attention_mask must be [${B}][${S}] (past ${past.length} + ${T} new tokens)`);
    }
    const positions = opts.positionIds ?? defaultPositionIds(mask, T);
    if (positions.length !== B || positions.some((r) => r.length !== T)) throw new EngineError(`position_ids must be [${B}][${T}]`);
    this.checkContextLength(positions, mask, past.length);
    const logitsRows = this.logitsRows(opts.logits ?? this.defaultLogits, B, T);
    const withLogits = this.defaultLogits !== 'none';
    if (!withLogits && logitsRows.length > 0) {
      throw new EngineError(`this engine was loaded with logits 'none' (routing only, no lm_head); load it with logits 'all' or 'last' to get logits`);
    }
    const steering = this.steeringFeeds(opts.steering);
    const capture: Capture = opts.capture === false ? 'none' : opts.routerLogits === false ? 'topk' : 'full';
    const chunk = this.chunkLength(B, S);
    // LongRoPE's switch is decided once for the whole call (transformers' max(position_ids) + 1), chunks included.
    let ropeLength = 0;
    for (const r of positions) for (const p of r) ropeLength = Math.max(ropeLength, p + 1);
    if (T <= chunk) return this.run(inputIds, mask, positions, past, logitsRows, steering, capture, ropeLength);
    return this.runInChunks(chunk, inputIds, mask, positions, past, logitsRows, steering, capture, ropeLength);
  }

  /**
   * Refuses tokens at positions the model was not trained for (RoPE beyond max_position_embeddings gives
   * silently degraded output): the limit applies to every real token, cached ones included.
   */
  private checkContextLength(positions: number[][], mask: number[][], pastLength: number): void {
    const limit = this.spec.maxPositions;
    if (limit === null) return;
    positions.forEach((row, b) => {
      let last = -1;
      row.forEach((p, t) => {
        if (mask[b]![pastLength + t]) last = Math.max(last, p);
      });
      if (last >= limit) {
        throw new EngineError(
          `input row ${b} is too long: it reaches position ${last} (${last + 1} tokens${pastLength > 0 ? `, ${pastLength} of them cached` : ''}), ` +
            `but this model's max_position_embeddings (config.json) is ${limit}; shorten it to at most ${limit} tokens`,
        );
      }
    });
  }

  /** New positions per run: fixed by the session option, else as many as the attention score budget allows. */
  private chunkLength(B: number, S: number): number {
    if (this.chunking.fixed !== undefined) return this.chunking.fixed;
    const bytesPerQuery = B * this.spec.numHeads * S * 4;
    return Math.max(MIN_PREFILL_CHUNK, Math.floor(this.chunking.budget / bytesPerQuery));
  }

  /**
   * The same forward pass as one run, fed `chunk` positions at a time through the KV cache (every chunk
   * attends to the cache of the chunks before it, exactly as decoding does), reassembled into one result:
   * logits in the requested row order, routing in (batch, position) order over all T positions.
   */
  private async runInChunks(
    chunk: number,
    inputIds: number[][],
    mask: number[][],
    positions: number[][],
    past: KvCache,
    logitsRows: Int32Array,
    steering: Record<string, ort.Tensor>,
    capture: Capture,
    ropeLength: number,
  ): Promise<ForwardResult> {
    const s = this.spec;
    const B = inputIds.length;
    const T = inputIds[0]!.length;
    const V = s.vocabSize;
    const logits = new Float32Array(logitsRows.length * V);
    const E = capture === 'full' ? s.numExperts : 0;
    const routing: LayerRouting[] | undefined = capture !== 'none'
      ? s.moeLayers.map(() => ({ routerLogits: new Float32Array(B * T * E), experts: new Int32Array(B * T * s.topK), weights: new Float32Array(B * T * s.topK) }))
      : undefined;
    let cache = past;
    for (let start = 0; start < T; start += chunk) {
      const end = Math.min(T, start + chunk);
      const n = end - start;
      // Requested logits rows that fall in this chunk, as chunk-local rows, and their places in the result.
      const local: number[] = [];
      const dest: number[] = [];
      logitsRows.forEach((r, j) => {
        const t = r % T;
        if (t >= start && t < end) {
          local.push(Math.floor(r / T) * n + t - start);
          dest.push(j);
        }
      });
      const part = await this.run(
        inputIds.map((r) => r.slice(start, end)),
        mask.map((r) => r.slice(0, past.length + end)),
        positions.map((r) => r.slice(start, end)),
        cache,
        Int32Array.from(local),
        steering,
        capture,
        ropeLength,
      );
      dest.forEach((j, i) => logits.set(part.logits.subarray(i * V, (i + 1) * V), j * V));
      part.routing?.forEach((l, i) => {
        const whole = routing![i]!;
        for (let b = 0; b < B; b++) {
          const from = b * n;
          const to = b * T + start;
          whole.routerLogits.set(l.routerLogits.subarray(from * E, (from + n) * E), to * E);
          whole.experts.set(l.experts.subarray(from * s.topK, (from + n) * s.topK), to * s.topK);
          whole.weights.set(l.weights.subarray(from * s.topK, (from + n) * s.topK), to * s.topK);
        }
      });
      cache = part.cache;
    }
    return { batch: B, seq: T, vocabSize: V, logits, logitsRows, ...(routing ? { routing } : {}), cache };
  }

  /** One onnxruntime run over inputs already validated by forward(). */
  private async run(
    inputIds: number[][],
    mask: number[][],
    positions: number[][],
    past: KvCache,
    logitsRows: Int32Array,
    steering: Record<string, ort.Tensor>,
    capture: Capture,
    ropeLength: number,
  ): Promise<ForwardResult> {
    const s = this.spec;
    const B = inputIds.length;
    const T = inputIds[0]!.length;
    const S = past.length + T;
    const withLogits = this.defaultLogits !== 'none';
    const feeds: Record<string, ort.Tensor> = {
      [GraphNames.inputIds]: int64Tensor(inputIds, [B, T]),
      [GraphNames.attentionMask]: int64Tensor(mask, [B, S]),
      [GraphNames.positionIds]: int64Tensor(positions, [B, T]),
      ...steering,
    };
    if (s.ropeScaling?.kind === 'longrope') feeds[GraphNames.ropeLength] = new ort.Tensor('int64', BigInt64Array.of(BigInt(ropeLength)), [1]);
    if (withLogits) feeds[GraphNames.logitsRows] = new ort.Tensor('int64', BigInt64Array.from(logitsRows, (r) => BigInt(r)), [logitsRows.length]);
    for (let l = 0; l < s.numLayers; l++) {
      feeds[GraphNames.pastKey(l)] = past.keys[l]!;
      feeds[GraphNames.pastValue(l)] = past.values[l]!;
    }
    const fetches: string[] = withLogits ? [GraphNames.logits] : [];
    for (let l = 0; l < s.numLayers; l++) fetches.push(GraphNames.presentKey(l), GraphNames.presentValue(l));
    if (capture === 'full') s.moeLayers.forEach((_, i) => fetches.push(GraphNames.routerLogits(i)));
    if (capture !== 'none') s.moeLayers.forEach((_, i) => fetches.push(GraphNames.topkExperts(i), GraphNames.topkWeights(i)));
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await this.session.run(feeds, fetches);
    } catch (err) {
      throw new EngineError(`inference failed: ${(err as Error).message}`, { cause: err });
    }
    const cache: KvCache = {
      batch: B,
      length: S,
      keys: Array.from({ length: s.numLayers }, (_, l) => out[GraphNames.presentKey(l)]!),
      values: Array.from({ length: s.numLayers }, (_, l) => out[GraphNames.presentValue(l)]!),
    };
    const result: ForwardResult = { batch: B, seq: T, vocabSize: s.vocabSize, logits: withLogits ? (out[GraphNames.logits]!.data as Float32Array) : new Float32Array(0), logitsRows, cache };
    if (capture !== 'none') {
      result.routing = s.moeLayers.map((_, i) => ({
        routerLogits: capture === 'full' ? (out[GraphNames.routerLogits(i)]!.data as Float32Array) : new Float32Array(0),
        experts: Int32Array.from(out[GraphNames.topkExperts(i)]!.data as BigInt64Array, (v) => Number(v)),
        weights: out[GraphNames.topkWeights(i)]!.data as Float32Array,
      }));
      assertFiniteRouting(result.routing, s.moeLayers, { seq: T, numExperts: s.numExperts, topK: s.topK }, (row) => mask[Math.floor(row / T)]![past.length + (row % T)] !== 0);
    }
    return result;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
