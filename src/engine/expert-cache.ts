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
 *
 * Integrity: the manifest holds a sha256 of every segment (hashed from memory while writing) and the stamp of
 * the cache file when those checksums last matched: size, inode, device, mtime and ctime in nanoseconds. A load
 * whose stat equals the stamp trusts the file without reading it (a multi-GB cache loads in ~0.2 s); any other
 * load re-hashes every segment (~1-2 GB/s), rebuilds the cache on a mismatch (announced through `onNotice`) and
 * otherwise re-stamps it. ctime is what makes this sound: every write to the file and every utimes() that
 * restores its mtime sets ctime to the current time, and no system call sets it back. A stamp is only recorded
 * once the file system's clock has moved past the file's ctime (checked on a marker file), so a later change
 * cannot share the stamped ctime even on file systems with coarse timestamps. Not caught: changes that bypass
 * the file system (raw block device writes, media bit rot), a clock set back to the stamped nanosecond, and
 * flips in the unused alignment padding between segments (never read).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { DecoderSpec, TensorSlice } from './architectures/types.js';
import { EngineError } from './errors.js';
import { expertWidth, fusedExpertWeights } from './fused-experts.js';
import type { WeightStore } from './safetensors.js';

const CACHE_FORMAT = 2;
const ALIGN = 4096;
/** Read size while verifying checksums. */
const VERIFY_CHUNK = 32 * 2 ** 20;
/** How long stamping waits for the file system's clock to pass the cache file's ctime (coarse clocks: 1-2 s). */
const SETTLE_LIMIT_MS = 3000;

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
  /**
   * How the reused cache was trusted: 'unchanged-file' (stat equals the stamp of its last verification: not
   * read), 'checksums' (every segment re-hashed); 'written' when it was (re)built by this load.
   */
  verifiedBy: 'unchanged-file' | 'checksums' | 'written';
}

/** One hashed segment of the cache file. */
interface SegmentChecksum {
  /** Index of the MoE layer (into spec.moeLayers). */
  moeLayer: number;
  part: 'fc1' | 'fc2';
  offset: number;
  length: number;
  sha256: string;
}

/** The cache file's identity when its checksums last matched (bigint stat fields, as decimal strings). */
interface FileStamp {
  size: string;
  ino: string;
  dev: string;
  mtimeNs: string;
  ctimeNs: string;
}

interface Manifest {
  format: number;
  model: string;
  layers: FusedLayerWeights[];
  bytes: number;
  checksums: SegmentChecksum[];
  /** Absent when the file system's clock never passed the file's ctime: then every load verifies. */
  verified?: FileStamp;
}

/** Messages a load should show the user (a rebuilt or re-verified cache), one line each. */
export type CacheNotice = (message: string) => void;

const stderrNotice: CacheNotice = (m) => process.stderr.write(`routescope: ${m}\n`);

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

type ExistingEntry = { kind: 'none' } | { kind: 'usable'; manifest: Manifest } | { kind: 'broken'; reason: string };

/** What is on disk for this key: nothing, a manifest whose file has the recorded size, or why the entry is unusable. */
function readEntry(path: string, binPath: string): ExistingEntry {
  const hasManifest = existsSync(path);
  if (!hasManifest) return existsSync(binPath) ? { kind: 'broken', reason: 'has no manifest' } : { kind: 'none' };
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch (err) {
    return { kind: 'broken', reason: `has an unreadable manifest (${(err as Error).message})` };
  }
  if (m.format !== CACHE_FORMAT || !Array.isArray(m.layers) || !Array.isArray(m.checksums)) return { kind: 'broken', reason: `has a manifest of another format (${JSON.stringify(m.format)})` };
  let size: number;
  try {
    size = statSync(binPath).size;
  } catch {
    return { kind: 'broken', reason: 'has lost its data file' };
  }
  if (size !== m.bytes) return { kind: 'broken', reason: `is ${size} bytes long where its manifest says ${m.bytes}` };
  return { kind: 'usable', manifest: m };
}

function stampOf(path: string): FileStamp {
  const st = statSync(path, { bigint: true });
  return { size: String(st.size), ino: String(st.ino), dev: String(st.dev), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs) };
}

const sameStamp = (a: FileStamp | undefined, b: FileStamp): boolean =>
  a !== undefined && a.size === b.size && a.ino === b.ino && a.dev === b.dev && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;

/**
 * `before` (taken before the file was hashed or right after it was written) as a stamp that later changes cannot
 * share: the file is unchanged since, and a marker file created now has a later ctime, so the file system's clock
 * has left the granule of the file's ctime. Undefined when the clock does not move within SETTLE_LIMIT_MS or the
 * file changed meanwhile (then the next load verifies again).
 */
async function settledStamp(bin: string, before: FileStamp): Promise<FileStamp | undefined> {
  const marker = `${bin}.clock-${process.pid}`;
  const deadline = Date.now() + SETTLE_LIMIT_MS;
  try {
    for (;;) {
      writeFileSync(marker, '');
      const now = statSync(marker, { bigint: true }).ctimeNs;
      if (!sameStamp(before, stampOf(bin))) return undefined;
      if (now > BigInt(before.ctimeNs)) return before;
      if (Date.now() > deadline) return undefined;
      await new Promise((tick) => setTimeout(tick, 5));
    }
  } catch {
    return undefined;
  } finally {
    rmSync(marker, { force: true });
  }
}

