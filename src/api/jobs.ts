/**
 * Background jobs behind the API: each has an id, a progress record the UI polls (jobs.get) or receives as
 * events, and an AbortController for jobs.cancel. Progress events are throttled so a fast capture does not flood
 * the transport; status changes are always sent.
 */
import { randomUUID } from 'node:crypto';
import type { JobInfo, JobProgress } from './contract.js';
import type { EventHub } from './events.js';
import { ApiError } from './errors.js';

export interface JobContext {
  signal: AbortSignal;
  progress(update: Partial<JobProgress>): void;
  setRun(runId: number): void;
}

export interface JobOutcome {
  status: 'completed' | 'cancelled';
  runId: number | null;
  capture?: JobInfo['capture'];
  files?: string[];
}

const KEEP_FINISHED = 20;

export class JobRegistry {
  private jobs = new Map<string, { info: JobInfo; controller: AbortController; lastEmit: number }>();

  constructor(private readonly events: EventHub, private readonly minEventMs = 150) {}

  start(kind: JobInfo['kind'], work: (ctx: JobContext) => Promise<JobOutcome>): JobInfo {
    const id = randomUUID();
    const controller = new AbortController();
    const info: JobInfo = {
      id, kind, status: 'running', error: null, runId: null, capture: null, files: [],
      progress: { stage: 'preparing', fraction: null, sequencesDone: 0, sequencesTotal: 0, tokensDone: 0, tokensPerSecond: 0, etaSeconds: null, message: 'starting' },
      startedAt: new Date().toISOString(), finishedAt: null,
    };
    const entry = { info, controller, lastEmit: 0 };
    this.jobs.set(id, entry);
    this.prune();
    const ctx: JobContext = {
      signal: controller.signal,
      progress: (update) => {
        const stageChanged = update.stage !== undefined && update.stage !== info.progress.stage;
        info.progress = { ...info.progress, ...update };
        const now = Date.now();
        if (stageChanged || now - entry.lastEmit >= this.minEventMs) {
          entry.lastEmit = now;
          this.emit(info);
        }
      },
      setRun: (runId) => {
        info.runId = runId;
      },
    };
    this.emit(info);
    // Run after returning, so the caller has the job id before the first progress event.
    setImmediate(() => {
      // A job cancelled before it began never starts its work.
      const run = controller.signal.aborted ? Promise.reject(new Error('cancelled before it started')) : work(ctx);
      run
        .then((out) => {
          info.status = out.status;
          if (out.runId !== null) info.runId = out.runId;
          info.capture = out.capture ?? null;
          info.files = out.files ?? [];
          info.progress = { ...info.progress, stage: 'done', ...(out.status === 'completed' ? { fraction: 1, etaSeconds: 0 } : {}) };
        })
        .catch((err: unknown) => {
          if (controller.signal.aborted) info.status = 'cancelled';
          else {
            info.status = 'failed';
            info.error = err instanceof Error ? err.message : String(err);
          }
        })
        .finally(() => {
          info.finishedAt = new Date().toISOString();
          if (info.status === 'cancelled') info.progress = { ...info.progress, message: 'cancelled' };
          this.emit(info);
        });
    });
    return snapshot(info);
  }

  get(id: string, method = 'jobs.get'): JobInfo {
    const entry = this.jobs.get(id);
    if (!entry) throw new ApiError('not-found', `${method}: no job with id ${JSON.stringify(id)} (jobs are kept in memory; it may have finished before a restart)`, { jobId: id });
    return snapshot(entry.info);
  }

  list(): JobInfo[] {
    return [...this.jobs.values()].map((e) => snapshot(e.info));
  }

  running(kind: JobInfo['kind']): JobInfo | undefined {
    const e = [...this.jobs.values()].find((x) => x.info.kind === kind && x.info.status === 'running');
    return e && snapshot(e.info);
  }

  /** Asks the job to stop; the capture stops after the batch in flight, keeping what it committed. */
  cancel(id: string): JobInfo {
    const entry = this.jobs.get(id);
    if (!entry) return this.get(id, 'jobs.cancel');
    if (entry.info.status === 'running' && !entry.controller.signal.aborted) {
      entry.controller.abort();
      entry.info.progress = { ...entry.info.progress, message: 'cancelling after the current batch' };
      this.emit(entry.info);
    }
    return snapshot(entry.info);
  }

  cancelAll(): void {
    for (const e of this.jobs.values()) if (e.info.status === 'running') e.controller.abort();
  }

  private emit(info: JobInfo): void {
    this.events.emit({ type: 'job', job: snapshot(info) });
  }

  private prune(): void {
    const finished = [...this.jobs.entries()].filter(([, e]) => e.info.status !== 'running');
    for (const [id] of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) this.jobs.delete(id);
  }
}

function snapshot(info: JobInfo): JobInfo {
  return { ...info, progress: { ...info.progress }, files: [...info.files] };
}
