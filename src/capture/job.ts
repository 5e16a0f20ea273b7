/**
 * The capture job: walks a dataset in fixed batches, routes each batch through a backend and commits it to the
 * store atomically (traces + aggregates + progress). Batches are fixed slices of a deterministic work list, and
 * the batch size is stored with the run, so a resumed run redoes exactly the batches that never committed and ends
 * with the same aggregates as an uninterrupted one.
 */
import { hostname } from 'node:os';
import type { Dataset } from '../datasets/types.js';
import { getTemplate } from '../datasets/templates.js';
import {
  Store, StoreError, createRun, describeModelChanges, getRun, legacyModelFingerprint, listRuns, markWorking, processIdentity, setRunStatus, storedKeys, sequenceKey, writeBatch,
  type RunRecord, type TraceSequence,
} from '../store/index.js';
import type { CaptureBackend, CaptureModel, EncodedPrompt } from './backend.js';

export class CaptureError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CaptureError';
  }
}

export interface CaptureProgress {
  runId: number;
  batchNo: number;
  batchesDone: number;
  batchesTotal: number;
  sequencesDone: number;
  sequencesTotal: number;
  tokensDone: number;
  /** Throughput of this session (since start or resume). */
  tokensPerSecond: number;
  /** Remaining time at this session's pace; null before the first batch. */
  etaSeconds: number | null;
  elapsedMs: number;
}

export interface CaptureResult {
  runId: number;
  status: 'completed' | 'cancelled';
  sequencesDone: number;
  tokensDone: number;
}

export interface StartCaptureOptions {
  store: Store;
  backend: CaptureBackend;
  dataset: Dataset;
  languages?: string[];
  /** Prompt template name (src/datasets/templates.ts); default the dataset's. */
  template?: string;
  /** First N aligned items per language. */
  limit?: number;
  /** Prompts per batch (default 8). */
  batchSize?: number;
  seed?: number;
  plan?: unknown;
  storeLogits?: boolean;
  projectName?: string;
  name?: string;
  signal?: AbortSignal;
  onProgress?: (p: CaptureProgress) => void;
}

export interface ResumeCaptureOptions {
  store: Store;
  backend: CaptureBackend;
  dataset: Dataset;
  runId: number;
  signal?: AbortSignal;
  onProgress?: (p: CaptureProgress) => void;
}

interface WorkItem {
  language: string;
  id: string;
  index: number;
}

/** One job per model at a time in this process: two captures on one GPU would only fight for memory. */
const activeModels = new Set<string>();

function workList(dataset: Dataset, languages: string[], limit: number | null): WorkItem[] {
  const ids = limit ? dataset.ids.slice(0, limit) : dataset.ids;
  return languages.flatMap((language) => ids.map((id, index) => ({ language, id, index })));
}

export async function startCapture(o: StartCaptureOptions): Promise<CaptureResult> {
  const languages = o.languages ?? o.dataset.languages;
  for (const l of languages) {
    if (!o.dataset.languages.includes(l)) throw new CaptureError(`language '${l}' is not loaded in dataset ${o.dataset.name} (loaded: ${o.dataset.languages.join(', ')})`);
  }
  const template = o.template ?? o.dataset.defaultTemplate;
  getTemplate(template); // unknown names fail before a run is created
  const batchSize = o.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new CaptureError(`batch size must be a positive integer, got ${o.batchSize}`);
  if (o.limit !== undefined && (!Number.isInteger(o.limit) || o.limit <= 0)) throw new CaptureError(`limit must be a positive integer, got ${o.limit}`);
  const m = o.backend.model;
  if (activeModels.has(`${m.fingerprint}@${m.executionProvider}`)) {
    throw new CaptureError(`another capture is already running on model ${m.path} (${m.executionProvider}); wait for it or cancel it`);
  }
  const total = workList(o.dataset, languages, o.limit ?? null).length;
  const runId = createRun(o.store, {
    projectName: o.projectName,
    name: o.name,
    model: { path: m.path, name: m.name, architecture: m.architecture, numMoeLayers: m.numMoeLayers, moeLayers: m.moeLayers, numExperts: m.numExperts, topK: m.topK, fingerprint: m.fingerprint, fingerprintDetail: m.fingerprintDetail },
    dataset: { kind: o.dataset.kind, source: o.dataset.source, languages: o.dataset.languages, itemCount: o.dataset.ids.length, fingerprint: o.dataset.fingerprint },
    languages, promptTemplate: template, plan: o.plan, seed: o.seed, engineVersion: m.engineVersion, executionProvider: m.executionProvider,
    precision: m.precision, numMoeLayers: m.numMoeLayers, moeLayers: m.moeLayers, numExperts: m.numExperts, topK: m.topK, storeLogits: o.storeLogits,
    itemLimit: o.limit, batchSize, sequencesTotal: total,
  });
  return runLoop(o.store, o.backend, o.dataset, getRun(o.store, runId), o.signal, o.onProgress);
}

