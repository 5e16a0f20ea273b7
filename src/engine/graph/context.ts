/**
 * What every part of the decoder graph shares: the OnnxGraph being built, the spec, the build options, and the
 * helpers that turn weights into external initializers. Weights are never copied: an initializer points into the
 * user's safetensors file (offset = 8 + header length + data offset) or into one of our cache files, by a location
 * relative to `baseDir`, the folder onnxruntime is told to map external data from.
 */
import { realpathSync } from 'node:fs';
import { isAbsolute, parse, relative, sep } from 'node:path';
import type { DecoderSpec, TensorSlice } from '../architectures/types.js';
import { EngineError } from '../errors.js';
import type { FusedExpertCache } from '../expert-cache.js';
import type { HalfExpertCache } from '../half-experts.js';
import type { HalfFusedExpertCache } from '../half-fused-experts.js';
import { OnnxGraph } from '../onnx/graph.js';
import { DataType } from '../onnx/model.js';
import type { DenseCache, HalfTable } from '../quant-dense.js';
import type { QuantExpertCache } from '../quant-experts.js';
import type { WeightStore } from '../safetensors.js';

/** How the experts of a MoE layer are executed (see graph-builder.ts). */
export type MoeKernelName = 'fused' | 'dispatch';

export interface BuildOptions {
  moeKernel: MoeKernelName;
  /** Required for the fused kernel: where its expert layout was written. */
  fusedCache?: FusedExpertCache;
  /**
   * false = routing-only graph: no final norm, no lm_head, no `logits_rows` input or `logits` output, so an
   * F16/BF16 lm_head is never cast to an fp32 copy at load (default true).
   */
  withLogits?: boolean;
  /**
   * fp16 precision (dispatch kernel only): expert matrices at 16 bits, mapped from the checkpoint or its
   * fp16 cache, cast to fp32 inside each expert's If branch so only routed experts are ever widened.
   */
  halfExperts?: HalfExpertCache;
  /** int8/int4 precision (fused kernel): block-quantised experts run by com.microsoft.QMoE (quant-experts.ts). */
  quantExperts?: QuantExpertCache;
  /** fp16 precision on the fused kernel (CUDA): F16 experts run by an fp16 com.microsoft.MoE (half-fused-experts.ts). */
  halfFusedExperts?: HalfFusedExpertCache;
  /** fp16/int8/int4: quantised dense projections and 16-bit embedding / lm_head (quant-dense.ts). */
  dense?: DenseCache;
}

const DTYPES: Record<string, { type: DataType; size: number }> = {
  F32: { type: DataType.FLOAT, size: 4 },
  F16: { type: DataType.FLOAT16, size: 2 },
  BF16: { type: DataType.BFLOAT16, size: 2 },
};

/** Deepest folder containing both paths (onnxruntime only maps files inside its external-data folder). */
export function commonAncestor(a: string, b: string): string | null {
  const root = parse(a).root;
  if (root !== parse(b).root) return null;
  const pa = a.slice(root.length).split(sep).filter(Boolean);
  const pb = b.slice(root.length).split(sep).filter(Boolean);
  let n = 0;
  while (n < pa.length && n < pb.length && pa[n] === pb[n]) n++;
  return root + pa.slice(0, n).join(sep);
}

export class GraphContext {
  readonly g = new OnnxGraph();
  readonly modelDir: string;
  /** Folder external-data locations are relative to: the model folder, or for the fused kernel the common
   * ancestor of the model folder and the expert cache. Real paths, because onnxruntime canonicalises. */
  readonly baseDir: string;
  readonly opts: Readonly<BuildOptions>;
  /** Shape(input_ids) = [B, T], set once the inputs exist; attention reshapes per head with it. */
  shapeBT = '';
  private weightCache = new Map<string, { raw: string; dtype: DataType }>();
  private floatCache = new Map<string, string>();
  private denseTables = new Map<number, string>();

