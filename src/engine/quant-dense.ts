/**
 * Everything outside the experts at the narrow precisions (precision.ts):
 * - `int8`/`int4`: every dense projection (attention q/k/v/o and MLA's q_a/q_b/kv_a/kv_b/o, dense MLP layers such as
 *   DeepSeek's first_k_dense_replace, shared experts) block-quantised for com.microsoft.MatMulNBits: B uint8
 *   [N, blocks, blockSize * bits / 8] (low nibble first at 4 bits), one fp32 scale per (row, block), onnxruntime's
 *   default zero points (128 / 8). Router gates, shared-expert gates, norms and biases stay fp32: the router decides
 *   what Routescope measures.
 * - the embedding table at 16 bits at fp16/int8/int4 (the graph gathers fp16 rows and widens only those);
 * - the lm_head at 16 bits at fp16 (widened at run time, see graph/dense.ts's lmHead), and as an 8-bit
 *   MatMulNBits at int8/int4: a 16-bit head has to be widened on every pass (a folded Cast would be a resident
 *   fp32 copy), which costs more per decoded token than the rest of a small model (docs/precision.md).
 * A table whose largest magnitude exceeds fp16's range stays in its stored dtype (listed in `keptWide`).
 * An F16 table is mapped from the checkpoint as is. Everything else is written once to
 * `<cacheRoot>/{fp16,int8,int4}-dense/<key>.bin` by cache-file.ts (manifest last, per-segment sha256 checked on
 * load, progress, cancel, disk space checked first), then mapped.
 */
import { join } from 'node:path';
import type { DecoderSpec, GatedMlpSpec, LinearSpec, TensorSlice } from './architectures/types.js';
import { prepareCacheEntry, type CachedSegment, type OpenSegment, type PutSegment, type VerifiedBy } from './cache-file.js';
import { EngineError } from './errors.js';
import type { CacheOptions } from './expert-cache.js';
import { TensorReader } from './fused-experts.js';
import { FP16_MAX } from './half-experts.js';
import { freeBytesAt } from './moe-kernel.js';
import type { QuantBits } from './quant-experts.js';
import type { WeightStore } from './safetensors.js';
import { float32ToF16Array } from '../numeric/float16.js';

const DENSE_FORMAT = 1;
const DISK_MARGIN_BYTES = 256 * 2 ** 20;
/** Weights per scale along a dense projection's input axis (MatMulNBits pads the last block). */
export const DENSE_BLOCK = 32;
/**
 * MatMulNBits accuracy_level per width (onnxruntime-node 1.30, CPU, measured in docs/precision.md): at 8 bits only
 * level 4 (activations quantised to int8 per block) has a fast kernel (levels 0/1 dequantise and ran 16x slower than
 * fp32); at 4 bits level 1 keeps fp32 activations (exact on the dequantised weights) and is already faster than fp32.
 */
export const DENSE_ACCURACY: Record<QuantBits, number> = { 8: 4, 4: 1 };
/** The lm_head at int8/int4: 8 bits with int8 activations (the fast kernel). */
export const HEAD_BITS: QuantBits = 8;

/** One projection as MatMulNBits inputs: weight [N = out, K = in]. */
export interface QuantLinear {
  codes: CachedSegment;
  scales: CachedSegment;
  n: number;
  k: number;
  bits: QuantBits;
}

/** A [rows, cols] table at 16 bits: written to the cache, or the checkpoint's own F16 tensor. */
export type HalfTable = { kind: 'cache'; segment: CachedSegment; shape: [number, number] } | { kind: 'checkpoint' };

export interface DenseCache {
  /** Absolute real path of the cache file; null when nothing had to be written. */
  file: string | null;
  /** Dense projections by weight slice (`sliceKey`); empty at fp16. */
  linears: Record<string, QuantLinear>;
  /** Absent: the embedding stays in its stored dtype (it would overflow fp16). */
  embed?: HalfTable;
  /** fp16: a 16-bit table (the embedding's own when tied); int8/int4: an 8-bit MatMulNBits. Absent: as at fp32. */
  head?: { kind: 'half'; table: HalfTable } | { kind: 'quant'; linear: QuantLinear };
  /** Tensors left in their stored dtype because fp16 would overflow them. */
  keptWide: { tensor: string; maxAbs: number }[];
  bytes: number;
  reused: boolean;
  verifiedBy: VerifiedBy;
}

