/**
 * The workbench's state in one reactive class, handed to components through context (getWorkbench): the open
 * project with its models, datasets, runs and jobs, the run being analysed, and the route. Components read what
 * they draw and call its methods; every API error lands in `error`, shown in place by the shell.
 */
import { getContext, setContext } from 'svelte';
import type {
  AnalysisOverview, ApiArgs, ApiResult, AppInfo, DatasetView, ExpertTable, JobInfo, LayerDetail, MatrixMetric, ModelFacts, ModelView, ProjectTemplate, ProjectView, RunComparison, ExpertLayerMap,
  ExperimentSummary, ExperimentView, PlanPreset, PlanPreview, PlanView, Recipe, RunSummary, TryResult,
} from '../../api/contract';
import { apiClient, errorText, type Bridge } from './api-client';

/** The code and details an API error carries (an ApiError, or its copy after crossing the Electron bridge). */
function errorFacts(e: unknown): { code: string | null; details: Record<string, unknown> } {
  if (typeof e !== 'object' || e === null) return { code: null, details: {} };
  const { code, details } = e as { code?: unknown; details?: unknown };
  return { code: typeof code === 'string' ? code : null, details: typeof details === 'object' && details !== null ? (details as Record<string, unknown>) : {} };
}

export type Section = 'models' | 'datasets' | 'capture' | 'runs' | 'lab' | 'experiments';
export type Route =
  | { page: 'projects' }
  | { page: 'project'; projectId: string; section: Section }
  | { page: 'run'; projectId: string; runId: number };

const SECTIONS: readonly Section[] = ['models', 'datasets', 'capture', 'runs', 'lab', 'experiments'];

/** #/ -> projects; #/p/<id>/<section>; #/p/<id>/run/<runId>. */
export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'p' && parts[1]) {
    if (parts[2] === 'run' && parts[3] && /^\d+$/.test(parts[3])) return { page: 'run', projectId: parts[1], runId: Number(parts[3]) };
    const section = SECTIONS.includes(parts[2] as Section) ? (parts[2] as Section) : 'models';
    return { page: 'project', projectId: parts[1], section };
  }
  return { page: 'projects' };
}

export function routeHash(r: Route): string {
  if (r.page === 'projects') return '#/';
  if (r.page === 'run') return `#/p/${encodeURIComponent(r.projectId)}/run/${r.runId}`;
  return `#/p/${encodeURIComponent(r.projectId)}/${r.section}`;
}

export class Workbench {
  info = $state<AppInfo | null>(null);
  route = $state<Route>({ page: 'projects' });
  projects = $state<ProjectView[] | null>(null);
  project = $state<ProjectView | null>(null);
  models = $state<ModelView[]>([]);
  datasets = $state.raw<DatasetView[]>([]);
  runs = $state<RunSummary[]>([]);
  jobs = $state<JobInfo[]>([]);
  /** Large and read-only: replaced whole, never mutated. */
  overview = $state.raw<AnalysisOverview | null>(null);
  /**
   * The run whose analysis the page is waiting for (null: none). The first analysis of a large run takes seconds on
   * the server (in its analysis thread: other calls are answered meanwhile), so the run view says so.
   */
  analysingRun = $state<number | null>(null);
  /** When that wait began (Date.now()), for the elapsed seconds the page shows. */
  analysingSince = $state(0);
  /** Numbers each request for a run's analysis: an answer for a run the page has since left is dropped. */
  #runLoad = 0;
  /** The languages chosen in the picker (Datasets or Capture), kept while moving between the two. */
  selectedLanguages = $state<string[]>([]);
  error = $state<string | null>(null);
  /** Set with `error` when the same action can simply be tried again (a project locked by another window). */
  retry = $state<(() => Promise<void>) | null>(null);
  /** The server cannot be reached (its event socket dropped); the page keeps trying and says so. */
  connectionLost = $state(false);

  /** The capture job of this project the capture view follows (the newest running one, or the last one); experiments have their own view. */
  readonly activeJob = $derived(this.jobs.find((j) => j.kind === 'capture' && j.status === 'running') ?? this.jobs.find((j) => j.kind === 'capture') ?? null);
  readonly projectId = $derived(this.route.page === 'projects' ? null : this.route.projectId);

