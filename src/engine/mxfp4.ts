/**
 * MXFP4 expert tensors (openai/gpt-oss-20b / -120b as released, quantization_config.quant_method 'mxfp4'),
 * read the way transformers' integrations/mxfp4.py dequantises them and turned into the BF16 layout the
 * GPT-OSS adapter already runs:
 * - `<name>_blocks` U8 [E, R, G, 16]: row r of expert e holds G blocks of 32 FP4 (E2M1) codes, two per byte,
 *   the LOW nibble first (element 2j of a block is byte j & 0xF, element 2j + 1 is byte j >> 4);
 * - `<name>_scales` U8 [E, R, G]: one E8M0 scale per block, value 2^(byte - 127);
 * - the dequantised `<name>` is [E, G*32, R]: the [E, R, G*32] rows transposed, so `gate_up_proj` comes out
 *   [E, H, 2I] (R = 2I output columns, gate/up interleaved as in the BF16 release) and `down_proj` [E, I, H].
 *
 * Exactness: an FP4 value has at most 2 significant bits and the scale is a power of two, so every value is
 * exact in BF16 (and fp32) down to 0.5 * 2^-127 (a BF16 subnormal); a block whose scale would push a value past
 * the fp32/BF16 range (possible from scale byte 253 up) or has the E8M0 NaN byte 255 is refused with the tensor
 * and block named, where transformers would produce inf. (fp16 would be exact only for scale bytes 104..140.)
 *
 * Why dequantise rather than keep 4 bits: onnxruntime's QMoE int4 path stores uniform codes (q - 8) * scale,
 * and the E2M1 grid {0, 0.5, 1, 1.5, 2, 3, 4, 6} is not uniform, so no int4 code reproduces it (--precision int4
 * therefore requantises these dequantised values onto its own uniform blocks, losing information; docs/precision.md).
 * The dequantised tensors are written once, with progress, into `<cacheRoot>/mxfp4-dequantised/` (cache-file.ts: outside the
 * model folder, checksummed, rebuilt when damaged) and mapped from there like a BF16 checkpoint's.
 */
import { join } from 'node:path';
import type { DecoderSpec } from './architectures/types.js';
import { prepareCacheEntry, type VerifiedBy } from './cache-file.js';
import { EngineError, ModelFolderError } from './errors.js';
import type { CacheOptions } from './expert-cache.js';
import { freeBytesAt } from './moe-kernel.js';
import type { SafetensorsTensorInfo, WeightStore } from './safetensors.js';

/** Bumped whenever the cache layout changes: a manifest of another format is rebuilt, never read. */
const MXFP4_FORMAT = 1;
/** Values per block sharing one scale, and bytes per block (two codes a byte). */
export const MXFP4_BLOCK = 32;
const BLOCK_BYTES = MXFP4_BLOCK / 2;
const E8M0_BIAS = 127;
const E8M0_NAN = 255;
/** Rows dequantised together before moving to the next block column (see dequantiseExpert). */
const TRANSPOSE_TILE = 64;
/** Space left free on the cache disk after writing. */
const DISK_MARGIN_BYTES = 256 * 2 ** 20;

/** The FP4 E2M1 value of a 4-bit code: sign bit 3, exponent bits 2-1 (bias 1), mantissa bit 0; exponent 0 is subnormal. */
export function e2m1Value(code: number): number {
  const sign = code & 8 ? -1 : 1;
  const exponent = (code >> 1) & 3;
  const mantissa = code & 1;
  const magnitude = exponent === 0 ? mantissa * 0.5 : (1 + mantissa / 2) * 2 ** (exponent - 1);
  return sign * magnitude;
}

/** One dequantised tensor: where its packed data is and what it becomes. */
export interface Mxfp4Tensor {
  /** The tensor the adapter reads, e.g. `model.layers.0.mlp.experts.gate_up_proj`. */
  name: string;
  blocks: string;
  scales: string;
  /** [E, R, G]: experts, rows (output features), blocks per row. */
  experts: number;
  rows: number;
  groups: number;
}

