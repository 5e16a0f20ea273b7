/**
 * Messages between the engine worker thread (engine-worker.ts) and its proxies in the calling thread: the capture's
 * backend (engine-worker-backend.ts: encode, route) and the experiment's engine (worker-engine.ts: forward, score,
 * generate), both over one request/reply channel (engine-thread.ts). Errors cross by name, message and the fields the
 * API's error mapping reads, so a ModelFolderError thrown in the worker reaches the API as the same code, message and
 * file it would in process.
 */
import type { RenderedPrompt } from '../datasets/templates.js';
import { DatasetError } from '../datasets/types.js';
import { EngineError, ModelFolderError } from '../engine/errors.js';
import type { ForwardOptions, ForwardResult, GeneratedSequence, ModelInfo, SamplingOptions, ScoreItem, ScoredSequence, SequenceRouting, SessionOptions, SteeringInput, SteeringModelShape } from '../engine/index.js';
import type { Progress, RunControl } from '../engine/generate.js';
import { StoreError, type StoreErrorCode } from '../store/errors.js';
import type { CaptureModel, EncodedPrompt, RoutedSequence } from './backend.js';
import { CaptureError } from './job.js';

/** Session options that can cross a thread (no callbacks, no signal). */
export type ThreadSessionOptions = Omit<SessionOptions, 'onCacheProgress' | 'onCacheNotice' | 'signal'>;

/** What the worker loads: the capture's backend, or a whole engine for experiments. */
export type WorkerLoad =
  | { kind: 'capture'; dir: string; maxBatchTokens?: number }
  | { kind: 'engine'; dir: string; options?: ThreadSessionOptions };

/** The engine's description a proxy needs on its own thread. */
export interface EngineReady {
  info: ModelInfo;
  steeringModel: SteeringModelShape;
  /** The folder whose tokenizer.json the proxy loads on its own thread; null when the model has none. */
  tokenizerDir: string | null;
}

/**
 * A steering input sent once per distinct object and named by `key` afterwards: an arm's steering is reused for
 * every unit, and its typed arrays stay the caller's (so they are copied once, not transferred away).
 */
export interface SteeringRef {
  key: number;
  input?: SteeringInput;
}

/** Run options as they cross: callbacks become events, the signal an abort message, the steering a reference. */
export type WireRunControl = Omit<RunControl, 'steering' | 'signal' | 'onTokenRouting' | 'onProgress'> & {
  steering?: SteeringRef;
  tokenRouting?: boolean;
  progress?: boolean;
};
export type WireForwardOptions = Omit<ForwardOptions, 'past' | 'steering'> & { steering?: SteeringRef };
export type WireGenerateRequest = WireRunControl & { prompts: number[][]; maxNewTokens: number; sampling?: SamplingOptions; stopIds?: number[]; padId?: number };
export type WireForwardResult = Omit<ForwardResult, 'cache'>;

/** One real token's routing of a generation, copied out of the engine's views (they are valid during the call only). */
export interface WireTokenRouting {
  sequence: number;
  position: number;
  token: number;
  experts: Int32Array[];
  weights: Float32Array[];
}

export type WorkerRequest =
  | { id: number; op: 'encode'; prompt: RenderedPrompt }
  | { id: number; op: 'route'; batch: number[][]; withLogits: boolean; plan?: unknown }
  | { id: number; op: 'forward'; ids: number[][]; opts: WireForwardOptions }
  | { id: number; op: 'score'; items: ScoreItem[]; opts: WireRunControl & { batchSize?: number } }
  | { id: number; op: 'generate'; req: WireGenerateRequest }
  | { id: number; op: 'abort' };

export type WorkerResult = EncodedPrompt | RoutedSequence[] | WireForwardResult | ScoredSequence[] | GeneratedSequence[];

/** Events of a call in flight, before its reply (a generation's token routing, in order; its progress). */
export type WorkerEvent =
  | { id: number; event: 'token-routing'; tokens: WireTokenRouting[] }
  | { id: number; event: 'progress'; progress: Progress };

export type WorkerReply =
  | { op: 'ready'; model: CaptureModel }
  | { op: 'ready'; engine: EngineReady }
  | { op: 'load-failed'; error: WireError }
  | WorkerEvent
  | { id: number; ok: true; result: WorkerResult }
  | { id: number; ok: false; error: WireError };

export interface WireError {
  name: string;
  message: string;
  file?: string;
  tensor?: string;
  storeCode?: string;
}

export function errorToWire(err: unknown): WireError {
  if (!(err instanceof Error) && !(err instanceof DOMException)) return { name: 'Error', message: String(err) };
  const e = err as Error & { file?: unknown; tensor?: unknown; code?: unknown };
  const wire: WireError = { name: e.name, message: e.message };
  if (typeof e.file === 'string') wire.file = e.file;
  if (typeof e.tensor === 'string') wire.tensor = e.tensor;
  if (err instanceof StoreError) wire.storeCode = err.code;
  return wire;
}

/** Rebuilds the error class the API maps (src/api/dispatch.ts toApiError); anything else stays an Error with its name. */
export function errorFromWire(w: WireError): Error {
  let err: Error;
  switch (w.name) {
    case 'AbortError':
      return new DOMException(w.message, 'AbortError');
    case 'ModelFolderError':
    case 'UnsupportedArchitectureError':
      err = new ModelFolderError(w.message, { file: w.file, tensor: w.tensor });
      break;
    case 'CaptureError':
      err = new CaptureError(w.message);
      break;
    case 'DatasetError':
      err = new DatasetError(w.message);
      break;
    case 'EngineError':
      err = new EngineError(w.message);
      break;
    case 'StoreError':
      err = new StoreError((w.storeCode ?? 'io') as StoreErrorCode, w.message);
      break;
    default:
      err = new Error(w.message);
  }
  err.name = w.name;
  return err;
}

/** The buffers of `arrays`, once each: moved (not copied) to the other thread. */
export function buffersOf(arrays: Iterable<unknown>): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const a of arrays) if (ArrayBuffer.isView(a) && a.buffer instanceof ArrayBuffer) out.add(a.buffer);
  return [...out];
}

/** The typed arrays of routing results, moved (not copied) to the main thread. */
export function transferablesOf(routed: RoutedSequence[]): ArrayBuffer[] {
  return buffersOf(routed.flatMap((r) => [r.expertIds, r.gateWeights, r.routerLogits]));
}

function sequenceArrays(r: SequenceRouting | undefined): unknown[] {
  return r ? [...r.experts, ...r.weights, ...r.routerLogits] : [];
}

/** The typed arrays of a forward, score or generate result, moved to the main thread. */
export function engineTransferables(result: WireForwardResult | ScoredSequence[] | GeneratedSequence[]): ArrayBuffer[] {
  if (Array.isArray(result)) return buffersOf(result.flatMap((s) => sequenceArrays(s.routing)));
  return buffersOf([result.logits, result.logitsRows, ...(result.routing ?? []).flatMap((l) => [l.routerLogits, l.experts, l.weights])]);
}

/** The steering input's arrays, for copying into the worker once. */
export function steeringArrays(s: SteeringInput): ArrayBufferView[] {
  return s.perMoeLayer.flatMap((l) => [l.bias, l.scale, l.std, l.force, l.mask]);
}