/** The key the graph builder looks a projection up by. */
export const sliceKey = (s: TensorSlice) => `${s.tensor}@${s.offsetElements}:${s.shape.join('x')}`;

const mlpLinears = (m: GatedMlpSpec): LinearSpec[] => (m.kind === 'split' ? [m.gate, m.up, m.down] : [m.gateUp, m.down]);

/** The projections quantised at int8/int4: attention, dense MLP layers, shared experts; never routers or gates. */
export function denseProjections(spec: DecoderSpec): LinearSpec[] {
  const out: LinearSpec[] = [];
  for (const layer of spec.layers) {
    const a = layer.attention;
    if (a.kind === 'mla') out.push(...[a.q, a.qA, a.qB, a.kvA, a.kvB, a.o].filter((l): l is LinearSpec => l !== undefined));
    else out.push(a.q, a.k, a.v, a.o);
    if (layer.mlp.kind === 'dense') out.push(...mlpLinears(layer.mlp.mlp));
    else if (layer.mlp.moe.shared) out.push(...mlpLinears(layer.mlp.moe.shared.mlp));
  }
  const seen = new Set<string>();
  return out.filter((l) => !seen.has(sliceKey(l.weight)) && seen.add(sliceKey(l.weight)));
}

/** out x in of a linear (shape [out, in] for out_in, [in, out] for in_out). */
function dims(l: LinearSpec): { n: number; k: number } {
  const [a, b] = l.weight.shape as [number, number];
  return l.layout === 'out_in' ? { n: a, k: b } : { n: b, k: a };
}

/** Bytes of one quantised [n, k] weight: codes padded to whole blocks, one fp32 scale per block. */
export const quantLinearBytes = (n: number, k: number, bits: QuantBits) => {
  const blocks = Math.ceil(k / DENSE_BLOCK);
  return n * blocks * ((DENSE_BLOCK * bits) / 8 + 4);
};

/** Bytes of a projection quantised for MatMulNBits. */
export const quantLinearSpecBytes = (l: LinearSpec, bits: QuantBits) => quantLinearBytes(dims(l).n, dims(l).k, bits);

/**
 * `w` ([n, k] row-major) as MatMulNBits B and scales: per row, blocks of DENSE_BLOCK along k share scale
 * max|w| / qmax; codes round(w / scale) + zero point; padding codes are the zero point (weight 0).
 * The tests use their own second implementation.
 */
export function quantizeForMatMulNBits(w: Float32Array, n: number, k: number, bits: QuantBits): { codes: Uint8Array; scales: Float32Array } {
  const blocks = Math.ceil(k / DENSE_BLOCK);
  const blob = (DENSE_BLOCK * bits) / 8;
  const qmax = bits === 8 ? 127 : 7;
  const zero = bits === 8 ? 128 : 8;
  const codes = new Uint8Array(n * blocks * blob);
  const scales = new Float32Array(n * blocks);
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < blocks; b++) {
      const start = b * DENSE_BLOCK;
      const end = Math.min(k, start + DENSE_BLOCK);
      let max = 0;
      for (let c = start; c < end; c++) max = Math.max(max, Math.abs(w[r * k + c]!));
      const scale = max > 0 ? max / qmax : 1;
      scales[r * blocks + b] = scale;
      const base = (r * blocks + b) * blob;
      for (let j = 0; j < DENSE_BLOCK; j++) {
        const c = start + j;
        const q = (c < end ? Math.max(-qmax, Math.min(qmax, Math.round(w[r * k + c]! / scale))) : 0) + zero;
        if (bits === 8) codes[base + j] = q;
        else codes[base + (j >> 1)] |= (j & 1) === 0 ? q : q << 4;
      }
    }
  }
  return { codes, scales };
}

