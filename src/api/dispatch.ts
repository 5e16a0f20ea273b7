/**
 * The one entry point of the back end for every transport (HTTP, the Electron utility process): checks the method
 * name against the contract, calls its handler, and turns whatever was thrown into the shared error shape, keeping
 * the class's meaning as a code and its file/tensor/field as details.
 */
import { AnalysisInputError } from '../analysis/errors.js';
import { CaptureError } from '../capture/job.js';
import { DatasetError } from '../datasets/types.js';
import { DemoResourceError } from '../demo/resources.js';
import { ModelFolderError } from '../engine/errors.js';
import { StoreError, type StoreErrorCode } from '../store/errors.js';
import { API_ARGS, isApiMethod } from './contract.js';
import { ApiError, type ApiErrorCode, type ApiReply } from './errors.js';
import type { ApiHandlers } from './handlers.js';

const STORE_CODES: Record<StoreErrorCode, ApiErrorCode> = {
  'not-found': 'not-found',
  locked: 'locked',
  'invalid-input': 'invalid-argument',
  'read-only': 'storage',
  corrupt: 'storage',
  'not-routescope': 'storage',
  'newer-version': 'storage',
  'disk-full': 'storage',
  io: 'storage',
};

/** Maps any thrown value to an ApiError; the message is kept as the user will read it. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (!(err instanceof Error)) return new ApiError('internal', String(err));
  const kind = err.name;
  if (err instanceof StoreError) return new ApiError(STORE_CODES[err.code], err.message, { kind, storeCode: err.code });
  if (err instanceof ModelFolderError) {
    const details: Record<string, string> = { kind };
    if (err.file !== undefined) details.file = err.file;
    if (err.tensor !== undefined) details.tensor = err.tensor;
    return new ApiError('invalid-argument', err.message, details);
  }
  if (err instanceof DatasetError || err instanceof AnalysisInputError) return new ApiError('invalid-argument', err.message, { kind });
  if (err instanceof CaptureError) return new ApiError('conflict', err.message, { kind });
  if (err instanceof DemoResourceError) return new ApiError('unavailable', err.message, { kind });
  return new ApiError('internal', err.message, { kind });
}

export async function dispatch(handlers: ApiHandlers, method: unknown, args: unknown): Promise<ApiReply> {
  try {
    if (!isApiMethod(method)) throw new ApiError('not-found', `unknown API method ${String(method)}`, { method: String(method) });
    // Every argument is checked against its schema here, once, for every transport.
    const checked: unknown = API_ARGS[method].check(args, method, 'argument');
    const result: unknown = await (handlers[method] as (a: unknown) => Promise<unknown>)(checked);
    return { ok: true, result };
  } catch (err) {
    return { ok: false, error: toApiError(err).toJSON() };
  }
}
