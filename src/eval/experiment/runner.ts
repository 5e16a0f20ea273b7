/**
 * The experiment job: a deterministic list of units (a batch of items x one sample x one arm), each run through
 * the engine and committed in one transaction. Units are ordered item-batch first, so an interrupted run holds
 * every arm for its first items (paired comparisons stay possible). A resumed run skips every stored unit, checks
 * that the spec, the model folder, the dataset and every arm's plan are what the run started with, and naming the
 * first field that differs when they are not.
 */
import { hostname } from 'node:os';
import { loadDataset, DatasetError, type Dataset } from '../../datasets/index.js';
import { engineVersion } from '../../capture/engine-backend.js';
import { EngineError } from '../../engine/errors.js';
import { loadEngine, type EngineCalls, type SessionOptions, type SteeringInput } from '../../engine/index.js';
import {
  claimExperiment, createExperiment, experimentArms, experimentWorkerAlive, getExperiment, modelFingerprint, resultKey, setExperimentStatus,
  storedResultKeys, writeResults, StoreError, type Store,
} from '../../store/index.js';
import { createScorer, type Scorer } from '../scoring/index.js';
import { ArmError, resolveArms, type ResolvedArm } from './arms.js';
import { canonicalJson, firstDifference, type ExperimentSpec } from './spec.js';
import { ExperimentError, NoopArmError, prepareItems, runUnit, type PreparedItem, type WorkItem } from './tasks.js';
import { createHash } from 'node:crypto';

export { ExperimentError, NoopArmError } from './tasks.js';

export interface ArmProgress {
  itemsDone: number;
  itemsTotal: number;
}

export interface ExperimentProgress {
  experimentId: number;
  unitsDone: number;
  unitsTotal: number;
  /** Results (arm x item x sample) stored so far, and in all. */
  resultsDone: number;
  resultsTotal: number;
  perArm: Record<string, ArmProgress>;
  /** The arm of the unit just stored. */
  arm: string;
  /** Tokens processed (prompt and scored, or generated) per second in this session. */
  tokensPerSecond: number;
  etaSeconds: number | null;
  elapsedMs: number;
}

export interface ExperimentRunResult {
  experimentId: number;
  status: 'completed' | 'cancelled';
  resultsDone: number;
  resultsTotal: number;
}

export interface RunExperimentOptions {
  store: Store;
  spec: ExperimentSpec;
  /** Continue this experiment (its stored spec must equal `spec`). */
  resumeId?: number;
  /** An already loaded engine for spec.model (the caller keeps it); otherwise one is loaded and released. */
  engine?: EngineCalls;
  /**
   * How the engine is loaded when none is given (default loadEngine, on this thread): `routescope serve` loads a proxy
   * of an engine in a worker thread (src/capture/worker-engine.ts), so its event loop stays free during forward passes.
   */
  loadEngine?: (dir: string, options?: SessionOptions) => Promise<EngineCalls>;
  engineOptions?: SessionOptions;
  /** Scorer for generate/translate; default createScorer(). */
  scorer?: Scorer;
  signal?: AbortSignal;
  onProgress?: (p: ExperimentProgress) => void;
  log?: (line: string) => void;
}

interface Unit {
  arm: ResolvedArm;
  sample: number;
  items: WorkItem[];
}

/** The items of the run: per language, the dataset's aligned ids (translate: every language but the source). */
export function workItems(spec: ExperimentSpec, dataset: Dataset): WorkItem[] {
  const langs = spec.task === 'translate' ? spec.dataset.languages.filter((l) => l !== spec.translate!.source) : spec.dataset.languages;
  // The loader already applied dataset.limit (per level for a multi-level PolyMath split).
  const ids = dataset.ids;
  return langs.flatMap((language) => ids.map((id, index) => ({ language, id, index })));
}

