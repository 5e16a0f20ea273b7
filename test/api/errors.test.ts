/** The shared error shape: a JSON round trip keeps code, message and details; thrown classes map to codes. */
import { describe, expect, it } from 'vitest';
import { dispatch, toApiError } from '../../src/api/dispatch.js';
import { ApiError, HTTP_STATUS } from '../../src/api/errors.js';
import type { ApiHandlers } from '../../src/api/handlers.js';
import { CaptureError } from '../../src/capture/job.js';
import { DatasetError } from '../../src/datasets/types.js';
import { ModelFolderError } from '../../src/engine/errors.js';
import { StoreError } from '../../src/store/errors.js';

describe('ApiError', () => {
  it('crosses a process boundary as JSON with its code, message and details', () => {
    const e = new ApiError('not-found', 'run 7 does not exist', { runId: 7, file: '/tmp/x.db' });
    const back = ApiError.fromJSON(JSON.parse(JSON.stringify(e)));
    expect(back).toBeInstanceOf(ApiError);
    expect([back.code, back.message, back.details, back.httpStatus]).toEqual(['not-found', 'run 7 does not exist', { runId: 7, file: '/tmp/x.db' }, 404]);
  });

  it('turns malformed JSON into an internal error instead of throwing', () => {
    expect(ApiError.fromJSON('oops').code).toBe('internal');
    expect(ApiError.fromJSON({ code: 'no-such-code', message: 'm' })).toMatchObject({ code: 'internal', message: 'm' });
    expect(ApiError.fromJSON({ code: 'locked', message: 'm', details: { a: 1, b: { nested: true } } }).details).toEqual({ a: 1 });
  });

  it('maps every code to an HTTP error status', () => {
    for (const [code, status] of Object.entries(HTTP_STATUS)) expect(status, code).toBeGreaterThanOrEqual(400);
  });
});

describe('toApiError', () => {
  it.each([
    [new ApiError('conflict', 'run 3 is already completed', { runId: 3 }), 'conflict', { runId: 3 }],
    [new StoreError('locked', 'the database is locked'), 'locked', { kind: 'StoreError', storeCode: 'locked' }],
    [new StoreError('not-found', 'run 3 does not exist'), 'not-found', { storeCode: 'not-found' }],
    [new StoreError('corrupt', 'damaged'), 'storage', { storeCode: 'corrupt' }],
    [new ModelFolderError('config.json: num_experts missing', { file: '/m/config.json' }), 'invalid-argument', { kind: 'ModelFolderError', file: '/m/config.json' }],
    [new DatasetError('row 3: no text'), 'invalid-argument', { kind: 'DatasetError' }],
    [new CaptureError('another capture is already running on model /m'), 'conflict', {}],
    [new TypeError('x is undefined'), 'internal', { kind: 'TypeError' }],
  ] as const)('%s -> %s', (err, code, details) => {
    const e = toApiError(err);
    expect(e.code).toBe(code);
    expect(e.message).toBe(err.message);
    expect(e.details).toMatchObject(details);
  });
});

describe('dispatch', () => {
  const handlers = {
    'app.info': async () => {
      throw new StoreError('locked', 'busy');
    },
    'languages.list': async () => [],
  } as unknown as ApiHandlers;

  it('answers results and errors in one reply shape, and refuses names outside the contract', async () => {
    expect(await dispatch(handlers, 'languages.list', null)).toEqual({ ok: true, result: [] });
    // Arguments are checked against the method's schema before any handler runs.
    expect(await dispatch(handlers, 'jobs.list', { projectId: '../etc' })).toMatchObject({ ok: false, error: { code: 'invalid-argument', details: { field: 'projectId' } } });
    expect(await dispatch(handlers, 'languages.list', 5)).toMatchObject({ ok: false, error: { message: 'languages.list takes no argument, got 5' } });
    expect(await dispatch(handlers, 'app.info', null)).toEqual({ ok: false, error: { code: 'locked', message: 'busy', details: { kind: 'StoreError', storeCode: 'locked' } } });
    expect(await dispatch(handlers, 'constructor', null)).toMatchObject({ ok: false, error: { code: 'not-found', message: 'unknown API method constructor' } });
  });
});
