/**
 * On-disk cache of the fused MoE kernel's expert layout (fused-experts.ts), written once per checkpoint to a
 * cache folder OUTSIDE the model folder and then mapped by onnxruntime like the checkpoint itself (file-backed
 * pages, no private copy). onnxruntime's `externalData` option cannot mix in-memory and file-backed
 * initializers, so a file is the only way to keep the other weights zero-copy.
 *
 * Layout: `<cacheRoot>/fused-experts/<key>.bin` holds, per MoE layer, fc1 [E, 2I, H] and (when the checkpoint
 * has no stacked F32 down_proj to map) fc2 [E, H, I], fp32, each segment 4 KiB aligned; `<key>.json` records
 * the offsets and is written last, so a half-written cache is never used. The key hashes the model folder's
 * real path and every weight file's size and modification time, so an edited checkpoint gets a new entry.
 * Entries of deleted model folders and outdated entries of the same folder are pruned on the next write.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { DecoderSpec, TensorSlice } from './architectures/types.js';
import { EngineError } from './errors.js';
import { expertWidth, fusedExpertWeights } from './fused-experts.js';
import type { WeightStore } from './safetensors.js';

const CACHE_FORMAT = 1;
const ALIGN = 4096;

export interface CachedSegment {
  offset: number;
  length: number;
}

/** Where each MoE layer's fused weights live: the cache file, or (fc2 only) a slice of the checkpoint. */
export interface FusedLayerWeights {
  fc1: CachedSegment;
  fc2: { kind: 'cache'; segment: CachedSegment } | { kind: 'mapped'; slice: TensorSlice };
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
}

/** ROUTESCOPE_CACHE_DIR, else $XDG_CACHE_HOME/routescope, else ~/.cache/routescope. */
export function defaultCacheRoot(): string {
  if (process.env.ROUTESCOPE_CACHE_DIR) return process.env.ROUTESCOPE_CACHE_DIR;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), '.cache'), 'routescope');
}

export function cacheKey(modelDir: string, weights: WeightStore, spec: DecoderSpec): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ format: CACHE_FORMAT, dir: realpathSync(modelDir), hidden: spec.hiddenSize, moeLayers: spec.moeLayers }));
  for (const f of [...weights.files].sort()) {
    const st = statSync(f);
    h.update(`${f}:${st.size}:${st.mtimeMs}\n`);
  }
  return h.digest('hex').slice(0, 32);
}

function readManifest(path: string, binPath: string): { layers: FusedLayerWeights[]; bytes: number } | null {
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as { format: number; layers: FusedLayerWeights[]; bytes: number };
    if (m.format !== CACHE_FORMAT || !Array.isArray(m.layers) || statSync(binPath).size !== m.bytes) return null;
    return m;
  } catch {
    return null;
  }
}

/** Whether a complete cache for this checkpoint already exists (so loading it writes nothing). */
export function hasFusedExpertCache(spec: DecoderSpec, weights: WeightStore, modelDir: string, cacheRoot: string): boolean {
  const key = cacheKey(modelDir, weights, spec);
  const dir = join(cacheRoot, 'fused-experts');
  return existsSync(join(dir, `${key}.json`)) && readManifest(join(dir, `${key}.json`), join(dir, `${key}.bin`)) !== null;
}

export interface CacheProgress {
  layer: number;
  layers: number;
}

/**
 * Deletes entries whose model folder no longer exists, or which were written for an older state of this
 * model folder (another key), so temporary and edited checkpoints do not leave gigabytes behind.
 */
export function pruneStaleEntries(dir: string, modelDir: string, keepKey: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.endsWith('.json') || name.includes('.tmp-')) continue;
    const key = name.slice(0, -'.json'.length);
    if (key === keepKey) continue;
    try {
      const model = (JSON.parse(readFileSync(join(dir, name), 'utf8')) as { model?: string }).model;
      if (typeof model === 'string' && (model === modelDir || !existsSync(model))) {
        rmSync(join(dir, name), { force: true });
        rmSync(join(dir, `${key}.bin`), { force: true });
      }
    } catch {
      /* unreadable manifest from another version: leave it */
    }
  }
}

/**
 * Reuses or writes the fused expert cache for this checkpoint. Writing yields to the event loop between
 * layers, reports progress and stops (removing the partial file) when `signal` aborts.
 */
export async function prepareFusedExpertCache(
  spec: DecoderSpec,
  weights: WeightStore,
  modelDir: string,
  cacheRoot: string,
  opts: { onProgress?: (p: CacheProgress) => void; signal?: AbortSignal } = {},
): Promise<FusedExpertCache> {
  const dir = join(cacheRoot, 'fused-experts');
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new EngineError(`cannot create the expert cache folder ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const key = cacheKey(modelDir, weights, spec);
  pruneStaleEntries(dir, realpathSync(modelDir), key);
  const bin = join(dir, `${key}.bin`);
  const manifest = join(dir, `${key}.json`);
  const existing = existsSync(manifest) ? readManifest(manifest, bin) : null;
  if (existing) return { file: realpathSync(bin), layers: existing.layers, bytes: existing.bytes, reused: true };

  const tmp = join(dir, `${key}.tmp-${process.pid}-${Date.now()}`);
  const moeLayers = spec.layers.flatMap((l) => (l.mlp.kind === 'moe' ? [l.mlp.moe] : []));
  const layers: FusedLayerWeights[] = [];
  let pos = 0;
  const fd = openSync(tmp, 'w');
  try {
    const put = (data: Float32Array): CachedSegment => {
      const offset = Math.ceil(pos / ALIGN) * ALIGN;
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, offset + done);
      pos = offset + bytes.length;
      return { offset, length: bytes.length };
    };
    for (const [i, m] of moeLayers.entries()) {
      if (opts.signal?.aborted) throw new EngineError('writing the expert cache was cancelled');
      const w = fusedExpertWeights(weights, m.experts, spec.hiddenSize, expertWidth(m.experts[0]!));
      const fc1 = put(w.fc1);
      layers.push({ fc1, fc2: w.fc2.kind === 'mapped' ? w.fc2 : { kind: 'cache', segment: put(w.fc2.data) } });
      opts.onProgress?.({ layer: i + 1, layers: moeLayers.length });
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
    throw new EngineError(`writing the expert cache ${tmp} failed: ${(err as Error).message}`, { cause: err });
  }
  renameSync(tmp, bin);
  const manifestTmp = `${tmp}.json`;
  writeFileSync(manifestTmp, JSON.stringify({ format: CACHE_FORMAT, model: realpathSync(modelDir), layers, bytes: pos }));
  renameSync(manifestTmp, manifest);
  return { file: realpathSync(bin), layers, bytes: pos, reused: false };
}