function units(spec: ExperimentSpec, work: WorkItem[], arms: ResolvedArm[]): Unit[] {
  const out: Unit[] = [];
  const samples = spec.task === 'generate' || spec.task === 'translate' ? spec.decoding.samples : 1;
  for (const language of [...new Set(work.map((w) => w.language))]) {
    const mine = work.filter((w) => w.language === language);
    for (let i = 0; i < mine.length; i += spec.batchSize) {
      const items = mine.slice(i, i + spec.batchSize);
      for (let sample = 0; sample < samples; sample++) for (const arm of arms) out.push({ arm, sample, items });
    }
  }
  return out;
}

export async function loadExperimentDataset(spec: ExperimentSpec): Promise<Dataset> {
  try {
    const d = await loadDataset(spec.dataset.kind, spec.dataset.path, { languages: spec.dataset.languages, split: spec.dataset.split, limit: spec.dataset.limit });
    const missing = spec.dataset.languages.filter((l) => !d.languages.includes(l));
    if (missing.length) throw new ExperimentError(`dataset.languages: ${missing.join(', ')} not loaded from ${d.source} (loaded: ${d.languages.join(', ')})`);
    return d;
  } catch (err) {
    if (err instanceof DatasetError) throw new ExperimentError(`dataset: ${err.message}`, { cause: err });
    throw err;
  }
}

/**
 * Stops the run when an arm would silently change nothing: on the first `n` items, every plan or recipe arm must
 * route some real token of some layer to a different set of experts than the baseline. Random controls are exempt
 * (a random draw that changes nothing is a legitimate control outcome); their names are returned so the caller can
 * say so.
 */
export async function checkArmsChangeRouting(engine: EngineCalls, arms: ResolvedArm[], prepared: PreparedItem[], n: number): Promise<string[]> {
  const treated = arms.filter((a) => a.kind !== 'baseline' && !a.allowNoop);
  if (treated.length === 0) return [];
  const rows = prepared.slice(0, n).map((p) => [...p.promptIds, ...(p.continuations[0] ?? [])]);
  const T = Math.max(...rows.map((r) => r.length));
  const padId = engine.tokenizer?.padId ?? engine.tokenizer?.eosIds[0] ?? 0;
  const ids = rows.map((r) => [...Array<number>(T - r.length).fill(padId), ...r]);
  const mask = rows.map((r) => [...Array<number>(T - r.length).fill(0), ...Array<number>(r.length).fill(1)]);
  const route = (steering?: SteeringInput) => engine.forward(ids, { attentionMask: mask, steering, capture: true, routerLogits: false, logits: 'none' });
  const base = (await route()).routing!;
  const k = engine.info.topK;
  const unchangedRandom: string[] = [];
  for (const arm of treated) {
    const r = (await route(arm.steering)).routing!;
    let changed = false;
    outer: for (let l = 0; l < r.length; l++) {
      for (let b = 0; b < rows.length; b++) {
        for (let t = T - rows[b]!.length; t < T; t++) {
          const at = (b * T + t) * k;
          const x = new Set(base[l]!.experts.subarray(at, at + k));
          for (const e of r[l]!.experts.subarray(at, at + k)) {
            if (!x.has(e)) {
              changed = true;
              break outer;
            }
          }
        }
      }
    }
    if (changed) continue;
    if (arm.kind === 'random') {
      unchangedRandom.push(arm.name);
      continue;
    }
    throw new NoopArmError(
      `arm '${arm.name}' changes no routing decision on the first ${rows.length} item(s): every token's chosen experts equal the baseline's in every layer. ` +
        `Its plan (${arm.source}) is a silent no-op here (too small a lambda, or layers/experts that never matter); fix the plan, or raise noop_check_items if it acts only on later items`,
      arm.name,
    );
  }
  return unchangedRandom;
}

function isAbort(err: unknown, signal?: AbortSignal): boolean {
  return !!signal?.aborted || (err as { name?: string })?.name === 'AbortError';
}

/** Spec as stored (JSON round trip, so comparisons see what the database holds). */
function storedForm(spec: ExperimentSpec): unknown {
  return JSON.parse(JSON.stringify(spec)) as unknown;
}

