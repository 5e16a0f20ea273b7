/**
 * The `fp16` precision on CUDA: expert weights stay 16-bit on the device and one com.microsoft.MoE node per
 * layer runs in fp16 (onnxruntime's CUDA provider has an fp16 MoE kernel; its CPU provider has none).
 *
 * - Cache: `<cacheRoot>/fp16-fused-experts/<key>.bin` + `.json`, per MoE layer fc1 [E, 2I, H] (gate/up rows
 *   interleaved, `swiglu_fusion=1`) and fc2 [E, H, I], both F16, written once by cache-file.ts (manifest last,
 *   per-segment sha256, disk checked first, progress, cancel) and mapped. A matrix beyond fp16's range cannot
 *   be kept at fp32 inside one fp16 node (the dispatch path can), so it is refused with the figures.
 * - Graph (`halfFusedMoe`): the fp32 hidden states and the crafted router logits (graph/experts-fused.ts: log of our
 *   weights for our experts) are Cast to fp16, the op runs, its output is Cast back. Routing is still ours,
 *   computed in fp32 before the node; only the mixing weights pass through fp16 (log w rounded to fp16:
 *   relative weight error <= |log w| * 2^-11).
 * - On the CPU provider the same graph runs too: onnxruntime inserts Casts around the fp16 node and folds the
 *   weights into a resident fp32 copy, i.e. it is the fp32 op on fp16-rounded inputs and weights. That is how
 *   the tests check this graph without a GPU; it is not a way to save memory on CPU (the dispatch path is).
 */
import { join } from 'node:path';
import type { DecoderSpec } from './architectures/types.js';
import { prepareCacheEntry, type CachedSegment, type VerifiedBy } from './cache-file.js';
import { EngineError } from './errors.js';
import type { ExecutionProviderName } from './execution-provider.js';
import type { CacheOptions } from './expert-cache.js';
import { expertWidth, fusedExpertBiases, gateUpRows, hasExpertBias, TensorReader, uniformExpertWidth } from './fused-experts.js';
import { FP16_MAX } from './half-experts.js';
import type { MoeKernelChoice, MoeKernelPreference } from './moe-kernel.js';
import { freeBytesAt } from './moe-kernel.js';
import { MS_DOMAIN, type Attr, type OnnxGraph } from './onnx/graph.js';
import { DataType } from './onnx/model.js';
import type { WeightStore } from './safetensors.js';
import { float32ToF16Array } from '../numeric/float16.js';

const HALF_FUSED_FORMAT = 1;
const DISK_MARGIN_BYTES = 256 * 2 ** 20;
const FP16_MIN_NORMAL = 2 ** -14;
/**
 * Crafted logit for unselected experts once in fp16: the fp32 path's -1e30 would become -inf, and a softmax
 * over -inf is left to each kernel's handling; the lowest finite fp16 value gives exactly 0 after exp just
 * the same, since our selected logits are >= log(1e-30) ~ -69.
 */
export const HALF_UNSELECTED_LOGIT = -65504;

export interface HalfFusedLayer {
  fc1: CachedSegment;
  fc2: CachedSegment;
  /** GPT-OSS: F16 biases, fc1 [E, 2I] (interleaved like fc1) and fc2 [E, H]; the op takes them in its own type. */
  fc1Bias?: CachedSegment;
  fc2Bias?: CachedSegment;
}

export interface HalfFusedExpertCache {
  file: string;
  layers: HalfFusedLayer[];
  bytes: number;
  reused: boolean;
  /** Non-zero expert weights below fp16's normal range (kept with fewer significant bits). */
  subnormal: number;
  verifiedBy: VerifiedBy;
}

function moeBlocks(spec: DecoderSpec) {
  return spec.layers.flatMap((l) => (l.mlp.kind === 'moe' ? [l.mlp.moe] : []));
}

