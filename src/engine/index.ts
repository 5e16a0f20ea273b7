/**
 * The engine's public API: load a local Hugging Face MoE folder once, then run forward passes, generation
 * and scoring with routing capture and steering. Plain Node; never imports Electron.
 */
import { decoderSpecFor } from './architectures/index.js';
import { specialFeatures } from './architectures/features.js';
import type { DecoderSpec, GatedMlpSpec, LinearSpec } from './architectures/types.js';
import { chooseExecutionProvider, type ExecutionProviderChoice } from './execution-provider.js';
import { defaultCacheRoot } from './expert-cache.js';
import { chooseMoeKernel, type MoeKernelChoice } from './moe-kernel.js';
import { chooseInt4Kernel } from './int4-kernel.js';
import { runnablePrecisions } from './architectures/precision-support.js';
import { choosePrecision, DEFAULT_PLAN_CONTEXT, fitOf, IMPLEMENTED_PRECISIONS, machineMemory, memoryPlan, PRECISIONS, type Fit, type MachineMemory, type MemoryPlan, type PlanDevice } from './precision.js';
import { generate, score, type GenerateRequest, type GeneratedSequence, type RunControl, type ScoreItem, type ScoredSequence } from './generate.js';
import { readModelFolder, type ModelFolder } from './model-folder.js';
import { mxfp4Feature } from './mxfp4.js';
import { DecoderSession, type ForwardOptions, type ForwardResult, type ModelInfo, type SessionOptions } from './session.js';
import type { SteeringModelShape } from './steering-plan.js';
import { loadTokenizer, type RoutescopeTokenizer } from './tokenizer.js';

export type { ForwardOptions, ForwardResult, ModelInfo, SessionOptions, KvCache, LayerRouting, SteeringInput, LogitsMode, LogitsSelection } from './session.js';
export type { SteeringModelShape } from './steering-plan.js';
export { parseLogitsMode } from './session.js';
export type { GenerateRequest, GeneratedSequence, ScoreItem, ScoredSequence, SequenceRouting, SamplingOptions, TokenRouting } from './generate.js';
export { SUPPORTED_ARCHITECTURES, UnsupportedArchitectureError } from './architectures/index.js';

export interface Engine {
  info: ModelInfo;
  spec: DecoderSpec;
  folder: ModelFolder;
  /** Present when the folder has tokenizer.json. */
  tokenizer?: RoutescopeTokenizer;
  /** The shape steering plans are resolved against. */
  steeringModel: SteeringModelShape;
  timings: { cacheMs: number; buildMs: number; sessionMs: number };
  forward(ids: number[][], opts?: ForwardOptions): Promise<ForwardResult>;
  generate(req: GenerateRequest): Promise<GeneratedSequence[]>;
  score(items: ScoreItem[], opts?: RunControl & { batchSize?: number }): Promise<ScoredSequence[]>;
  dispose(): Promise<void>;
}

/**
 * The calls an experiment makes of an engine: what a proxy in another thread can answer too (src/capture/worker-engine.ts).
 * No KV cache, model folder or timings cross a thread, so forward takes no `past` and returns no `cache`.
 */
export interface EngineCalls {
  info: ModelInfo;
  tokenizer?: RoutescopeTokenizer;
  steeringModel: SteeringModelShape;
  forward(ids: number[][], opts?: Omit<ForwardOptions, 'past'>): Promise<Omit<ForwardResult, 'cache'>>;
  generate(req: GenerateRequest): Promise<GeneratedSequence[]>;
  score(items: ScoreItem[], opts?: RunControl & { batchSize?: number }): Promise<ScoredSequence[]>;
  dispose(): Promise<void>;
}

export async function loadEngine(dir: string, opts: SessionOptions = {}): Promise<Engine> {
  const session = await DecoderSession.load(dir, opts);
  let tokenizer: RoutescopeTokenizer | undefined;
  try {
    tokenizer = session.folder.hasTokenizer ? await loadTokenizer(session.folder.dir) : undefined;
  } catch (err) {
    await session.dispose();
    throw err;
  }
  return {
    info: session.info,
    spec: session.spec,
    folder: session.folder,
    tokenizer,
    steeringModel: { numLayers: session.info.numLayers, numExperts: session.info.numExperts, moeLayers: session.info.moeLayers, topK: session.info.topK },
    timings: session.timings,
    forward: (ids, o) => session.forward(ids, o),
    generate: (req) => generate(session, { stopIds: tokenizer?.eosIds, padId: tokenizer?.padId, ...req }),
    score: (items, o) => score(session, items, o),
    dispose: () => session.dispose(),
  };
}