  readonly #bridge: Bridge;
  /** The bridge's calls, watched for a project deleted in another window (every caller goes through it). */
  readonly #api: Pick<Bridge, 'call'>;
  #poll: ReturnType<typeof setInterval> | null = null;
  #unsubscribe: (() => void) | null = null;
  #unsubscribeConnection: (() => void) | null = null;
  /** The project this page left because it was deleted elsewhere: the other calls in flight for it fail quietly. */
  #left: string | null = null;

  constructor(api: Bridge = apiClient()) {
    this.#bridge = api;
    this.#api = {
      call: async (method, args) => {
        try {
          return await api.call(method, args);
        } catch (e) {
          this.#leaveIfDeleted(e);
          throw e;
        }
      },
    };
  }

  /** Can pick folders with a native dialog (Electron); the browser gets a path field. */
  get canPickFolder(): boolean {
    return typeof this.#bridge.pickFolder === 'function';
  }

  async pickFolder(): Promise<string | null> {
    return this.#bridge.pickFolder ? this.#bridge.pickFolder() : null;
  }

  /** Shows the error in place; one already said (the project deleted elsewhere, the connection banner) is not repeated. */
  fail(e: unknown): void {
    const { code, details } = errorFacts(e);
    if (code === 'not-found' && details.deleted === true && details.projectId === this.#left) return;
    if (details.connection === true && this.connectionLost) return;
    this.error = errorText(e);
    this.retry = null;
  }

  /**
   * The open project was deleted in another window: say so, naming it, and go back to the project list (whose next
   * listing no longer shows it).
   */
  #leaveIfDeleted(e: unknown): void {
    const { code, details } = errorFacts(e);
    if (code !== 'not-found' || details.deleted !== true) return;
    const open = this.project;
    if (open && open.id === details.projectId) {
      this.#left = open.id;
      this.error = `The project "${open.name}" was deleted in another window; it is closed here and nothing more was written to it. Back at the project list.`;
      this.retry = null;
      this.project = null;
      this.overview = null;
      this.navigate({ page: 'projects' });
    }
  }

  /**
   * Calls the API; an error is shown in place and the call answers null, so the page stays usable. A lock held by
   * another window is shown with Retry, which sends the same call again and reloads what the page shows.
   */
  async #call<M extends Parameters<Bridge['call']>[0]>(method: M, args: ApiArgs<M>): Promise<ApiResult<M> | null> {
    try {
      return await this.#api.call(method, args);
    } catch (e) {
      this.fail(e);
      if (errorFacts(e).code === 'locked') {
        this.retry = async () => {
          this.retry = null;
          this.error = null;
          if ((await this.#call(method, args)) !== null) await this.reload();
        };
      }
      return null;
    }
  }

  /** Reads again what the current page shows (after a retry, or once the server is back). */
  async reload(): Promise<void> {
    const r = this.route;
    if (r.page === 'projects') return this.refreshProjects();
    const opened = await this.#call('projects.open', { projectId: r.projectId });
    if (!opened) return;
    this.project = opened;
    await this.refreshProject();
    if (r.page === 'project' && (r.section === 'lab' || r.section === 'experiments')) await Promise.all([this.refreshPlans(), this.refreshExperiments()]);
  }

  start(): () => void {
    const onHash = () => void this.#go(parseRoute(location.hash));
    window.addEventListener('hashchange', onHash);
    // Progress arrives as events; a slow poll covers a missed one (a reconnecting socket).
    this.#unsubscribe = this.#bridge.onEvent((event) => {
      if (event.type === 'job' && event.job.projectId === this.projectId) this.#setJob(event.job);
    });
    // The event socket is the first to notice a server that went away; when it is back, read the page again (a job
    // the restart interrupted then reads as such, one still running resumes its progress).
    this.#unsubscribeConnection = this.#bridge.onConnection?.((up) => {
      const wasLost = this.connectionLost;
      this.connectionLost = !up;
      if (up && wasLost) {
        if (this.error?.includes('cannot reach the Routescope server')) this.error = null;
        void this.reload();
      }
    }) ?? null;
    this.#poll = setInterval(() => {
      const running = this.jobs.find((j) => j.status === 'running');
      if (running) void this.#api.call('jobs.get', { jobId: running.id }).then((j) => this.#setJob(j), () => undefined);
    }, 2000);
    void this.#call('app.info', undefined).then((i) => (this.info = i));
    void this.#go(parseRoute(location.hash));
    return () => {
      window.removeEventListener('hashchange', onHash);
      this.#unsubscribe?.();
      this.#unsubscribeConnection?.();
      if (this.#poll) clearInterval(this.#poll);
    };
  }

  navigate(r: Route): void {
    const hash = routeHash(r);
    if (location.hash !== hash) location.hash = hash;
    else void this.#go(r);
  }

  async #go(r: Route): Promise<void> {
    this.route = r;
    if (r.page === 'projects') {
      this.project = null;
      this.overview = null;
      await this.refreshProjects();
      return;
    }
    if (this.project?.id !== r.projectId) {
      this.overview = null;
      // A run's analysis (seconds for a large run) is asked for at once, alongside the project and its lists.
      const run = r.page === 'run' ? this.#loadRun(r.projectId, r.runId) : undefined;
      const opened = await this.#call('projects.open', { projectId: r.projectId });
      if (opened) {
        this.project = opened;
        await this.refreshProject();
      }
      await run;
      return;
    }
    if (r.page === 'run') await this.#loadRun(r.projectId, r.runId);
    else this.overview = null;
  }

  async refreshProjects(): Promise<void> {
    const list = await this.#call('projects.list', undefined);
    if (list) this.projects = list;
  }

  async refreshProject(): Promise<void> {
    const projectId = this.projectId;
    if (!projectId) return;
    const [models, datasets, runs, jobs] = await Promise.all([
      this.#call('models.list', { projectId }),
      this.#call('datasets.list', { projectId }),
      this.#call('runs.list', { projectId }),
      this.#call('jobs.list', { projectId }),
    ]);
    if (models) this.models = models;
    if (datasets) {
      this.datasets = datasets;
      if (this.selectedLanguages.length === 0) this.selectedLanguages = [...(datasets[0]?.suggested ?? [])];
    }
    if (runs) this.runs = runs;
    if (jobs) this.jobs = jobs;
  }

  async refreshRuns(): Promise<void> {
    const projectId = this.projectId;
    if (!projectId) return;
    const [runs, jobs] = await Promise.all([this.#call('runs.list', { projectId }), this.#call('jobs.list', { projectId })]);
    if (runs) this.runs = runs;
    if (jobs) this.jobs = jobs;
  }

  #setJob(next: JobInfo): void {
    const i = this.jobs.findIndex((j) => j.id === next.id);
    const wasRunning = i >= 0 && this.jobs[i]!.status === 'running';
    this.jobs = i >= 0 ? this.jobs.map((j) => (j.id === next.id ? next : j)) : [next, ...this.jobs];
    // An experiment's row exists only once its engine has loaded (seconds, in its own thread): list it as soon as a
    // progress event names it, not only when the job ends.
    const listed = next.experimentId == null || this.experiments.some((e) => e.id === next.experimentId);
    if (next.kind === 'experiment' && !listed && !this.#listing.has(next.experimentId!)) {
      this.#listing.add(next.experimentId!);
      void this.refreshExperiments().finally(() => this.#listing.delete(next.experimentId!));
    }
    if (wasRunning && next.status !== 'running') {
      if (next.status === 'failed') this.error = `The ${next.kind} failed: ${next.error}`;
      if (next.kind === 'experiment') void this.refreshExperiments();
      void this.refreshRuns();
    }
  }

  // Projects

  async createProject(name: string, template: ProjectTemplate): Promise<void> {
    const p = await this.#call('projects.create', { name, template });
    if (p) this.navigate({ page: 'project', projectId: p.id, section: template === 'demo' ? 'capture' : 'models' });
  }

  async renameProject(projectId: string, name: string): Promise<void> {
    const p = await this.#call('projects.rename', { projectId, name });
    if (p && this.project?.id === projectId) this.project = p;
    await this.refreshProjects();
  }

  async deleteProject(projectId: string, confirmName: string): Promise<boolean> {
    const ok = await this.#call('projects.delete', { projectId, confirmName });
    await this.refreshProjects();
    return ok !== null;
  }

  // Models

  async inspectModel(path: string): Promise<ModelFacts> {
    return this.#api.call('models.inspect', { path });
  }

  /** Adds the folder; a folder that is not a model throws, so the view can explain it next to the field. */
  async addModel(path: string): Promise<ModelView> {
    const m = await this.#api.call('models.add', { projectId: this.projectId!, path });
    const models = await this.#call('models.list', { projectId: this.projectId! });
    if (models) this.models = models;
    return m;
  }

  /** Reads and records a local dataset; a file that does not parse throws, so the view explains it next to the field. */
  async addDataset(kind: ApiArgs<'datasets.add'>['kind'], path: string, split: string | undefined): Promise<DatasetView> {
    const d = await this.#api.call('datasets.add', { projectId: this.projectId!, kind, path, ...(split ? { split } : {}) });
    const datasets = await this.#call('datasets.list', { projectId: this.projectId! });
    if (datasets) this.datasets = datasets;
    return d;
  }

  // Capture

  async startCapture(args: Omit<ApiArgs<'capture.start'>, 'projectId'>): Promise<void> {
    this.error = null;
    const job = await this.#call('capture.start', { ...args, projectId: this.projectId! });
    if (job) this.#setJob(job);
  }

  async resume(runId: number): Promise<void> {
    this.error = null;
    const job = await this.#call('capture.resume', { projectId: this.projectId!, runId });
    if (job) {
      this.#setJob(job);
      this.navigate({ page: 'project', projectId: this.projectId!, section: 'capture' });
    }
  }

  async cancel(jobId: string): Promise<void> {
    const job = await this.#call('jobs.cancel', { jobId });
    if (job) this.#setJob(job);
  }

  // Runs

  async renameRun(runId: number, name: string): Promise<void> {
    const r = await this.#call('runs.rename', { projectId: this.projectId!, runId, name });
    if (r) this.runs = this.runs.map((x) => (x.id === runId ? r : x));
  }

  async deleteRun(runId: number): Promise<void> {
    const ok = await this.#call('runs.delete', { projectId: this.projectId!, runId });
    if (ok) await this.refreshRuns();
  }

  openRun(runId: number): void {
    this.navigate({ page: 'run', projectId: this.projectId!, runId });
  }

  async #loadRun(projectId: string, runId: number): Promise<void> {
    this.error = null;
    const load = ++this.#runLoad;
    // Never another run's analysis under this run's address while this one is computed.
    if (this.overview?.runId !== runId) this.overview = null;
    this.analysingRun = runId;
    this.analysingSince = Date.now();
    try {
      const overview = await this.#api.call('analysis.overview', { projectId, runId });
      if (load === this.#runLoad) this.overview = overview;
    } catch (e) {
      if (load === this.#runLoad) {
        this.overview = null;
        this.fail(e);
      }
    } finally {
      if (load === this.#runLoad) this.analysingRun = null;
    }
  }

  experts(runId: number, layer: number, k: number | null, thr: number | null): Promise<ExpertTable> {
    return this.#api.call('analysis.experts', { projectId: this.projectId!, runId, layer, ...(k !== null ? { k } : {}), ...(thr !== null ? { thr } : {}) });
  }

  /**
   * Stores analysis settings with the run and reloads its analysis; a refused value throws (the settings form shows
   * the message next to the fields).
   */
  async saveAnalysisSettings(runId: number, fields: Omit<ApiArgs<'analysis.saveSettings'>, 'projectId' | 'runId'>): Promise<void> {
    const projectId = this.projectId!;
    await this.#api.call('analysis.saveSettings', { projectId, runId, ...fields });
    await this.#loadRun(projectId, runId);
  }

  expertMap(runId: number, language: string, minus: string | null): Promise<ExpertLayerMap> {
    return this.#api.call('analysis.expertMap', { projectId: this.projectId!, runId, language, ...(minus ? { minus } : {}) });
  }

  compare(runId: number, otherRunId: number, layer: number, metric: MatrixMetric): Promise<RunComparison> {
    return this.#api.call('analysis.compare', { projectId: this.projectId!, runId, otherRunId, layer, metric });
  }

  layer(runId: number, layer: number, metric: MatrixMetric, pivot: string | null): Promise<LayerDetail> {
    return this.#api.call('analysis.layer', { projectId: this.projectId!, runId, layer, metric, ...(pivot ? { pivot } : {}) });
  }

  // Plans (steering lab): errors of the builder are thrown so the view shows them next to the form.

  plans = $state.raw<PlanView[]>([]);

  async refreshPlans(): Promise<void> {
    const list = await this.#call('plans.list', { projectId: this.projectId! });
    if (list) this.plans = list;
  }

  planPresets(runId: number): Promise<PlanPreset[]> {
    return this.#api.call('plans.presets', { projectId: this.projectId!, runId });
  }

  previewPlan(runId: number, recipe: Recipe, randomSeed?: number): Promise<PlanPreview> {
    return this.#api.call('plans.preview', { projectId: this.projectId!, runId, recipe, ...(randomSeed !== undefined ? { randomSeed } : {}) });
  }

  async savePlan(runId: number, recipe: Recipe, name: string): Promise<PlanView> {
    const p = await this.#api.call('plans.save', { projectId: this.projectId!, runId, recipe, name });
    await this.refreshPlans();
    return p;
  }

  async renamePlan(planId: number, name: string): Promise<void> {
    if (await this.#call('plans.rename', { projectId: this.projectId!, planId, name })) await this.refreshPlans();
  }

  async deletePlan(planId: number): Promise<void> {
    if (await this.#call('plans.delete', { projectId: this.projectId!, planId })) await this.refreshPlans();
  }

  // Experiments

  experiments = $state.raw<ExperimentSummary[]>([]);
  /** Experiments whose row is being fetched because a job named them first. */
  #listing = new Set<number>();

  async refreshExperiments(): Promise<void> {
    const list = await this.#call('experiments.list', { projectId: this.projectId! });
    if (list) this.experiments = list;
  }

  /** Starts an A/B run; a bad definition throws, so the view explains it next to the form. */
  async startExperiment(args: Omit<ApiArgs<'experiments.start'>, 'projectId'>): Promise<JobInfo> {
    const job = await this.#api.call('experiments.start', { ...args, projectId: this.projectId! });
    this.#setJob(job);
    return job;
  }

  async resumeExperiment(experimentId: number): Promise<void> {
    const job = await this.#call('experiments.resume', { projectId: this.projectId!, experimentId });
    if (job) this.#setJob(job);
    await this.refreshExperiments();
  }

  experiment(experimentId: number): Promise<ExperimentView> {
    return this.#api.call('experiments.get', { projectId: this.projectId!, experimentId });
  }

  /** Renames and deletes throw their refusal (a running experiment is not deleted), so the view says it in place. */
  async renameExperiment(experimentId: number, name: string): Promise<void> {
    await this.#api.call('experiments.rename', { projectId: this.projectId!, experimentId, name });
    await this.refreshExperiments();
  }

  /** `cancel`: a running experiment's job is cancelled and waited for first (Cancel and delete). */
  async deleteExperiment(experimentId: number, cancel = false): Promise<void> {
    await this.#api.call('experiments.delete', { projectId: this.projectId!, experimentId, ...(cancel ? { cancel } : {}) });
    await this.refreshExperiments();
  }

  tryPlan(planId: number, prompt: string, maxNewTokens: number): Promise<TryResult> {
    return this.#api.call('plans.try', { projectId: this.projectId!, planId, prompt, maxNewTokens });
  }
}

const KEY = Symbol('workbench');

export function provideWorkbench(wb: Workbench): Workbench {
  return setContext(KEY, wb);
}

export function getWorkbench(): Workbench {
  return getContext<Workbench>(KEY);
}