/** Bytes of the cache file: every expert weight at 2 bytes. */
export function halfFusedCacheBytes(spec: DecoderSpec): number {
  let total = 0;
  for (const moe of moeBlocks(spec)) for (const m of moe.experts) total += (3 * expertWidth(m) * spec.hiddenSize + (hasExpertBias(m) ? 2 * expertWidth(m) + spec.hiddenSize : 0)) * 2;
  return total;
}

const isData = (d: unknown): d is { layers: HalfFusedLayer[]; subnormal: number } =>
  typeof d === 'object' && d !== null && Array.isArray((d as { layers?: unknown }).layers) && typeof (d as { subnormal?: unknown }).subnormal === 'number';

/** Reuses (after the integrity check) or writes the fp16 fused expert cache. */
export async function prepareHalfFusedExpertCache(
  spec: DecoderSpec,
  weights: WeightStore,
  modelDir: string,
  cacheRoot: string,
  opts: CacheOptions = {},
): Promise<HalfFusedExpertCache> {
  const H = spec.hiddenSize;
  const blocks = moeBlocks(spec);
  for (const [i, moe] of blocks.entries()) uniformExpertWidth(moe.experts, `MoE layer ${i}`, 'cannot use the fused kernel');
  const dir = join(cacheRoot, 'fp16-fused-experts');
  const entry = await prepareCacheEntry({
    label: 'fp16 fused expert cache',
    dir,
    modelDir,
    weights,
    spec,
    format: HALF_FUSED_FORMAT,
    isData,
    onNotice: opts.onNotice,
    signal: opts.signal,
    beforeWrite: () => {
      const needed = halfFusedCacheBytes(spec);
      const free = freeBytesAt(dir);
      if (free !== null && needed + DISK_MARGIN_BYTES > free) {
        throw new EngineError(
          `the fp16 fused expert cache needs ${(needed / 2 ** 30).toFixed(2)} GiB in ${dir} but only ${(free / 2 ** 30).toFixed(2)} GiB are free; ` +
            `free space there, set ROUTESCOPE_CACHE_DIR (or cacheDir) to a larger disk, or use --precision fp32`,
        );
      }
    },
    write: async (put) => {
      const layers: HalfFusedLayer[] = [];
      let subnormal = 0;
      for (const [i, moe] of blocks.entries()) {
        if (opts.signal?.aborted) throw new EngineError('writing the fp16 fused expert cache was cancelled');
        const reader = new TensorReader(weights);
        const E = moe.experts.length;
        const I = expertWidth(moe.experts[0]!);
        const fc1 = new Float32Array(E * 2 * I * H);
        const fc2 = new Float32Array(E * H * I);
        for (const [e, m] of moe.experts.entries()) {
          const { gate, up } = gateUpRows(reader, m, H, I);
          const base = e * 2 * I * H;
          for (let j = 0; j < I; j++) {
            fc1.set(gate.subarray(j * H, (j + 1) * H), base + 2 * j * H);
            fc1.set(up.subarray(j * H, (j + 1) * H), base + (2 * j + 1) * H);
          }
          fc2.set(reader.outIn(m.down, H, I), e * H * I);
        }
        const bias = fusedExpertBiases(reader, moe.experts, H, I);
        const check = (data: Float32Array, part: 'fc1' | 'fc2' | 'fc1 bias' | 'fc2 bias', perExpert: number) => {
          for (let k = 0; k < data.length; k++) {
            const a = Math.abs(data[k]!);
            if (a !== 0 && a < FP16_MIN_NORMAL) subnormal++;
            if (!(a <= FP16_MAX)) {
              const e = Math.floor(k / perExpert);
              const row = part === 'fc1 bias' ? k % perExpert : Math.floor((k % perExpert) / H);
              const what = part === 'fc2' ? 'down_proj' : part === 'fc2 bias' ? 'down_proj bias' : `${row % 2 === 0 ? 'gate_proj' : 'up_proj'}${part === 'fc1 bias' ? ' bias' : ''}`;
              throw new EngineError(
                `decoder layer ${spec.moeLayers[i]}'s expert ${e} ${what} holds ${data[k]}, beyond fp16's range (${FP16_MAX}): the fp16 fused MoE op (CUDA) cannot hold it; ` +
                  `use --ep cpu (fp16 there keeps such a matrix at fp32) or --precision fp32`,
              );
            }
          }
        };
        check(fc1, 'fc1', 2 * I * H);
        check(fc2, 'fc2', H * I);
        if (bias) {
          check(bias.fc1, 'fc1 bias', 2 * I);
          check(bias.fc2, 'fc2 bias', H);
        }
        const at = `decoder layer ${spec.moeLayers[i]}'s`;
        layers.push({
          fc1: put(float32ToF16Array(fc1), `${at} fp16 fc1 experts`),
          fc2: put(float32ToF16Array(fc2), `${at} fp16 fc2 experts`),
          ...(bias ? { fc1Bias: put(float32ToF16Array(bias.fc1), `${at} fp16 fc1 expert biases`), fc2Bias: put(float32ToF16Array(bias.fc2), `${at} fp16 fc2 expert biases`) } : {}),
        });
        opts.onProgress?.({ layer: i + 1, layers: blocks.length });
        await new Promise((resolveTick) => setImmediate(resolveTick));
      }
      return { layers, subnormal };
    },
  });
  if (entry.file === null) throw new EngineError(`the fp16 fused expert cache for ${modelDir} has no data file (no MoE layer)`);
  return { file: entry.file, layers: entry.data.layers, bytes: entry.bytes, reused: entry.reused, subnormal: entry.data.subnormal, verifiedBy: entry.verifiedBy };
}

