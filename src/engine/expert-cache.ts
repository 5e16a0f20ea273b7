/**
 * On-disk cache of the fused MoE kernel's expert layout (fused-experts.ts), written once per checkpoint to a
 * cache folder OUTSIDE the model folder and then mapped by onnxruntime like the checkpoint itself (file-backed
 * pages, no private copy). onnxruntime's `externalData` option cannot mix in-memory and file-backed
 * initializers, so a file is the only way to keep the other weights zero-copy.
 *
 * Layout: `<cacheRoot>/fused-experts/<key>.bin` holds, per MoE layer, fc1 [E, 2I, H] and (when the checkpoint
 * has no stacked F32 down_proj to map) fc2 [E, H, I], fp32, each segment 4 KiB aligned; `<key>.json` records
 * the offsets (under `data.layers`) and is written last, so a half-written cache is never used. The key hashes the model folder's
 * real path and every weight file's size and modification time, so an edited checkpoint gets a new entry.
 * Entries of deleted model folders and outdated entries of the same folder are pruned on the next write.
 *
 * Writing, pruning and the integrity check (per-segment sha256, stat stamp fast path, rebuild on a mismatch)
 * are cache-file.ts's, shared with the fp16 and int8/int4 caches.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { DecoderSpec, TensorSlice } from './architectures/types.js';
import { cacheKey, hasCacheEntry, prepareCacheEntry, type CachedSegment, type CacheNotice, type VerifiedBy } from './cache-file.js';
import { EngineError } from './errors.js';
import { expertWidth, fusedExpertWeights } from './fused-experts.js';
import type { WeightStore } from './safetensors.js';

export type { CachedSegment, CacheNotice } from './cache-file.js';

/** Layout version of the manifest data below; another one is rebuilt. */
const FUSED_FORMAT = 3;

/** Where each MoE layer's fused weights live: the cache file, or (fc2 only) a slice of the checkpoint. */
export interface FusedLayerWeights {
  fc1: CachedSegment;
  fc2: { kind: 'cache'; segment: CachedSegment } | { kind: 'mapped'; slice: TensorSlice };
  /** GPT-OSS: fp32 fc1 bias [E, 2I] (interleaved like fc1) and fc2 bias [E, H]; absent for experts without biases. */
  fc1Bias?: CachedSegment;
  fc2Bias?: CachedSegment;
}

export interface FusedExpertCache {
  /** Absolute real path of the cache file. */
  file: string;
  /** One entry per MoE layer, in order. */
  layers: FusedLayerWeights[];
  /** Size of the cache file. */
  bytes: number;
  /** True when an existing cache was reused (nothing written). */
  reused: boolean;
  /**
   * How the reused cache was trusted: 'unchanged-file' (stat equals the stamp of its last verification: not
   * read), 'checksums' (every segment re-hashed); 'written' when it was (re)built by this load.
   */
  verifiedBy: VerifiedBy;
}

export interface CacheProgress {
  layer: number;
  layers: number;
}

/** What every cache writer takes: progress per layer, a notice when a cache is rebuilt, and cancellation. */
export interface CacheOptions {
  onProgress?: (p: CacheProgress) => void;
  onNotice?: CacheNotice;
  signal?: AbortSignal;
}

/** ROUTESCOPE_CACHE_DIR, else $XDG_CACHE_HOME/routescope, else ~/.cache/routescope. */
export function defaultCacheRoot(): string {
  if (process.env.ROUTESCOPE_CACHE_DIR) return process.env.ROUTESCOPE_CACHE_DIR;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), '.cache'), 'routescope');
}

const isFusedData = (d: unknown): d is { layers: FusedLayerWeights[] } => typeof d === 'object' && d !== null && Array.isArray((d as { layers?: unknown }).layers);

/** Whether a complete cache for this checkpoint already exists (so loading it writes nothing). */
export function hasFusedExpertCache(spec: DecoderSpec, weights: WeightStore, modelDir: string, cacheRoot: string): boolean {
  return hasCacheEntry(join(cacheRoot, 'fused-experts'), cacheKey(modelDir, weights, spec), FUSED_FORMAT);
}

/**
 * Reuses (after cache-file.ts's integrity check) or writes the fused expert cache for this checkpoint. Writing
 * yields to the event loop between layers, reports progress and stops (removing the partial file) when `signal`
 * aborts. `onNotice` (default: one line on stderr) hears about a cache that is rebuilt or re-verified.
 */
export async function prepareFusedExpertCache(
  spec: DecoderSpec,
  weights: WeightStore,
  modelDir: string,
  cacheRoot: string,
  opts: CacheOptions = {},
): Promise<FusedExpertCache> {
  const moeLayers = spec.layers.flatMap((l) => (l.mlp.kind === 'moe' ? [l.mlp.moe] : []));
  const entry = await prepareCacheEntry({
    label: 'expert cache',
    dir: join(cacheRoot, 'fused-experts'),
    modelDir,
    weights,
    spec,
    format: FUSED_FORMAT,
    isData: isFusedData,
    onNotice: opts.onNotice,
    signal: opts.signal,
    write: async (put) => {
      const layers: FusedLayerWeights[] = [];
      for (const [i, m] of moeLayers.entries()) {
        if (opts.signal?.aborted) throw new EngineError('writing the expert cache was cancelled');
        const w = fusedExpertWeights(weights, m.experts, spec.hiddenSize, expertWidth(m.experts[0]!));
        const at = `decoder layer ${spec.moeLayers[i]}'s`;
        const fc1 = put(w.fc1, `${at} fc1 experts`);
        const fc2: FusedLayerWeights['fc2'] = w.fc2.kind === 'mapped' ? w.fc2 : { kind: 'cache', segment: put(w.fc2.data, `${at} fc2 experts`) };
        const bias = w.bias ? { fc1Bias: put(w.bias.fc1, `${at} fc1 expert biases`), fc2Bias: put(w.bias.fc2, `${at} fc2 expert biases`) } : {};
        layers.push({ fc1, fc2, ...bias });
        opts.onProgress?.({ layer: i + 1, layers: moeLayers.length });
        await new Promise((resolveTick) => setImmediate(resolveTick));
      }
      return { layers };
    },
  });
  if (entry.file === null) throw new EngineError(`the expert cache for ${modelDir} has no data file (no MoE layer to fuse)`);
  return { file: entry.file, layers: entry.data.layers, bytes: entry.bytes, reused: entry.reused, verifiedBy: entry.verifiedBy };
}
