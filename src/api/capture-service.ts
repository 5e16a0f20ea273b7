/**
 * Capture runs started from the workbench: a job that loads the project's model folder in the engine, walks the
 * chosen dataset and languages in batches into the project's database (src/capture), and can be resumed after a
 * cancel or a restart from the last committed batch.
 */
import type { CaptureBackend } from '../capture/backend.js';
import { EngineBackend } from '../capture/engine-backend.js';
import { WorkerEngineBackend } from '../capture/engine-worker-backend.js';
import type { EngineMode } from '../capture/engine-thread.js';
import { resumeCapture, startCapture, type CaptureProgress } from '../capture/job.js';
import { reloadDataset, type Dataset } from '../datasets/index.js';
import { getRun } from '../store/index.js';
import { ApiError } from './errors.js';
import type { JobContext, JobRegistry } from './jobs.js';
import { datasetFor } from './datasets-service.js';
import { getModel } from './models-service.js';
import type { ApiArgs } from './contract.js';
import type { JobInfo } from './schemas/jobs.js';
import type { Workspace } from './workspace.js';

/** Engine batches are capped at this many tokens (padding included), as `routescope demo` does. */
const MAX_BATCH_TOKENS = 2048;

async function loadBackend(mode: EngineMode, modelPath: string): Promise<CaptureBackend & { dispose(): Promise<void> }> {
  return mode === 'worker'
    ? WorkerEngineBackend.load(modelPath, { maxBatchTokens: MAX_BATCH_TOKENS })
    : EngineBackend.load(modelPath, { maxBatchTokens: MAX_BATCH_TOKENS });
}

function progressOf(ctx: JobContext, p: CaptureProgress): void {
  ctx.setRun(p.runId);
  ctx.progress({
    stage: 'capturing',
    fraction: p.sequencesTotal > 0 ? p.sequencesDone / p.sequencesTotal : null,
    sequencesDone: p.sequencesDone,
    sequencesTotal: p.sequencesTotal,
    tokensDone: p.tokensDone,
    tokensPerSecond: p.tokensPerSecond,
    etaSeconds: p.etaSeconds,
    message: `batch ${p.batchesDone} of ${p.batchesTotal}`,
  });
}

export class CaptureService {
  constructor(
    private readonly workspace: Workspace,
    private readonly jobs: JobRegistry,
    private readonly engineMode: EngineMode = 'worker',
  ) {}

  /** Model folders with a capture in flight: one capture per model at a time (they would only fight for memory). */
  private busyModels = new Set<string>();

  /** The same capture started twice (a double click, a second window) is a conflict, not a second job. */
  private refuseTwice(projectId: string, modelPath: string, runId?: number): void {
    const same = runId === undefined ? undefined : this.jobs.running(projectId).find((j) => j.runId === runId);
    if (same) throw new ApiError('conflict', `run ${runId} is already being captured (job ${same.id})`, { jobId: same.id });
    if (this.busyModels.has(modelPath)) throw new ApiError('conflict', `a capture on model ${modelPath} is already running; wait for it or cancel it`, { model: modelPath });
  }

  async start(a: ApiArgs<'capture.start'>): Promise<JobInfo> {
    const store = this.workspace.open(a.projectId);
    let projectName: string;
    let model: { path: string };
    let dataset: Dataset;
    try {
      projectName = this.workspace.nameOf(store);
      model = getModel(store, a.modelId);
      this.refuseTwice(a.projectId, model.path);
      // Reserved before the dataset loads, so a second click meanwhile is refused as the same capture.
      this.busyModels.add(model.path);
      try {
        // Loaded before the job starts, so an unknown language or a changed file is an error of this call, not a failed job.
        dataset = await datasetFor(store, a.dataset, a.languages, a.split ?? 'heldout');
      } catch (err) {
        this.busyModels.delete(model.path);
        throw err;
      }
    } finally {
      store.close();
    }
    // UDHR was loaded with the chosen languages only; a local dataset captures the chosen ones in its own order.
    const languages = a.dataset === 'udhr' ? dataset.languages : dataset.languages.filter((l) => a.languages.includes(l));
    const template = a.template ?? (a.dataset === 'udhr' ? 'raw' : dataset.defaultTemplate);
    const params = { ...a, template, modelPath: model.path };
    return this.run(a.projectId, model.path, params, null, async (ctx, backend, s) =>
      startCapture({
        store: s, backend, dataset, languages, template, limit: a.limit, batchSize: a.batchSize ?? 8,
        name: a.name, projectName, signal: ctx.signal, onProgress: (p) => progressOf(ctx, p),
      }),
    );
  }

  async resume(a: ApiArgs<'capture.resume'>): Promise<JobInfo> {
    const run = this.workspace.with(a.projectId, (store) => getRun(store, a.runId));
    if (run.status === 'completed') throw new ApiError('conflict', `run ${run.id} is already completed`, { runId: run.id });
    if (!run.model) throw new ApiError('invalid-argument', `run ${run.id} records no model folder, so it cannot be resumed here`, { runId: run.id });
    if (!run.dataset) throw new ApiError('invalid-argument', `run ${run.id} records no dataset (it was imported), so it cannot be resumed`, { runId: run.id });
    this.refuseTwice(a.projectId, run.model.path, run.id);
    this.busyModels.add(run.model.path);
    let dataset: Dataset;
    try {
      // The same files as when the run started, or an error saying they changed.
      dataset = await reloadDataset(run.dataset);
    } catch (err) {
      this.busyModels.delete(run.model.path);
      throw err;
    }
    return this.run(a.projectId, run.model.path, { projectId: a.projectId, runId: run.id, resume: true }, run.id, async (ctx, backend, store) =>
      resumeCapture({ store, backend, dataset, runId: run.id, signal: ctx.signal, onProgress: (p) => progressOf(ctx, p) }),
    );
  }

  private run(
    projectId: string, modelPath: string, params: unknown, runId: number | null,
    capture: (ctx: JobContext, backend: CaptureBackend, store: ReturnType<Workspace['open']>) => Promise<{ runId: number; status: 'completed' | 'cancelled' }>,
  ): JobInfo {
    this.busyModels.add(modelPath);
    try {
      return this.jobs.start({ kind: 'capture', projectId, params, runId }, async (ctx) => {
        try {
          ctx.progress({ message: `loading the model ${modelPath}` });
          const store = this.workspace.open(projectId);
          try {
            const backend = await loadBackend(this.engineMode, modelPath);
            try {
              ctx.progress({ stage: 'capturing', message: 'capturing' });
              const r = await capture(ctx, backend, store);
              return { status: r.status, runId: r.runId };
            } finally {
              await backend.dispose();
            }
          } finally {
            store.close();
          }
        } finally {
          this.busyModels.delete(modelPath);
        }
      });
    } catch (err) {
      this.busyModels.delete(modelPath);
      throw err;
    }
  }
}
