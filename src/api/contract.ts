/**
 * The one typed API between the UI and the back end. Two transports carry it unchanged: Electron IPC
 * (src/main + src/preload) and `routescope serve` (HTTP + WebSocket) so the same UI runs in a browser.
 * Every method takes one JSON-serialisable argument and returns a JSON-serialisable result; the back end
 * pushes ApiEvents (job progress) over IPC events or the WebSocket at /api/events.
 */
export interface AppInfo {
  name: string;
  version: string;
  /** Which onnxruntime execution provider the engine would use on this machine, and why. */
  executionProvider: { name: string; reason: string };
  transport: 'ipc' | 'http';
  /** Folder holding the workbench's database and demo outputs. */
  dataDir: string;
}

/** One language as the UI shows it (family etc. from the Glottolog-derived table; null when the table lacks it). */
export interface LanguageView {
  code: string;
  name: string;
  family: string | null;
  branch: string | null;
  resource: 'high' | 'medium' | 'low' | null;
}

export type UdhrSplit = 'heldout' | 'train' | 'all';

export interface DemoInfo {
  /** False when the embedded model or a resource file is missing or damaged; `problem` says what and how to fix it. */
  available: boolean;
  problem: string | null;
  model: {
    name: string;
    architecture: string;
    numLayers: number;
    numMoeLayers: number;
    numExperts: number;
    topK: number;
    parameters: number;
  } | null;
  languages: LanguageView[];
  pivot: string | null;
  target: string | null;
  split: UdhrSplit;
  /** UDHR items per language in the split (a run captures languages x items sequences, or fewer with a limit). */
  itemsPerLanguage: number;
}

export interface DemoStartArgs {
  /** Subset of the demo languages (at least 3); default all. */
  languages?: string[];
  /** Items per language; default all items of the split. */
  limit?: number;
  split?: UdhrSplit;
  /** Capture again even when the database holds a matching completed run. */
  fresh?: boolean;
}

export type JobStatus = 'running' | 'completed' | 'cancelled' | 'failed';
export type JobStage = 'preparing' | 'capturing' | 'analysing' | 'done';

export interface JobProgress {
  stage: JobStage;
  /** 0..1 over the capture; null before anything is known. */
  fraction: number | null;
  sequencesDone: number;
  sequencesTotal: number;
  tokensDone: number;
  tokensPerSecond: number;
  etaSeconds: number | null;
  /** The latest log line of the job, e.g. "reusing completed run 3". */
  message: string;
}

export interface JobInfo {
  id: string;
  kind: 'demo';
  status: JobStatus;
  progress: JobProgress;
  error: string | null;
  /** The capture run the job writes or reuses, as soon as it is known. */
  runId: number | null;
  /** How the routing was obtained, and the files written (set when completed). */
  capture: 'captured' | 'resumed' | 'reused' | null;
  files: string[];
  startedAt: string;
  finishedAt: string | null;
}

/** The single event shape both transports deliver. */
export type ApiEvent = { type: 'job'; job: JobInfo };

export interface RunSummary {
  id: number;
  name: string | null;
  status: string;
  model: string | null;
  languages: number;
  sequencesDone: number;
  sequencesTotal: number | null;
  tokensDone: number;
  createdAt: string;
  finishedAt: string | null;
}

export interface Band {
  name: 'early' | 'middle' | 'late';
  layers: [number, number];
}

export interface LayerRow {
  /** MoE-layer index (the analysis' numbering) and the decoder layer it sits in. */
  layer: number;
  decoderLayer: number;
  band: Band['name'] | null;
  /** Mean cosine similarity of each language's expert-frequency vector to the pivot's (pivot excluded). */
  alignmentToPivot: number | null;
  /** Mean cosine similarity over all language pairs. */
  alignmentMeanPair: number;
  /** Family agreement of the average-linkage dendrogram: cophenetic correlation with genealogy, ARI of the family cut. */
  cophenetic: number | null;
  ari: number | null;
  /** Experts shared by all languages; experts exclusive to some language (summed over languages). */
  shared: number;
  exclusive: number;
}

export interface PlanExpert {
  decoderLayer: number;
  moeLayer: number;
  expert: number;
  coefficient: number;
}

export interface SteeringPlanView {
  target: string;
  pivot: string;
  method: string;
  moeLayers: [number, number];
  decoderLayers: [number, number];
  k: number;
  thr: number;
  lambda: number;
  experts: PlanExpert[];
  /** The plan file exactly as `routescope forward --plan` / `capture --plan` read it. */
  json: string;
  fileName: string;
}

export interface AnalysisOverview {
  runId: number;
  model: string | null;
  languages: (LanguageView & { tokens: number })[];
  numLayers: number;
  numExperts: number;
  topK: number;
  pivot: string | null;
  target: string | null;
  bands: Band[];
  /** Early/middle/late reading of the mean-pair alignment curve (as `routescope demo` prints it). */
  pattern: { holds: boolean; text: string };
  clusterMetric: string;
  specialisation: { k: number; thr: number };
  layers: LayerRow[];
  /** Null when the run lacks a pivot or target language (the reason is in planNote). */
  plan: SteeringPlanView | null;
  planNote: string | null;
}

export type MatrixMetric = 'cosine' | 'jsd' | 'njsd';

export interface TreeNode {
  height: number;
  size: number;
  label?: string;
  index?: number;
  children?: TreeNode[];
}

export interface LayerDetail {
  runId: number;
  layer: number;
  decoderLayer: number;
  metric: MatrixMetric;
  languages: string[];
  /** languages x languages, row-major as nested arrays; cosine is a similarity, jsd/njsd are divergences. */
  matrix: number[][];
  /** Average-linkage dendrogram over the run's cluster metric. */
  tree: TreeNode;
  family: { cophenetic: number | null; ari: number | null; families: number };
}

export interface RoutescopeApi {
  'app.info': { args: void; result: AppInfo };
  'demo.info': { args: void; result: DemoInfo };
  'demo.start': { args: DemoStartArgs | null | undefined; result: JobInfo };
  'jobs.get': { args: { jobId: string }; result: JobInfo };
  'jobs.list': { args: void; result: JobInfo[] };
  'jobs.cancel': { args: { jobId: string }; result: JobInfo };
  'runs.list': { args: void; result: RunSummary[] };
  'analysis.overview': { args: { runId: number; pivot?: string; target?: string }; result: AnalysisOverview };
  'analysis.layer': { args: { runId: number; layer: number; metric?: MatrixMetric; pivot?: string }; result: LayerDetail };
}

export type ApiMethod = keyof RoutescopeApi;
export type ApiArgs<M extends ApiMethod> = RoutescopeApi[M]['args'];
export type ApiResult<M extends ApiMethod> = RoutescopeApi[M]['result'];

/** Channel-name check shared by both transports, so neither forwards arbitrary names to the back end. */
export const API_METHODS: readonly ApiMethod[] = [
  'app.info', 'demo.info', 'demo.start', 'jobs.get', 'jobs.list', 'jobs.cancel', 'runs.list', 'analysis.overview', 'analysis.layer',
];
export function isApiMethod(name: unknown): name is ApiMethod {
  return typeof name === 'string' && (API_METHODS as readonly string[]).includes(name);
}

/** The IPC channel of API calls (renderer -> main); the reply is an ApiReply (src/api/errors.ts). */
export const API_CHANNEL = 'routescope:api';
/** The IPC channel on which main forwards ApiEvents to windows. */
export const EVENT_CHANNEL = 'routescope:event';
/** The WebSocket path of the HTTP transport's event stream. */
export const EVENTS_PATH = '/api/events';
