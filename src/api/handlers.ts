import { resolve } from 'node:path';
import { DEMO_MODEL_DIR } from '../demo/resources.js';
import { chooseExecutionProvider } from '../engine/execution-provider.js';
import { deleteRun, getRun, listRuns, renameRun, type RunRecord } from '../store/index.js';
import { CaptureService } from './capture-service.js';
import type { ApiArgs, ApiMethod, ApiResult, AppInfo, RunSummary } from './contract.js';
import { addDataset, allLanguages, listDatasets, udhrDataset } from './datasets-service.js';
import { ApiError } from './errors.js';
import { EnginePool } from './engine-pool.js';
import { EventHub } from './events.js';
import { JobRegistry } from './jobs.js';
import { addModel, inspectModel, listModels } from './models-service.js';
import { ExperimentService } from './experiments-service.js';
import type { EngineMode } from '../capture/engine-thread.js';
import { PlanService } from './plans-service.js';
import { AnalysisThread } from './analysis-thread.js';
import { RunAnalysis, type AnalysisPlace } from './run-analysis.js';
import { Workspace } from './workspace.js';
import { appPackage } from '../app-root.js';

/** Handlers receive arguments already checked against the contract's schemas (dispatch does it). */
export type ApiHandlers = { [M in ApiMethod]: (args: ApiArgs<M>) => Promise<ApiResult<M>> };

export interface BackendOptions {
  /** Folder holding the projects (<dataDir>/projects/<id>/project.db) and the recent list; created on first use. */
  dataDir: string;
  events?: EventHub;
  /** How long a write waits for another window's lock on a project's database before answering 'locked'. */
  busyTimeoutMs?: number;
  /** How long an engine loaded for "try on a prompt" stays loaded unused (default ENGINE_IDLE_MS). */
  engineIdleMs?: number;
  /** Where captures run their engine: a worker thread (default), or this thread (tests compare the two). */
  captureEngine?: EngineMode;
  /** Where runs are analysed: a worker thread (default), or this thread (benchmarks compare the two). */
  analysisThread?: 'worker' | 'main';
  /** Where experiments run their engine: a worker thread (default), or this thread (tests compare the two). */
  experimentEngine?: EngineMode;
}

export interface Backend {
  handlers: ApiHandlers;
  events: EventHub;
  workspace: Workspace;
  /** The engines kept loaded for interactive calls (diagnostics: how many loads so far). */
  engines: EnginePool;
  /** The project's cached analyses (diagnostics: how many runs were analysed). */
  analysis(projectId: string): RunAnalysis;
  /**
   * Reads the embedded UDHR's language list soon (about a second, once per process) rather than on the first project
   * a page opens, where it delays a run's first view (the server answers one call at a time), and starts the analysis
   * thread. Call once listening.
   */
  warmUp(): void;
  /** Cancels running jobs and disposes the loaded engines (on shutdown). */
  dispose(): void;
}


/** The default data folder of `routescope serve`. */
export const DEFAULT_DATA_DIR = 'routescope-workbench';

function runSummary(r: RunRecord): RunSummary {
  return {
    id: r.id, name: r.name, status: r.status, model: r.model?.name ?? r.model?.architecture ?? null, dataset: r.dataset?.kind ?? null,
    languages: r.languages.length, sequencesDone: r.sequencesDone, sequencesTotal: r.sequencesTotal, tokensDone: r.tokensDone,
    createdAt: r.createdAt, finishedAt: r.finishedAt,
  };
}

