/**
 * Exports the `fp16` CUDA graph (half-fused-experts.ts) of a model folder as a self-contained folder that
 * another runtime can load: `model.onnx`, every external-data file it points at (hard-linked, or copied when
 * the link fails) at the same relative path, the inputs of one forward pass (`inputs.json`) and what
 * onnxruntime-node's CPU provider computed for them (`cpu-outputs.json`), plus `meta.json`. Used by
 * tools/cuda-check/ to compare a CUDA run (Python onnxruntime-gpu) with the CPU result on the same graph.
 * JSON, not .npy: the tensors are small (one short pass) and the file stays readable.
 */
import { copyFileSync, linkSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { decoderSpecFor } from './architectures/index.js';
import type { DecoderSpec } from './architectures/types.js';
import { EngineError } from './errors.js';
import { disableOnnxruntimeTelemetry } from './execution-provider.js';
import { defaultCacheRoot } from './expert-cache.js';
import { buildDecoderModel, GraphNames } from './graph-builder.js';
import { prepareHalfFusedExpertCache } from './half-fused-experts.js';
import { readModelFolder } from './model-folder.js';
import { prepareDenseCache } from './quant-dense.js';

export interface SavedTensor {
  dtype: 'int64' | 'float32';
  dims: number[];
  data: number[];
}

export type SavedTensors = Record<string, SavedTensor>;

/** The graph contract's inputs for one pass over `ids` (no padding, no past, neutral steering, every row's logits). */
export function contractFeeds(spec: DecoderSpec, ids: number[][]): Record<string, ort.Tensor> {
  const B = ids.length;
  const T = ids[0]?.length ?? 0;
  if (B === 0 || T === 0 || ids.some((r) => r.length !== T)) throw new EngineError('export: the token ids must be a non-empty rectangle');
  const i64 = (values: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), dims);
  const feeds: Record<string, ort.Tensor> = {
    [GraphNames.inputIds]: i64(ids.flat(), [B, T]),
    [GraphNames.attentionMask]: i64(Array(B * T).fill(1), [B, T]),
    [GraphNames.positionIds]: i64(ids.flatMap(() => Array.from({ length: T }, (_, t) => t)), [B, T]),
    [GraphNames.logitsRows]: i64(Array.from({ length: B * T }, (_, r) => r), [B * T]),
  };
  const c = spec.kvCache ?? { keyHeads: spec.numKvHeads, keyDim: spec.headDim, valueHeads: spec.numKvHeads, valueDim: spec.headDim };
  for (let l = 0; l < spec.numLayers; l++) {
    feeds[GraphNames.pastKey(l)] = new ort.Tensor('float32', new Float32Array(0), [B, c.keyHeads, 0, c.keyDim]);
    feeds[GraphNames.pastValue(l)] = new ort.Tensor('float32', new Float32Array(0), [B, c.valueHeads, 0, c.valueDim]);
  }
  const zeros = () => new ort.Tensor('float32', new Float32Array(spec.numExperts), [spec.numExperts]);
  spec.moeLayers.forEach((_, i) => {
    for (const name of [GraphNames.steerBias(i), GraphNames.steerScale(i), GraphNames.steerStd(i), GraphNames.steerForce(i), GraphNames.steerMask(i)]) feeds[name] = zeros();
  });
  return feeds;
}

/** The outputs compared across runtimes: logits and, per MoE layer, router logits, experts and weights. */
export function comparedOutputs(spec: DecoderSpec): string[] {
  return [GraphNames.logits, ...spec.moeLayers.flatMap((_, i) => [GraphNames.routerLogits(i), GraphNames.topkExperts(i), GraphNames.topkWeights(i)])];
}

export function saveTensors(tensors: Record<string, ort.Tensor>): SavedTensors {
  const out: SavedTensors = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (t.type !== 'int64' && t.type !== 'float32') throw new EngineError(`export: tensor ${name} has type ${t.type}; only int64 and float32 are saved`);
    out[name] = { dtype: t.type, dims: [...t.dims], data: t.type === 'int64' ? Array.from(t.data as BigInt64Array, (v) => Number(v)) : Array.from(t.data as Float32Array) };
  }
  return out;
}

/** Runs an exported folder's model.onnx on onnxruntime-node's CPU provider (loaded from the file, as Python will). */
export async function runExportedOnCpu(
  outDir: string,
  feeds: Record<string, ort.Tensor>,
  fetches: string[],
  level: 'all' | 'disabled' = 'all',
): Promise<Record<string, ort.Tensor>> {
  disableOnnxruntimeTelemetry();
  const session = await ort.InferenceSession.create(join(outDir, 'model.onnx'), {
    executionProviders: ['cpu'],
    graphOptimizationLevel: level,
    extra: { session: { disable_prepacking: '1' } },
  });
  try {
    return await session.run(feeds, fetches);
  } finally {
    await session.release();
  }
}