export type DensePrecision = 'fp16' | 'int8' | 'int4';

/**
 * fp32 elements converted at a time for the embedding table and the lm_head (16 MiB): Qwen3's 151936 x 2048 table
 * read whole as fp32 is 1.2 GB, held next to its converted copy while loading.
 */
const TABLE_PIECE_ELEMENTS = 4 * 2 ** 20;

/** An [rows, cols] slice's rows in runs of about TABLE_PIECE_ELEMENTS, each as fp32. */
function* rowPieces(weights: WeightStore, s: TensorSlice): Generator<{ row: number; rows: number; data: Float32Array }> {
  const [rows, cols] = s.shape as [number, number];
  const per = Math.max(1, Math.floor(TABLE_PIECE_ELEMENTS / cols));
  for (let row = 0; row < rows; row += per) {
    const n = Math.min(per, rows - row);
    yield { row, rows: n, data: weights.readFloat32Range(s.tensor, s.offsetElements + row * cols, n * cols) };
  }
}

/** A 16-bit copy of an [rows, cols] table written piece by piece, or undefined when it exceeds fp16's range (kept wide). */
function halfTablePieces(weights: WeightStore, s: TensorSlice, open: OpenSegment, what: string): { segment: CachedSegment } | { maxAbs: number } {
  let maxAbs = 0;
  for (const p of rowPieces(weights, s)) for (const v of p.data) maxAbs = Math.max(maxAbs, Math.abs(v));
  if (maxAbs > FP16_MAX) return { maxAbs };
  const seg = open(what);
  for (const p of rowPieces(weights, s)) seg.append(float32ToF16Array(p.data));
  return { segment: seg.end() };
}

/** An out_in [n, k] weight quantised for MatMulNBits piece by piece (rows quantise independently: same codes as whole). */
function quantPieces(weights: WeightStore, s: TensorSlice, bits: QuantBits, put: PutSegment, open: OpenSegment, what: string): QuantLinear {
  const [n, k] = s.shape as [number, number];
  const blocks = Math.ceil(k / DENSE_BLOCK);
  const scales = new Float32Array(n * blocks);
  const seg = open(`${what} codes`);
  for (const p of rowPieces(weights, s)) {
    const q = quantizeForMatMulNBits(p.data, p.rows, k, bits);
    seg.append(q.codes);
    scales.set(q.scales, p.row * blocks);
  }
  const codes = seg.end();
  return { codes, scales: put(scales, `${what} scales`), n, k, bits };
}

/** Bytes the cache will hold (before alignment), for the disk check. */
function denseCacheBytes(spec: DecoderSpec, weights: WeightStore, precision: DensePrecision): number {
  let total = 0;
  const bits = precision === 'int8' ? 8 : precision === 'int4' ? 4 : null;
  if (bits) for (const l of denseProjections(spec)) total += quantLinearSpecBytes(l, bits);
  const table = (s: TensorSlice) => (weights.info(s.tensor).dtype === 'F16' ? 0 : s.shape[0]! * s.shape[1]! * 2);
  total += table(spec.embed);
  const tied = spec.lmHead.tensor === spec.embed.tensor;
  if (bits) total += quantLinearBytes(spec.lmHead.shape[0]!, spec.lmHead.shape[1]!, HEAD_BITS);
  else if (!tied) total += table(spec.lmHead);
  return total;
}

interface DenseData {
  precision: DensePrecision;
  linears: Record<string, QuantLinear>;
  embed?: HalfTable;
  head?: DenseCache['head'];
  keptWide: { tensor: string; maxAbs: number }[];
}