/** The first segment whose bytes no longer hash to the recorded sha256, or null. Yields between segments. */
async function firstMismatch(bin: string, checksums: SegmentChecksum[], signal?: AbortSignal): Promise<SegmentChecksum | null> {
  const fd = openSync(bin, 'r');
  try {
    const buf = Buffer.allocUnsafe(Math.min(VERIFY_CHUNK, Math.max(1, ...checksums.map((c) => c.length))));
    for (const c of checksums) {
      if (signal?.aborted) throw new EngineError('checking the expert cache was cancelled');
      const h = createHash('sha256');
      for (let done = 0; done < c.length; ) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, c.length - done), c.offset + done);
        if (n === 0) return c;
        h.update(buf.subarray(0, n));
        done += n;
      }
      if (h.digest('hex') !== c.sha256) return c;
      await new Promise((tick) => setImmediate(tick));
    }
    return null;
  } finally {
    closeSync(fd);
  }
}

function writeManifest(path: string, m: Manifest): void {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  writeFileSync(tmp, JSON.stringify(m));
  renameSync(tmp, path);
}

/** Whether a complete cache for this checkpoint already exists (so loading it writes nothing). */
export function hasFusedExpertCache(spec: DecoderSpec, weights: WeightStore, modelDir: string, cacheRoot: string): boolean {
  const key = cacheKey(modelDir, weights, spec);
  const dir = join(cacheRoot, 'fused-experts');
  return readEntry(join(dir, `${key}.json`), join(dir, `${key}.bin`)).kind === 'usable';
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
 * Reuses (after the integrity check above) or writes the fused expert cache for this checkpoint. Writing yields
 * to the event loop between layers, reports progress and stops (removing the partial file) when `signal`
 * aborts. `onNotice` (default: one line on stderr) hears about a cache that is rebuilt or re-verified.
 */
export async function prepareFusedExpertCache(
  spec: DecoderSpec,
  weights: WeightStore,
  modelDir: string,
  cacheRoot: string,
  opts: { onProgress?: (p: CacheProgress) => void; onNotice?: CacheNotice; signal?: AbortSignal } = {},
): Promise<FusedExpertCache> {
  const notice = opts.onNotice ?? stderrNotice;
  const dir = join(cacheRoot, 'fused-experts');
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new EngineError(`cannot create the expert cache folder ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const key = cacheKey(modelDir, weights, spec);
  pruneStaleEntries(dir, realpathSync(modelDir), key);
  const bin = join(dir, `${key}.bin`);
  const manifestPath = join(dir, `${key}.json`);
  const existing = readEntry(manifestPath, bin);
  let rebuildReason = existing.kind === 'broken' ? existing.reason : undefined;
  if (existing.kind === 'usable') {
    const m = existing.manifest;
    const before = stampOf(bin);
    const reuse = (verifiedBy: FusedExpertCache['verifiedBy']): FusedExpertCache => ({ file: realpathSync(bin), layers: m.layers, bytes: m.bytes, reused: true, verifiedBy });
    if (sameStamp(m.verified, before)) return reuse('unchanged-file');
    const why = m.verified ? 'changed on disk since it was last verified' : 'has no verified stamp (its file system clock did not move past its ctime)';
    notice(`expert cache ${bin} ${why}; checking its checksums (${(m.bytes / 2 ** 20).toFixed(1)} MiB)`);
    const bad = await firstMismatch(bin, m.checksums, opts.signal);
    if (!bad) {
      writeManifest(manifestPath, { ...m, verified: await settledStamp(bin, before) });
      return reuse('checksums');
    }
    rebuildReason = `does not match its checksum in decoder layer ${spec.moeLayers[bad.moeLayer]}'s ${bad.part} experts (bytes ${bad.offset}-${bad.offset + bad.length - 1})`;
  }
  if (rebuildReason !== undefined) {
    notice(`expert cache ${bin} ${rebuildReason}; rebuilding it`);
    rmSync(manifestPath, { force: true });
    rmSync(bin, { force: true });
  }

  const tmp = join(dir, `${key}.tmp-${process.pid}-${Date.now()}`);
  const moeLayers = spec.layers.flatMap((l) => (l.mlp.kind === 'moe' ? [l.mlp.moe] : []));
  const layers: FusedLayerWeights[] = [];
  const checksums: SegmentChecksum[] = [];
  let pos = 0;
  const fd = openSync(tmp, 'w');
  try {
    const put = (data: Float32Array, moeLayer: number, part: SegmentChecksum['part']): CachedSegment => {
      const offset = Math.ceil(pos / ALIGN) * ALIGN;
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, offset + done);
      pos = offset + bytes.length;
      checksums.push({ moeLayer, part, offset, length: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
      return { offset, length: bytes.length };
    };
    for (const [i, m] of moeLayers.entries()) {
      if (opts.signal?.aborted) throw new EngineError('writing the expert cache was cancelled');
      const w = fusedExpertWeights(weights, m.experts, spec.hiddenSize, expertWidth(m.experts[0]!));
      const fc1 = put(w.fc1, i, 'fc1');
      layers.push({ fc1, fc2: w.fc2.kind === 'mapped' ? w.fc2 : { kind: 'cache', segment: put(w.fc2.data, i, 'fc2') } });
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
  // Hashed from memory, so the stamp is taken on the file as renamed (rename itself sets its ctime).
  const verified = await settledStamp(bin, stampOf(bin));
  writeManifest(manifestPath, { format: CACHE_FORMAT, model: realpathSync(modelDir), layers, bytes: pos, checksums, verified });
  return { file: realpathSync(bin), layers, bytes: pos, reused: false, verifiedBy: 'written' };
}