  constructor(
    readonly spec: DecoderSpec,
    readonly weights: WeightStore,
    modelDir: string,
    opts: BuildOptions = { moeKernel: 'dispatch' },
  ) {
    this.modelDir = realpathSync(modelDir);
    this.opts = opts;
    let baseDir = this.modelDir;
    if (opts.moeKernel === 'fused') {
      const cacheFile = opts.quantExperts?.file ?? opts.halfFusedExperts?.file ?? opts.fusedCache?.file;
      if (!cacheFile) throw new EngineError('internal error: the fused MoE kernel needs its expert cache');
      if (opts.halfExperts) throw new EngineError('internal error: fp16 experts run on the dispatch kernel');
      const base = commonAncestor(this.modelDir, cacheFile);
      if (!base) throw new EngineError(`the expert cache ${cacheFile} and the model folder ${this.modelDir} share no common folder (different drives?); use moeKernel 'dispatch' or another cache folder`);
      baseDir = base;
    }
    if (opts.moeKernel === 'dispatch' && opts.quantExperts) {
      const base = commonAncestor(this.modelDir, opts.quantExperts.file);
      if (!base) throw new EngineError(`the expert cache ${opts.quantExperts.file} and the model folder ${this.modelDir} share no common folder (different drives?); set another cache folder`);
      baseDir = base;
    }
    if (opts.halfExperts?.file) {
      const base = commonAncestor(this.modelDir, opts.halfExperts.file);
      if (!base) throw new EngineError(`the fp16 expert cache ${opts.halfExperts.file} and the model folder ${this.modelDir} share no common folder (different drives?); set another cache folder`);
      baseDir = base;
    }
    // Tensors derived at load (dequantised MXFP4 experts) live in the cache folder: map them from there too.
    for (const file of weights.derivedFiles) {
      const base = commonAncestor(baseDir, realpathSync(file));
      if (!base) throw new EngineError(`the weight cache ${file} and the model folder ${this.modelDir} share no common folder (different drives?); set another cache folder`);
      baseDir = base;
    }
    if (opts.dense?.file) {
      const base = commonAncestor(baseDir, opts.dense.file);
      if (!base) throw new EngineError(`the dense weight cache ${opts.dense.file} and the model folder ${this.modelDir} share no common folder (different drives?); set another cache folder`);
      baseDir = base;
    }
    this.baseDir = baseDir;
  }

  /** An external-data location: relative to baseDir, with '/' on every platform. */
  location(file: string): string {
    return relative(this.baseDir, realpathSync(file)).split(sep).join('/');
  }

  /** An initializer stored in the fused (fp32), fp16 fused or quantised expert cache file. */
  cachedWeight(name: string, dims: number[], segment: { offset: number; length: number }, dataType = DataType.FLOAT): string {
    const o = this.opts;
    const location = this.location(o.quantExperts?.file ?? o.halfFusedExperts?.file ?? o.fusedCache!.file);
    return this.g.initializer({ name, dataType, dims, payload: { kind: 'external', location, ...segment } });
  }

  /** The external initializer for a slice, in its stored dtype. */
  rawWeight(slice: TensorSlice): { raw: string; dtype: DataType } {
    const key = `${slice.tensor}@${slice.offsetElements}:${slice.shape.join('x')}`;
    const hit = this.weightCache.get(key);
    if (hit) return hit;
    const info = this.weights.info(slice.tensor);
    const dt = DTYPES[info.dtype];
    if (!dt) throw new EngineError(`tensor '${slice.tensor}' has dtype ${info.dtype}; the engine runs F32, F16 and BF16 weights`);
    const inModel = relative(this.modelDir, realpathSync(info.file));
    const outside = isAbsolute(inModel) || inModel.startsWith('..' + sep) || inModel === '..';
    if (outside && !this.weights.derivedFiles.includes(info.file)) {
      throw new EngineError(`weight file ${info.file} lies outside the model folder ${this.modelDir}; onnxruntime only maps files inside it`);
    }
    const length = slice.shape.reduce((a, b) => a * b, 1) * dt.size;
    const offset = info.fileOffset + slice.offsetElements * dt.size;
    if (slice.offsetElements * dt.size + length > info.byteLength) {
      throw new EngineError(`internal error: slice of '${slice.tensor}' runs past the tensor's end`);
    }
    const name = slice.offsetElements === 0 ? slice.tensor : `${slice.tensor}[${slice.offsetElements}]`;
    this.g.initializer({
      name,
      dataType: dt.type,
      dims: slice.shape,
      payload: { kind: 'external', location: this.location(info.file), offset, length },
    });
    const entry = { raw: name, dtype: dt.type };
    this.weightCache.set(key, entry);
    return entry;
  }

  /** The slice as float32 (a Cast for F16/BF16, which constant folding turns into an fp32 copy at load). */
  weight(slice: TensorSlice): string {
    const { raw, dtype } = this.rawWeight(slice);
    if (dtype === DataType.FLOAT) return raw;
    const hit = this.floatCache.get(raw);
    if (hit) return hit;
    const cast = this.g.cast(raw, DataType.FLOAT);
    this.floatCache.set(raw, cast);
    return cast;
  }

  /** A 16-bit table of the dense cache (or the checkpoint's own F16 tensor), as an fp16 initializer. */
  halfTable(t: HalfTable, slice: TensorSlice): string {
    if (t.kind === 'checkpoint') return this.rawWeight(slice).raw;
    const hit = this.denseTables.get(t.segment.offset);
    if (hit) return hit;
    const name = this.g.initializer({ name: `${slice.tensor}.fp16`, dataType: DataType.FLOAT16, dims: t.shape, payload: { kind: 'external', location: this.location(this.opts.dense!.file!), ...t.segment } });
    this.denseTables.set(t.segment.offset, name);
    return name;
  }
}
