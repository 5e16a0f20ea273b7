/**
 * The one error shape every transport carries (HTTP, Electron IPC, the engine utility process): a code the UI can
 * branch on, a message a user can act on, and details (the field, file or run that failed). It crosses process
 * boundaries as JSON (toJSON / fromJSON), so the renderer gets the same code and details the back end threw.
 * Pure: the renderer and the sandboxed preload import it.
 */
export type ApiErrorCode =
  | 'invalid-argument'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'method-not-allowed'
  | 'conflict'
  | 'payload-too-large'
  | 'misdirected-request'
  | 'locked'
  | 'storage'
  | 'unavailable'
  | 'internal';

/** The HTTP status of each code; the IPC transports carry the code itself. */
export const HTTP_STATUS: Readonly<Record<ApiErrorCode, number>> = {
  'invalid-argument': 400,
  unauthorized: 401,
  forbidden: 403,
  'not-found': 404,
  'method-not-allowed': 405,
  conflict: 409,
  'payload-too-large': 413,
  'misdirected-request': 421,
  locked: 423,
  storage: 500,
  unavailable: 503,
  internal: 500,
};

export type ApiErrorDetails = Record<string, string | number | boolean | null>;

export interface ApiErrorJson {
  code: ApiErrorCode;
  message: string;
  details?: ApiErrorDetails;
}

function isCode(v: unknown): v is ApiErrorCode {
  return typeof v === 'string' && Object.hasOwn(HTTP_STATUS, v);
}

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly details: ApiErrorDetails = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get httpStatus(): number {
    return HTTP_STATUS[this.code];
  }

  toJSON(): ApiErrorJson {
    return Object.keys(this.details).length ? { code: this.code, message: this.message, details: { ...this.details } } : { code: this.code, message: this.message };
  }

  /** Rebuilds an error from its JSON; anything malformed becomes an 'internal' error saying so, never a throw. */
  static fromJSON(json: unknown): ApiError {
    if (typeof json !== 'object' || json === null) return new ApiError('internal', `malformed error from the back end: ${String(json)}`);
    const j = json as Partial<Record<keyof ApiErrorJson, unknown>>;
    const message = typeof j.message === 'string' ? j.message : 'the back end sent an error without a message';
    const details: ApiErrorDetails = {};
    if (typeof j.details === 'object' && j.details !== null) {
      for (const [k, v] of Object.entries(j.details)) {
        if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') details[k] = v;
      }
    }
    return new ApiError(isCode(j.code) ? j.code : 'internal', message, details);
  }
}

/** What a call returns across every transport: the result, or the error as JSON. */
export type ApiReply<T = unknown> = { ok: true; result: T } | { ok: false; error: ApiErrorJson };