/** The back end of the API contract, shared by the Electron utility process and `routescope serve`. */
export function createBackend(transport: AppInfo['transport'], options: BackendOptions): Backend {
  const dataDir = resolve(options.dataDir);
  const workspace = new Workspace(dataDir, { busyTimeoutMs: options.busyTimeoutMs });
  const events = options.events ?? new EventHub();
  const jobs = new JobRegistry(events, workspace);
  const capture = new CaptureService(workspace, jobs, options.captureEngine);
  const engines = new EnginePool({ idleMs: options.engineIdleMs });
  const plans = new PlanService(workspace, engines);
  const experiments = new ExperimentService(workspace, jobs, options.experimentEngine);
  const analyses = new Map<string, RunAnalysis>();
  // One analysis thread for all projects: a first analysis of a large run takes seconds and must not hold the event
  // loop (every other call would wait); the thread works one analysis at a time.
  const analysisPlace: AnalysisPlace = options.analysisThread === 'main' ? 'main' : new AnalysisThread();
  const analysis = (projectId: string) => {
    let a = analyses.get(projectId);
    if (!workspace.exists(projectId)) throw workspace.deleted(projectId);
    if (!a) analyses.set(projectId, (a = new RunAnalysis(workspace.dbFile(projectId), { place: analysisPlace })));
    return a;
  };
  // A capture that completes is analysed soon after, so its first view (seconds for a 100-language run) is ready
  // when the page asks; a run or project deleted meanwhile is simply skipped.
  const warmed = new Set<string>();
  events.subscribe((e) => {
    if (e.type !== 'job' || e.job.kind !== 'capture' || e.job.status !== 'completed' || e.job.runId === null) return;
    const { projectId, runId } = { projectId: e.job.projectId, runId: e.job.runId };
    const key = `${projectId}\0${runId}\0${e.job.id}`;
    if (warmed.has(key)) return;
    warmed.add(key);
    setTimeout(() => {
      try {
        // Said when the page asks for it.
        analysis(projectId).overview(runId).catch(() => undefined);
      } catch {
        // A project deleted meanwhile.
      }
    }, 200).unref?.();
  });
  const refuseWhileRunning = (projectId: string, what: string, runId?: number) => {
    const busy = jobs.running(projectId).find((j) => runId === undefined || j.runId === runId);
    if (busy) throw new ApiError('conflict', `${what}: a capture is running${runId === undefined ? ' in this project' : ` on run ${runId}`} (job ${busy.id}); cancel it first`, { jobId: busy.id });
    // A job another window or process runs in this project (its row says running and its process is alive).
    const elsewhere = jobs.list(projectId).find((j) => j.status === 'running' && (runId === undefined || j.runId === runId));
    if (elsewhere) {
      throw new ApiError('conflict', `${what}: a ${elsewhere.kind} is running in ${workspace.label(projectId)}${runId === undefined ? '' : ` on run ${runId}`} in another window or process (job ${elsewhere.id}); cancel it there or wait for it to finish`, { jobId: elsewhere.id });
    }
  };

  const handlers: ApiHandlers = {
    async 'app.info'() {
      const pkg = appPackage();
      return { name: pkg.name, version: pkg.version, executionProvider: chooseExecutionProvider(), transport, dataDir };
    },

    async 'projects.list'() {
      return workspace.list();
    },
    async 'projects.create'(a) {
      const template = a.template ?? 'blank';
      const id = workspace.create(a.name, template);
      // The demo project comes with the embedded model ready to capture on the embedded UDHR corpus.
      if (template === 'demo') workspace.with(id, (store) => addModel(store, DEMO_MODEL_DIR));
      workspace.touch(id);
      return workspace.view(id);
    },
    async 'projects.open'(a) {
      const view = workspace.view(a.projectId);
      workspace.touch(a.projectId);
      return { ...view, openedAt: new Date().toISOString() };
    },
    async 'projects.rename'(a) {
      workspace.rename(a.projectId, a.name);
      return workspace.view(a.projectId);
    },
    async 'projects.delete'(a) {
      refuseWhileRunning(a.projectId, 'projects.delete');
      analyses.delete(a.projectId);
      workspace.delete(a.projectId, a.confirmName);
      await engines.closeProject(a.projectId);
      return { deleted: a.projectId };
    },

    async 'models.inspect'(a) {
      return inspectModel(a.path);
    },
    async 'models.add'(a) {
      return workspace.with(a.projectId, (store) => addModel(store, a.path));
    },
    async 'models.list'(a) {
      return workspace.with(a.projectId, (store) => listModels(store));
    },

    async 'datasets.list'(a) {
      return workspace.with(a.projectId, (store) => listDatasets(store));
    },
    async 'datasets.add'(a) {
      const store = workspace.open(a.projectId);
      try {
        return await addDataset(store, a.kind, a.path, a.split);
      } finally {
        store.close();
      }
    },
    async 'languages.list'() {
      return allLanguages();
    },

    async 'runs.list'(a) {
      return workspace.with(a.projectId, (store) => listRuns(store).map(runSummary).reverse());
    },
    async 'runs.rename'(a) {
      return workspace.with(a.projectId, (store) => {
        renameRun(store, a.runId, a.name);
        return runSummary(getRun(store, a.runId));
      });
    },
    async 'runs.delete'(a) {
      refuseWhileRunning(a.projectId, 'runs.delete', a.runId);
      workspace.with(a.projectId, (store) => deleteRun(store, a.runId));
      // Run ids can be reused after a delete; drop cached analyses of this project.
      analyses.delete(a.projectId);
      return { deleted: a.runId };
    },

    async 'capture.start'(a) {
      await engines.closeAll(); // a job loads its own engine: never two copies of a large model in memory
      return capture.start(a);
    },
    async 'capture.resume'(a) {
      await engines.closeAll(); // a job loads its own engine: never two copies of a large model in memory
      return capture.resume(a);
    },

    async 'jobs.list'(a) {
      return jobs.list(a.projectId);
    },
    async 'jobs.get'(a) {
      return jobs.get(a.jobId);
    },
    async 'jobs.cancel'(a) {
      return jobs.cancel(a.jobId);
    },

    async 'analysis.overview'(a) {
      return analysis(a.projectId).overview(a.runId, a.pivot, a.target);
    },
    async 'analysis.experts'(a) {
      return analysis(a.projectId).experts(a.runId, a.layer, a.k, a.thr);
    },
    async 'analysis.settings'(a) {
      return analysis(a.projectId).settings(a.runId);
    },
    async 'analysis.saveSettings'(a) {
      refuseWhileRunning(a.projectId, 'analysis.saveSettings', a.runId);
      return analysis(a.projectId).saveSettings(a);
    },
    async 'analysis.compare'(a) {
      return analysis(a.projectId).compare(a.runId, a.otherRunId, a.layer, a.metric ?? 'cosine');
    },
    async 'analysis.expertMap'(a) {
      return analysis(a.projectId).expertMap(a.runId, a.language, a.minus);
    },
    async 'analysis.layer'(a) {
      return analysis(a.projectId).layer(a.runId, a.layer, a.metric ?? 'cosine', a.pivot);
    },

    async 'plans.presets'(a) {
      return plans.presets(a.projectId, a.runId);
    },
    async 'plans.preview'(a) {
      return plans.preview(a.projectId, a.runId, a.recipe, a.scope, a.randomSeed);
    },
    async 'plans.save'(a) {
      return plans.save(a.projectId, a.runId, a.recipe, a.scope, a.name);
    },
    async 'plans.list'(a) {
      return plans.list(a.projectId);
    },
    async 'plans.rename'(a) {
      return plans.rename(a.projectId, a.planId, a.name);
    },
    async 'plans.delete'(a) {
      plans.delete(a.projectId, a.planId);
      return { deleted: a.planId };
    },
    async 'plans.try'(a) {
      return plans.try(a.projectId, a.planId, a.prompt, a.maxNewTokens);
    },

    async 'experiments.start'(a) {
      await engines.closeAll(); // a job loads its own engine: never two copies of a large model in memory
      return experiments.start(a);
    },
    async 'experiments.resume'(a) {
      await engines.closeAll(); // a job loads its own engine: never two copies of a large model in memory
      return experiments.resume(a);
    },
    async 'experiments.list'(a) {
      return experiments.list(a.projectId);
    },
    async 'experiments.get'(a) {
      return experiments.get(a.projectId, a.experimentId);
    },
    async 'experiments.rename'(a) {
      return experiments.rename(a.projectId, a.experimentId, a.name);
    },
    async 'experiments.delete'(a) {
      if (a.cancel) await experiments.cancelAndDelete(a.projectId, a.experimentId);
      else experiments.delete(a.projectId, a.experimentId);
      return { deleted: a.experimentId };
    },
  };
  return {
    handlers: explainedPerProject(handlers, workspace), events, workspace, engines, analysis,
    warmUp: () => {
      void setTimeout(() => void udhrDataset(), 0).unref?.();
      if (analysisPlace !== 'main') analysisPlace.warm();
    },
    dispose: () => {
      jobs.cancelAll();
      void engines.closeAll();
      if (analysisPlace !== 'main') void analysisPlace.stop();
    },
  };
}

/**
 * Every method on a project says a lock or a deletion in the project's terms (Workspace.explain), whichever service
 * opened the database: the page can name the project, offer Retry, or go back to the project list.
 */
function explainedPerProject(handlers: ApiHandlers, workspace: Workspace): ApiHandlers {
  const wrapped: Record<string, (a: unknown) => Promise<unknown>> = {};
  for (const [method, handler] of Object.entries(handlers) as [string, (a: unknown) => Promise<unknown>][]) {
    wrapped[method] = async (a) => {
      try {
        return await handler(a);
      } catch (err) {
        const projectId = typeof a === 'object' && a !== null && 'projectId' in a ? (a as { projectId: unknown }).projectId : undefined;
        throw typeof projectId === 'string' ? workspace.explain(projectId, err) : err;
      }
    };
  }
  return wrapped as ApiHandlers;
}
