/**
 * Quantised experts for the `int8` and `int4` precisions (precision.ts), run by one com.microsoft.QMoE node
 * per MoE layer (graph/experts-qmoe.ts). Symmetric block-wise quantisation of every expert matrix row: blocks of
 * `blockSize` weights along the input axis share one fp32 scale = max|w| / qmax (qmax 127 for 8 bits, 7 for
 * 4 bits); a weight is stored as round(w / scale) + zero point (128 / 8, onnxruntime's defaults), 4-bit values
 * packed two per byte, low nibble first. Layout as the fused kernel's: fc1 = [E, 2I, H] with gate/up rows
 * interleaved, fc2 = [E, H, I]. Written once to `<cacheRoot>/int{8,4}-experts/<key>.bin` + `.json` outside the
 * model folder by cache-file.ts (manifest last, per-segment sha256 verified on load, disk space checked first,
 * progress, cancel), then mapped.
 * Checked against onnxruntime-node 1.30's CPU QMoE: its output equals the fp32 MoE op on the dequantised
 * weights within 1e-8 (both bit widths; tests compare the whole graph with the float64 reference).
 */
import { join } from 'node:path';
import type { DecoderSpec } from './architectures/types.js';
import { prepareCacheEntry, type CachedSegment, type VerifiedBy } from './cache-file.js';
import { EngineError } from './errors.js';
import type { CacheOptions } from './expert-cache.js';
import { expertWidth, fusedExpertBiases, gateUpRows, hasExpertBias, TensorReader, uniformExpertWidth } from './fused-experts.js';
import { freeBytesAt } from './moe-kernel.js';
import type { WeightStore } from './safetensors.js';

const QUANT_FORMAT = 2;
const DISK_MARGIN_BYTES = 256 * 2 ** 20;

export type QuantBits = 8 | 4;

export interface QuantLayer {
  fc1: CachedSegment;
  fc1Scales: CachedSegment;
  fc2: CachedSegment;
  fc2Scales: CachedSegment;
  /** GPT-OSS: fp32 biases, fc1 [E, 2I] (interleaved) and fc2 [E, H]; QMoE adds them unquantised. */
  fc1Bias?: CachedSegment;
  fc2Bias?: CachedSegment;
}

export interface QuantExpertCache {
  file: string;
  bits: QuantBits;
  /** Weights per scale along the input axis; 0 = one scale per row (no block size divides both H and I). */
  blockSize: number;
  layers: QuantLayer[];
  bytes: number;
  reused: boolean;
  verifiedBy: VerifiedBy;
  /** Set by the session when int4 experts run on the dispatch kernel: MatMulNBits accuracy_level (int4-kernel.ts). */
  dispatchAccuracy?: 1 | 4;
}

/** The largest of 64, 32, 16 dividing both the hidden size and the expert width, else 0 (per row). */
export function quantBlockSize(hidden: number, inter: number): number {
  return [64, 32, 16].find((b) => hidden % b === 0 && inter % b === 0) ?? 0;
}

/**
 * Quantises `rows` x `cols` (row-major) into packed codes and one scale per (row, block). Exported for the
 * memory plan's byte counts and the cache; the tests use their own second implementation.
 */
export function quantizeRows(w: Float32Array, rows: number, cols: number, bits: QuantBits, blockSize: number): { codes: Uint8Array; scales: Float32Array } {
  const block = blockSize || cols;
  const blocks = cols / block;
  const qmax = bits === 8 ? 127 : 7;
  const zero = bits === 8 ? 128 : 8;
  const codes = new Uint8Array((rows * cols * bits) / 8);
  const scales = new Float32Array(rows * blocks);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const start = r * cols + b * block;
      let max = 0;
      for (let c = 0; c < block; c++) max = Math.max(max, Math.abs(w[start + c]!));
      const scale = max > 0 ? max / qmax : 1;
      scales[r * blocks + b] = scale;
      for (let c = 0; c < block; c++) {
        const i = start + c;
        const q = Math.max(-qmax, Math.min(qmax, Math.round(w[i]! / scale))) + zero;
        if (bits === 8) codes[i] = q;
        else codes[i >> 1] |= (i & 1) === 0 ? q : q << 4;
      }
    }
  }
  return { codes, scales };
}

function moeBlocks(spec: DecoderSpec) {
  return spec.layers.flatMap((l) => (l.mlp.kind === 'moe' ? [l.mlp.moe] : []));
}

/** Bytes of the cache (codes + fp32 scales), before alignment. */
export function quantCacheBytes(spec: DecoderSpec, bits: QuantBits): number {
  let total = 0;
  for (const moe of moeBlocks(spec)) {
    const I = expertWidth(moe.experts[0]!);
    const block = quantBlockSize(spec.hiddenSize, I);
    const weights = moe.numExperts * 3 * I * spec.hiddenSize;
    const scales = moe.numExperts * (2 * I * (block ? spec.hiddenSize / block : 1) + spec.hiddenSize * (block ? I / block : 1));
    const biases = moe.experts.some(hasExpertBias) ? moe.numExperts * (2 * I + spec.hiddenSize) : 0;
    total += (weights * bits) / 8 + (scales + biases) * 4;
  }
  return total;
}