export async function resumeCapture(o: ResumeCaptureOptions): Promise<CaptureResult> {
  const run = getRun(o.store, o.runId);
  if (run.status === 'completed') throw new CaptureError(`run ${run.id} is already completed`);
  if (run.source !== 'capture') throw new CaptureError(`run ${run.id} was ${run.source === 'recorder' ? 'imported from recorder files' : 'imported'}, not captured; it cannot be resumed`);
  const m = o.backend.model;
  const changed = run.model ? modelChanges(run.model, m) : null;
  if (changed) {
    throw new CaptureError(`run ${run.id} was captured with a different model than ${m.path} holds now (${changed}); resuming would mix two models in one run: start a new run`);
  }
  if (run.dataset && run.dataset.fingerprint !== o.dataset.fingerprint) {
    throw new CaptureError(`run ${run.id} was captured on dataset ${run.dataset.source} with fingerprint ${run.dataset.fingerprint}; the dataset given now differs (${o.dataset.fingerprint}): load the same files, languages and options`);
  }
  if (run.precision !== null && m.precision !== undefined && run.precision !== m.precision) {
    throw new CaptureError(`run ${run.id} was captured at precision ${run.precision}; resuming it at ${m.precision} would mix precisions in one run: load the model with --precision ${run.precision}, or start a new run`);
  }
  if (run.status === 'running' && run.worker?.state === 'alive') {
    throw new CaptureError(`run ${run.id} is being captured right now by another process on this machine (pid ${run.worker.pid}); cancel that one first`);
  }
  return runLoop(o.store, o.backend, o.dataset, run, o.signal, o.onProgress);
}

/** Why the backend's model is not the one a run was captured with, or null when it is the same. */
function modelChanges(was: NonNullable<RunRecord['model']>, now: CaptureModel): string | null {
  if (was.fingerprint === now.fingerprint) return null;
  if (was.fingerprintDetail && now.fingerprintDetail) {
    return describeModelChanges(was.fingerprintDetail, now.fingerprintDetail).join('; ') || `fingerprint ${was.fingerprint} -> ${now.fingerprint}`;
  }
  if (!was.fingerprintDetail && now.fingerprintDetail) {
    // Recorded before schema 2, when the fingerprint covered config.json and safetensors headers only: that much
    // can still be checked.
    try {
      if (legacyModelFingerprint(now.path) === was.fingerprint) return null;
    } catch {
      // The folder cannot be read the old way; report the difference below.
    }
    return `config.json or the safetensors headers differ from ${was.path}'s when the run started`;
  }
  return `fingerprint ${was.fingerprint} -> ${now.fingerprint}`;
}

/**
 * The most recent run that `startCapture(o)` would recreate exactly (same model and dataset fingerprints,
 * languages, template, limit, batch size, plan, logits, seed, name and project) and that never completed: rerunning
 * an identical command should continue it rather than start again from zero.
 */
export function findUnfinishedRun(o: Omit<StartCaptureOptions, 'signal' | 'onProgress'>): RunRecord | null {
  const languages = o.languages ?? o.dataset.languages;
  const template = o.template ?? o.dataset.defaultTemplate;
  const m = o.backend.model;
  const same = (r: RunRecord) =>
    r.source === 'capture' && r.status !== 'completed' && r.model?.fingerprint === m.fingerprint && r.model.path === m.path &&
    r.dataset?.fingerprint === o.dataset.fingerprint && JSON.stringify(r.languages) === JSON.stringify(languages) &&
    r.promptTemplate === template && r.itemLimit === (o.limit ?? null) && r.batchSize === (o.batchSize ?? 8) &&
    JSON.stringify(r.plan) === JSON.stringify(o.plan ?? null) && r.storeLogits === (o.storeLogits ?? false) &&
    r.seed === (o.seed ?? null) && r.name === (o.name ?? null) && r.projectName === (o.projectName ?? null);
  return listRuns(o.store).filter(same).at(-1) ?? null;
}

function isAbort(err: unknown, signal?: AbortSignal): boolean {
  return !!signal?.aborted || (err as { name?: string })?.name === 'AbortError';
}

async function runLoop(store: Store, backend: CaptureBackend, dataset: Dataset, run: RunRecord, signal?: AbortSignal, onProgress?: (p: CaptureProgress) => void): Promise<CaptureResult> {
  const modelKey = `${backend.model.fingerprint}@${backend.model.executionProvider}`;
  if (activeModels.has(modelKey)) throw new CaptureError(`another capture is already running on model ${backend.model.path} (${backend.model.executionProvider}); wait for it or cancel it`);
  activeModels.add(modelKey);
  markWorking(store.file, run.id, true);
  try {
    return await loop(store, backend, dataset, run, signal, onProgress);
  } finally {
    markWorking(store.file, run.id, false);
    activeModels.delete(modelKey);
  }
}

