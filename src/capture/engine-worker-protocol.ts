/**
 * Messages between the capture's engine worker thread (engine-worker.ts) and its proxy (engine-worker-backend.ts),
 * and how errors cross that boundary: by name, message and the fields the API's error mapping reads, so a
 * ModelFolderError thrown in the worker reaches the API as the same code, message and file it would in process.
 */
import type { RenderedPrompt } from '../datasets/templates.js';
import { DatasetError } from '../datasets/types.js';
import { EngineError, ModelFolderError } from '../engine/errors.js';
import { StoreError, type StoreErrorCode } from '../store/errors.js';
import type { CaptureModel, EncodedPrompt, RoutedSequence } from './backend.js';
import { CaptureError } from './job.js';

export interface WorkerLoad {
  dir: string;
  maxBatchTokens?: number;
}

export type WorkerRequest =
  | { id: number; op: 'encode'; prompt: RenderedPrompt }
  | { id: number; op: 'route'; batch: number[][]; withLogits: boolean; plan?: unknown }
  | { id: number; op: 'abort' };

export type WorkerReply =
  | { op: 'ready'; model: CaptureModel }
  | { op: 'load-failed'; error: WireError }
  | { id: number; ok: true; result: EncodedPrompt | RoutedSequence[] }
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

/** The typed arrays of routing results, moved (not copied) to the main thread. */
export function transferablesOf(routed: RoutedSequence[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const r of routed) {
    for (const a of [r.expertIds, r.gateWeights, r.routerLogits]) {
      if (ArrayBuffer.isView(a) && a.buffer instanceof ArrayBuffer && !out.includes(a.buffer)) out.push(a.buffer);
    }
  }
  return out;
}
