/**
 * Messages between RunAnalysis's thread (analysis-thread.ts) and the analysis worker (analysis-worker.ts), and how
 * errors cross: an ApiError as its JSON (code, message, details), an AnalysisInputError by name and message, and the
 * store's and engine's errors as the capture's engine thread sends them (engine-worker-protocol.ts), so the API maps
 * each to the same code and message as in process (dispatch.ts toApiError, Workspace.explain).
 */
import { AnalysisInputError } from '../analysis/errors.js';
import { buffersOf, errorFromWire, errorToWire, type WireError } from '../capture/engine-worker-protocol.js';
import { ApiError, type ApiErrorJson } from './errors.js';
import type { AnalysisOutcome, AnalysisRequest } from './run-analysis-compute.js';

export interface AnalysisWorkerRequest {
  id: number;
  request: AnalysisRequest;
}

export type AnalysisWireError = { kind: 'api'; error: ApiErrorJson } | { kind: 'analysis-input'; message: string } | { kind: 'other'; error: WireError };

export type AnalysisWorkerReply = { id: number; ok: true; outcome: AnalysisOutcome } | { id: number; ok: false; error: AnalysisWireError };

export function analysisErrorToWire(err: unknown): AnalysisWireError {
  if (err instanceof ApiError) return { kind: 'api', error: err.toJSON() };
  if (err instanceof AnalysisInputError) return { kind: 'analysis-input', message: err.message };
  return { kind: 'other', error: errorToWire(err) };
}

export function analysisErrorFromWire(w: AnalysisWireError): Error {
  switch (w.kind) {
    case 'api':
      return ApiError.fromJSON(w.error);
    case 'analysis-input':
      return new AnalysisInputError(w.message);
    default:
      return errorFromWire(w.error);
  }
}

/**
 * The ArrayBuffers under the typed arrays of a value, each once: moved to the main thread rather than copied (the
 * matrices and aggregates of a 100-language run are ~20 MB). Every typed array of an analysis owns its buffer
 * (computed, or copied out of a kept row by decodeValue), so nothing the worker still needs is moved.
 */
export function analysisBuffers(value: unknown): ArrayBuffer[] {
  const views: ArrayBufferView[] = [];
  const seen = new Set<object>();
  const walk = (v: unknown): void => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (ArrayBuffer.isView(v)) views.push(v);
    else for (const x of Array.isArray(v) ? v : Object.values(v)) walk(x);
  };
  walk(value);
  return buffersOf(views);
}