/** A checkpoint with MXFP4 tensors: the tensors, and the store as stored on disk. */
export interface Mxfp4Checkpoint {
  tensors: Mxfp4Tensor[];
  /** The checkpoint as stored (with the `_blocks` / `_scales` tensors). */
  stored: WeightStore;
}

const PACKED = /^(.*_proj)_(blocks|scales)$/;

/** The dequantised tensor's info, with data in `file` at `fileOffset`, or pending. */
function dequantisedInfo(t: Mxfp4Tensor, at: { file: string; fileOffset: number } | { pending: string; file: string }): SafetensorsTensorInfo {
  const shape = [t.experts, t.groups * MXFP4_BLOCK, t.rows];
  const byteLength = shape.reduce((a, b) => a * b, 1) * 2;
  return 'pending' in at
    ? { name: t.name, dtype: 'BF16', shape, file: at.file, fileOffset: 0, byteLength, pending: at.pending }
    : { name: t.name, dtype: 'BF16', shape, file: at.file, fileOffset: at.fileOffset, byteLength };
}

/**
 * The MXFP4 tensors of a checkpoint (pairs `<x>_proj_blocks` + `<x>_proj_scales`), checked against each other,
 * or null when there are none. Errors name the tensor that is missing or misshapen.
 */
export function findMxfp4Tensors(weights: WeightStore): Mxfp4Tensor[] | null {
  const stems = new Map<string, { blocks?: string; scales?: string }>();
  for (const name of weights.names()) {
    const m = PACKED.exec(name);
    if (!m) continue;
    const entry = stems.get(m[1]!) ?? {};
    entry[m[2] as 'blocks' | 'scales'] = name;
    stems.set(m[1]!, entry);
  }
  if (stems.size === 0) return null;
  const out: Mxfp4Tensor[] = [];
  for (const [stem, pair] of [...stems].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const blocks = pair.blocks ?? `${stem}_blocks`;
    const scales = pair.scales ?? `${stem}_scales`;
    const bad = (tensor: string, problem: string): never => {
      const file = weights.has(tensor) ? weights.info(tensor).file : (weights.indexFile ?? weights.files.join(', '));
      throw new ModelFolderError(`${file}: MXFP4 tensor '${tensor}' ${problem}`, { file, tensor });
    };
    if (!pair.blocks) bad(blocks, `is missing: '${scales}' holds scales for FP4 blocks that are not in the checkpoint`);
    if (!pair.scales) bad(scales, `is missing: the FP4 blocks '${blocks}' need one E8M0 scale per ${MXFP4_BLOCK} values`);
    if (weights.has(stem)) bad(blocks, `and an unquantised '${stem}' are both in the checkpoint; keep one of them`);
    const b = weights.info(blocks);
    const s = weights.info(scales);
    if (b.dtype !== 'U8') bad(blocks, `has dtype ${b.dtype}; MXFP4 blocks are U8 (two FP4 codes per byte)`);
    if (s.dtype !== 'U8') bad(scales, `has dtype ${s.dtype}; MXFP4 scales are U8 (E8M0 exponents)`);
    if (b.shape.length !== 4 || b.shape[3] !== BLOCK_BYTES || b.shape.some((d) => d === 0)) {
      bad(blocks, `has shape [${b.shape.join(', ')}]; expected [experts, rows, blocks per row, ${BLOCK_BYTES}] (${MXFP4_BLOCK} FP4 values per block)`);
    }
    const [E, R, G] = b.shape as [number, number, number, number];
    if (s.shape.length !== 3 || s.shape[0] !== E || s.shape[1] !== R || s.shape[2] !== G) {
      bad(scales, `has shape [${s.shape.join(', ')}]; its blocks '${blocks}' [${b.shape.join(', ')}] need one scale per block: [${E}, ${R}, ${G}]`);
    }
    out.push({ name: stem, blocks, scales, experts: E, rows: R, groups: G });
  }
  return out;
}

/**
 * The checkpoint as the adapters see it before dequantisation: each `_blocks`/`_scales` pair replaced by its
 * BF16 tensor (name, shape and dtype only; reading it says it is not dequantised yet). Null without MXFP4.
 */
