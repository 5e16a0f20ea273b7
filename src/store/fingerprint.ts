import { createHash, type Hash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { StoreError } from './errors.js';

/**
 * Content fingerprint of a Hugging Face model folder, cheap enough to compute on every capture and resume of a
 * 60 GB checkpoint yet sensitive to changed weights (a fine-tune keeps every shape, so headers alone miss it):
 *
 * - config.json and the tokenizer / chat-template files, whole;
 * - every *.safetensors file below FULL_HASH_BELOW bytes, whole;
 * - every larger one by its header (tensor names, dtypes, shapes, offsets), its size, the bytes of every router
 *   tensor (the weights that decide routing: 25 MB in all for Qwen3-30B-A3B) and SAMPLE_BLOCKS blocks spread evenly
 *   over its data (4 MiB per file), which any fine-tune or re-quantisation touches.
 *
 * The per-file digests are kept (`detail`), so a refused resume can name the file and tensors that changed. A
 * targeted edit of a few non-router weights in a large file can fall between the sampled blocks; docs/store.md.
 */
export const FINGERPRINT_VERSION = 2;
const FULL_HASH_BELOW = 64 * 1024 * 1024;
const SAMPLE_BLOCKS = 64;
const SAMPLE_BYTES = 64 * 1024;
/** Files besides the weights that change what a capture records (tokenisation, chat template, architecture). */
const TEXT_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja', 'chat_template.json', 'special_tokens_map.json'];
/** Router weights of the supported architectures: `mlp.gate.weight`, `block_sparse_moe.gate.weight`, `router.layer.weight`. */
const ROUTER_TENSOR = /(^|\.)(gate|router)(\.layer)?\.weight$/;

export interface FileDigest {
  size: number;
  /** sha256 of the whole file (text files and shards below the full-hash size). */
  sha256?: string;
  /** Shards: sha256 of the header and of each router tensor's bytes. */
  header?: string;
  routers?: Record<string, string>;
  /** Large shards: sha256 of the sampled blocks (instead of the whole file). */
  sampled?: string;
}

export interface FingerprintDetail {
  version: number;
  files: Record<string, FileDigest>;
}

export interface ModelFingerprint {
  fingerprint: string;
  detail: FingerprintDetail;
}

export interface FingerprintOptions {
  /** Files smaller than this are hashed whole (default 64 MiB); tests lower it to exercise the sampled path. */
  fullHashBelowBytes?: number;
}

const sha = (h: Hash) => h.digest('hex');

function requireModelFolder(folder: string): void {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new StoreError('not-found', `model folder ${folder} does not exist`);
  if (!existsSync(join(folder, 'config.json'))) throw new StoreError('invalid-input', `model folder ${folder} has no config.json`);
}

function shardNames(folder: string): string[] {
  return readdirSync(folder).filter((f) => f.endsWith('.safetensors')).sort();
}

/** Reads exactly `length` bytes at `position`, or fails naming the file. */
function readAt(fd: number, path: string, length: number, position: number): Buffer {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) throw new StoreError('invalid-input', `${path}: file ends at byte ${position + got}, expected ${position + length}`);
    got += n;
  }
  return buf;
}

function readHeader(fd: number, path: string, size: number): { length: number; bytes: Buffer } {
  if (size < 8) throw new StoreError('invalid-input', `${path}: shorter than a safetensors header`);
  const length = Number(readAt(fd, path, 8, 0).readBigUInt64LE(0));
  if (length > 100 * 1024 * 1024 || 8 + length > size) throw new StoreError('invalid-input', `${path}: safetensors header length ${length} is invalid for a ${size}-byte file`);
  return { length, bytes: readAt(fd, path, length, 8) };
}

function hashWhole(fd: number, path: string, size: number): string {
  const h = createHash('sha256');
  const chunk = 4 * 1024 * 1024;
  for (let pos = 0; pos < size; pos += chunk) h.update(readAt(fd, path, Math.min(chunk, size - pos), pos));
  return sha(h);
}

