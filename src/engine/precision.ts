/**
 * Weight precisions and the memory plan that picks one (`--precision auto|fp32|fp16|int8|int4`).
 *
 * - `fp32`: every weight used as fp32 (F16/BF16 widened exactly at load).
 * - `fp16`: expert matrices (~95% of a real MoE checkpoint) kept at 16 bits (half-experts.ts), widened to
 *   fp32 only inside a routed expert's branch; everything else as at fp32. Compute stays fp32: onnxruntime
 *   1.30's CPU MoE op has no fp16 kernel (it inserts Casts and folds a resident fp32 copy, measured), and
 *   its CPU fp16 MatMul is far slower than fp32. Router gates, norms and attention are untouched, so the
 *   only change against fp32 is the rounding of expert weights to fp16 (none at all for F16 checkpoints).
 *   On CUDA the experts instead run in fp16 through the fp16 fused MoE op (half-fused-experts.ts).
 * - `int8`, `int4`: experts block-quantised once into a cache (quant-experts.ts) and run by com.microsoft.QMoE on
 *   the CPU provider (int4: by prepacked MatMulNBits per expert where they can run, int4-kernel.ts), with our routing; dense projections through com.microsoft.MatMulNBits at the same width, the
 *   embedding at 16 bits, the lm_head at 8 bits (quant-dense.ts); router gates and norms fp32.
 * - fp16 also holds the embedding and the lm_head at 16 bits (quant-dense.ts).
 *
 * The plan estimates what a session holds resident (weights as used, KV cache at a context length, a
 * runtime allowance), compares it with this machine's memory, and `auto` takes the most faithful precision
 * that fits. Loading refuses a plan that does not fit before anything is allocated.
 */
import { readFileSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import type { DecoderSpec, GatedMlpSpec, LinearSpec, TensorSlice } from './architectures/types.js';
import { EngineError } from './errors.js';
import { denseProjections, HEAD_BITS, quantLinearBytes, quantLinearSpecBytes } from './quant-dense.js';
import { int4ExtraBytesPerExpertWeight } from './int4-kernel.js';
import type { MoeKernelPreference } from './moe-kernel.js';
import type { WeightStore } from './safetensors.js';

export type Precision = 'fp32' | 'fp16' | 'int8' | 'int4';
export type PrecisionPreference = 'auto' | Precision;

/** Most faithful first: `auto` walks this list. */
export const PRECISIONS: readonly Precision[] = ['fp32', 'fp16', 'int8', 'int4'];
/** Precisions this build can run. */
export const IMPLEMENTED_PRECISIONS: readonly Precision[] = ['fp32', 'fp16', 'int8', 'int4'];

export function parsePrecision(value: string | undefined, source: string): PrecisionPreference {
  if (value === undefined || value === '') return 'auto';
  const v = value.toLowerCase();
  if (v === 'auto' || (PRECISIONS as readonly string[]).includes(v)) return v as PrecisionPreference;
  throw new EngineError(`${source} must be auto, ${PRECISIONS.join(', ')}; got '${value}'`);
}

/** The KV cache length the plan budgets for when the caller does not say. */
export const DEFAULT_PLAN_CONTEXT = 4096;
/** onnxruntime, the graph and Node itself. */
const RUNTIME_BYTES = 300 * 2 ** 20;

export interface MemoryPlan {
  precision: Precision;
  /** Expert matrices as held while running. */
  expertBytes: number;
  /**
   * Attention, dense MLPs and shared experts (fp32, or MatMulNBits codes + scales at int8/int4), routers, gates,
   * norms and biases (expert biases included; always fp32), the lm_head (fp32; fp16 at fp16, nothing extra when tied;
   * 8-bit at int8/int4), and at fp32/fp16 DeepSeek-V2's second fp32 copy of kv_b_proj per layer
   * (absorbedAttentionCopies; at int8/int4 kv_b_proj is quantised and attention stays decompressed).
   */
  denseBytes: number;
  /** Embedding table: its stored dtype at fp32, 16 bits otherwise (only gathered rows are widened). */
  embeddingBytes: number;
  /** Keys and values for `context` tokens (batch 1, fp32). */
  kvBytes: number;
  /** Activations for one pass over `context` tokens plus the runtime allowance. */
  runtimeBytes: number;
  /**
   * Held only while loading, so in the peak but not once running (see `loadTransientBytes`): stored 16-bit pages
   * of weights widened to fp32, and one MoE layer's conversion buffers when an expert cache is written.
   */
  transientBytes: number;
  /** The peak: every field above added up. What `fits` is judged on. */
  totalBytes: number;
  context: number;
  /** Parameters counted (the bytes above divided by it give bytes per parameter). */
  parameters: number;
  /** False when this build cannot run the precision. */
  implemented: boolean;
}

export interface MachineMemory {
  totalBytes: number;
  /** Linux MemAvailable (free + reclaimable cache), else os.freemem(). */
  availableBytes: number;
}

export function machineMemory(): MachineMemory {
  let available = freemem();
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) available = Number(m[1]) * 1024;
  } catch {
    /* not Linux: freemem() */
  }
  return { totalBytes: totalmem(), availableBytes: available };
}

