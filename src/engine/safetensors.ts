/**
 * Reading safetensors checkpoints (one file or a sharded folder) without trusting them:
 * every header is checked against the file it sits in before any tensor is read, so a
 * damaged or truncated download fails with a message naming the file and tensor instead
 * of a crash, a hang or silently wrong weights.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { basename, dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { ModelFolderError } from './errors.js';
import { bf16ArrayToFloat32, f16ArrayToFloat32 } from '../numeric/float16.js';

/** Bytes per element of every dtype the safetensors format defines. */
export const SAFETENSORS_DTYPE_SIZES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPE_SIZES | string;

/** Dtypes that `readFloat32` can widen exactly (F64 is narrowed with rounding). */
export const FLOAT_DTYPES = ['F32', 'F16', 'BF16', 'F64'] as const;

export interface SafetensorsTensorInfo {
  name: string;
  /** Absolute path of the file that holds the tensor. */
  file: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte offset in `file`: 8 + header length + data_offsets[0]. */
  fileOffset: number;
  byteLength: number;
  /**
   * Set on a tensor the engine derives at load and has not written yet (MXFP4 experts before dequantisation,
   * see mxfp4.ts): its name, dtype and shape are known, its data is not; reading it fails with this reason.
   */
  pending?: string;
}

export interface SafetensorsHeader {
  file: string;
  headerLength: number;
  /** Byte offset where the data section starts (8 + header length). */
  dataStart: number;
  fileSize: number;
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsTensorInfo>;
}

/** The format's own reference implementation refuses headers above 100 MB; so do we. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
/** Node's readSync takes at most 2 GiB minus a little per call. */
const READ_CHUNK = 1 << 30;

function fail(file: string, problem: string, tensor?: string): never {
  const where = tensor === undefined ? file : `${file}, tensor "${tensor}"`;
  throw new ModelFolderError(`${where}: ${problem}`, { file, tensor });
}

function readExactly(fd: number, file: string, target: Uint8Array, position: number, tensor?: string): void {
  let done = 0;
  while (done < target.length) {
    const want = Math.min(READ_CHUNK, target.length - done);
    const got = readSync(fd, target, done, want, position + done);
    if (got === 0) fail(file, `file ended after ${position + done} bytes while reading (truncated?)`, tensor);
    done += got;
  }
}

function isSafeNonNegativeInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parse and validate the header of one safetensors file. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const file = resolve(path);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(file, code === 'ENOENT' ? 'file not found' : `cannot open (${code ?? String(err)})`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) fail(file, 'not a regular file');
    const fileSize = stat.size;
    if (fileSize < 8) fail(file, `only ${fileSize} bytes; a safetensors file starts with an 8-byte header length`);
    const lenBuf = Buffer.alloc(8);
    readExactly(fd, file, lenBuf, 0);
    const headerLen64 = lenBuf.readBigUInt64LE(0);
    if (headerLen64 > BigInt(MAX_HEADER_BYTES)) {
      fail(file, `header length ${headerLen64} bytes is implausible (limit ${MAX_HEADER_BYTES}); not a safetensors file?`);
    }
    const headerLength = Number(headerLen64);
    if (8 + headerLength > fileSize) {
      fail(file, `header length ${headerLength} runs past the end of the file (${fileSize} bytes); truncated or not safetensors`);
    }
    const headerBytes = Buffer.alloc(headerLength);
    readExactly(fd, file, headerBytes, 8);
    let parsed: unknown;
    try {
      parsed = JSON.parse(headerBytes.toString('utf8'));
    } catch (err) {
      fail(file, `header is not valid JSON (${(err as Error).message})`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) fail(file, 'header is not a JSON object');
    const dataStart = 8 + headerLength;
    const dataSize = fileSize - dataStart;
    const metadata: Record<string, string> = {};
    const tensors = new Map<string, SafetensorsTensorInfo>();
    const spans: { begin: number; end: number; name: string }[] = [];
    for (const [name, raw] of Object.entries(parsed as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(file, '__metadata__ is not an object');
        for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
          if (typeof v !== 'string') fail(file, `__metadata__ value for "${k}" is not a string`);
          metadata[k] = v;
        }
        continue;
      }
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(file, 'entry is not an object', name);
      const entry = raw as Record<string, unknown>;
      const dtype = entry.dtype;
      if (typeof dtype !== 'string') fail(file, 'missing dtype', name);
      const itemSize = SAFETENSORS_DTYPE_SIZES[dtype];
      if (itemSize === undefined) {
        fail(file, `unknown dtype "${dtype}" (known: ${Object.keys(SAFETENSORS_DTYPE_SIZES).join(', ')})`, name);
      }
      const shape = entry.shape;
      if (!Array.isArray(shape) || !shape.every(isSafeNonNegativeInt)) {
        fail(file, `shape ${JSON.stringify(shape)} is not a list of non-negative integers`, name);
      }
      const offsets = entry.data_offsets;
      if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSafeNonNegativeInt)) {
        fail(file, `data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`, name);
      }
      const [begin, end] = offsets as [number, number];
      if (end < begin) fail(file, `data_offsets [${begin}, ${end}] end before they begin`, name);
      let elements = 1;
      for (const d of shape as number[]) elements *= d;
      const expected = elements * itemSize;
      if (!Number.isSafeInteger(expected) || expected !== end - begin) {
        fail(file, `shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${expected} bytes but data_offsets give ${end - begin}`, name);
      }
      if (end > dataSize) {
        fail(file, `data_offsets [${begin}, ${end}] run past the end of the data section (${dataSize} bytes); file truncated?`, name);
      }
      tensors.set(name, { name, file, dtype, shape: [...(shape as number[])], fileOffset: dataStart + begin, byteLength: end - begin });
      spans.push({ begin, end, name });
    }
    // Empty tensors occupy no bytes and cannot overlap anything.
    const occupied = spans.filter((s) => s.end > s.begin).sort((a, b) => a.begin - b.begin || a.end - b.end);
    let furthest: { begin: number; end: number; name: string } | undefined;
    for (const cur of occupied) {
      if (furthest && cur.begin < furthest.end) {
        fail(file, `tensors "${furthest.name}" [${furthest.begin}, ${furthest.end}) and "${cur.name}" [${cur.begin}, ${cur.end}) overlap`, cur.name);
      }
      if (!furthest || cur.end > furthest.end) furthest = cur;
    }
    return { file, headerLength, dataStart, fileSize, metadata, tensors };
  } finally {
    closeSync(fd);
  }
}

function assertLittleEndianHost(): void {
  // safetensors data is little-endian; typed-array views would silently byte-swap on a big-endian host.
  if (endianness() !== 'LE') throw new ModelFolderError('safetensors reading needs a little-endian machine');
}

/** The standard names of a Hugging Face checkpoint inside a model folder. */
export const SINGLE_WEIGHTS_FILE = 'model.safetensors';
export const WEIGHTS_INDEX_FILE = 'model.safetensors.index.json';

/**
 * Read-only access to every tensor of a checkpoint, whether it is one file or several shards.
 * Headers are read and cross-checked once at construction; tensor data is read on demand.
 */
export class WeightStore {
  private readonly tensors: Map<string, SafetensorsTensorInfo>;
  readonly files: string[];
  /** The index file when the store was opened from one. */
  readonly indexFile?: string;
  /**
   * Files outside the model folder that hold tensors derived at load (dequantised MXFP4 experts in the cache
   * folder); also listed in `files`. Everything else lives inside the model folder.
   */
  readonly derivedFiles: string[];

  private constructor(tensors: Map<string, SafetensorsTensorInfo>, files: string[], indexFile?: string, derivedFiles: string[] = []) {
    this.tensors = tensors;
    this.files = files;
    this.indexFile = indexFile;
    this.derivedFiles = derivedFiles;
  }

