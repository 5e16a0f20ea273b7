/**
 * One entry of an on-disk weight cache kept OUTSIDE the model folder (the fp32 fused, fp16 and int8/int4 expert
 * caches): `<dir>/<key>.bin` holds the caller's segments, each 4 KiB aligned (mappable by onnxruntime);
 * `<dir>/<key>.json` is the manifest, written last, so a half-written entry is never used. The caller decides
 * what goes in the file and what its manifest `data` says (offsets, dtypes); this module owns writing,
 * cleanup, pruning and integrity, so every cache is checked the same way.
 *
 * Integrity: the manifest holds a sha256 of every segment (hashed from memory while writing) and the stamp of
 * the data file when those checksums last matched: size, inode, device, mtime and ctime in nanoseconds. A load
 * whose stat equals the stamp trusts the file without reading it (a multi-GB cache loads in ~0.2 s); any other
 * load re-hashes every segment (~1-2 GB/s), rebuilds the entry on a mismatch (announced through `onNotice`)
 * and otherwise re-stamps it. ctime is what makes this sound: every write to the file and every utimes() that
 * restores its mtime sets ctime to the current time, and no system call sets it back. A stamp is only recorded
 * once the file system's clock has moved past the file's ctime (checked on a marker file), so a later change
 * cannot share the stamped ctime even on file systems with coarse timestamps. Not caught: changes that bypass
 * the file system (raw block device writes, media bit rot), a clock set back to the stamped nanosecond, and
 * flips in the unused alignment padding between segments (never read).
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { DecoderSpec } from './architectures/types.js';
import { EngineError } from './errors.js';
import type { WeightStore } from './safetensors.js';

/** Part of every cache key: bumped when this module's file or manifest layout changes. */
const ENTRY_FORMAT = 3;
const ALIGN = 4096;
/** Read size while verifying checksums. */
const VERIFY_CHUNK = 32 * 2 ** 20;
/** How long stamping waits for the file system's clock to pass the data file's ctime (coarse clocks: 1-2 s). */
const SETTLE_LIMIT_MS = 3000;

export interface CachedSegment {
  offset: number;
  length: number;
}

/** Messages a load should show the user (a rebuilt or re-verified cache), one line each. */
export type CacheNotice = (message: string) => void;

/** Largest single write / hash update (Node's limit is 2^31 - 1 bytes). */
const MAX_IO_BYTES = 2 ** 30;

export const stderrNotice: CacheNotice = (m) => process.stderr.write(`routescope: ${m}\n`);

/** How a returned entry was trusted: stat equal to its stamp (not read), every segment re-hashed, or (re)built now. */
export type VerifiedBy = 'unchanged-file' | 'checksums' | 'written';

/** One hashed segment of the data file; `what` names it in messages ("decoder layer 3's fc1 experts"). */
interface SegmentChecksum {
  what: string;
  offset: number;
  length: number;
  sha256: string;
}

/** The data file's identity when its checksums last matched (bigint stat fields, as decimal strings). */
interface FileStamp {
  size: string;
  ino: string;
  dev: string;
  mtimeNs: string;
  ctimeNs: string;
}

interface Manifest<D> {
  /** The caller's layout version; an entry of another format is rebuilt, never read. */
  format: number;
  model: string;
  bytes: number;
  checksums: SegmentChecksum[];
  /** Absent when the file system's clock never passed the file's ctime: then every load verifies. */
  verified?: FileStamp;
  data: D;
}

/** Hashes the model folder's real path and every weight file's size and mtime: an edited checkpoint gets a new key. */
export function cacheKey(modelDir: string, weights: WeightStore, spec: DecoderSpec): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ format: ENTRY_FORMAT, dir: realpathSync(modelDir), hidden: spec.hiddenSize, moeLayers: spec.moeLayers }));
  for (const f of [...weights.files].sort()) {
    const st = statSync(f);
    h.update(`${f}:${st.size}:${st.mtimeMs}\n`);
  }
  return h.digest('hex').slice(0, 32);
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

type ExistingEntry<D> = { kind: 'none' } | { kind: 'usable'; manifest: Manifest<D> } | { kind: 'broken'; reason: string };