export function plannedMxfp4View(weights: WeightStore): { weights: WeightStore; mxfp4: Mxfp4Checkpoint } | null {
  const tensors = findMxfp4Tensors(weights);
  if (!tensors) return null;
  const pending = (t: Mxfp4Tensor) =>
    dequantisedInfo(t, { file: weights.info(t.blocks).file, pending: `is stored in MXFP4 ('${t.blocks}', '${t.scales}') and is dequantised when a session loads` });
  const view = weights.withReplacements(
    tensors.flatMap((t) => [t.blocks, t.scales]),
    tensors.map(pending),
  );
  return { weights: view, mxfp4: { tensors, stored: weights } };
}

/** E8M0 byte -> 2^(byte - 127), or null for the NaN byte. */
function scaleOf(byte: number): number | null {
  return byte === E8M0_NAN ? null : 2 ** (byte - E8M0_BIAS);
}

/**
 * BF16 bits of code * 2^(scale - 127) for every (scale byte, code): exact, since the value has at most 2
 * significant bits. NaN marks a pair whose value is not finite in BF16 (or the NaN scale).
 */
function bf16Table(): Float64Array {
  const table = new Float64Array(256 * 16);
  const f32 = new Float32Array(1);
  const bits = new Uint32Array(f32.buffer);
  for (let s = 0; s < 256; s++) {
    const scale = scaleOf(s);
    for (let c = 0; c < 16; c++) {
      if (scale === null) {
        table[s * 16 + c] = NaN;
        continue;
      }
      f32[0] = e2m1Value(c) * scale;
      // Overflow to infinity; a non-zero low half would mean an inexact BF16 (cannot happen, checked anyway).
      table[s * 16 + c] = Number.isFinite(f32[0]) && (bits[0]! & 0xffff) === 0 ? bits[0]! >>> 16 : NaN;
    }
  }
  return table;
}

let table: Float64Array | undefined;

/**
 * Dequantises expert `e` of one MXFP4 tensor into BF16 bits laid out [G*32, R] (the transposed rows), from
 * its blocks [R, G, 16] and scales [R, G]. Throws naming the tensor, expert, row and block of a value
 * outside the BF16 range or a NaN scale.
 */
export function dequantiseExpert(t: Mxfp4Tensor, e: number, blocks: Uint8Array, scales: Uint8Array, out = new Uint16Array(t.groups * MXFP4_BLOCK * t.rows)): Uint16Array {
  const lut = (table ??= bf16Table());
  const { rows: R, groups: G } = t;
  // Rows in tiles, so the transposed writes of a tile stay within a few cache lines per output row (~1.5x).
  for (let r0 = 0; r0 < R; r0 += TRANSPOSE_TILE) {
    const r1 = Math.min(R, r0 + TRANSPOSE_TILE);
    for (let g = 0; g < G; g++) {
      const col0 = g * MXFP4_BLOCK;
      for (let r = r0; r < r1; r++) {
        const s = scales[r * G + g]!;
        const base = s * 16;
        const src = (r * G + g) * BLOCK_BYTES;
        for (let j = 0; j < BLOCK_BYTES; j++) {
          const byte = blocks[src + j]!;
          const lo = lut[base + (byte & 15)]!;
          const hi = lut[base + (byte >> 4)]!;
          if (Number.isNaN(lo) || Number.isNaN(hi)) {
            const why = s === E8M0_NAN ? 'is the E8M0 NaN (255)' : `${s} makes the block's values overflow fp32/BF16`;
            throw new ModelFolderError(`MXFP4 tensor '${t.scales}': expert ${e}, row ${r}, block ${g} has scale byte ${why}; the checkpoint is damaged`, { tensor: t.scales });
          }
          out[(col0 + 2 * j) * R + r] = lo;
          out[(col0 + 2 * j + 1) * R + r] = hi;
        }
      }
    }
  }
  return out;
}

export interface DequantisedMxfp4 {
  /** The checkpoint with the dequantised tensors in the cache file (the `_blocks` / `_scales` hidden). */
  weights: WeightStore;
  /** Absolute real path of the cache file. */
  file: string;
  bytes: number;
  reused: boolean;
  verifiedBy: VerifiedBy;
}

type SegmentMap = Record<string, { offset: number; length: number }>;