  /**
   * This checkpoint as the engine reads it after a conversion: `replaced` tensors hidden, `added` ones visible
   * (pending, or in `derivedFile`). The original store is left as it is.
   */
  withReplacements(replaced: Iterable<string>, added: SafetensorsTensorInfo[], derivedFile?: string): WeightStore {
    const tensors = new Map(this.tensors);
    for (const name of replaced) tensors.delete(name);
    for (const info of added) {
      if (tensors.has(info.name)) fail(info.file, 'a converted tensor of this name is already in the checkpoint', info.name);
      tensors.set(info.name, info);
    }
    const derived = derivedFile ? [...this.derivedFiles, derivedFile] : this.derivedFiles;
    return new WeightStore(tensors, derivedFile ? [...this.files, derivedFile] : this.files, this.indexFile, derived);
  }

  /** One or several safetensors files; a tensor name present in two files is an error. */
  static fromFiles(paths: string[]): WeightStore {
    assertLittleEndianHost();
    const tensors = new Map<string, SafetensorsTensorInfo>();
    const files: string[] = [];
    for (const p of paths) {
      const header = readSafetensorsHeader(p);
      files.push(header.file);
      for (const [name, info] of header.tensors) {
        const prev = tensors.get(name);
        if (prev) fail(header.file, `tensor also present in ${prev.file}`, name);
        tensors.set(name, info);
      }
    }
    return new WeightStore(tensors, files);
  }

  static fromFile(path: string): WeightStore {
    return WeightStore.fromFiles([path]);
  }