function digestShard(path: string, fullBelow: number): FileDigest {
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  try {
    const header = readHeader(fd, path, size);
    const dataStart = 8 + header.length;
    let entries: Record<string, { data_offsets?: [number, number] }>;
    try {
      entries = JSON.parse(header.bytes.toString('utf8')) as typeof entries;
    } catch (err) {
      throw new StoreError('invalid-input', `${path}: safetensors header is not valid JSON (${(err as Error).message})`);
    }
    const routers: Record<string, string> = {};
    for (const name of Object.keys(entries).filter((n) => ROUTER_TENSOR.test(n)).sort()) {
      const [begin, end] = entries[name]!.data_offsets ?? [0, 0];
      if (!(begin >= 0 && end >= begin && dataStart + end <= size)) throw new StoreError('invalid-input', `${path}: tensor ${name} has data offsets [${begin}, ${end}] outside the file`);
      routers[name] = sha(createHash('sha256').update(readAt(fd, path, end - begin, dataStart + begin)));
    }
    const headerHash = sha(createHash('sha256').update(header.bytes));
    // Small files: the whole file; router hashes are kept beside it to name what changed.
    if (size < fullBelow) return { size, sha256: hashWhole(fd, path, size), header: headerHash, routers };
    const sampled = createHash('sha256');
    const span = size - dataStart;
    const block = Math.min(SAMPLE_BYTES, span);
    const blocks = span <= block ? 1 : SAMPLE_BLOCKS;
    for (let i = 0; i < blocks; i++) {
      // Evenly spaced, first block at the start of the data and last one ending at the end of the file.
      const at = dataStart + (blocks === 1 ? 0 : Math.floor(((span - block) * i) / (blocks - 1)));
      sampled.update(readAt(fd, path, block, at));
    }
    return { size, header: headerHash, routers, sampled: sha(sampled) };
  } finally {
    closeSync(fd);
  }
}

/** The folder's fingerprint and the per-file digests it is made of. */
export function fingerprintModel(folder: string, options: FingerprintOptions = {}): ModelFingerprint {
  requireModelFolder(folder);
  const fullBelow = options.fullHashBelowBytes ?? FULL_HASH_BELOW;
  const files: Record<string, FileDigest> = {};
  for (const name of TEXT_FILES) {
    const path = join(folder, name);
    if (!existsSync(path)) continue;
    const bytes = readFileSync(path);
    files[name] = { size: bytes.length, sha256: sha(createHash('sha256').update(bytes)) };
  }
  for (const name of shardNames(folder)) files[name] = digestShard(join(folder, name), fullBelow);
  const detail: FingerprintDetail = { version: FINGERPRINT_VERSION, files };
  return { fingerprint: `sha256:${sha(createHash('sha256').update(canonicalJson(detail)))}`, detail };
}

export function modelFingerprint(folder: string, options?: FingerprintOptions): string {
  return fingerprintModel(folder, options).fingerprint;
}

/** JSON with sorted keys, so the fingerprint does not depend on property order. */
function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/**
 * The fingerprint of Routescope before schema 2 (config.json plus every safetensors header and size), for runs
 * recorded then, whose model rows have no detail: resuming them can check no more than this.
 */
export function legacyModelFingerprint(folder: string): string {
  requireModelFolder(folder);
  const hash = createHash('sha256');
  hash.update('config.json\0');
  hash.update(readFileSync(join(folder, 'config.json')));
  for (const f of shardNames(folder)) {
    const path = join(folder, f);
    const size = statSync(path).size;
    const fd = openSync(path, 'r');
    try {
      const header = readHeader(fd, path, size);
      hash.update(`\0${f}\0${size}\0`);
      hash.update(header.bytes);
    } finally {
      closeSync(fd);
    }
  }
  return `sha256:${sha(hash)}`;
}

/** What differs between two fingerprints' details, one phrase per changed file; [] when nothing does. */
export function describeModelChanges(before: FingerprintDetail, after: FingerprintDetail): string[] {
  const out: string[] = [];
  const names = [...new Set([...Object.keys(before.files), ...Object.keys(after.files)])].sort();
  for (const name of names) {
    const a = before.files[name];
    const b = after.files[name];
    if (!a) {
      out.push(`${name} was added`);
      continue;
    }
    if (!b) {
      out.push(`${name} is gone`);
      continue;
    }
    if (a.size !== b.size) {
      out.push(`${name} changed size (${a.size} -> ${b.size} bytes)`);
      continue;
    }
    const whole = a.sha256 !== undefined || b.sha256 !== undefined;
    if (whole && a.sha256 === b.sha256) continue;
    if (whole && a.header === undefined) {
      out.push(`${name} changed content`);
      continue;
    }
    if (a.header !== b.header) {
      out.push(`${name}: tensor names, dtypes or shapes changed (header differs)`);
      continue;
    }
    const routers = Object.keys({ ...a.routers, ...b.routers }).sort().filter((t) => a.routers?.[t] !== b.routers?.[t]);
    if (routers.length > 0) {
      const shown = routers.slice(0, 3).join(', ');
      out.push(`${name}: router weights changed (${shown}${routers.length > 3 ? ` and ${routers.length - 3} more` : ''})`);
    }
    if (whole && routers.length === 0) out.push(`${name}: weights other than the routers changed`);
    if (!whole && a.sampled !== b.sampled) out.push(`${name}: weights changed (sampled blocks differ)`);
  }
  return out;
}