export interface ModelSummary {
  dir: string;
  architecture: string;
  numLayers: number;
  moeLayers: number[];
  numExperts: number;
  topK: number;
  hiddenSize: number;
  vocabSize: number;
  /** Every tensor in the checkpoint. */
  totalParameters: number;
  /** Parameters used per token: total minus the experts a token does not route to. */
  activeParameters: number;
  dtypes: string[];
  weightBytes: number;
  /** What is special about this architecture (norms, biases, rope scaling, window, routing rule, shared experts). */
  features: string[];
  executionProvider: ExecutionProviderChoice;
  /** Which expert kernel a session would use (fused or dispatch), and why. */
  moeKernel: MoeKernelChoice;
  /** Which expert kernel an int4 session would use on the CPU with moeKernel auto, and why (int4-kernel.ts); absent without MoE layers. */
  int4Kernel?: MoeKernelChoice;
  /** Per precision: the memory a session needs at `context` tokens and whether it fits this machine. */
  memory: { machine: MachineMemory; context: number; plans: (MemoryPlan & { fit: Fit })[]; auto: string };
}

function linearParams(l: LinearSpec): number {
  return l.weight.shape.reduce((a, b) => a * b, 1) + (l.bias ? l.bias.shape[0]! : 0);
}

function mlpParams(m: GatedMlpSpec): number {
  return m.kind === 'split' ? linearParams(m.gate) + linearParams(m.up) + linearParams(m.down) : linearParams(m.gateUp) + linearParams(m.down);
}

/** What `routescope inspect` shows; reads config and safetensors headers only, builds no session. */
export function summarizeModel(dir: string, opts: { context?: number } = {}): ModelSummary {
  const folder = readModelFolder(dir);
  const ep = chooseExecutionProvider();
  const spec = decoderSpecFor(folder.dir, folder.architecture, folder.config, folder.weights);
  let total = 0;
  let bytes = 0;
  const dtypes = new Set<string>();
  // Parameters as the model runs (MXFP4 pairs count as the weights they hold); bytes and dtypes as stored on disk.
  for (const name of folder.weights.names()) total += folder.weights.info(name).shape.reduce((a, b) => a * b, 1);
  const stored = folder.mxfp4?.stored ?? folder.weights;
  for (const name of stored.names()) {
    const info = stored.info(name);
    bytes += info.byteLength;
    dtypes.add(info.dtype);
  }
  let inactive = 0;
  for (const layer of spec.layers) {
    if (layer.mlp.kind !== 'moe') continue;
    const perExpert = mlpParams(layer.mlp.moe.experts[0]!);
    inactive += (layer.mlp.moe.numExperts - layer.mlp.moe.topK) * perExpert;
  }
  return {
    dir: folder.dir,
    architecture: spec.architecture,
    numLayers: spec.numLayers,
    moeLayers: spec.moeLayers,
    numExperts: spec.numExperts,
    topK: spec.topK,
    hiddenSize: spec.hiddenSize,
    vocabSize: spec.vocabSize,
    totalParameters: total,
    activeParameters: total - inactive,
    dtypes: [...dtypes].sort(),
    weightBytes: bytes,
    features: [...(folder.mxfp4 ? [mxfp4Feature(folder.mxfp4)] : []), ...specialFeatures(spec)],
    executionProvider: ep,
    moeKernel: chooseMoeKernel(spec, folder.weights, folder.dir, defaultCacheRoot(), ep.name),
    ...(spec.moeLayers.length > 0 ? { int4Kernel: chooseInt4Kernel(spec, 'auto') } : {}),
    memory: memorySummary(spec, folder.weights, opts.context ?? DEFAULT_PLAN_CONTEXT, ep.name === 'cpu' ? 'cpu' : 'cuda'),
  };
}

function memorySummary(spec: DecoderSpec, weights: ModelFolder['weights'], context: number, device: PlanDevice): ModelSummary['memory'] {
  const machine = machineMemory();
  // A precision the architecture's experts cannot run at (precision-support.ts) is shown as not available, as loading refuses it.
  const runnable = runnablePrecisions(spec, IMPLEMENTED_PRECISIONS);
  const plans = PRECISIONS.map((p) => {
    const plan = memoryPlan(spec, weights, p, context, undefined, device);
    return { ...plan, implemented: plan.implemented && runnable.includes(p), fit: fitOf(plan, machine) };
  });
  let auto: string;
  try {
    const c = choosePrecision(spec, weights, 'auto', { context, machine, runnable, device });
    auto = `${c.name}: ${c.reason}`;
  } catch (err) {
    auto = (err as Error).message;
  }
  return { machine, context, plans, auto };
}
