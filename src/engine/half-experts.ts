/**
 * Expert weights at 16 bits for the `fp16` precision (precision.ts). Experts are ~95% of a real MoE
 * checkpoint's parameters, so this is where the memory goes:
 * - an F16 expert matrix of the checkpoint is mapped as is (zero copy);
 * - a BF16 or F32 one is converted once to F16 into a cache file OUTSIDE the model folder
 *   (`<cacheRoot>/fp16-experts/<key>.bin` + `.json`, written, pruned and checksum-verified on every load by
 *   cache-file.ts like the fp32 fused cache), then mapped like the checkpoint. A matrix whose largest magnitude exceeds the fp16 range (65504)
 *   is written as F32 instead and reported (`keptFp32`), never silently turned into infinities.
 * The graph builder casts each expert's 16-bit matrices to fp32 only inside that expert's branch, so a
 * forward pass holds fp32 copies of the routed experts only, one at a time (see graph/experts-dispatch-half.ts).
 */
import { join } from 'node:path';
import type { DecoderSpec, GatedMlpSpec, LinearSpec } from './architectures/types.js';
import { prepareCacheEntry, type CachedSegment, type VerifiedBy } from './cache-file.js';
import { EngineError } from './errors.js';
import type { CacheOptions } from './expert-cache.js';
import { expertBiasVectors, expertWidth, gateUpRows, hasExpertBias, TensorReader } from './fused-experts.js';
import { freeBytesAt } from './moe-kernel.js';
import type { WeightStore } from './safetensors.js';
import { float32ToF16Array } from '../numeric/float16.js';

/** Bumped whenever the layout changes: a manifest of another format is rebuilt, never read. */
const HALF_FORMAT = 2;
/** Largest finite fp16 value. */
export const FP16_MAX = 65504;
/** Smallest normal fp16 value: below it fp16 keeps fewer significant bits. */
const FP16_MIN_NORMAL = 2 ** -14;
/** Space left free on the cache disk after writing. */
const DISK_MARGIN_BYTES = 256 * 2 ** 20;

/** One expert matrix, [out, in] for cache entries; a checkpoint entry keeps its own layout. */
export type HalfSource =
  | { kind: 'cache'; dtype: 'F16' | 'F32'; segment: CachedSegment; shape: [number, number] }
  | { kind: 'checkpoint'; linear: LinearSpec };

export interface HalfExpert {
  gate: HalfSource;
  up: HalfSource;
  down: HalfSource;
  /** GPT-OSS: the expert's biases kept at fp32 (small: 2I + H floats), gate [I], up [I], down [H]. */
  bias?: { gate: CachedSegment; up: CachedSegment; down: CachedSegment };
}

/** A matrix kept at fp32 because fp16 would overflow. */
export interface KeptFp32 {
  moeLayer: number;
  expert: number;
  part: 'gate' | 'up' | 'down';
  maxAbs: number;
}

export interface HalfExpertCache {
  /** Absolute real path of the cache file; null when every expert matrix is mapped from the checkpoint. */
  file: string | null;
  /** [moeLayer][expert]. */
  layers: HalfExpert[][];
  bytes: number;
  reused: boolean;
  keptFp32: KeptFp32[];
  /** Non-zero weights below the fp16 normal range (stored with reduced precision). */
  subnormal: number;
  verifiedBy: VerifiedBy;
}

type Part = 'gate' | 'up' | 'down';

/** The part as a directly mappable F16 linear, or null when it must be converted. */
function mappableF16(weights: WeightStore, m: GatedMlpSpec, part: Part, inter: number, hidden: number): LinearSpec | null {
  // A bias is written to the cache separately, so a biased F16 matrix still maps as is.
  const check = (l: LinearSpec) => (weights.info(l.weight.tensor).dtype === 'F16' ? { weight: l.weight, layout: l.layout } : null);
  if (m.kind === 'split') return check(m[part]);
  if (part === 'down') return check(m.down);
  if (m.interleaved) return null; // gate and up rows alternate: no contiguous slice of either
  // gate rows then up rows of an [2I, H] tensor: each half is a contiguous [I, H] slice.
  if (m.gateUp.layout !== 'out_in' || !check(m.gateUp)) return null;
  const w = m.gateUp.weight;
  return { layout: 'out_in', weight: { tensor: w.tensor, offsetElements: w.offsetElements + (part === 'up' ? inter * hidden : 0), shape: [inter, hidden] } };
}

function moeBlocks(spec: DecoderSpec) {
  return spec.layers.flatMap((l) => (l.mlp.kind === 'moe' ? [l.mlp.moe] : []));
}