export interface ExportResult {
  outDir: string;
  /** External-data files placed next to model.onnx, relative to it. */
  files: string[];
  /** Inputs and CPU outputs as written to inputs.json / cpu-outputs.json. */
  inputs: SavedTensors;
  cpuOutputs: SavedTensors;
  linked: boolean;
}

/** Hard link (no copy of a large checkpoint) when on the same filesystem, else a copy. */
function place(src: string, dst: string): boolean {
  mkdirSync(dirname(dst), { recursive: true });
  try {
    linkSync(src, dst);
    return true;
  } catch {
    copyFileSync(src, dst);
    return false;
  }
}

/**
 * Writes the fp16 CUDA graph of `modelDir` and one pass's inputs and CPU outputs to `outDir` (created; must not
 * be inside the model folder). `ids` defaults to two rows of 8 tokens.
 */
export async function exportHalfFusedGraph(modelDir: string, outDir: string, opts: { cacheDir?: string; ids?: number[][] } = {}): Promise<ExportResult> {
  const folder = readModelFolder(modelDir);
  const spec = decoderSpecFor(folder.dir, folder.architecture, folder.config, folder.weights);
  if (spec.moeLayers.length === 0) throw new EngineError(`export: ${folder.dir} has no MoE layer; the fp16 CUDA graph is about the MoE op`);
  const out = resolve(outDir);
  const inModel = relative(realpathSync(folder.dir), out);
  if (!inModel.startsWith('..') && !isAbsolute(inModel)) throw new EngineError(`export: the output folder ${out} lies inside the model folder ${folder.dir}; choose another`);
  mkdirSync(out, { recursive: true });
  const cacheRoot = opts.cacheDir ?? defaultCacheRoot();
  const cache = await prepareHalfFusedExpertCache(spec, folder.weights, folder.dir, cacheRoot);
  // As a session at fp16 runs it: the embedding and the lm_head at 16 bits too (quant-dense.ts).
  const dense = await prepareDenseCache(spec, folder.weights, folder.dir, cacheRoot, 'fp16');
  const built = buildDecoderModel(spec, folder.weights, folder.dir, { moeKernel: 'fused', halfFusedExperts: cache, dense });
  writeFileSync(join(out, 'model.onnx'), built.model);
  const sources = [...new Set([...folder.weights.files, cache.file, ...(dense.file ? [dense.file] : [])].map((f) => realpathSync(f)))];
  let linked = true;
  const files = sources.map((src) => {
    const rel = relative(built.externalDataDir, src);
    if (rel.startsWith('..') || isAbsolute(rel)) throw new EngineError(`internal error: ${src} is outside the graph's external-data folder ${built.externalDataDir}`);
    linked = place(src, join(out, rel)) && linked;
    return rel;
  });
  const ids = opts.ids ?? [
    Array.from({ length: 8 }, (_, t) => (t * 7 + 3) % spec.vocabSize),
    Array.from({ length: 8 }, (_, t) => (t * 13 + 5) % spec.vocabSize),
  ];
  const feeds = contractFeeds(spec, ids);
  const fetches = comparedOutputs(spec);
  const cpu = await runExportedOnCpu(out, feeds, fetches);
  const inputs = saveTensors(feeds);
  const cpuOutputs = saveTensors(cpu);
  writeFileSync(join(out, 'inputs.json'), JSON.stringify(inputs));
  writeFileSync(join(out, 'cpu-outputs.json'), JSON.stringify(cpuOutputs));
  const meta = {
    graph: 'routescope fp16 CUDA graph: fp16 experts in one com.microsoft.MoE node per layer, Casts around it, routing computed in fp32 before it',
    modelDir: folder.dir,
    architecture: spec.architecture,
    moeLayers: spec.moeLayers,
    topK: spec.topK,
    numExperts: spec.numExperts,
    onnxruntimeNode: ort.env.versions.common,
    // Observed (tests): onnxruntime's CPU provider has no fp16 MoE kernel, inserts Casts around the node and
    // drops the resulting fp32->fp16->fp32 round trips of the activations, even with optimisation disabled.
    cpuProvider: 'onnxruntime-node CPUExecutionProvider, graph optimisation all: the fp32 MoE op on fp16-rounded expert weights (activation round trips through fp16 are removed by its inserted Casts)',
    files,
    outputs: fetches,
  };
  writeFileSync(join(out, 'meta.json'), JSON.stringify(meta, null, 2));
  return { outDir: out, files, inputs, cpuOutputs, linked };
}