interface QuantData {
  bits: QuantBits;
  blockSize: number;
  layers: QuantLayer[];
}

export async function prepareQuantExpertCache(
  spec: DecoderSpec,
  weights: WeightStore,
  modelDir: string,
  cacheRoot: string,
  bits: QuantBits,
  opts: CacheOptions = {},
): Promise<QuantExpertCache> {
  const H = spec.hiddenSize;
  const blocks = moeBlocks(spec);
  const I = expertWidth(blocks[0]!.experts[0]!);
  // One width across every layer too: the block size below is chosen once from it.
  for (const [i, moe] of blocks.entries()) uniformExpertWidth(moe.experts, `MoE layer ${i}`, 'cannot be quantised for QMoE', I);
  const blockSize = quantBlockSize(H, I);
  // Experts are quantised one at a time into the layer's packed codes: at 4 bits each expert's matrices must fill
  // whole bytes (hidden x width even), or two experts would share a byte.
  if (bits === 4 && (H * I) % 2 !== 0) {
    throw new EngineError(`cannot quantise experts of hidden size ${H} and width ${I} to int4: their product is odd (two codes per byte); use --precision int8`);
  }
  const dir = join(cacheRoot, `int${bits}-experts`);
  const isQuantData = (d: unknown): d is QuantData => {
    const q = d as Partial<QuantData> | null;
    return typeof q === 'object' && q !== null && q.bits === bits && q.blockSize === blockSize && Array.isArray(q.layers);
  };
  const entry = await prepareCacheEntry({
    label: `int${bits} expert cache`,
    dir,
    modelDir,
    weights,
    spec,
    format: QUANT_FORMAT,
    isData: isQuantData,
    onNotice: opts.onNotice,
    signal: opts.signal,
    beforeWrite: () => {
      const needed = quantCacheBytes(spec, bits);
      const free = freeBytesAt(dir);
      if (free !== null && needed + DISK_MARGIN_BYTES > free) {
        throw new EngineError(
          `the int${bits} expert cache needs ${(needed / 2 ** 30).toFixed(2)} GiB in ${dir} but only ${(free / 2 ** 30).toFixed(2)} GiB are free; ` +
            `free space there, set ROUTESCOPE_CACHE_DIR (or cacheDir) to a larger disk, or use another precision`,
        );
      }
    },
    write: async (put) => {
      const layers: QuantLayer[] = [];
      for (const [i, moe] of blocks.entries()) {
        if (opts.signal?.aborted) throw new EngineError(`writing the int${bits} expert cache was cancelled`);
        const reader = new TensorReader(weights);
        const E = moe.numExperts;
        // Expert by expert into the layer's codes and scales (rows quantise independently, so the result is the
        // same as quantising the whole layer): what loading holds is one expert's fp32 rows, not the layer's.
        const perRow = (cols: number) => (blockSize ? cols / blockSize : 1);
        const q1 = { codes: new Uint8Array((E * 2 * I * H * bits) / 8), scales: new Float32Array(E * 2 * I * perRow(H)) };
        const q2 = { codes: new Uint8Array((E * H * I * bits) / 8), scales: new Float32Array(E * H * perRow(I)) };
        const fc1 = new Float32Array(2 * I * H);
        moe.experts.forEach((m, e) => {
          const { gate, up } = gateUpRows(reader, m, H, I);
          for (let j = 0; j < I; j++) {
            fc1.set(gate.subarray(j * H, (j + 1) * H), 2 * j * H);
            fc1.set(up.subarray(j * H, (j + 1) * H), (2 * j + 1) * H);
          }
          const a = quantizeRows(fc1, 2 * I, H, bits, blockSize);
          q1.codes.set(a.codes, (e * 2 * I * H * bits) / 8);
          q1.scales.set(a.scales, e * 2 * I * perRow(H));
          const b = quantizeRows(reader.outIn(m.down, H, I), H, I, bits, blockSize);
          q2.codes.set(b.codes, (e * H * I * bits) / 8);
          q2.scales.set(b.scales, e * H * perRow(I));
          reader.forgetWhole(m);
        });
        const at = `decoder layer ${spec.moeLayers[i]}'s`;
        const bias = fusedExpertBiases(reader, moe.experts, H, I);
        layers.push({
          fc1: put(q1.codes, `${at} fc1 codes`),
          fc1Scales: put(q1.scales, `${at} fc1 scales`),
          fc2: put(q2.codes, `${at} fc2 codes`),
          fc2Scales: put(q2.scales, `${at} fc2 scales`),
          ...(bias ? { fc1Bias: put(bias.fc1, `${at} fc1 expert biases`), fc2Bias: put(bias.fc2, `${at} fc2 expert biases`) } : {}),
        });
        opts.onProgress?.({ layer: i + 1, layers: blocks.length });
        await new Promise((resolveTick) => setImmediate(resolveTick));
      }
      return { bits, blockSize, layers };
    },
  });
  if (entry.file === null) throw new EngineError(`the int${bits} expert cache for ${modelDir} has no data file (no MoE layer to quantise)`);
  return { file: entry.file, bits, blockSize: entry.data.blockSize, layers: entry.data.layers, bytes: entry.bytes, reused: entry.reused, verifiedBy: entry.verifiedBy };
}