const count = (s: TensorSlice) => s.shape.reduce((a, b) => a * b, 1);
/**
 * Expert matrices only: GPT-OSS's expert biases stay fp32 at every precision (the fp16 dispatch path adds them
 * at fp32, QMoE takes them unquantised), so they are left to the dense count.
 */
const weightCount = (l: LinearSpec) => count(l.weight);
const mlpCount = (m: GatedMlpSpec) => (m.kind === 'split' ? weightCount(m.gate) + weightCount(m.up) + weightCount(m.down) : weightCount(m.gateUp) + weightCount(m.down));

/**
 * DeepSeek-V2's absorbed latent attention (graph/mla.ts) multiplies with kv_b_proj split per head into W_UK
 * and W_UV^T; onnxruntime folds those into a second fp32 copy of the matrix next to the one the decompressed form
 * uses (8 MB per V2-Lite layer). The graph builds the absorbed form for an out_in kv_b_proj without bias.
 */
export function absorbedAttentionCopies(spec: DecoderSpec): number {
  let n = 0;
  for (const l of spec.layers) if (l.attention.kind === 'mla' && l.attention.kvB.layout === 'out_in' && !l.attention.kvB.bias) n += count(l.attention.kvB.weight);
  return n;
}

/** Upper bound of what converting one expert weight into a cache holds at once: its fp32 read plus the converted copy. */
const CONVERSION_BYTES_PER_WEIGHT = 8;
/**
 * int8/int4 caches are converted expert by expert (quant-experts.ts): the fp32 rows of one expert at a time, whose
 * garbage the collector may leave behind for a few experts more (allowed for: this many).
 */
const EXPERTS_IN_FLIGHT = 8;

/** Where a session's fp16 experts are converted for: the CPU cache goes expert by expert, CUDA's fused cache by layer. */
export type PlanDevice = 'cpu' | 'cuda';

/**
 * What loading holds on top of the running session, measured (bench:precision, docs/precision.md):
 * - 16-bit weights used at fp32 are widened by onnxruntime's constant folding at session creation, which reads
 *   each mapped BF16/F16 tensor while writing its fp32 copy; the read pages count in the peak resident set next
 *   to the copies (a BF16 checkpoint at fp32 on the dispatch kernel peaked at 5.73 bytes per parameter, not 4).
 *   Dense weights are widened at every precision; experts only at fp32.
 * - Writing an expert cache (fused fp32 layout, fp16 from BF16/F32) reads one MoE layer's experts as
 *   fp32 and builds the converted arrays: up to CONVERSION_BYTES_PER_WEIGHT per expert weight. These are
 *   anonymous buffers freed only when the garbage collector runs, so the previous layer's may still be resident
 *   while the next is converted (measured: a 2-layer BF16 checkpoint's int4 cache write peaked with both layers'
 *   buffers resident): the two largest MoE layers are counted, as overlapping the session.
 * - int8/int4 caches convert expert by expert into the layer's codes: two layers' codes and scales (plus the fp32
 *   copy of a stacked expert tensor) and EXPERTS_IN_FLIGHT experts' fp32 rows (measured on an 8-layer
 *   Qwen3-30B-A3B-shaped checkpoint: docs/precision.md).
 * - fp16 on the CPU writes its cache expert by expert too (half-experts.ts): the fp32 copy of a stacked expert tensor
 *   and EXPERTS_IN_FLIGHT experts; the CUDA fp16 fused cache (half-fused-experts.ts) builds a layer at a time, so
 *   `device` 'cuda' keeps the two-layer term.
 * At fp32 the experts are either widened from the checkpoint (dispatch) or read from the converted cache
 * (fused), never both, so the larger of the two counts; the plan does not know which kernel will run.
 */
