import type { Store } from './db.js';
import { StoreError } from './errors.js';
import { workerState, type WorkerInfo } from './worker.js';
import type { FingerprintDetail } from './fingerprint.js';

export type RunStatus = 'pending' | 'running' | 'cancelled' | 'failed' | 'completed';
export type RunSource = 'capture' | 'recorder' | 'import';

export interface ModelInfo {
  /** Model folder (recorded with the run). */
  path: string;
  name?: string;
  architecture: string;
  numMoeLayers: number;
  /** Decoder-layer index of each MoE layer; defaults to 0..numMoeLayers-1. */
  moeLayers?: number[];
  numExperts: number;
  topK: number;
  /** Content fingerprint of the folder (fingerprint.ts modelFingerprint). */
  fingerprint: string;
  /** The per-file digests behind it (fingerprint.ts), so a changed folder can be described; absent before schema 2. */
  fingerprintDetail?: FingerprintDetail;
}

export interface DatasetInfo {
  kind: string;
  source: string;
  languages: string[];
  itemCount: number;
  fingerprint: string;
}

export interface NewRun {
  projectName?: string;
  model?: ModelInfo;
  dataset?: DatasetInfo;
  name?: string;
  source?: RunSource;
  languages: string[];
  promptTemplate: string;
  plan?: unknown;
  seed?: number;
  engineVersion?: string;
  executionProvider?: string;
  /** Weight precision of the engine that captured the run (docs/precision.md). */
  precision?: string;
  numMoeLayers: number;
  moeLayers?: number[];
  numExperts: number;
  topK: number;
  storeLogits?: boolean;
  itemLimit?: number;
  batchSize?: number;
  sequencesTotal?: number;
  status?: RunStatus;
}

export interface RunRecord {
  id: number;
  projectName: string | null;
  name: string | null;
  source: RunSource;
  model: (ModelInfo & { id: number }) | null;
  dataset: (DatasetInfo & { id: number }) | null;
  languages: string[];
  promptTemplate: string;
  plan: unknown;
  seed: number | null;
  engineVersion: string | null;
  executionProvider: string | null;
  precision: string | null;
  numMoeLayers: number;
  moeLayers: number[];
  numExperts: number;
  topK: number;
  storeLogits: boolean;
  itemLimit: number | null;
  batchSize: number | null;
  status: RunStatus;
  error: string | null;
  sequencesTotal: number | null;
  sequencesDone: number;
  tokensDone: number;
  batchesDone: number;
  elapsedMs: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** The process that last captured into the run (null for imported runs). */
  worker: WorkerInfo | null;
  /** Status 'running' but its worker is verifiably gone (killed, crashed): resume it. */
  interrupted: boolean;
}

function positiveInt(v: unknown, what: string): number {
  if (!Number.isInteger(v) || (v as number) <= 0) throw new StoreError('invalid-input', `${what} must be a positive integer, got ${String(v)}`);
  return v as number;
}

function layersOf(moeLayers: number[] | undefined, n: number, what: string): number[] {
  const layers = moeLayers ?? Array.from({ length: n }, (_, i) => i);
  if (layers.length !== n || layers.some((l) => !Number.isInteger(l) || l < 0)) {
    throw new StoreError('invalid-input', `${what}: moeLayers must list ${n} non-negative layer indices, got ${JSON.stringify(moeLayers)}`);
  }
  return layers;
}

export function ensureProject(store: Store, name: string): number {
  const db = store.db;
  db.prepare('INSERT INTO project(name) VALUES (?) ON CONFLICT(name) DO NOTHING').run(name);
  return (db.prepare('SELECT id FROM project WHERE name = ?').get(name) as { id: number }).id;
}

export function ensureModel(store: Store, m: ModelInfo): number {
  positiveInt(m.numMoeLayers, 'model numMoeLayers');
  positiveInt(m.numExperts, 'model numExperts');
  positiveInt(m.topK, 'model topK');
  const layers = layersOf(m.moeLayers, m.numMoeLayers, `model ${m.path}`);
  const db = store.db;
  const row = db.prepare('SELECT id FROM model WHERE path = ? AND fingerprint = ?').get(m.path, m.fingerprint) as { id: number } | undefined;
  if (row) return row.id;
  return Number(
    db
      .prepare('INSERT INTO model(path, name, architecture, num_moe_layers, moe_layers, num_experts, top_k, fingerprint, fingerprint_detail) VALUES (?,?,?,?,?,?,?,?,?)')
      .run(m.path, m.name ?? null, m.architecture, m.numMoeLayers, JSON.stringify(layers), m.numExperts, m.topK, m.fingerprint, m.fingerprintDetail ? JSON.stringify(m.fingerprintDetail) : null).lastInsertRowid,
  );
}