/**
 * The fp16 MoE node between Casts: fp32 hidden states `x` and crafted fp32 logits in, fp32 out. `fc1`, `fc2` and
 * the optional biases (`''` = none) are the F16 initializers of the layer's cache segments.
 */
export function halfFusedMoe(g: OnnxGraph, x: string, crafted: string, fc1: string, fc2: string, attrs: Record<string, Attr>, fc1Bias = '', fc2Bias = ''): string {
  const x16 = g.cast(x, DataType.FLOAT16);
  const logits16 = g.cast(g.op('Max', [crafted, g.scalarF(HALF_UNSELECTED_LOGIT)]), DataType.FLOAT16);
  return g.cast(g.op('MoE', [x16, logits16, fc1, fc1Bias, fc2, fc2Bias], attrs, MS_DOMAIN), DataType.FLOAT);
}

/**
 * The kernel for fp16 experts. CUDA: the fp16 fused op (weights stay 16-bit on the device, compute in fp16).
 * CPU: the dispatch kernel (16-bit storage, each routed expert widened to fp32 while it runs), unless the fused
 * kernel is asked for, which runs the CUDA graph on CPU (for checking it; the CPU provider folds an fp32 copy
 * of every expert, so it saves no memory there).
 */
export function chooseHalfKernel(provider: ExecutionProviderName, preference: MoeKernelPreference | undefined): MoeKernelChoice & { halfFused: boolean } {
  if (provider === 'cuda') {
    if (preference === 'dispatch') return { name: 'dispatch', reason: 'fp16 precision, dispatch requested: 16-bit experts widened to fp32 while they run', expertCopyBytes: 0, halfFused: false };
    return { name: 'fused', reason: 'fp16 precision on CUDA: 16-bit experts through the fp16 com.microsoft.MoE kernel', expertCopyBytes: 0, halfFused: true };
  }
  if (preference === 'fused') {
    return {
      name: 'fused',
      reason: 'fp16 precision, fused requested on CPU: the CUDA fp16 MoE graph, run by the CPU provider through an fp32 copy of every expert (a check of that graph, not a memory saving)',
      expertCopyBytes: 0,
      halfFused: true,
    };
  }
  return { name: 'dispatch', reason: 'fp16 precision: 16-bit experts, each widened to fp32 only while it runs', expertCopyBytes: 0, halfFused: false };
}