/** What is on disk for this key: nothing, a manifest whose file has the recorded size, or why the entry is unusable. */
function readEntry<D>(manifestPath: string, bin: string, format: number, isData: (d: unknown) => d is D): ExistingEntry<D> {
  if (!existsSync(manifestPath)) return existsSync(bin) ? { kind: 'broken', reason: 'has no manifest' } : { kind: 'none' };
  let m: Manifest<D>;
  try {
    m = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest<D>;
  } catch (err) {
    return { kind: 'broken', reason: `has an unreadable manifest (${(err as Error).message})` };
  }
  if (m.format !== format || typeof m.bytes !== 'number' || !Array.isArray(m.checksums) || !isData(m.data)) {
    return { kind: 'broken', reason: `has a manifest of another format (${JSON.stringify(m.format)})` };
  }
  if (m.bytes === 0) return { kind: 'usable', manifest: m };
  let size: number;
  try {
    size = statSync(bin).size;
  } catch {
    return { kind: 'broken', reason: 'has lost its data file' };
  }
  if (size !== m.bytes) return { kind: 'broken', reason: `is ${size} bytes long where its manifest says ${m.bytes}` };
  return { kind: 'usable', manifest: m };
}

/** Whether a complete entry exists (so loading it writes nothing; its checksums may still be checked). */
export function hasCacheEntry(dir: string, key: string, format: number): boolean {
  const any = (d: unknown): d is unknown => d !== undefined;
  return readEntry(join(dir, `${key}.json`), join(dir, `${key}.bin`), format, any).kind === 'usable';
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
async function firstMismatch(bin: string, checksums: SegmentChecksum[], label: string, signal?: AbortSignal): Promise<SegmentChecksum | null> {
  const fd = openSync(bin, 'r');
  try {
    const buf = Buffer.allocUnsafe(Math.min(VERIFY_CHUNK, Math.max(1, ...checksums.map((c) => c.length))));
    for (const c of checksums) {
      if (signal?.aborted) throw new EngineError(`checking the ${label} was cancelled`);
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

function writeManifest<D>(path: string, m: Manifest<D>): void {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  writeFileSync(tmp, JSON.stringify(m));
  renameSync(tmp, path);
}

/** Appends one segment (4 KiB aligned) to the entry being written; `what` names it in checksum messages. */
export type PutSegment = (bytes: ArrayBufferView, what: string) => CachedSegment;

/**
 * Starts a segment written in pieces, for one that is too large to hold in memory at once (a stacked expert
 * tensor of a real checkpoint): `append` the pieces in order (the caller may await between them), then `end`.
 * No other segment may be put while one is open.
 */
export type OpenSegment = (what: string) => { append(bytes: ArrayBufferView): void; end(): CachedSegment };

export interface CacheEntryRequest<D> {
  /** Names the cache in messages: "expert cache", "fp16 expert cache". */
  label: string;
  /** The cache's folder (`<cacheRoot>/<name>`), created when missing. */
  dir: string;
  modelDir: string;
  weights: WeightStore;
  spec: DecoderSpec;
  /** The caller's layout version (of `data` and the segments). */
  format: number;
  /** Whether a manifest's `data` has the caller's shape (a failing entry is rebuilt). */
  isData: (data: unknown) => data is D;
  /** Runs before anything is written (a disk space check); throws to write nothing. */
  beforeWrite?: () => void;
  /** Writes the segments through `put` (or `open`) and returns the manifest data. Writing no segment leaves no data file. */
  write: (put: PutSegment, open: OpenSegment) => Promise<D>;
  onNotice?: CacheNotice;
  signal?: AbortSignal;
}

export interface CacheEntry<D> {
  /** Absolute real path of the data file; null when the entry has no segment. */
  file: string | null;
  data: D;
  bytes: number;
  /** True when an existing entry was reused (nothing written). */
  reused: boolean;
  verifiedBy: VerifiedBy;
}

/** Reuses the entry for this checkpoint after the integrity check above, or (re)writes it. */
export async function prepareCacheEntry<D>(req: CacheEntryRequest<D>): Promise<CacheEntry<D>> {
  const { label, dir } = req;
  const notice = req.onNotice ?? stderrNotice;
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new EngineError(`cannot create the ${label} folder ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const key = cacheKey(req.modelDir, req.weights, req.spec);
  const model = realpathSync(req.modelDir);
  pruneStaleEntries(dir, model, key);
  const bin = join(dir, `${key}.bin`);
  const manifestPath = join(dir, `${key}.json`);
  const existing = readEntry(manifestPath, bin, req.format, req.isData);
  let rebuildReason = existing.kind === 'broken' ? existing.reason : undefined;
  if (existing.kind === 'usable') {
    const m = existing.manifest;
    const reuse = (verifiedBy: VerifiedBy): CacheEntry<D> => ({ file: m.bytes > 0 ? realpathSync(bin) : null, data: m.data, bytes: m.bytes, reused: true, verifiedBy });
    if (m.bytes === 0) return reuse('unchanged-file');
    const before = stampOf(bin);
    if (sameStamp(m.verified, before)) return reuse('unchanged-file');
    const why = m.verified ? 'changed on disk since it was last verified' : 'has no verified stamp (its file system clock did not move past its ctime)';
    notice(`${label} ${bin} ${why}; checking its checksums (${(m.bytes / 2 ** 20).toFixed(1)} MiB)`);
    const bad = await firstMismatch(bin, m.checksums, label, req.signal);
    if (!bad) {
      writeManifest(manifestPath, { ...m, verified: await settledStamp(bin, before) });
      return reuse('checksums');
    }
    rebuildReason = `does not match its checksum in ${bad.what} (bytes ${bad.offset}-${bad.offset + bad.length - 1})`;
  }
  if (rebuildReason !== undefined) {
    notice(`${label} ${bin} ${rebuildReason}; rebuilding it`);
    rmSync(manifestPath, { force: true });
    rmSync(bin, { force: true });
  }
  req.beforeWrite?.();

  const tmp = join(dir, `${key}.tmp-${process.pid}-${Date.now()}`);
  const checksums: SegmentChecksum[] = [];
  let pos = 0;
  let data: D;
  const fd = openSync(tmp, 'w');
  try {
    let openWhat: string | null = null;
    const writeAt = (a: ArrayBufferView, at: number, hash: Hash): number => {
      const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      // Node's fs writes (and hash updates) take at most 2^31 - 1 bytes at a time; one segment can be larger
      // (Phi-3.5-MoE's fp32 fc1 of one layer is 3.4 GB), so both go in pieces.
      for (let done = 0; done < bytes.length; ) {
        const n = writeSync(fd, bytes, done, Math.min(bytes.length - done, MAX_IO_BYTES), at + done);
        hash.update(bytes.subarray(done, done + n));
        done += n;
      }
      return bytes.length;
    };
    const put: PutSegment = (a, what) => {
      if (openWhat !== null) throw new EngineError(`internal error: segment '${what}' put while '${openWhat}' is open`);
      const offset = Math.ceil(pos / ALIGN) * ALIGN;
      const hash = createHash('sha256');
      pos = offset + writeAt(a, offset, hash);
      checksums.push({ what, offset, length: a.byteLength, sha256: hash.digest('hex') });
      return { offset, length: a.byteLength };
    };
    const open: OpenSegment = (what) => {
      if (openWhat !== null) throw new EngineError(`internal error: segment '${what}' opened while '${openWhat}' is open`);
      openWhat = what;
      const offset = Math.ceil(pos / ALIGN) * ALIGN;
      const hash = createHash('sha256');
      let end = offset;
      let closed = false;
      return {
        append: (a) => {
          if (closed) throw new EngineError(`internal error: segment '${what}' appended to after its end`);
          end += writeAt(a, end, hash);
        },
        end: () => {
          if (closed) throw new EngineError(`internal error: segment '${what}' ended twice`);
          closed = true;
          openWhat = null;
          pos = end;
          checksums.push({ what, offset, length: end - offset, sha256: hash.digest('hex') });
          return { offset, length: end - offset };
        },
      };
    };
    data = await req.write(put, open);
    if (openWhat !== null) throw new EngineError(`internal error: segment '${openWhat}' was never ended`);
    closeSync(fd);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
    rmSync(tmp, { force: true });
    if (err instanceof EngineError) throw err;
    throw new EngineError(`writing the ${label} ${tmp} failed: ${(err as Error).message}`, { cause: err });
  }
  if (pos === 0) {
    rmSync(tmp, { force: true });
    writeManifest(manifestPath, { format: req.format, model, bytes: 0, checksums, data });
    return { file: null, data, bytes: 0, reused: false, verifiedBy: 'written' };
  }
  renameSync(tmp, bin);
  // Hashed from memory, so the stamp is taken on the file as renamed (rename itself sets its ctime).
  const verified = await settledStamp(bin, stampOf(bin));
  writeManifest(manifestPath, { format: req.format, model, bytes: pos, checksums, verified, data });
  return { file: realpathSync(bin), data, bytes: pos, reused: false, verifiedBy: 'written' };
}