export function loadTransientBytes(spec: DecoderSpec, weights: WeightStore, precision: Precision, device: PlanDevice = 'cpu'): number {
  const narrow = (tensor: string) => weights.info(tensor).dtype !== 'F32';
  const stored = (tensor: string) => {
    const i = weights.info(tensor);
    return i.byteLength / i.shape.reduce((a, b) => a * b, 1);
  };
  const expertTensors = new Set<string>();
  let narrowExpertBytes = 0;
  const layerSizes: number[] = [];
  // int8/int4: what converting a layer holds until it is written (its codes and scales, plus the fp32 copy of a
  // stacked [E, ...] tensor, which every expert slices), and the largest single expert.
  const quantLayerHeld: number[] = [];
  const stackedLayerHeld: number[] = [];
  let largestExpert = 0;
  let allF16 = true;
  for (const layer of spec.layers) {
    if (layer.mlp.kind !== 'moe') continue;
    let inLayer = 0;
    let stacked = false;
    for (const e of layer.mlp.moe.experts) {
      const linears = e.kind === 'split' ? [e.gate, e.up, e.down] : [e.gateUp, e.down];
      let inExpert = 0;
      for (const l of linears) {
        const n = count(l.weight);
        inExpert += n;
        expertTensors.add(l.weight.tensor);
        if (narrow(l.weight.tensor)) narrowExpertBytes += n * stored(l.weight.tensor);
        if (weights.info(l.weight.tensor).dtype !== 'F16') allF16 = false;
        if (l.weight.offsetElements !== 0 || n !== weights.info(l.weight.tensor).shape.reduce((a, b) => a * b, 1)) stacked = true;
      }
      inLayer += inExpert;
      largestExpert = Math.max(largestExpert, inExpert);
    }
    layerSizes.push(inLayer);
    quantLayerHeld.push(inLayer * ((precision === 'int8' || precision === 'int4' ? EXPERT_BYTES[precision] : 0) + (stacked ? 4 : 0)));
    stackedLayerHeld.push(stacked ? inLayer * 4 : 0);
  }
  // Dense weights widened at load: every narrow tensor that is not an expert and not the embedding table (gathered in
  // its stored dtype), except a tied head, which is the embedding used as an fp32 MatMul weight. Below fp32 the
  // embedding and head come from the dense cache (quant-dense.ts) and, at int8/int4, so do the projections: not widened.
  const tiedHead = spec.lmHead.tensor === spec.embed.tensor;
  const fromDenseCache = new Set<string>();
  if (precision !== 'fp32') {
    fromDenseCache.add(spec.embed.tensor).add(spec.lmHead.tensor);
    if (precision !== 'fp16') for (const l of denseProjections(spec)) fromDenseCache.add(l.weight.tensor);
  }
  let denseWidened = 0;
  for (const name of weights.names()) {
    if (expertTensors.has(name) || !narrow(name) || fromDenseCache.has(name) || (name === spec.embed.tensor && !tiedHead)) continue;
    denseWidened += weights.info(name).byteLength;
  }
  const twoLargest = (xs: number[]) => [...xs].sort((a, b) => b - a).slice(0, 2).reduce((a, b) => a + b, 0);
  const conversion = twoLargest(layerSizes) * CONVERSION_BYTES_PER_WEIGHT;
  if (precision === 'fp32') return denseWidened + Math.max(narrowExpertBytes, conversion);
  const inFlight = EXPERTS_IN_FLIGHT * largestExpert * CONVERSION_BYTES_PER_WEIGHT;
  if (precision === 'fp16') return denseWidened + (allF16 ? 0 : device === 'cuda' ? conversion : twoLargest(stackedLayerHeld) + inFlight);
  return denseWidened + twoLargest(quantLayerHeld) + inFlight;
}

/** Bytes per expert weight as held at each precision (int8/int4 include one fp32 scale per 64-weight block). */
const EXPERT_BYTES: Record<Precision, number> = { fp32: 4, fp16: 2, int8: 1 + 4 / 64, int4: 0.5 + 4 / 64 };