export function ensureDataset(store: Store, d: DatasetInfo): number {
  const db = store.db;
  const row = db.prepare('SELECT id FROM dataset WHERE kind = ? AND source = ? AND fingerprint = ?').get(d.kind, d.source, d.fingerprint) as { id: number } | undefined;
  if (row) return row.id;
  return Number(
    db
      .prepare('INSERT INTO dataset(kind, source, languages, item_count, fingerprint) VALUES (?,?,?,?,?)')
      .run(d.kind, d.source, JSON.stringify(d.languages), d.itemCount, d.fingerprint).lastInsertRowid,
  );
}

/** Creates a run (with its project, model and dataset rows) in one transaction; returns the run id. */
export function createRun(store: Store, r: NewRun): number {
  positiveInt(r.numMoeLayers, 'run numMoeLayers');
  positiveInt(r.numExperts, 'run numExperts');
  positiveInt(r.topK, 'run topK');
  if (r.numExperts > 65536) throw new StoreError('invalid-input', `run numExperts ${r.numExperts} exceeds 65536 (expert ids are stored as uint16)`);
  if (r.topK > r.numExperts) throw new StoreError('invalid-input', `run topK ${r.topK} exceeds numExperts ${r.numExperts}`);
  if (!Array.isArray(r.languages) || r.languages.length === 0) throw new StoreError('invalid-input', 'a run needs at least one language');
  const layers = layersOf(r.moeLayers, r.numMoeLayers, 'run');
  return store.write('creating a capture run', () => {
    const projectId = r.projectName ? ensureProject(store, r.projectName) : null;
    const modelId = r.model ? ensureModel(store, r.model) : null;
    const datasetId = r.dataset ? ensureDataset(store, r.dataset) : null;
    const info = store.db
      .prepare(
        `INSERT INTO capture_run(project_id, model_id, dataset_id, name, source, languages, prompt_template, plan, seed,
           engine_version, execution_provider, precision, num_moe_layers, moe_layers, num_experts, top_k, store_logits, item_limit,
           batch_size, sequences_total, status)
         VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
      )
      .run(
        projectId, modelId, datasetId, r.name ?? null, r.source ?? 'capture', JSON.stringify(r.languages), r.promptTemplate,
        r.plan === undefined ? null : JSON.stringify(r.plan), r.seed ?? null, r.engineVersion ?? null, r.executionProvider ?? null,
        r.precision ?? null, r.numMoeLayers, JSON.stringify(layers), r.numExperts, r.topK, r.storeLogits ? 1 : 0, r.itemLimit ?? null,
        r.batchSize ?? null, r.sequencesTotal ?? null, r.status ?? 'pending',
      );
    return Number(info.lastInsertRowid);
  });
}

interface RunRow {
  id: number; project_name: string | null; name: string | null; source: RunSource; languages: string; prompt_template: string;
  plan: string | null; seed: number | null; engine_version: string | null; execution_provider: string | null; precision: string | null;
  num_moe_layers: number; moe_layers: string; num_experts: number; top_k: number; store_logits: number;
  item_limit: number | null; batch_size: number | null; status: RunStatus; error: string | null;
  sequences_total: number | null; sequences_done: number; tokens_done: number; batches_done: number; elapsed_ms: number;
  created_at: string; started_at: string | null; finished_at: string | null;
  worker_host: string | null; worker_pid: number | null; worker_started: string | null;
  m_id: number | null; m_path: string; m_name: string | null; m_arch: string; m_layers: number; m_moe: string; m_experts: number; m_topk: number; m_fp: string; m_fpd: string | null;
  d_id: number | null; d_kind: string; d_source: string; d_langs: string; d_count: number; d_fp: string;
}

const RUN_SELECT = `
  SELECT r.*, p.name AS project_name,
    m.id AS m_id, m.path AS m_path, m.name AS m_name, m.architecture AS m_arch, m.num_moe_layers AS m_layers,
    m.moe_layers AS m_moe, m.num_experts AS m_experts, m.top_k AS m_topk, m.fingerprint AS m_fp, m.fingerprint_detail AS m_fpd,
    d.id AS d_id, d.kind AS d_kind, d.source AS d_source, d.languages AS d_langs, d.item_count AS d_count, d.fingerprint AS d_fp
  FROM capture_run r
  LEFT JOIN project p ON p.id = r.project_id
  LEFT JOIN model m ON m.id = r.model_id
  LEFT JOIN dataset d ON d.id = r.dataset_id`;

function toRecord(r: RunRow, file: string): RunRecord {
  // Liveness is only worth a look (a /proc read) while the run claims to be running.
  const worker = r.worker_pid === null || r.worker_host === null ? null : {
    host: r.worker_host, pid: r.worker_pid,
    state: r.status === 'running' ? workerState(file, r.id, r.worker_host, r.worker_pid, r.worker_started) : ('dead' as const),
  };
  return {
    id: r.id,
    projectName: r.project_name,
    name: r.name,
    source: r.source,
    model: r.m_id === null ? null : {
      id: r.m_id, path: r.m_path, name: r.m_name ?? undefined, architecture: r.m_arch, numMoeLayers: r.m_layers,
      moeLayers: JSON.parse(r.m_moe) as number[], numExperts: r.m_experts, topK: r.m_topk, fingerprint: r.m_fp,
      ...(r.m_fpd ? { fingerprintDetail: JSON.parse(r.m_fpd) as FingerprintDetail } : {}),
    },
    dataset: r.d_id === null ? null : {
      id: r.d_id, kind: r.d_kind, source: r.d_source, languages: JSON.parse(r.d_langs) as string[], itemCount: r.d_count, fingerprint: r.d_fp,
    },
    languages: JSON.parse(r.languages) as string[],
    promptTemplate: r.prompt_template,
    plan: r.plan === null ? null : (JSON.parse(r.plan) as unknown),
    seed: r.seed,
    engineVersion: r.engine_version,
    executionProvider: r.execution_provider,
    precision: r.precision,
    numMoeLayers: r.num_moe_layers,
    moeLayers: JSON.parse(r.moe_layers) as number[],
    numExperts: r.num_experts,
    topK: r.top_k,
    storeLogits: r.store_logits === 1,
    itemLimit: r.item_limit,
    batchSize: r.batch_size,
    status: r.status,
    error: r.error,
    sequencesTotal: r.sequences_total,
    sequencesDone: r.sequences_done,
    tokensDone: r.tokens_done,
    batchesDone: r.batches_done,
    elapsedMs: r.elapsed_ms,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    worker,
    interrupted: r.status === 'running' && worker?.state === 'dead',
  };
}

export function getRun(store: Store, runId: number): RunRecord {
  const row = store.read('reading a run', () => store.db.prepare(`${RUN_SELECT} WHERE r.id = ?`).get(runId) as RunRow | undefined);
  if (!row) throw new StoreError('not-found', `run ${runId} does not exist in ${store.file}`);
  return toRecord(row, store.file);
}

export function listRuns(store: Store): RunRecord[] {
  return store.read('listing runs', () => (store.db.prepare(`${RUN_SELECT} ORDER BY r.id`).all() as RunRow[]).map((r) => toRecord(r, store.file)));
}

export function setRunStatus(store: Store, runId: number, status: RunStatus, error?: string): void {
  store.write(`marking run ${runId} ${status}`, () => {
    const now = new Date().toISOString();
    store.db
      .prepare(
        `UPDATE capture_run SET status = ?, error = ?,
           started_at = CASE WHEN ? = 'running' THEN coalesce(started_at, ?) ELSE started_at END,
           finished_at = CASE WHEN ? IN ('completed','failed','cancelled') THEN ? ELSE NULL END
         WHERE id = ?`,
      )
      .run(status, error ?? null, status, now, status, now, runId);
  });
}

export function deleteRun(store: Store, runId: number): void {
  store.write(`deleting run ${runId}`, () => {
    const info = store.db.prepare('DELETE FROM capture_run WHERE id = ?').run(runId);
    if (info.changes === 0) throw new StoreError('not-found', `run ${runId} does not exist in ${store.file}`);
  });
}