/** Bytes the cache file will take (each converted matrix at 2 bytes per weight, before alignment). */
export function halfCacheBytes(spec: DecoderSpec, weights: WeightStore): number {
  let total = 0;
  for (const moe of moeBlocks(spec)) {
    for (const m of moe.experts) {
      const I = expertWidth(m);
      for (const part of ['gate', 'up', 'down'] as const) {
        if (!mappableF16(weights, m, part, I, spec.hiddenSize)) total += I * spec.hiddenSize * 2;
      }
      if (hasExpertBias(m)) total += (2 * I + spec.hiddenSize) * 4;
    }
  }
  return total;
}

interface HalfData {
  layers: HalfExpert[][];
  keptFp32: KeptFp32[];
  subnormal: number;
}

const isHalfData = (d: unknown): d is HalfData => {
  const h = d as Partial<HalfData> | null;
  return typeof h === 'object' && h !== null && Array.isArray(h.layers) && Array.isArray(h.keptFp32) && typeof h.subnormal === 'number';
};

/**
 * Reuses or writes the fp16 expert cache. Checks the disk first (a clear error, nothing written, when it is
 * too small); yields between layers, reports progress, and removes the partial file when cancelled or failed.
 */
export async function prepareHalfExpertCache(
  spec: DecoderSpec,
  weights: WeightStore,
  modelDir: string,
  cacheRoot: string,
  opts: CacheOptions = {},
): Promise<HalfExpertCache> {
  const H = spec.hiddenSize;
  const blocks = moeBlocks(spec);
  const dir = join(cacheRoot, 'fp16-experts');
  const entry = await prepareCacheEntry({
    label: 'fp16 expert cache',
    dir,
    modelDir,
    weights,
    spec,
    format: HALF_FORMAT,
    isData: isHalfData,
    onNotice: opts.onNotice,
    signal: opts.signal,
    beforeWrite: () => {
      const needed = halfCacheBytes(spec, weights);
      const free = freeBytesAt(dir);
      if (needed > 0 && free !== null && needed + DISK_MARGIN_BYTES > free) {
        throw new EngineError(
          `the fp16 expert cache needs ${(needed / 2 ** 30).toFixed(2)} GiB in ${dir} but only ${(free / 2 ** 30).toFixed(2)} GiB are free; ` +
            `free space there, set ROUTESCOPE_CACHE_DIR (or cacheDir) to a larger disk, or use --precision fp32`,
        );
      }
    },
    write: async (put) => {
      const layers: HalfExpert[][] = [];
      const keptFp32: KeptFp32[] = [];
      let subnormal = 0;
      for (const [i, moe] of blocks.entries()) {
        if (opts.signal?.aborted) throw new EngineError('writing the fp16 expert cache was cancelled');
        const reader = new TensorReader(weights);
        const experts: HalfExpert[] = [];
        for (const [e, m] of moe.experts.entries()) {
          const I = expertWidth(m);
          let rows: { gate: Float32Array; up: Float32Array } | undefined;
          const source = (part: Part): HalfSource => {
            const mapped = mappableF16(weights, m, part, I, H);
            if (mapped) return { kind: 'checkpoint', linear: mapped };
            const shape: [number, number] = part === 'down' ? [H, I] : [I, H];
            const what = `decoder layer ${spec.moeLayers[i]}'s expert ${e} ${part}_proj`;
            let data: Float32Array;
            if (part === 'down') data = reader.outIn(m.down, H, I);
            else data = (rows ??= gateUpRows(reader, m, H, I))[part];
            let maxAbs = 0;
            for (const v of data) {
              const a = Math.abs(v);
              if (a > maxAbs) maxAbs = a;
              if (a !== 0 && a < FP16_MIN_NORMAL) subnormal++;
            }
            if (!(maxAbs <= FP16_MAX)) {
              keptFp32.push({ moeLayer: i, expert: e, part, maxAbs });
              return { kind: 'cache', dtype: 'F32', segment: put(data, what), shape };
            }
            return { kind: 'cache', dtype: 'F16', segment: put(float32ToF16Array(data), what), shape };
          };
          const expert: HalfExpert = { gate: source('gate'), up: source('up'), down: source('down') };
          if (hasExpertBias(m)) {
            const b = expertBiasVectors(reader, m, H, I);
            const what = `decoder layer ${spec.moeLayers[i]}'s expert ${e}`;
            expert.bias = { gate: put(b.gate, `${what} gate bias`), up: put(b.up, `${what} up bias`), down: put(b.down, `${what} down bias`) };
          }
          experts.push(expert);
          // Each expert goes to the cache as it is converted: keep no fp32 copy of its own tensors past it.
          reader.forgetWhole(m);
        }
        layers.push(experts);
        opts.onProgress?.({ layer: i + 1, layers: blocks.length });
        await new Promise((resolveTick) => setImmediate(resolveTick));
      }
      return { layers, keptFp32, subnormal };
    },
  });
  const { layers, keptFp32, subnormal } = entry.data;
  return { file: entry.file, layers, bytes: entry.bytes, reused: entry.reused, keptFp32, subnormal, verifiedBy: entry.verifiedBy };
}