/**
 * `moeKernel`: the session's expert kernel preference. At int4, `dispatch` (int8 activations) holds a packed copy
 * larger than the cache (int4-kernel.ts), counted in expertBytes; every other kernel holds the cache's bytes.
 */
export function memoryPlan(spec: DecoderSpec, weights: WeightStore, precision: Precision, context = DEFAULT_PLAN_CONTEXT, moeKernel?: MoeKernelPreference, device: PlanDevice = 'cpu'): MemoryPlan {
  // Counted from the checkpoint itself, so every tensor is in exactly one bucket: experts, the embedding, the head,
  // the dense projections (quantised at int8/int4) and the rest (routers, gates, norms, biases: always fp32).
  let experts = 0;
  for (const layer of spec.layers) if (layer.mlp.kind === 'moe') for (const e of layer.mlp.moe.experts) experts += mlpCount(e);
  let total = 0;
  for (const name of weights.names()) total += weights.info(name).shape.reduce((a, b) => a * b, 1);
  const tiedHead = spec.lmHead.tensor === spec.embed.tensor;
  const embedParams = count(spec.embed);
  const headParams = count(spec.lmHead);
  const projections = denseProjections(spec);
  const projParams = projections.reduce((a, l) => a + count(l.weight), 0);
  const rest = total - experts - embedParams - (tiedHead ? 0 : headParams) - projParams;
  const bits = precision === 'int8' ? 8 : precision === 'int4' ? 4 : null;
  const projBytes = bits ? projections.reduce((a, l) => a + quantLinearSpecBytes(l, bits), 0) : projParams * 4;
  // fp32: the head is an fp32 MatMul weight (a tied head is a second, fp32 use of the embedding); fp16: a 16-bit
  // table (the embedding's own when tied); int8/int4: an 8-bit MatMulNBits weight.
  const headBytes = bits ? quantLinearBytes(spec.lmHead.shape[0]!, spec.lmHead.shape[1]!, HEAD_BITS) : precision === 'fp16' ? (tiedHead ? 0 : headParams * 2) : headParams * 4;
  const embedInfo = weights.info(spec.embed.tensor);
  const storedBytesPerWeight = embedInfo.byteLength / embedInfo.shape.reduce((a, b) => a * b, 1);
  const embeddingBytes = embedParams * (precision === 'fp32' ? storedBytesPerWeight : 2);
  const kvBytes = 2 * spec.numLayers * spec.numKvHeads * spec.headDim * context * 4;
  const runtimeBytes = RUNTIME_BYTES + context * (16 * spec.hiddenSize + spec.numExperts) * 4;
  const expertBytes = experts * (EXPERT_BYTES[precision] + (precision === 'int4' ? int4ExtraBytesPerExpertWeight(spec, moeKernel) : 0));
  // At int8/int4 kv_b_proj is a MatMulNBits weight and MLA attention stays decompressed: no absorbed fp32 copy.
  const denseBytes = rest * 4 + projBytes + headBytes + (bits ? 0 : absorbedAttentionCopies(spec) * 4);
  const transientBytes = loadTransientBytes(spec, weights, precision, device);
  return {
    precision,
    expertBytes,
    denseBytes,
    embeddingBytes,
    kvBytes,
    runtimeBytes,
    transientBytes,
    totalBytes: expertBytes + denseBytes + embeddingBytes + kvBytes + runtimeBytes + transientBytes,
    context,
    parameters: total,
    implemented: IMPLEMENTED_PRECISIONS.includes(precision),
  };
}

export type Fit = 'fits' | 'tight' | 'no';

/** fits: within available memory; tight: only if other programs give memory back; no: beyond physical memory. */
export function fitOf(plan: MemoryPlan, machine: MachineMemory): Fit {
  if (plan.totalBytes <= machine.availableBytes) return 'fits';
  return plan.totalBytes <= machine.totalBytes ? 'tight' : 'no';
}

/**
 * Share of (token, MoE layer) decisions whose top-k set equals fp32's, measured by `npm run bench:precision`
 * (docs/precision.md). Shown by `routescope inspect` so the choice of precision is an informed one.
 */