  /** A `model.safetensors.index.json` (weight_map: tensor name -> shard file next to the index). */
  static fromIndex(indexPath: string): WeightStore {
    assertLittleEndianHost();
    const indexFile = resolve(indexPath);
    let text: string;
    try {
      text = readFileSync(indexFile, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      fail(indexFile, code === 'ENOENT' ? 'index file not found' : `cannot read (${code ?? String(err)})`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      fail(indexFile, `not valid JSON (${(err as Error).message})`);
    }
    const weightMap = (parsed as { weight_map?: unknown } | null)?.weight_map;
    if (weightMap === null || typeof weightMap !== 'object' || Array.isArray(weightMap)) {
      fail(indexFile, 'has no "weight_map" object (tensor name -> shard file)');
    }
    const folder = dirname(indexFile);
    const byShard = new Map<string, string[]>();
    for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
      if (typeof shard !== 'string' || shard === '') fail(indexFile, `weight_map entry is not a file name`, name);
      const shardPath = normalize(join(folder, shard));
      // An index must not send us reading files outside the model folder.
      if (isAbsolute(shard) || !shardPath.startsWith(folder + sep)) {
        fail(indexFile, `weight_map points outside the model folder ("${shard}")`, name);
      }
      const list = byShard.get(shardPath) ?? [];
      list.push(name);
      byShard.set(shardPath, list);
    }
    if (byShard.size === 0) fail(indexFile, 'weight_map is empty');
    const tensors = new Map<string, SafetensorsTensorInfo>();
    const files: string[] = [];
    for (const [shardPath, names] of byShard) {
      if (!existsSync(shardPath)) {
        fail(indexFile, `shard "${basename(shardPath)}" is listed in the index but missing from ${folder} (${names.length} tensors, e.g. "${names[0]}")`);
      }
      const header = readSafetensorsHeader(shardPath);
      files.push(header.file);
      for (const name of names) {
        const info = header.tensors.get(name);
        if (!info) fail(header.file, `index ${basename(indexFile)} says this shard holds the tensor, but it does not`, name);
        tensors.set(name, info);
      }
    }
    return new WeightStore(tensors, files, indexFile);
  }

  /**
   * The checkpoint of a model folder: the sharded index when present, else `model.safetensors`.
   * (When both exist, the index wins, as in transformers.)
   */
  static fromFolder(dir: string): WeightStore {
    const folder = resolve(dir);
    const index = join(folder, WEIGHTS_INDEX_FILE);
    if (existsSync(index)) return WeightStore.fromIndex(index);
    const single = join(folder, SINGLE_WEIGHTS_FILE);
    if (existsSync(single)) return WeightStore.fromFile(single);
    let isDir = false;
    try {
      isDir = statSync(folder).isDirectory();
    } catch {
      /* reported below */
    }
    if (!isDir) fail(folder, 'model folder not found');
    fail(folder, `no weights: neither ${SINGLE_WEIGHTS_FILE} nor ${WEIGHTS_INDEX_FILE} is present`);
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): SafetensorsTensorInfo {
    const info = this.tensors.get(name);
    if (!info) {
      const where = this.indexFile ?? this.files.join(', ');
      throw new ModelFolderError(`${where}: tensor "${name}" not found in the checkpoint`, { file: where, tensor: name });
    }
    return { ...info, shape: [...info.shape] };
  }

  /** The tensor's bytes exactly as stored (little-endian). */
  readRaw(name: string): Buffer {
    const info = this.info(name);
    const out = Buffer.from(new ArrayBuffer(info.byteLength));
    this.readInto(info, out);
    return out;
  }

  /** `byteLength` bytes of the tensor's data from `byteOffset` (e.g. one expert of a stacked tensor). */
  readRawRange(name: string, byteOffset: number, byteLength: number): Buffer {
    const info = this.info(name);
    if (!Number.isSafeInteger(byteOffset) || !Number.isSafeInteger(byteLength) || byteOffset < 0 || byteLength < 0 || byteOffset + byteLength > info.byteLength) {
      throw new ModelFolderError(`internal error: bytes ${byteOffset}..${byteOffset + byteLength} of tensor "${name}" (${info.byteLength} bytes) requested`, { file: info.file, tensor: name });
    }
    const out = Buffer.from(new ArrayBuffer(byteLength));
    this.readInto({ ...info, fileOffset: info.fileOffset + byteOffset, byteLength }, out);
    return out;
  }

  /** The tensor as float32; F16 and BF16 are widened exactly, F64 is rounded. */
  readFloat32(name: string): Float32Array {
    const info = this.info(name);
    const n = info.byteLength / SAFETENSORS_DTYPE_SIZES[info.dtype]!;
    switch (info.dtype) {
      case 'F32': {
        const out = new Float32Array(n);
        this.readInto(info, new Uint8Array(out.buffer));
        return out;
      }
      case 'F16':
      case 'BF16': {
        const half = new Uint16Array(n);
        this.readInto(info, new Uint8Array(half.buffer));
        return info.dtype === 'F16' ? f16ArrayToFloat32(half) : bf16ArrayToFloat32(half);
      }
      case 'F64': {
        const wide = new Float64Array(n);
        this.readInto(info, new Uint8Array(wide.buffer));
        return Float32Array.from(wide);
      }
      default:
        fail(info.file, `dtype ${info.dtype} cannot be read as float (expected one of ${FLOAT_DTYPES.join(', ')})`, name);
    }
  }

  /**
   * `count` elements from element `offset` as float32 (F32, F16, BF16; e.g. a run of rows of an embedding table),
   * so a large tensor can be converted piece by piece.
   */
  readFloat32Range(name: string, offset: number, count: number): Float32Array {
    const info = this.info(name);
    const size = SAFETENSORS_DTYPE_SIZES[info.dtype]!;
    if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16') {
      fail(info.file, `dtype ${info.dtype} cannot be read in pieces (expected F32, F16 or BF16)`, name);
    }
    const raw = this.readRawRange(name, offset * size, count * size);
    if (info.dtype === 'F32') return new Float32Array(raw.buffer, raw.byteOffset, count);
    const half = new Uint16Array(raw.buffer, raw.byteOffset, count);
    return info.dtype === 'F16' ? f16ArrayToFloat32(half) : bf16ArrayToFloat32(half);
  }

  private readInto(info: SafetensorsTensorInfo, target: Uint8Array): void {
    if (info.pending !== undefined) fail(info.file, info.pending, info.name);
    let fd: number;
    try {
      fd = openSync(info.file, 'r');
    } catch (err) {
      fail(info.file, `cannot open (${(err as NodeJS.ErrnoException).code ?? String(err)})`, info.name);
    }
    try {
      // The file may have been replaced since the header was checked.
      const size = fstatSync(fd).size;
      if (info.fileOffset + info.byteLength > size) {
        fail(info.file, `file is now ${size} bytes, shorter than the tensor's end at ${info.fileOffset + info.byteLength}`, info.name);
      }
      readExactly(fd, info.file, target, info.fileOffset, info.name);
    } finally {
      closeSync(fd);
    }
  }
}
