/**
 * What the API tests share: a real backend on a temporary data folder (disposed after the file), its job events
 * collected, `dispatch` called as both transports call it, and a demo project with one small capture to work on.
 */
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import type { ApiArgs, ApiEvent, ApiMethod, ApiResult, JobInfo } from '../../src/api/contract.js';
import { dispatch, toApiError } from '../../src/api/dispatch.js';
import type { ApiErrorJson } from '../../src/api/errors.js';
import { createBackend, type BackendOptions } from '../../src/api/handlers.js';
import { ModelFolderError } from '../../src/engine/errors.js';
import { tempDir } from '../store/helpers.js';

export function apiHarness(prefix: string, options: Omit<BackendOptions, 'dataDir'> = {}) {
  const tmp = tempDir(prefix);
  const backend = createBackend('http', { ...options, dataDir: join(tmp.dir, 'data') });
  const events: ApiEvent[] = [];
  backend.events.subscribe((e) => events.push(e));
  afterAll(() => {
    backend.dispose();
    tmp.cleanup();
  });

  /** The method's result; a refusal throws its message, with the error JSON as `json`. */
  async function call<M extends ApiMethod>(method: M, args: ApiArgs<M> | unknown): Promise<ApiResult<M>> {
    const reply = await dispatch(backend.handlers, method, args);
    if (!reply.ok) throw Object.assign(new Error(reply.error.message), { json: reply.error });
    return reply.result as ApiResult<M>;
  }
  /** The error a call is refused with; throws if it succeeds. */
  async function refused(method: ApiMethod, args: unknown): Promise<ApiErrorJson> {
    const reply = await dispatch(backend.handlers, method, args);
    if (reply.ok) throw new Error(`${method} unexpectedly succeeded`);
    return reply.error;
  }
  /** The job as its first event past 'running' reported it. */
  function finished(jobId: string): Promise<JobInfo> {
    return new Promise((res) => {
      const t = setInterval(() => {
        const hit = events.find((e) => e.job.id === jobId && e.job.status !== 'running');
        if (hit) {
          clearInterval(t);
          res(hit.job);
        }
      }, 20);
    });
  }
  /** A new demo-template project with a finished capture of its model: udhr, four languages, two items each. */
  async function capturedDemoProject(name: string): Promise<{ projectId: string; runId: number }> {
    const { id: projectId } = await call('projects.create', { name, template: 'demo' });
    const [model] = await call('models.list', { projectId });
    const job = await call('capture.start', { projectId, modelId: model!.id, dataset: 'udhr', languages: ['eng', 'swh', 'fra', 'yor'], limit: 2, batchSize: 4 });
    await finished(job.id);
    const [run] = await call('runs.list', { projectId });
    return { projectId, runId: run!.id };
  }

  return { tmp, backend, events, call, refused, finished, capturedDemoProject };
}

/**
 * A model folder whose config.json broke after it was added, loaded in a worker thread: the load fails with the
 * engine's own ModelFolderError, which the API reports as invalid-argument naming config.json. Returns that reply.
 */
export async function brokenConfigReply(load: () => Promise<unknown>): Promise<ApiErrorJson> {
  const err = await load().then(
    () => { throw new Error('the broken folder loaded'); },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModelFolderError);
  const api = toApiError(err).toJSON();
  expect(api).toMatchObject({ code: 'invalid-argument', details: { kind: 'ModelFolderError' } });
  expect(api.message).toMatch(/config\.json/);
  return api;
}