export function specHash(spec: ExperimentSpec): string {
  return `sha256:${createHash('sha256').update(canonicalJson(storedForm(spec))).digest('hex')}`;
}

export async function runExperiment(o: RunExperimentOptions): Promise<ExperimentRunResult> {
  const log = o.log ?? (() => {});
  const { spec, store } = o;
  let previous: ReturnType<typeof getExperiment> | undefined;
  if (o.resumeId !== undefined) {
    previous = getExperiment(store, o.resumeId);
    if (previous.status === 'completed') throw new ExperimentError(`experiment ${previous.id} is already completed`);
    const diff = firstDifference(previous.spec, storedForm(spec));
    if (diff !== null) {
      throw new ExperimentError(`experiment ${previous.id} cannot be resumed with this spec: field '${diff}' differs from the spec it was started with (start a new experiment to change it)`);
    }
    if (experimentWorkerAlive(previous)) throw new ExperimentError(`experiment ${previous.id} is being run right now by process ${previous.workerPid} on ${hostname()}; cancel that one first`);
  }
  const fingerprint = modelFingerprint(spec.model);
  if (previous && previous.modelFingerprint !== fingerprint) {
    throw new ExperimentError(`experiment ${previous.id}: the model folder ${spec.model} changed since the run started (fingerprint ${previous.modelFingerprint}, now ${fingerprint}); start a new experiment`);
  }
  const dataset = await loadExperimentDataset(spec);
  if (previous && previous.datasetFingerprint !== dataset.fingerprint) {
    throw new ExperimentError(`experiment ${previous.id}: the dataset (${dataset.source}) changed since the run started (fingerprint differs); start a new experiment`);
  }
  const engine = o.engine ?? (await (o.loadEngine ?? loadEngine)(spec.model, o.engineOptions));
  try {
    // One experiment, one precision: arms compared across precisions would measure the quantisation, not the plan.
    const precision = engine.info.precision?.name;
    if (previous && previous.precision !== null && precision !== undefined && previous.precision !== precision) {
      throw new ExperimentError(
        `experiment ${previous.id} ran at precision ${previous.precision}; resuming it at ${precision} would mix precisions in one experiment: load the model with --precision ${previous.precision}, or start a new experiment`,
      );
    }
    let arms: ResolvedArm[];
    try {
      arms = resolveArms(spec, engine.steeringModel);
    } catch (err) {
      if (err instanceof ArmError) throw new ExperimentError(err.message, { cause: err });
      throw err;
    }
    const work = workItems(spec, dataset);
    const prepared = prepareItems(engine, spec, dataset, work);
    const byKey = new Map(prepared.map((p) => [`${p.language}\u0000${p.id}`, p]));
    const list = units(spec, work, arms);
    let id: number;
    if (previous) {
      id = previous.id;
      const stored = experimentArms(store, id);
      for (const a of arms) {
        const s = stored.find((x) => x.name === a.name);
        if (!s) throw new ExperimentError(`experiment ${id}: arm '${a.name}' is not one the run started with`);
        if (s.planHash !== a.planHash) throw new ExperimentError(`experiment ${id}: the plan of arm '${a.name}' (${a.source}) changed since the run started (plan hash ${s.planHash}, now ${a.planHash}); start a new experiment`);
      }
    } else {
      const unchanged = await checkArmsChangeRouting(engine, arms, prepared, spec.noopCheckItems);
      if (unchanged.length) log(`note: random control${unchanged.length > 1 ? 's' : ''} ${unchanged.join(', ')} change${unchanged.length > 1 ? '' : 's'} no routing decision on the first ${Math.min(spec.noopCheckItems, prepared.length)} items (a legitimate control outcome; measured anyway)`);
      id = createExperiment(store, {
        name: spec.name, task: spec.task, spec: storedForm(spec), specHash: specHash(spec), modelPath: spec.model, modelFingerprint: fingerprint,
        datasetFingerprint: dataset.fingerprint, engineVersion: engineVersion(), executionProvider: engine.info.executionProvider.name, ...(precision ? { precision } : {}), unitsTotal: list.length,
        arms: arms.map((a, index) => ({ index, name: a.name, kind: a.kind, source: a.source, plan: a.plan, planHash: a.planHash, experts: a.experts })),
      });
      log(`experiment ${id}: ${arms.length} arms x ${work.length} items, ${list.length} units`);
    }
    const scorer = spec.task === 'generate' || spec.task === 'translate' ? (o.scorer ?? (await createScorer())) : undefined;
    return await loop(o, id, engine, arms, list, byKey, scorer);
  } finally {
    if (!o.engine) await engine.dispose();
  }
}

