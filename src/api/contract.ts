/**
 * The one typed API between the UI and the back end, around projects: a project is a named workspace with its own
 * database and folder, holding model folders, capture runs and jobs. Two transports carry it unchanged: Electron
 * IPC (src/main + src/preload) and `routescope serve` (HTTP + WebSocket), both through `dispatch`.
 *
 * Each domain declares its arguments once, in src/api/schemas/<domain>.ts, as schemas giving both the TypeScript
 * type and the runtime check; `dispatch` checks every argument before a handler sees it. Results are the DTOs next
 * to them. The back end pushes ApiEvents (job progress) over IPC events or the WebSocket at /api/events.
 */
import type { Infer, Schema } from './schema.js';
import { analysisArgs, type AnalysisOverview, type AnalysisSettingsView, type ExpertLayerMap, type ExpertTable, type RunComparison, type LayerDetail } from './schemas/analysis.js';
import { appArgs, type AppInfo } from './schemas/app.js';
import { captureArgs } from './schemas/capture.js';
import { datasetsArgs, type DatasetView, type LanguageView } from './schemas/datasets.js';
import { experimentsArgs, type ExperimentSummary, type ExperimentView } from './schemas/experiments.js';
import { jobsArgs, type JobInfo } from './schemas/jobs.js';
import { modelsArgs, type ModelFacts, type ModelView } from './schemas/models.js';
import { plansArgs, type PlanPreset, type PlanPreview, type PlanView, type TryResult } from './schemas/plans.js';
import { projectsArgs, type ProjectView } from './schemas/projects.js';
import { runsArgs, type RunSummary } from './schemas/runs.js';

export type * from './schemas/analysis.js';
export type * from './schemas/app.js';
export type * from './schemas/datasets.js';
export type * from './schemas/experiments.js';
export type * from './schemas/jobs.js';
export type * from './schemas/models.js';
export type * from './schemas/plans.js';
export type * from './schemas/projects.js';
export type * from './schemas/runs.js';

/** Every method and the schema of its argument. */
export const API_ARGS = {
  ...appArgs,
  ...projectsArgs,
  ...modelsArgs,
  ...datasetsArgs,
  ...runsArgs,
  ...captureArgs,
  ...jobsArgs,
  ...analysisArgs,
  ...plansArgs,
  ...experimentsArgs,
} satisfies Record<string, Schema<unknown>>;

export type ApiMethod = keyof typeof API_ARGS;

/** What each method returns. */
interface Results {
  'app.info': AppInfo;
  'projects.list': ProjectView[];
  'projects.create': ProjectView;
  'projects.open': ProjectView;
  'projects.rename': ProjectView;
  'projects.delete': { deleted: string };
  'models.inspect': ModelFacts;
  'models.add': ModelView;
  'models.list': ModelView[];
  'datasets.list': DatasetView[];
  'datasets.add': DatasetView;
  'languages.list': LanguageView[];
  'runs.list': RunSummary[];
  'runs.rename': RunSummary;
  'runs.delete': { deleted: number };
  'capture.start': JobInfo;
  'capture.resume': JobInfo;
  'jobs.list': JobInfo[];
  'jobs.get': JobInfo;
  'jobs.cancel': JobInfo;
  'analysis.overview': AnalysisOverview;
  'analysis.layer': LayerDetail;
  'analysis.experts': ExpertTable;
  'analysis.settings': AnalysisSettingsView;
  'analysis.saveSettings': AnalysisSettingsView;
  'analysis.compare': RunComparison;
  'analysis.expertMap': ExpertLayerMap;
  'plans.presets': PlanPreset[];
  'plans.preview': PlanPreview;
  'plans.save': PlanView;
  'plans.list': PlanView[];
  'plans.rename': PlanView;
  'plans.delete': { deleted: number };
  'plans.try': TryResult;
  'experiments.start': JobInfo;
  'experiments.resume': JobInfo;
  'experiments.list': ExperimentSummary[];
  'experiments.get': ExperimentView;
  'experiments.rename': ExperimentSummary;
  'experiments.delete': { deleted: number };
}

export type RoutescopeApi = { [M in ApiMethod]: { args: Infer<(typeof API_ARGS)[M]>; result: Results[M] } };
export type ApiArgs<M extends ApiMethod> = RoutescopeApi[M]['args'];
export type ApiResult<M extends ApiMethod> = RoutescopeApi[M]['result'];

export const API_METHODS = Object.keys(API_ARGS) as ApiMethod[];
export function isApiMethod(name: unknown): name is ApiMethod {
  return typeof name === 'string' && Object.hasOwn(API_ARGS, name);
}

/** The IPC channel of API calls (renderer -> main); the reply is an ApiReply (src/api/errors.ts). */
export const API_CHANNEL = 'routescope:api';
/** The IPC channel of the Electron folder picker (no argument; answers a path or null). */
export const PICK_FOLDER_CHANNEL = 'routescope:pick-folder';
/** The IPC channel on which main forwards ApiEvents to windows. */
export const EVENT_CHANNEL = 'routescope:event';
/** The WebSocket path of the HTTP transport's event stream. */
export const EVENTS_PATH = '/api/events';