export async function prepareDenseCache(
  spec: DecoderSpec,
  weights: WeightStore,
  modelDir: string,
  cacheRoot: string,
  precision: DensePrecision,
  opts: CacheOptions = {},
): Promise<DenseCache> {
  const bits: QuantBits | null = precision === 'int8' ? 8 : precision === 'int4' ? 4 : null;
  const dir = join(cacheRoot, `${precision}-dense`);
  const isData = (d: unknown): d is DenseData => {
    const q = d as Partial<DenseData> | null;
    return typeof q === 'object' && q !== null && q.precision === precision && typeof q.linears === 'object' && Array.isArray(q.keptWide);
  };
  const entry = await prepareCacheEntry({
    label: `${precision} dense cache`,
    dir,
    modelDir,
    weights,
    spec,
    format: DENSE_FORMAT,
    isData,
    onNotice: opts.onNotice,
    signal: opts.signal,
    beforeWrite: () => {
      const needed = denseCacheBytes(spec, weights, precision);
      const free = freeBytesAt(dir);
      if (free !== null && needed + DISK_MARGIN_BYTES > free) {
        throw new EngineError(
          `the ${precision} dense cache needs ${(needed / 2 ** 30).toFixed(2)} GiB in ${dir} but only ${(free / 2 ** 30).toFixed(2)} GiB are free; ` +
            `free space there, set ROUTESCOPE_CACHE_DIR (or cacheDir) to a larger disk, or use another precision`,
        );
      }
    },
    write: async (put, open) => {
      const cancelled = () => {
        if (opts.signal?.aborted) throw new EngineError(`writing the ${precision} dense cache was cancelled`);
      };
      const keptWide: DenseData['keptWide'] = [];
      const half = (s: TensorSlice, what: string): HalfTable | undefined => {
        if (weights.info(s.tensor).dtype === 'F16' && s.offsetElements === 0) return { kind: 'checkpoint' };
        const r = halfTablePieces(weights, s, open, what);
        if ('maxAbs' in r) {
          keptWide.push({ tensor: s.tensor, maxAbs: r.maxAbs });
          return undefined;
        }
        return { kind: 'cache', segment: r.segment, shape: [s.shape[0]!, s.shape[1]!] };
      };
      const quant = (reader: TensorReader, l: LinearSpec, b: QuantBits, what: string): QuantLinear => {
        const { n, k } = dims(l);
        const q = quantizeForMatMulNBits(reader.outIn({ ...l, bias: undefined }, n, k), n, k, b);
        return { codes: put(q.codes, `${what} codes`), scales: put(q.scales, `${what} scales`), n, k, bits: b };
      };
      cancelled();
      const linears: Record<string, QuantLinear> = {};
      // Progress in decoder layers, plus one step for the embedding and head (the only step at fp16).
      const steps = bits ? spec.layers.length + 1 : 1;
      if (bits) {
        // One layer at a time, so at most one layer's fp32 weights are held while writing.
        const byLayer = spec.layers.map((_, i) => denseProjections({ ...spec, layers: [spec.layers[i]!] }));
        for (const [i, layerLinears] of byLayer.entries()) {
          cancelled();
          const reader = new TensorReader(weights);
          for (const l of layerLinears) {
            const key = sliceKey(l.weight);
            if (!linears[key]) linears[key] = quant(reader, l, bits, `decoder layer ${i}'s ${l.weight.tensor}`);
          }
          opts.onProgress?.({ layer: i + 1, layers: steps });
          await new Promise((tick) => setImmediate(tick));
        }
      }
      cancelled();
      const embed = half(spec.embed, 'embedding table');
      const tied = spec.lmHead.tensor === spec.embed.tensor && spec.lmHead.offsetElements === spec.embed.offsetElements;
      // Written even for routing-only sessions, so one entry serves both.
      let head: DenseData['head'];
      if (bits) head = { kind: 'quant', linear: quantPieces(weights, spec.lmHead, HEAD_BITS, put, open, 'lm_head') };
      else {
        const table = tied ? embed : half(spec.lmHead, 'lm_head');
        if (table) head = { kind: 'half', table };
      }
      opts.onProgress?.({ layer: steps, layers: steps });
      return { precision, linears, ...(embed ? { embed } : {}), ...(head ? { head } : {}), keptWide };
    },
  });
  const d = entry.data;
  return { file: entry.file, linears: d.linears, ...(d.embed ? { embed: d.embed } : {}), ...(d.head ? { head: d.head } : {}), keptWide: d.keptWide, bytes: entry.bytes, reused: entry.reused, verifiedBy: entry.verifiedBy };
}