async function loop(
  o: RunExperimentOptions, id: number, engine: EngineCalls, arms: ResolvedArm[], list: Unit[], byKey: Map<string, PreparedItem>, scorer: Scorer | undefined,
): Promise<ExperimentRunResult> {
  const { store, spec, signal } = o;
  const done = storedResultKeys(store, id);
  const keysOf = (u: Unit) => u.items.map((w) => resultKey(u.arm.name, w.language, w.id, u.sample));
  const resultsTotal = list.reduce((s, u) => s + u.items.length, 0);
  const perArm: Record<string, ArmProgress> = Object.fromEntries(arms.map((a) => [a.name, { itemsDone: 0, itemsTotal: 0 }]));
  const pending: Unit[] = [];
  let resultsDone = 0;
  let unitsDone = 0;
  for (const u of list) {
    const keys = keysOf(u);
    const stored = keys.filter((k) => done.has(k)).length;
    perArm[u.arm.name]!.itemsTotal += keys.length;
    if (stored === keys.length) {
      unitsDone++;
      resultsDone += stored;
      perArm[u.arm.name]!.itemsDone += stored;
    } else if (stored === 0) pending.push(u);
    else throw new ExperimentError(`experiment ${id}: a unit of arm '${u.arm.name}' is partly stored (${stored} of ${keys.length}); the stored results no longer match the spec's batches`);
  }
  const treatments = arms.filter((a) => a.kind !== 'baseline');
  claimExperiment(store, id);
  const t0 = performance.now();
  let sessionTokens = 0;
  let sessionUnits = 0;
  try {
    for (const u of pending) {
      if (signal?.aborted) throw signal.reason ?? new DOMException('cancelled', 'AbortError');
      const items = u.items.map((w) => byKey.get(`${w.language}\u0000${w.id}`)!);
      const { rows, tokens } = await runUnit({ engine, spec, arm: u.arm, treatments, sample: u.sample, scorer, signal }, items);
      if (signal?.aborted) throw signal.reason ?? new DOMException('cancelled', 'AbortError');
      writeResults(store, id, rows);
      unitsDone++;
      sessionUnits++;
      resultsDone += rows.length;
      perArm[u.arm.name]!.itemsDone += rows.length;
      sessionTokens += tokens;
      const elapsedMs = performance.now() - t0;
      o.onProgress?.({
        experimentId: id, unitsDone, unitsTotal: list.length, resultsDone, resultsTotal, perArm, arm: u.arm.name,
        tokensPerSecond: sessionTokens / Math.max(elapsedMs / 1000, 1e-9),
        etaSeconds: ((list.length - unitsDone) * elapsedMs) / sessionUnits / 1000,
        elapsedMs,
      });
    }
  } catch (err) {
    if (isAbort(err, signal) || (err instanceof EngineError && signal?.aborted)) {
      setExperimentStatus(store, id, 'cancelled');
      return { experimentId: id, status: 'cancelled', resultsDone, resultsTotal };
    }
    const message = (err as Error).message ?? String(err);
    try {
      setExperimentStatus(store, id, 'failed', message);
    } catch {
      // The store may be what failed; the original error is the one to report.
    }
    if (err instanceof ExperimentError || err instanceof StoreError) throw err;
    throw new ExperimentError(`experiment ${id} failed: ${message}`, { cause: err });
  }
  setExperimentStatus(store, id, 'completed');
  return { experimentId: id, status: 'completed', resultsDone, resultsTotal };
}
