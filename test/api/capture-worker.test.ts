/**
 * Workbench captures run their engine in a worker thread (src/capture/engine-worker-backend.ts). Checked against
 * the in-process engine on the demo model: the stored routing and aggregates are the same bytes; a cancel mid-run
 * stops it and the run resumes to the same result; a model folder that fails to load in the worker reaches the
 * API as the engine's own error (class, message, file).
 */
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { toApiError } from '../../src/api/dispatch.js';
import { WorkerEngineBackend } from '../../src/capture/engine-worker-backend.js';
import { CaptureError } from '../../src/capture/job.js';
import { apiHarness, brokenConfigReply } from './harness.js';

const worker = apiHarness('cap-worker-');
const inProcess = apiHarness('cap-inproc-', { captureEngine: 'in-process' });

type Harness = ReturnType<typeof apiHarness>;

/** Everything a capture stores for a run, without ids that differ between projects. */
function stored(h: Harness, projectId: string, runId: number) {
  const db = new Database(h.backend.workspace.dbFile(projectId), { readonly: true });
  try {
    return {
      sequences: db.prepare(
        `SELECT s.language, s.item_id, s.item_index, s.num_tokens, s.num_content, s.token_ids, s.template_mask, s.expert_ids, s.gate_weights, s.router_logits, a.counts, a.gate_sums
         FROM sequence s JOIN sequence_agg a ON a.sequence_id = s.id WHERE s.run_id = ? ORDER BY s.language, s.item_id`).all(runId),
      runAgg: db.prepare('SELECT language, scope, layer, expert, count, gate_sum FROM run_agg WHERE run_id = ? ORDER BY language, scope, layer, expert').all(runId),
      layerTotals: db.prepare('SELECT language, scope, layer, tokens FROM run_layer_total WHERE run_id = ? ORDER BY language, scope, layer').all(runId),
    };
  } finally {
    db.close();
  }
}

async function capture(h: Harness, name: string, languages: string[], limit: number, batchSize: number) {
  const { id: projectId } = await h.call('projects.create', { name, template: 'demo' });
  const [model] = await h.call('models.list', { projectId });
  const job = await h.call('capture.start', { projectId, modelId: model!.id, dataset: 'udhr', languages, limit, batchSize });
  return { projectId, modelPath: model!.path, job };
}

describe('captures with the engine in a worker thread', () => {
  it('store the same routing and aggregates as the in-process engine', { timeout: 120_000 }, async () => {
    const a = await capture(worker, 'worker', ['eng', 'swh'], 2, 2);
    const b = await capture(inProcess, 'in-process', ['eng', 'swh'], 2, 2);
    const [ja, jb] = await Promise.all([worker.finished(a.job.id), inProcess.finished(b.job.id)]);
    expect(ja).toMatchObject({ status: 'completed' });
    expect(jb).toMatchObject({ status: 'completed' });
    const sa = stored(worker, a.projectId, ja.runId!);
    expect(sa.sequences).toHaveLength(4);
    expect(sa.runAgg.length).toBeGreaterThan(0);
    expect(sa).toEqual(stored(inProcess, b.projectId, jb.runId!));
  });

  it('stops on cancel mid-capture, and the run resumes to the same result', { timeout: 120_000 }, async () => {
    const langs = ['eng', 'swh', 'fra', 'yor'];
    // Cancelled from the first progress event past one committed batch (progress events are throttled to one per
    // 150 ms and the demo model is quick, so a timer would race the end), so the run has work done and work left; the cancel then reaches the worker mid-capture.
    let jobId = '';
    let cancelAsked = false;
    const unsubscribe = worker.backend.events.subscribe((e) => {
      if (cancelAsked || e.job.id !== jobId || (e.job.progress.sequencesDone ?? 0) < 1) return;
      cancelAsked = true;
      void worker.backend.handlers['jobs.cancel']({ jobId });
    });
    const a = await capture(worker, 'cancelled', langs, 4, 1);
    jobId = a.job.id;
    const cancelled = await worker.finished(a.job.id);
    unsubscribe();
    expect(cancelAsked).toBe(true);
    expect(cancelled).toMatchObject({ status: 'cancelled', resumable: true });
    const [partial] = await worker.call('runs.list', { projectId: a.projectId });
    expect(partial!.status).not.toBe('completed');
    expect(partial!.sequencesDone).toBeLessThan(16);

    const resumed = await worker.call('capture.resume', { projectId: a.projectId, runId: cancelled.runId! });
    expect(await worker.finished(resumed.id)).toMatchObject({ status: 'completed', runId: cancelled.runId });
    const [done] = await worker.call('runs.list', { projectId: a.projectId });
    expect(done).toMatchObject({ status: 'completed', sequencesDone: 16 });

    const b = await capture(inProcess, 'uninterrupted', langs, 4, 1);
    const jb = await inProcess.finished(b.job.id);
    expect(stored(worker, a.projectId, cancelled.runId!)).toEqual(stored(inProcess, b.projectId, jb.runId!));
  });

  it('reports a model folder that fails to load in the worker as the engine error, through the API', { timeout: 60_000 }, async () => {
    const { id: projectId } = await worker.call('projects.create', { name: 'broken', template: 'demo' });
    const [demo] = await worker.call('models.list', { projectId });
    const dir = join(worker.tmp.dir, 'broken-model');
    cpSync(demo!.path, dir, { recursive: true });
    const added = await worker.call('models.add', { projectId, path: dir });
    // Broken after it was added, as a folder edited on disk would be.
    writeFileSync(join(dir, 'config.json'), '{ not json');

    const api = await brokenConfigReply(() => WorkerEngineBackend.load(dir));

    const job = await worker.call('capture.start', { projectId, modelId: added.id, dataset: 'udhr', languages: ['eng'], limit: 1 });
    const failed = await worker.finished(job.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toBe(api.message);
  });

  it('keeps the class and message of an error thrown by a forward call in the worker, and aborts a route', { timeout: 60_000 }, async () => {
    const { id: projectId } = await worker.call('projects.create', { name: 'errors', template: 'demo' });
    const [demo] = await worker.call('models.list', { projectId });
    const backend = await WorkerEngineBackend.load(demo!.path);
    try {
      const err = await backend.route([[1, 2], []], { withLogits: false }).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(CaptureError);
      expect((err as Error).message).toBe('prompt 1 of the batch has no tokens');
      expect(toApiError(err).toJSON()).toEqual({ code: 'conflict', message: 'prompt 1 of the batch has no tokens', details: { kind: 'CaptureError' } });

      const ctrl = new AbortController();
      const pending = backend.route([[1, 2, 3]], { withLogits: false, signal: ctrl.signal });
      ctrl.abort();
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
      // The thread is still usable after an aborted call.
      const [r] = await backend.route([[1, 2, 3]], { withLogits: false });
      expect(r!.expertIds.length).toBe(3 * backend.model.numMoeLayers * backend.model.topK);
    } finally {
      await backend.dispose();
    }
    await expect(backend.route([[1]], { withLogits: false })).rejects.toThrow(/disposed/);
  });
});
