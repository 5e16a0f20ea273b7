/**
 * Experiments in the store (db/003_experiments.sql): the experiment with its normalised spec, its arms with the
 * plans actually applied, and one result row per (arm, item, sample). Results are written one unit (a batch of
 * items for one arm and sample) per transaction, so a crash loses at most the unit in flight.
 */
import { hostname } from 'node:os';
import type { Store } from './db.js';
import { StoreError } from './errors.js';
import { otherWorkerState, processIdentity } from './worker.js';

export type ExperimentStatus = 'created' | 'running' | 'completed' | 'cancelled' | 'failed';

export interface NewExperiment {
  name: string;
  task: string;
  spec: unknown;
  specHash: string;
  modelPath: string;
  modelFingerprint: string;
  datasetFingerprint: string;
  engineVersion?: string;
  executionProvider?: string;
  /** Weight precision the engine ran at (db/008); absent when the engine has none to report. */
  precision?: string;
  unitsTotal: number;
  arms: ExperimentArmRecord[];
}

export interface ExperimentArmRecord {
  index: number;
  name: string;
  kind: string;
  source: string;
  plan: Record<string, unknown> | null;
  planHash: string | null;
  /** Per MoE layer, the experts the plan touches. */
  experts: number[][];
}

export interface ExperimentRecord {
  id: number;
  name: string;
  task: string;
  spec: unknown;
  specHash: string;
  modelPath: string;
  modelFingerprint: string;
  datasetFingerprint: string;
  engineVersion: string | null;
  executionProvider: string | null;
  /** Weight precision the experiment ran at; null for experiments recorded before it was (db/008). */
  precision: string | null;
  status: ExperimentStatus;
  error: string | null;
  unitsTotal: number;
  unitsDone: number;
  workerHost: string | null;
  workerPid: number | null;
  workerStarted: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface ExperimentResult {
  arm: string;
  language: string;
  itemId: string;
  itemIndex: number;
  sample: number;
  seed: number | null;
  prompt: string;
  output: string | null;
  extracted: string | null;
  score: number | null;
  correct: boolean | null;
  noAnswer: boolean | null;
  detectedLang: string | null;
  consistent: boolean | null;
  loglik: unknown;
  numTokens: number;
  finishReason: string | null;
  /** arm name -> per MoE layer share of routing mass on that arm's experts (null where it has none). */
  routing: Record<string, (number | null)[]> | null;
  extra: Record<string, unknown> | null;
}

interface ExperimentRow {
  id: number; name: string; task: string; spec: string; spec_hash: string; model_path: string; model_fingerprint: string;
  dataset_fingerprint: string; engine_version: string | null; execution_provider: string | null; precision: string | null; status: ExperimentStatus;
  error: string | null; units_total: number; units_done: number; worker_host: string | null; worker_pid: number | null; worker_started: string | null;
  created_at: string; updated_at: string;
}

function fromRow(r: ExperimentRow): ExperimentRecord {
  return {
    id: r.id, name: r.name, task: r.task, spec: JSON.parse(r.spec) as unknown, specHash: r.spec_hash, modelPath: r.model_path,
    modelFingerprint: r.model_fingerprint, datasetFingerprint: r.dataset_fingerprint, engineVersion: r.engine_version,
    executionProvider: r.execution_provider, precision: r.precision ?? null, status: r.status, error: r.error, unitsTotal: r.units_total, unitsDone: r.units_done,
    workerHost: r.worker_host, workerPid: r.worker_pid, workerStarted: r.worker_started, createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

export function createExperiment(store: Store, e: NewExperiment): number {
  return store.write(`creating experiment '${e.name}'`, () => {
    const info = store.db.prepare(
      `INSERT INTO experiment (name, task, spec, spec_hash, model_path, model_fingerprint, dataset_fingerprint, engine_version, execution_provider, precision, units_total)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(e.name, e.task, JSON.stringify(e.spec), e.specHash, e.modelPath, e.modelFingerprint, e.datasetFingerprint, e.engineVersion ?? null, e.executionProvider ?? null, e.precision ?? null, e.unitsTotal);
    const id = Number(info.lastInsertRowid);
    const arm = store.db.prepare('INSERT INTO experiment_arm (experiment_id, arm_index, name, kind, source, plan, plan_hash, experts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    for (const a of e.arms) arm.run(id, a.index, a.name, a.kind, a.source, a.plan ? JSON.stringify(a.plan) : null, a.planHash, JSON.stringify(a.experts));
    return id;
  });
}

export function getExperiment(store: Store, id: number): ExperimentRecord {
  const row = store.read('reading an experiment', () => store.db.prepare('SELECT * FROM experiment WHERE id = ?').get(id) as ExperimentRow | undefined);
  if (!row) throw new StoreError('not-found', `experiment ${id} does not exist in ${store.file}`);
  return fromRow(row);
}

export function listExperiments(store: Store): ExperimentRecord[] {
  const rows = store.read('listing experiments', () => store.db.prepare('SELECT * FROM experiment ORDER BY id').all() as ExperimentRow[]);
  return rows.map(fromRow);
}

export function renameExperiment(store: Store, id: number, name: string): void {
  store.write(`renaming experiment ${id}`, () => {
    if (store.db.prepare("UPDATE experiment SET name = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?").run(name, id).changes === 0) throw new StoreError('not-found', `experiment ${id} does not exist in ${store.file}`);
  });
}

/** Deletes the experiment with its arms and results (ON DELETE CASCADE). The caller refuses a running one. */
export function deleteExperiment(store: Store, id: number): void {
  store.write(`deleting experiment ${id}`, () => {
    if (store.db.prepare('DELETE FROM experiment WHERE id = ?').run(id).changes === 0) throw new StoreError('not-found', `experiment ${id} does not exist in ${store.file}`);
  });
}

export function experimentArms(store: Store, id: number): ExperimentArmRecord[] {
  const rows = store.read('reading experiment arms', () =>
    store.db.prepare('SELECT arm_index, name, kind, source, plan, plan_hash, experts FROM experiment_arm WHERE experiment_id = ? ORDER BY arm_index').all(id),
  ) as { arm_index: number; name: string; kind: string; source: string; plan: string | null; plan_hash: string | null; experts: string }[];
  return rows.map((r) => ({
    index: r.arm_index, name: r.name, kind: r.kind, source: r.source, plan: r.plan ? (JSON.parse(r.plan) as Record<string, unknown>) : null,
    planHash: r.plan_hash, experts: JSON.parse(r.experts) as number[][],
  }));
}

export function setExperimentStatus(store: Store, id: number, status: ExperimentStatus, error: string | null = null): void {
  store.write(`marking experiment ${id} ${status}`, () => {
    store.db.prepare(`UPDATE experiment SET status = ?, error = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?`).run(status, error, id);
  });
}

/** Records this process as the experiment's worker (a second resume is refused while it lives). */
export function claimExperiment(store: Store, id: number): void {
  store.write(`recording the worker of experiment ${id}`, () => {
    store.db.prepare(`UPDATE experiment SET status = 'running', error = NULL, worker_host = ?, worker_pid = ?, worker_started = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?`).run(hostname(), process.pid, processIdentity(process.pid), id);
  });
}

/** Whether another live process on this machine is running the experiment. */
export function experimentWorkerAlive(rec: ExperimentRecord): boolean {
  return rec.status === 'running' && otherWorkerState(rec.workerHost, rec.workerPid, rec.workerStarted) === 'alive';
}

export function resultKey(arm: string, language: string, itemId: string, sample: number): string {
  return `${arm}\u0000${language}\u0000${itemId}\u0000${sample}`;
}

/** Keys of every stored (arm, item, sample). */
export function storedResultKeys(store: Store, id: number): Set<string> {
  const rows = store.read('reading stored results', () =>
    store.db.prepare('SELECT arm, language, item_id, sample FROM experiment_result WHERE experiment_id = ?').raw(true).all(id),
  ) as [string, string, string, number][];
  return new Set(rows.map(([a, l, i, s]) => resultKey(a, l, i, s)));
}

const b = (v: boolean | null) => (v === null ? null : v ? 1 : 0);
const j = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));

/** One unit of work in one transaction: its rows, and the progress counter. */
export function writeResults(store: Store, id: number, rows: ExperimentResult[]): void {
  store.write(`storing ${rows.length} results of experiment ${id}`, () => {
    const ins = store.db.prepare(
      `INSERT INTO experiment_result (experiment_id, arm, language, item_id, item_index, sample, seed, prompt, output, extracted, score, correct, no_answer,
         detected_lang, consistent, loglik, num_tokens, finish_reason, routing, extra)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const r of rows) {
      ins.run(id, r.arm, r.language, r.itemId, r.itemIndex, r.sample, r.seed, r.prompt, r.output, r.extracted, r.score, b(r.correct), b(r.noAnswer),
        r.detectedLang, b(r.consistent), j(r.loglik), r.numTokens, r.finishReason, j(r.routing), j(r.extra));
    }
    store.db.prepare(`UPDATE experiment SET units_done = units_done + 1, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?`).run(id);
  });
}

interface ResultRow {
  arm: string; language: string; item_id: string; item_index: number; sample: number; seed: number | null; prompt: string; output: string | null;
  extracted: string | null; score: number | null; correct: number | null; no_answer: number | null; detected_lang: string | null;
  consistent: number | null; loglik: string | null; num_tokens: number; finish_reason: string | null; routing: string | null; extra: string | null;
}

const nb = (v: number | null) => (v === null ? null : v === 1);

/** Every result of an experiment, ordered by arm index, language, item index and sample. */
export function experimentResults(store: Store, id: number): ExperimentResult[] {
  const rows = store.read('reading experiment results', () =>
    store.db.prepare(
      `SELECT r.* FROM experiment_result r JOIN experiment_arm a ON a.experiment_id = r.experiment_id AND a.name = r.arm
       WHERE r.experiment_id = ? ORDER BY a.arm_index, r.language, r.item_index, r.sample`,
    ).all(id),
  ) as ResultRow[];
  return rows.map((r) => ({
    arm: r.arm, language: r.language, itemId: r.item_id, itemIndex: r.item_index, sample: r.sample, seed: r.seed, prompt: r.prompt, output: r.output,
    extracted: r.extracted, score: r.score, correct: nb(r.correct), noAnswer: nb(r.no_answer), detectedLang: r.detected_lang, consistent: nb(r.consistent),
    loglik: r.loglik === null ? null : (JSON.parse(r.loglik) as unknown), numTokens: r.num_tokens, finishReason: r.finish_reason,
    routing: r.routing === null ? null : (JSON.parse(r.routing) as Record<string, (number | null)[]>),
    extra: r.extra === null ? null : (JSON.parse(r.extra) as Record<string, unknown>),
  }));
}
