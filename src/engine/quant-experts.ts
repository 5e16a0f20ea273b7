/**
 * Quantised experts for the `int8` and `int4` precisions (precision.ts), run by one com.microsoft.QMoE node
 * per MoE layer (graph-builder.ts). Symmetric block-wise quantisation of every expert matrix row: blocks of
 * `blockSize` weights along the input axis share one fp32 scale = max|w| / qmax (qmax 127 for 8 bits, 7 for
 * 4 bits); a weight is stored as round(w / scale) + zero point (128 / 8, onnxruntime's defaults), 4-bit values
 * packed two per byte, low nibble first. Layout as the fused kernel's: fc1 = [E, 2I, H] with gate/up rows
 * interleaved, fc2 = [E, H, I]. Written once to `<cacheRoot>/int{8,4}-experts/<key>.bin` + `.json` outside the
 * model folder (manifest last, format-checked, disk space checked first, progress, cancel), then mapped.
 * Checked against onnxruntime-node 1.30's CPU QMoE: its output equals the fp32 MoE op on the dequantised
 * weights within 1e-8 (both bit widths; tests compare the whole graph with the float64 reference).
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { DecoderSpec } from './architectures/types.js';
import { EngineError } from './errors.js';
import { cacheKey, pruneStaleEntries, type CachedSegment, type CacheProgress } from './expert-cache.js';
import { expertWidth, gateUpRows, TensorReader } from './fused-experts.js';
import { freeBytesAt } from './moe-kernel.js';
import type { WeightStore } from './safetensors.js';

const QUANT_FORMAT = 1;
const ALIGN = 4096;
const DISK_MARGIN_BYTES = 256 * 2 ** 20;

export type QuantBits = 8 | 4;

export interface QuantLayer {
  fc1: CachedSegment;
  fc1Scales: CachedSegment;
  fc2: CachedSegment;
  fc2Scales: CachedSegment;
}

export interface QuantExpertCache {
  file: string;
  bits: QuantBits;
  /** Weights per scale along the input axis; 0 = one scale per row (no block size divides both H and I). */
  blockSize: number;
  layers: QuantLayer[];
  bytes: number;
  reused: boolean;
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
    total += (weights * bits) / 8 + scales * 4;
  }
  return total;
}

interface Manifest {
  format: number;
  model: string;
  bits: QuantBits;
  blockSize: number;
  layers: QuantLayer[];
  bytes: number;
}

function readManifest(path: string, bin: string, bits: QuantBits): Manifest | null {
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
    if (m.format !== QUANT_FORMAT || m.bits !== bits || !Array.isArray(m.layers) || statSync(bin).size !== m.bytes) return null;
    return m;
  } catch {
    return null;
  }
}

export async function prepareQuantExpertCache(
  spec: DecoderSpec,
  weights: WeightStore,
  modelDir: string,
  cacheRoot: string,
  bits: QuantBits,
  opts: { onProgress?: (p: CacheProgress) => void; signal?: AbortSignal } = {},
): Promise<QuantExpertCache> {
  const H = spec.hiddenSize;
  const blocks = moeBlocks(spec);
  const I = expertWidth(blocks[0]!.experts[0]!);
  for (const [i, moe] of blocks.entries()) {
    if (moe.experts.some((e) => expertWidth(e) !== I)) throw new EngineError(`MoE layer ${i}: experts of different widths cannot be quantised for QMoE`);
  }
  const blockSize = quantBlockSize(H, I);
  const dir = join(cacheRoot, `int${bits}-experts`);
  const key = cacheKey(modelDir, weights, spec);
  const bin = join(dir, `${key}.bin`);
  const manifestPath = join(dir, `${key}.json`);
  if (existsSync(manifestPath)) {
    const m = readManifest(manifestPath, bin, bits);
    if (m) return { file: realpathSync(bin), bits, blockSize: m.blockSize, layers: m.layers, bytes: m.bytes, reused: true };
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new EngineError(`cannot create the int${bits} expert cache folder ${dir}: ${(err as Error).message}`, { cause: err });
  }
  pruneStaleEntries(dir, realpathSync(modelDir), key);
  const needed = quantCacheBytes(spec, bits);
  const free = freeBytesAt(dir);
  if (free !== null && needed + DISK_MARGIN_BYTES > free) {
    throw new EngineError(
      `the int${bits} expert cache needs ${(needed / 2 ** 30).toFixed(2)} GiB in ${dir} but only ${(free / 2 ** 30).toFixed(2)} GiB are free; ` +
        `free space there, set ROUTESCOPE_CACHE_DIR (or cacheDir) to a larger disk, or use another precision`,
    );
  }
  const tmp = join(dir, `${key}.tmp-${process.pid}-${Date.now()}`);
  const layers: QuantLayer[] = [];
  let pos = 0;
  const fd = openSync(tmp, 'w');
  try {
    const put = (a: Uint8Array | Float32Array): CachedSegment => {
      const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      const offset = Math.ceil(pos / ALIGN) * ALIGN;
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, offset + done);
      pos = offset + bytes.length;
      return { offset, length: bytes.length };
    };
    for (const [i, moe] of blocks.entries()) {
      if (opts.signal?.aborted) throw new EngineError(`writing the int${bits} expert cache was cancelled`);
      const reader = new TensorReader(weights);
      const E = moe.numExperts;
      const fc1 = new Float32Array(E * 2 * I * H);
      const fc2 = new Float32Array(E * H * I);
      moe.experts.forEach((m, e) => {
        const { gate, up } = gateUpRows(reader, m, H, I);
        const base = e * 2 * I * H;
        for (let j = 0; j < I; j++) {
          fc1.set(gate.subarray(j * H, (j + 1) * H), base + 2 * j * H);
          fc1.set(up.subarray(j * H, (j + 1) * H), base + (2 * j + 1) * H);
        }
        fc2.set(reader.outIn(m.down, H, I), e * H * I);
      });
      const q1 = quantizeRows(fc1, E * 2 * I, H, bits, blockSize);
      const q2 = quantizeRows(fc2, E * H, I, bits, blockSize);
      layers.push({ fc1: put(q1.codes), fc1Scales: put(q1.scales), fc2: put(q2.codes), fc2Scales: put(q2.scales) });
      opts.onProgress?.({ layer: i + 1, layers: blocks.length });
      await new Promise((resolveTick) => setImmediate(resolveTick));
    }
    closeSync(fd);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
    rmSync(tmp, { force: true });
    if (err instanceof EngineError) throw err;
    throw new EngineError(`writing the int${bits} expert cache ${tmp} failed: ${(err as Error).message}`, { cause: err });
  }
  renameSync(tmp, bin);
  const manifest: Manifest = { format: QUANT_FORMAT, model: realpathSync(modelDir), bits, blockSize, layers, bytes: pos };
  writeFileSync(`${tmp}.json`, JSON.stringify(manifest));
  renameSync(`${tmp}.json`, manifestPath);
  return { file: realpathSync(bin), bits, blockSize, layers, bytes: pos, reused: false };
}