export const EXPECTED_AGREEMENT: Record<Precision, string> = {
  fp32: 'reference',
  fp16: '100% identical top-k sets on the demo model, 99.6-100% on random F32 models (bench:precision)',
  int8: '99.5% identical top-k sets on the demo model, 96.9-100% on random models (bench:precision)',
  int4: '95.8% identical top-k sets on the demo model, 72-99% on random models (bench:precision)',
};

export const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
/** GiB from 1 GiB up, MiB below (inspect's table). */
export const sizeText = (b: number) => (b >= 2 ** 30 ? gib(b) : `${(b / 2 ** 20).toFixed(1)} MiB`);

export interface PrecisionChoice {
  name: Precision;
  reason: string;
  plan: MemoryPlan;
}

/**
 * The precision a session runs at. `auto`: the most faithful implemented precision whose plan fits the
 * available memory. An explicit precision that this build cannot run, or a plan that does not fit, is
 * refused with the figures (set ROUTESCOPE_SKIP_MEMORY_CHECK=1 to load anyway).
 */
export function choosePrecision(
  spec: DecoderSpec,
  weights: WeightStore,
  preference: PrecisionPreference,
  opts: {
    context?: number;
    machine?: MachineMemory;
    /** What the execution provider can run (default: every implemented one). */
    runnable?: readonly Precision[];
    /** The expert kernel preference, which changes what int4 holds (memoryPlan). */
    moeKernel?: MoeKernelPreference;
    /** The session's provider, which changes what writing the fp16 cache holds (loadTransientBytes). */
    device?: PlanDevice;
  } = {},
): PrecisionChoice {
  const machine = opts.machine ?? machineMemory();
  const runnable = opts.runnable ?? IMPLEMENTED_PRECISIONS;
  const skip = process.env.ROUTESCOPE_SKIP_MEMORY_CHECK === '1';
  const plans = PRECISIONS.map((p) => memoryPlan(spec, weights, p, opts.context, opts.moeKernel, opts.device));
  const figures = () =>
    plans.map((p) => `${p.precision} ${gib(p.totalBytes)}${p.implemented ? '' : ' (not implemented)'}`).join(', ') +
    `; this machine has ${gib(machine.availableBytes)} available of ${gib(machine.totalBytes)}`;
  if (preference === 'auto') {
    const fitting = plans.find((p) => p.implemented && runnable.includes(p.precision) && fitOf(p, machine) === 'fits');
    if (fitting) {
      const better = plans.slice(0, plans.indexOf(fitting)).filter((p) => p.implemented);
      const why = better.length ? ` (${better.map((p) => `${p.precision} needs ${gib(p.totalBytes)}`).join(', ')})` : '';
      return { name: fitting.precision, reason: `auto: ${fitting.precision} is the most faithful precision that fits, ${gib(fitting.totalBytes)} of ${gib(machine.availableBytes)} available${why}`, plan: fitting };
    }
    if (skip) {
      const forced = plans.find((p) => p.precision === 'fp16' && runnable.includes('fp16')) ?? plans[0]!;
      return { name: forced.precision, reason: `auto: nothing fits; ${forced.precision} forced by ROUTESCOPE_SKIP_MEMORY_CHECK`, plan: forced };
    }
    throw new EngineError(`the model does not fit in memory at any precision this build runs (${figures()}); free memory, use a machine with more, or a shorter context`);
  }
  const plan = plans.find((p) => p.precision === preference)!;
  if (!plan.implemented) {
    throw new EngineError(`precision ${preference} is not implemented in this build; use ${IMPLEMENTED_PRECISIONS.join(', ')} or auto`);
  }
  if (!skip && fitOf(plan, machine) !== 'fits') {
    const smaller = plans.find((p) => p.implemented && fitOf(p, machine) === 'fits');
    throw new EngineError(
      `precision ${preference} needs about ${gib(plan.totalBytes)} but this machine has ${gib(machine.availableBytes)} available (${gib(machine.totalBytes)} total); ` +
        (smaller ? `--precision ${smaller.precision} fits (${gib(smaller.totalBytes)})` : `no precision fits (${figures()})`) +
        '; set ROUTESCOPE_SKIP_MEMORY_CHECK=1 to load anyway',
    );
  }
  return { name: preference, reason: `${preference} requested; needs about ${gib(plan.totalBytes)} of ${gib(machine.availableBytes)} available`, plan };
}