async function loop(store: Store, backend: CaptureBackend, dataset: Dataset, run: RunRecord, signal?: AbortSignal, onProgress?: (p: CaptureProgress) => void): Promise<CaptureResult> {
  const m = backend.model;
  if (m.numMoeLayers !== run.numMoeLayers || m.numExperts !== run.numExperts || m.topK !== run.topK) {
    throw new CaptureError(`backend model has ${m.numMoeLayers} MoE layers x ${m.numExperts} experts, top-${m.topK}; run ${run.id} expects ${run.numMoeLayers} x ${run.numExperts}, top-${run.topK}`);
  }
  const template = getTemplate(run.promptTemplate);
  const batchSize = run.batchSize ?? 8;
  const work = workList(dataset, run.languages, run.itemLimit);
  const batches: WorkItem[][] = [];
  for (let i = 0; i < work.length; i += batchSize) batches.push(work.slice(i, i + batchSize));
  const done = storedKeys(store, run.id);
  setRunStatus(store, run.id, 'running');
  store.write(`recording the worker of run ${run.id}`, () => {
    store.db
      .prepare('UPDATE capture_run SET worker_host = ?, worker_pid = ?, worker_started = ? WHERE id = ?')
      .run(hostname(), process.pid, processIdentity(process.pid), run.id);
  });
  const t0 = performance.now();
  let sessionTokens = 0;
  let sessionSeqs = 0;
  let sequencesDone = done.size;
  let tokensDone = run.tokensDone;
  let batchesDone = 0;
  const pending: number[] = [];
  batches.forEach((b, i) => {
    const stored = b.filter((w) => done.has(sequenceKey(w.language, w.id))).length;
    if (stored === b.length) batchesDone++;
    else if (stored === 0) pending.push(i);
    else throw new CaptureError(`run ${run.id}: batch ${i} is partly stored (${stored} of ${b.length}); the run's batches no longer match the dataset`);
  });
  try {
    for (const batchNo of pending) {
      if (signal?.aborted) throw signal.reason ?? new DOMException('cancelled', 'AbortError');
      const items = batches[batchNo]!;
      const bt = performance.now();
      const encoded: EncodedPrompt[] = [];
      for (const w of items) {
        const prompt = template.render(dataset.item(w.language, w.id));
        const enc = await backend.encode(prompt);
        if (enc.ids.length === 0) throw new CaptureError(`${w.language} item ${w.id} encodes to no tokens`);
        if (enc.templateMask.length !== enc.ids.length) throw new CaptureError(`backend encode: ${enc.templateMask.length} template-mask entries for ${enc.ids.length} tokens`);
        encoded.push(enc);
      }
      const routed = await backend.route(encoded.map((e) => e.ids), { withLogits: run.storeLogits, signal, plan: run.plan ?? undefined });
      if (routed.length !== items.length) throw new CaptureError(`backend route returned ${routed.length} results for ${items.length} prompts`);
      if (signal?.aborted) throw signal.reason ?? new DOMException('cancelled', 'AbortError');
      const seqs: TraceSequence[] = items.map((w, i) => ({
        language: w.language, itemId: w.id, itemIndex: w.index, tokenIds: encoded[i]!.ids, templateMask: encoded[i]!.templateMask,
        expertIds: routed[i]!.expertIds, gateWeights: routed[i]!.gateWeights, routerLogits: routed[i]!.routerLogits,
      }));
      const res = writeBatch(store, run.id, batchNo, seqs, performance.now() - bt);
      batchesDone++;
      sequencesDone += res.sequences;
      tokensDone += res.tokens;
      sessionTokens += res.tokens;
      sessionSeqs += res.sequences;
      const elapsedMs = performance.now() - t0;
      const remaining = work.length - sequencesDone;
      onProgress?.({
        runId: run.id, batchNo, batchesDone, batchesTotal: batches.length, sequencesDone, sequencesTotal: work.length, tokensDone,
        tokensPerSecond: sessionTokens / Math.max(elapsedMs / 1000, 1e-9),
        etaSeconds: sessionSeqs > 0 ? (remaining * elapsedMs) / sessionSeqs / 1000 : null,
        elapsedMs,
      });
    }
  } catch (err) {
    if (isAbort(err, signal)) {
      setRunStatus(store, run.id, 'cancelled');
      return { runId: run.id, status: 'cancelled', sequencesDone, tokensDone };
    }
    const message = (err as Error).message ?? String(err);
    try {
      setRunStatus(store, run.id, 'failed', message);
    } catch {
      // The store itself may be what failed (disk full, locked); the original error is the one to report.
    }
    if (err instanceof StoreError || err instanceof CaptureError) throw err;
    throw new CaptureError(`run ${run.id} failed: ${message}`, { cause: err });
  }
  setRunStatus(store, run.id, 'completed');
  return { runId: run.id, status: 'completed', sequencesDone, tokensDone };
}
