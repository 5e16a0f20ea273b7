/**
 * Background jobs behind the API, recorded in their project's database (src/store/jobs.ts) so that after a restart
 * a job whose process died shows as interrupted, with Resume where its run has work left. Live jobs also keep an
 * AbortController (jobs.cancel) and push progress events, throttled so a fast capture does not flood the
 * transport; status changes are always sent and written.
 */
import { randomUUID } from 'node:crypto';
import { getRun, insertJob, listJobs, updateJob, type JobRecord, type Store } from '../store/index.js';
import { ApiError } from './errors.js';
import type { EventHub } from './events.js';
import type { JobInfo, JobProgress } from './schemas/jobs.js';
import type { Workspace } from './workspace.js';

export interface JobContext {
  signal: AbortSignal;
  progress(update: Partial<JobProgress>): void;
  setRun(runId: number): void;
  /** Experiment jobs: the experiment they write, once created (sent with the job's events). */
  setExperiment(experimentId: number): void;
}

export interface JobOutcome {
  status: 'completed' | 'cancelled';
  runId: number | null;
}

export interface JobSpec {
  kind: JobInfo['kind'];
  projectId: string;
  /** What started the job, written with it. */
  params: unknown;
  runId?: number | null;
}

const KEEP_FINISHED = 20;
/** Progress is written to the database at most this often (events go out more often). */
const PERSIST_MS = 2000;

const START_PROGRESS: JobProgress = { stage: 'preparing', fraction: null, sequencesDone: 0, sequencesTotal: 0, tokensDone: 0, tokensPerSecond: 0, etaSeconds: null, message: 'starting' };

interface Live {
  info: JobInfo;
  /** Settles once the job has stopped and its final state is written. */
  stopped: Promise<void>;
  controller: AbortController;
  lastEmit: number;
  lastPersist: number;
  store: Store;
}

export class JobRegistry {
  private jobs = new Map<string, Live>();

  constructor(
    private readonly events: EventHub,
    private readonly workspace: Workspace,
    private readonly minEventMs = 150,
  ) {}

  start(spec: JobSpec, work: (ctx: JobContext) => Promise<JobOutcome>): JobInfo {
    const id = randomUUID();
    const store = this.workspace.open(spec.projectId);
    try {
      insertJob(store, { id, kind: spec.kind, params: spec.params, runId: spec.runId ?? null });
    } catch (err) {
      store.close();
      throw err;
    }
    const controller = new AbortController();
    const info: JobInfo = {
      id, kind: spec.kind, projectId: spec.projectId, status: 'running', error: null, runId: spec.runId ?? null, resumable: false,
      progress: { ...START_PROGRESS }, startedAt: new Date().toISOString(), finishedAt: null,
    };
    let markStopped!: () => void;
    const stopped = new Promise<void>((res) => (markStopped = res));
    const entry: Live = { info, controller, lastEmit: 0, lastPersist: 0, store, stopped };
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
        if (now - entry.lastPersist >= PERSIST_MS) {
          entry.lastPersist = now;
          this.persist(entry, { progress: info.progress });
        }
      },
      setExperiment: (experimentId) => {
        if (info.experimentId === experimentId) return;
        info.experimentId = experimentId;
        this.emit(info);
      },
      setRun: (runId) => {
        if (info.runId === runId) return;
        info.runId = runId;
        this.persist(entry, { runId });
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
          info.resumable = info.status !== 'completed' && info.runId !== null;
          this.persist(entry, { status: info.status, runId: info.runId, progress: info.progress, error: info.error });
          entry.store.close();
          this.emit(info);
          markStopped();
        });
    });
    return snapshot(info);
  }

  private persist(entry: Live, u: Parameters<typeof updateJob>[2]): void {
    try {
      updateJob(entry.store, entry.info.id, u);
    } catch {
      // The project may have been deleted under the job, or the disk filled; the job itself goes on and its
      // events still reach the page.
    }
  }

  isLive(id: string): boolean {
    return this.jobs.get(id)?.info.status === 'running';
  }

  /** A job of this process (running, or finished since the start). */
  get(id: string, method = 'jobs.get'): JobInfo {
    const entry = this.jobs.get(id);
    if (!entry) throw new ApiError('not-found', `${method}: no job with id ${JSON.stringify(id)} in this session (jobs.list shows a project's recorded jobs)`, { jobId: id });
    return snapshot(entry.info);
  }

  /** A project's jobs from its database, newest first, with live progress for this process' own. */
  list(projectId: string): JobInfo[] {
    return this.workspace.with(projectId, (store) => {
      const records = listJobs(store, (id) => this.isLive(id));
      const runDone = new Map<number, boolean>();
      const done = (runId: number) => {
        if (!runDone.has(runId)) {
          let completed = true;
          try {
            completed = getRun(store, runId).status === 'completed';
          } catch {
            // a deleted run has nothing to resume
          }
          runDone.set(runId, completed);
        }
        return runDone.get(runId)!;
      };
      const newestForRun = new Set<number>();
      return records.map((r) => {
        const live = this.jobs.get(r.id);
        const first = r.runId !== null && !newestForRun.has(r.runId);
        if (r.runId !== null) newestForRun.add(r.runId);
        if (live) return snapshot(live.info);
        return fromRecord(r, projectId, first && r.status !== 'completed' && r.status !== 'running' && r.runId !== null && !done(r.runId));
      });
    });
  }

  running(projectId: string): JobInfo[] {
    return [...this.jobs.values()].filter((e) => e.info.projectId === projectId && e.info.status === 'running').map((e) => snapshot(e.info));
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

  /**
   * The job once it has stopped (its final state written), or null if it is still running after `timeoutMs`: an
   * experiment stops after the unit in flight, which on a large model can take a while.
   */
  async whenStopped(id: string, timeoutMs: number): Promise<JobInfo | null> {
    const entry = this.jobs.get(id);
    if (!entry) return this.get(id);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((res) => (timer = setTimeout(() => res('late'), timeoutMs)));
    try {
      return (await Promise.race([entry.stopped.then(() => 'stopped' as const), late])) === 'stopped' ? snapshot(entry.info) : null;
    } finally {
      clearTimeout(timer);
    }
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

function fromRecord(r: JobRecord, projectId: string, resumable: boolean): JobInfo {
  const p = (typeof r.progress === 'object' && r.progress !== null ? r.progress : {}) as Partial<JobProgress>;
  return {
    id: r.id, kind: r.kind as JobInfo['kind'], projectId, status: r.status, error: r.error, runId: r.runId, resumable,
    progress: { ...START_PROGRESS, ...p, message: r.status === 'interrupted' ? 'interrupted: the process running it stopped' : (p.message ?? '') },
    startedAt: r.startedAt, finishedAt: r.finishedAt,
  };
}

function snapshot(info: JobInfo): JobInfo {
  return { ...info, progress: { ...info.progress } };
}