const isSegmentMap = (d: unknown): d is SegmentMap =>
  typeof d === 'object' &&
  d !== null &&
  Object.values(d).every((v) => typeof v === 'object' && v !== null && typeof (v as { offset?: unknown }).offset === 'number' && typeof (v as { length?: unknown }).length === 'number');

/**
 * Reuses or writes the dequantised tensors (one segment per tensor, written expert by expert so memory stays at
 * one expert's worth) and returns the checkpoint with them in place. `spec` is the decoder built from the
 * planned view (it only keys the cache). Progress counts tensors; cancellable through `signal`.
 */
export async function dequantiseMxfp4(
  mxfp4: Mxfp4Checkpoint,
  modelDir: string,
  spec: DecoderSpec,
  cacheRoot: string,
  opts: CacheOptions = {},
): Promise<DequantisedMxfp4> {
  const { tensors, stored } = mxfp4;
  const dir = join(cacheRoot, 'mxfp4-dequantised');
  const entry = await prepareCacheEntry<SegmentMap>({
    label: 'MXFP4 dequantisation cache',
    dir,
    modelDir,
    weights: stored,
    spec,
    format: MXFP4_FORMAT,
    isData: (d): d is SegmentMap => isSegmentMap(d) && tensors.every((t) => d[t.name] !== undefined),
    onNotice: opts.onNotice,
    signal: opts.signal,
    beforeWrite: () => {
      const needed = tensors.reduce((a, t) => a + t.experts * t.rows * t.groups * MXFP4_BLOCK * 2, 0);
      const free = freeBytesAt(dir);
      if (free !== null && needed + DISK_MARGIN_BYTES > free) {
        throw new EngineError(
          `dequantising the MXFP4 experts needs ${(needed / 2 ** 30).toFixed(2)} GiB in ${dir} but only ${(free / 2 ** 30).toFixed(2)} GiB are free; ` +
            'free space there or set ROUTESCOPE_CACHE_DIR (or cacheDir) to a larger disk',
        );
      }
    },
    write: async (_put, open) => {
      const segments: SegmentMap = {};
      for (const [i, t] of tensors.entries()) {
        const seg = open(`MXFP4 tensor '${t.name}' dequantised to BF16`);
        const blockBytes = t.rows * t.groups * BLOCK_BYTES;
        const scaleBytes = t.rows * t.groups;
        const out = new Uint16Array(t.groups * MXFP4_BLOCK * t.rows);
        for (let e = 0; e < t.experts; e++) {
          if (opts.signal?.aborted) throw new EngineError('dequantising the MXFP4 experts was cancelled');
          const blocks = stored.readRawRange(t.blocks, e * blockBytes, blockBytes);
          const scales = stored.readRawRange(t.scales, e * scaleBytes, scaleBytes);
          seg.append(dequantiseExpert(t, e, blocks, scales, out));
          await new Promise((tick) => setImmediate(tick));
        }
        segments[t.name] = seg.end();
        opts.onProgress?.({ layer: i + 1, layers: tensors.length });
      }
      return segments;
    },
  });
  if (!entry.file) throw new EngineError('internal error: the MXFP4 dequantisation cache has no data file');
  const file = entry.file;
  const added = tensors.map((t) => dequantisedInfo(t, { file, fileOffset: entry.data[t.name]!.offset }));
  for (const [i, t] of tensors.entries()) {
    if (entry.data[t.name]!.length !== added[i]!.byteLength) throw new EngineError(`internal error: the MXFP4 cache segment of '${t.name}' has the wrong length`);
  }
  return {
    weights: stored.withReplacements(
      tensors.flatMap((t) => [t.blocks, t.scales]),
      added,
      file,
    ),
    file,
    bytes: entry.bytes,
    reused: entry.reused,
    verifiedBy: entry.verifiedBy,
  };
}

/** The `inspect` line for an MXFP4 checkpoint. */
export function mxfp4Feature(m: Mxfp4Checkpoint): string {
  return `experts stored in MXFP4 (${m.tensors.length} tensors: FP4 E2M1 codes, one E8M0 scale per ${MXFP4_BLOCK}), dequantised once at load to BF16 (exact) in the cache folder`;
}
