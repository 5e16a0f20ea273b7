/**
 * Capture runs started from the workbench: a job that loads the project's model folder in the engine, walks the
 * chosen dataset and languages in batches into the project's database (src/capture), and can be resumed after a
 * cancel or a restart from the last committed batch.
 */
import { EngineBackend } from '../capture/engine-backend.js';
import { resumeCapture, startCapture, type CaptureProgress } from '../capture/job.js';
import { loadUdhrDataset } from '../corpus/udhr.js';
import type { Dataset } from '../datasets/types.js';
import { getRun } from '../store/index.js';
import { ApiError } from './errors.js';
import type { JobContext, JobRegistry } from './jobs.js';
import { getModel } from './models-service.js';
import type { ApiArgs } from './contract.js';
import { UDHR_SPLITS, type UdhrSplit } from './schemas/datasets.js';
import type { JobInfo } from './schemas/jobs.js';
import type { Workspace } from './workspace.js';

/** Engine batches are capped at this many tokens (padding included), as `routescope demo` does. */
const MAX_BATCH_TOKENS = 2048;

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
  ) {}

  /** Model folders with a capture in flight: one capture per model at a time (they would only fight for memory). */
  private busyModels = new Set<string>();

  /** The same capture started twice (a double click, a second window) is a conflict, not a second job. */
  private refuseTwice(projectId: string, modelPath: string, runId?: number): void {
    const same = runId === undefined ? undefined : this.jobs.running(projectId).find((j) => j.runId === runId);
    if (same) throw new ApiError('conflict', `run ${runId} is already being captured (job ${same.id})`, { jobId: same.id });
    if (this.busyModels.has(modelPath)) throw new ApiError('conflict', `a capture on model ${modelPath} is already running; wait for it or cancel it`, { model: modelPath });
  }

  start(a: ApiArgs<'capture.start'>): JobInfo {
    const { projectName, model } = this.workspace.with(a.projectId, (store) => ({ projectName: this.workspace.nameOf(store), model: getModel(store, a.modelId) }));
    this.refuseTwice(a.projectId, model.path);
    const split: UdhrSplit = a.split ?? 'heldout';
    // Loaded before the job starts, so an unknown language is an error of this call, not a failed job.
    const dataset = loadUdhrDataset({ languages: a.languages, split });
    const params = { ...a, split, modelPath: model.path };
    return this.run(a.projectId, model.path, params, null, async (ctx, backend, store) =>
      startCapture({
        store, backend, dataset, languages: dataset.languages, template: 'raw', limit: a.limit, batchSize: a.batchSize ?? 8,
        name: a.name, projectName, signal: ctx.signal, onProgress: (p) => progressOf(ctx, p),
      }),
    );
  }

  resume(a: ApiArgs<'capture.resume'>): JobInfo {
    const run = this.workspace.with(a.projectId, (store) => getRun(store, a.runId));
    if (run.status === 'completed') throw new ApiError('conflict', `run ${run.id} is already completed`, { runId: run.id });
    if (!run.model) throw new ApiError('invalid-argument', `run ${run.id} records no model folder, so it cannot be resumed here`, { runId: run.id });
    if (run.dataset?.kind !== 'udhr') {
      throw new ApiError('invalid-argument', `run ${run.id} was captured on a ${run.dataset?.kind ?? 'unknown'} dataset; resume it with \`routescope capture --resume ${run.id}\``, { runId: run.id });
    }
    this.refuseTwice(a.projectId, run.model.path, run.id);
    const dataset = udhrMatching(run.dataset.languages, run.dataset.fingerprint, run.id);
    return this.run(a.projectId, run.model.path, { projectId: a.projectId, runId: run.id, resume: true }, run.id, async (ctx, backend, store) =>
      resumeCapture({ store, backend, dataset, runId: run.id, signal: ctx.signal, onProgress: (p) => progressOf(ctx, p) }),
    );
  }

  private run(
    projectId: string, modelPath: string, params: unknown, runId: number | null,
    capture: (ctx: JobContext, backend: EngineBackend, store: ReturnType<Workspace['open']>) => Promise<{ runId: number; status: 'completed' | 'cancelled' }>,
  ): JobInfo {
    this.busyModels.add(modelPath);
    try {
      return this.jobs.start({ kind: 'capture', projectId, params, runId }, async (ctx) => {
        try {
          ctx.progress({ message: `loading the model ${modelPath}` });
          const store = this.workspace.open(projectId);
          try {
            const backend = await EngineBackend.load(modelPath, { maxBatchTokens: MAX_BATCH_TOKENS });
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

/** The UDHR dataset a run was captured on: the split is not recorded, so it is the one whose fingerprint matches. */
function udhrMatching(languages: string[], fingerprint: string, runId: number): Dataset {
  for (const split of UDHR_SPLITS) {
    const d = loadUdhrDataset({ languages, split });
    if (d.fingerprint === fingerprint) return d;
  }
  throw new ApiError('conflict', `run ${runId}: no split of the embedded UDHR corpus matches the dataset it was captured on (the udhr package changed?); start a new run`, { runId });
}
