/**
 * The workbench's experiments: an A/B run defined from saved plans (src/api/plans-service.ts) and a dataset,
 * turned into an experiment spec (src/eval/experiment/spec.ts, the same document `routescope experiment run`
 * reads) and run as a persisted job through the experiment core's resumable runner; results read back through
 * its report (src/eval/experiment/report.ts, whose statistics come from src/eval/stats). The runner's engine lives in
 * a worker thread (src/capture/worker-engine.ts) unless this service is made with 'in-process'.
 */
import { WorkerEngine } from '../capture/worker-engine.js';
import type { EngineMode } from '../capture/engine-thread.js';
import { DATASET_KINDS } from '../datasets/index.js';
import { experimentReport, parseExperimentSpec, runExperiment, type ExperimentProgress, type ExperimentSpec } from '../eval/experiment/index.js';
import { ExperimentSpecError } from '../eval/experiment/spec.js';
import {
  deleteExperiment, experimentResults, experimentWorkerAlive, getExperiment, getPlan, getRun, listExperiments, readDerived, renameExperiment, writeDerived,
  type ExperimentRecord, type ExperimentResult, type Store,
} from '../store/index.js';
import type { ApiArgs } from './contract.js';
import { ApiError } from './errors.js';
import type { JobContext, JobRegistry } from './jobs.js';
import { sweepDocument, sweepView } from './experiments-sweep.js';
import type { ExperimentSummary, ExperimentView, ItemRow } from './schemas/experiments.js';
import type { JobInfo } from './schemas/jobs.js';
import type { Workspace } from './workspace.js';

/** The spec parser's field path as the API names it: the sweep's grid is the `sweep` argument, dev_split is devSplit. */
function apiField(specField: string): string {
  return specField.replace(/^sweeps(\[0\]|\([^)]*\))\.grid\./, 'sweep.').replace(/^sweeps(\[0\]|\([^)]*\))/, 'sweep').replace(/^dev_split/, 'devSplit') || 'spec';
}

/** Readings kept: the CLI's defaults (seed 2025, 10,000 resamples) are costly enough to compute once per change. */
const READINGS_KEPT = 16;
/** The report and its summary only; per-item results are re-read (cheap), so a kept reading stays small. */
type Reading = Omit<ReturnType<typeof experimentReport>, 'results'>;
/**
 * The layout of a reading kept in the project database (experiment_derived 'report:cli'): bump it when the report's
 * or summary's shape changes (src/eval/experiment/report.ts), so older rows are recomputed rather than misread.
 */
export const READING_FORMAT = 1;
const READING_KEY = 'report:cli';

/** The experiment's state its report depends on: a stored unit, a status, a rename, the results themselves. */
function readingStamp(store: Store, rec: ExperimentRecord): string {
  const results = store.read('counting experiment results', () => (store.db.prepare('SELECT count(*) AS n FROM experiment_result WHERE experiment_id = ?').get(rec.id) as { n: number }).n);
  return JSON.stringify([rec.createdAt, rec.updatedAt, rec.unitsDone, rec.status, rec.name, results]);
}

/** `runningHere`: a job of this process runs it (the worker check only sees other processes). */
function summaryOf(e: ExperimentRecord, runningHere: boolean): ExperimentSummary {
  const status = e.status === 'running' && !runningHere && !experimentWorkerAlive(e) ? 'interrupted' : e.status;
  return {
    id: e.id, name: e.name, task: e.task, status, error: e.error, unitsDone: e.unitsDone, unitsTotal: e.unitsTotal, createdAt: e.createdAt,
    resumable: status === 'cancelled' || status === 'failed' || status === 'interrupted',
  };
}

/** Arm and experiment names follow the spec's rule (letters, digits and _ . : = , + -). */
function slug(name: string): string {
  const s = name.trim().replace(/[^\w.:=,+-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return s || 'experiment';
}

export class ExperimentService {
  /** projectId/experimentId -> the reading and the record state it was computed from. */
  private readonly readings = new Map<string, { stamp: string; reading: Reading }>();
  /** Reports computed, and reports read back from the project database: diagnostics for tests. */
  computations = 0;
  keptReads = 0;

  constructor(
    private readonly workspace: Workspace,
    private readonly jobs: JobRegistry,
    private readonly engineMode: EngineMode = 'worker',
  ) {}

  private datasetSpec(store: Store, ref: string, languages: string[], limit: number): Record<string, unknown> {
    if (ref === 'udhr') return { kind: 'udhr', split: 'heldout', languages, limit };
    const row = store.read('reading a dataset', () => store.db.prepare('SELECT kind, source FROM dataset WHERE id = ?').get(Number(ref.slice(1))) as { kind: string; source: string } | undefined);
    if (!row || row.kind === 'udhr' || !(row.kind in DATASET_KINDS)) throw new ApiError('not-found', `dataset ${ref} is not in this project`, { dataset: ref });
    return { kind: row.kind, path: row.source, languages, limit };
  }

  /** The spec document of an A/B run or sweep, checked by the experiment core's parser (a bad field is named). */
  buildSpec(store: Store, a: ApiArgs<'experiments.start'>): ExperimentSpec {
    if (a.planIds.length === 0 && !a.sweep) throw new ApiError('invalid-argument', 'experiments.start: planIds: choose at least one plan, or define a sweep', { field: 'planIds' });
    const plans = a.planIds.map((id) => getPlan(store, id));
    const models = new Set<string>();
    for (const p of plans) {
      if (p.runId === null) throw new ApiError('invalid-argument', `plan ${p.id} (${p.name}): the run it was built from was deleted, so its model is unknown`, { planId: String(p.id) });
      const run = getRun(store, p.runId);
      if (!run.model) throw new ApiError('invalid-argument', `plan ${p.id}: run ${run.id} records no model folder`, { planId: String(p.id) });
      models.add(run.model.path);
    }
    const sweep = a.sweep ? sweepDocument(store, a.sweep) : null;
    if (sweep) models.add(sweep.model);
    if (models.size > 1) throw new ApiError('invalid-argument', `the plans come from runs of different models (${[...models].join(', ')}); an experiment runs one model`, { field: a.sweep ? 'sweep.planId' : 'planIds' });
    const arms: unknown[] = [{ kind: 'baseline' }, ...plans.map((p) => ({ kind: 'plan', name: `plan-${p.id}`, plan: p.plan }))];
    const seeds = a.randomSeeds ?? [];
    if (seeds.length > 20) throw new ApiError('invalid-argument', `experiments.start: at most 20 random controls, got ${seeds.length}`, { field: 'randomSeeds' });
    if (seeds.length && plans.length === 0) throw new ApiError('invalid-argument', 'experiments.start: randomSeeds: random controls match the first chosen plan; choose a plan or give no seeds', { field: 'randomSeeds' });
    if (seeds.length) arms.push({ kind: 'random', name: 'random', of: `plan-${plans[0]!.id}`, seeds });
    const doc: Record<string, unknown> = {
      name: slug(a.name), description: a.name, model: [...models][0], dataset: this.datasetSpec(store, a.dataset, a.languages, a.limit), task: a.task, arms,
      ...(a.task === 'generate' ? { decoding: { max_new_tokens: a.maxNewTokens ?? 64 } } : {}),
      ...(sweep ? { sweeps: [sweep.doc] } : {}),
      ...(a.devSplit ? { dev_split: { fraction: a.devSplit.fraction, seed: a.devSplit.seed ?? 0 } } : {}),
    };
    if (a.devSplit && a.limit * a.languages.length < 2) throw new ApiError('invalid-argument', 'experiments.start: devSplit: a dev/test split needs at least 2 items', { field: 'devSplit' });
    try {
      return parseExperimentSpec(doc);
    } catch (err) {
      const field = err instanceof ExperimentSpecError ? apiField(err.field) : 'spec';
      throw new ApiError('invalid-argument', `experiments.start: ${(err as Error).message}`, { field });
    }
  }

  start(a: ApiArgs<'experiments.start'>): JobInfo {
    const spec = this.workspace.with(a.projectId, (store) => this.buildSpec(store, a));
    return this.run(a.projectId, spec, undefined, { ...a });
  }

  private runningHere(projectId: string, id: number): boolean {
    return this.jobs.running(projectId).some((j) => j.kind === 'experiment' && j.experimentId === id);
  }

  resume(a: ApiArgs<'experiments.resume'>): JobInfo {
    const rec = this.workspace.with(a.projectId, (store) => getExperiment(store, a.experimentId));
    const s = summaryOf(rec, this.runningHere(a.projectId, rec.id));
    if (!s.resumable) throw new ApiError('conflict', `experiment ${rec.id} is ${s.status}; only a cancelled, failed or interrupted experiment resumes`, { experimentId: String(rec.id) });
    return this.run(a.projectId, rec.spec as ExperimentSpec, rec.id, { projectId: a.projectId, experimentId: rec.id, resume: true });
  }

  private run(projectId: string, spec: ExperimentSpec, resumeId: number | undefined, params: unknown): JobInfo {
    const busy = this.jobs.running(projectId).find((j) => j.kind === 'experiment');
    if (busy) throw new ApiError('conflict', `an experiment is already running in this project (job ${busy.id}); wait for it or cancel it`, { jobId: busy.id });
    return this.jobs.start({ kind: 'experiment', projectId, params }, async (ctx: JobContext) => {
      const store = this.workspace.open(projectId);
      try {
        ctx.progress({ message: `loading the model ${spec.model}` });
        if (resumeId !== undefined) ctx.setExperiment(resumeId);
        const r = await runExperiment({
          store, spec, resumeId, signal: ctx.signal,
          ...(this.engineMode === 'worker' ? { loadEngine: (dir: string) => WorkerEngine.load(dir) } : {}),
          log: (line) => ctx.progress({ message: line }),
          onProgress: (p: ExperimentProgress) => {
            ctx.setExperiment(p.experimentId);
            ctx.progress({
              stage: 'capturing', fraction: p.resultsTotal ? p.resultsDone / p.resultsTotal : null, sequencesDone: p.resultsDone, sequencesTotal: p.resultsTotal,
              tokensPerSecond: p.tokensPerSecond, etaSeconds: p.etaSeconds, message: `experiment ${p.experimentId}: arm ${p.arm}, unit ${p.unitsDone} of ${p.unitsTotal}`,
            });
          },
        });
        ctx.setExperiment(r.experimentId);
        return { status: r.status, runId: null };
      } finally {
        store.close();
      }
    });
  }

  list(projectId: string): ExperimentSummary[] {
    return this.workspace.with(projectId, (store) => listExperiments(store).map((e) => summaryOf(e, this.runningHere(projectId, e.id))).reverse());
  }

  /**
   * The report as `routescope experiment report` computes it (its seed and resample count), kept in memory and in the
   * project database until the experiment changes (a stored unit, a status, a rename), so opening results twice, or
   * after a restart, does not bootstrap twice (seconds for a large experiment, blocking the server).
   */
  private reading(store: Store, projectId: string, rec: ExperimentRecord): Reading & { results: ExperimentResult[] } {
    const key = `${projectId}/${rec.id}`;
    const stamp = readingStamp(store, rec);
    const kept = this.readings.get(key);
    if (kept?.stamp === stamp) return { ...kept.reading, results: experimentResults(store, rec.id) };
    // Kept in the project database by an earlier process (a restart): read, not bootstrapped again.
    const stored = readDerived<Reading>(store, 'experiment', rec.id, READING_KEY, stamp, READING_FORMAT);
    if (stored.status === 'hit' && typeof stored.value.summary === 'string' && Array.isArray(stored.value.report?.arms)) {
      this.keptReads++;
      this.remember(key, stamp, stored.value);
      return { ...stored.value, results: experimentResults(store, rec.id) };
    }
    this.computations++;
    const { report, summary, results } = experimentReport(store, rec.id);
    // A running experiment changes with every unit: kept in memory only until it ends.
    if (rec.status !== 'running') {
      try {
        writeDerived(store, 'experiment', rec.id, READING_KEY, stamp, READING_FORMAT, { report, summary });
      } catch {
        // A busy or read-only database: computed again next time, the caller has its reading.
      }
    }
    this.remember(key, stamp, { report, summary });
    return { report, summary, results };
  }

  private remember(key: string, stamp: string, reading: Reading): void {
    this.readings.delete(key);
    this.readings.set(key, { stamp, reading });
    if (this.readings.size > READINGS_KEPT) this.readings.delete(this.readings.keys().next().value!);
  }

  get(projectId: string, experimentId: number): ExperimentView {
    return this.workspace.with(projectId, (store) => {
      const rec = getExperiment(store, experimentId);
      const { report, summary, results } = this.reading(store, projectId, rec);
      const baseline = report.arms.find((a) => a.kind === 'baseline')?.arm ?? 'baseline';
      const pooled = new Map(report.comparisons.filter((c) => c.language === 'all').map((c) => [c.arm, c]));
      const verdictAt = summary.indexOf('## Verdict');
      const headline = verdictAt < 0 ? '' : (summary.slice(verdictAt + '## Verdict'.length).trim().split('\n')[0] ?? '').replace(/`/g, '').replace(/^- /, '');
      const spec = rec.spec as ExperimentSpec;
      return {
        summary: summaryOf(rec, this.runningHere(projectId, experimentId)), metric: report.metric, higherIsBetter: report.higherIsBetter, binary: report.binary, baseline,
        languages: [...new Set(results.map((r) => r.language))],
        arms: report.arms.map((a) => {
          const c = pooled.get(a.arm) ?? [...pooled.values()][0];
          const ci = a.kind === 'baseline' ? (c?.baseline_ci ?? null) : (pooled.get(a.arm)?.arm_ci ?? null);
          return { arm: a.arm, kind: a.kind, source: a.source, results: a.results, mean: a.mean, ci, consistency: a.consistency };
        }),
        effects: report.comparisons.map((c) => ({
          arm: c.arm, language: c.language, n: c.n, baselineScore: c.baseline_score, armScore: c.arm_score, delta: c.delta, ci: c.ci, p: c.p, pHolm: c.p_holm,
          excludesZero: c.ci[0] > 0 || c.ci[1] < 0,
        })),
        verdict: summary, headline, items: itemRows(rec.task, baseline, results), consistency: consistencyRows(results), warnings: report.warnings,
        sweep: sweepView(spec, report.comparisons, report.randomControls, report.metric, report.items),
        itemsUsed: report.items, devSplit: spec.devSplit ?? null, selection: report.selection,
      };
    });
  }

  rename(projectId: string, experimentId: number, name: string): ExperimentSummary {
    return this.workspace.with(projectId, (store) => {
      renameExperiment(store, experimentId, name.trim());
      return summaryOf(getExperiment(store, experimentId), this.runningHere(projectId, experimentId));
    });
  }

  /** The jobs of this process that write (or, still setting up, may write) the experiment. */
  private writers(projectId: string, rec: ExperimentRecord): JobInfo[] {
    // A job of this process that has not yet reported its experiment id may be writing this one.
    const mayBeSettingUp = rec.status === 'running' || rec.status === 'created';
    return this.jobs.running(projectId).filter((j) => j.kind === 'experiment' && (j.experimentId === rec.id || (j.experimentId == null && mayBeSettingUp)));
  }

  /**
   * "Cancel and delete": cancels this process' job writing the experiment, waits until it has stopped (after the
   * unit in flight; its results are committed or not at all), then deletes. An experiment run by another window or
   * process is still refused: its job can only be cancelled there.
   */
  async cancelAndDelete(projectId: string, experimentId: number, timeoutMs = 120_000): Promise<void> {
    const rec = this.workspace.with(projectId, (store) => getExperiment(store, experimentId));
    for (const job of this.writers(projectId, rec)) {
      this.jobs.cancel(job.id);
      if (!(await this.jobs.whenStopped(job.id, timeoutMs))) {
        throw new ApiError('conflict', `experiment ${experimentId}: its job ${job.id} was cancelled but has not stopped after ${Math.round(timeoutMs / 1000)} s (it stops after the unit in flight); delete it once it shows cancelled`, { experimentId: String(experimentId), jobId: job.id });
      }
    }
    this.delete(projectId, experimentId);
  }

  /** Refused while it runs (here or in another process): a job writing results must be cancelled first. */
  delete(projectId: string, experimentId: number): void {
    this.workspace.with(projectId, (store) => {
      const rec = getExperiment(store, experimentId);
      const settingUp = this.writers(projectId, rec).some((j) => j.experimentId == null);
      if (this.runningHere(projectId, experimentId) || settingUp || (rec.status === 'running' && experimentWorkerAlive(rec))) {
        const elsewhere = !this.runningHere(projectId, experimentId) && !settingUp;
        throw new ApiError('conflict', elsewhere
          ? `experiment ${experimentId} is running in another window or process; cancel it there, then delete it`
          : `experiment ${experimentId} is running; cancel it first (or use Cancel and delete), then delete it`, { experimentId: String(experimentId) });
      }
      deleteExperiment(store, experimentId);
      this.readings.delete(`${projectId}/${experimentId}`);
    });
  }
}

/** The task metric of one result: correctness for generate, the stored score (NLL, choice accuracy, chrF) otherwise. */
function metricOf(task: string, r: ExperimentResult): number | null {
  return task === 'generate' ? (r.correct === null ? null : r.correct ? 1 : 0) : r.score;
}

function itemRows(task: string, baseline: string, results: ExperimentResult[]): ItemRow[] {
  const key = (r: ExperimentResult) => `${r.language}\u0000${r.itemId}\u0000${r.sample}`;
  const base = new Map(results.filter((r) => r.arm === baseline).map((r) => [key(r), r]));
  const binary = task === 'generate' || task === 'choice';
  return results
    .filter((r) => r.arm !== baseline)
    .map((r) => {
      const b = base.get(key(r));
      const bv = b ? metricOf(task, b) : null;
      const v = metricOf(task, r);
      const flip = !binary || bv === null || v === null ? null : bv === v ? 'same' : v > bv ? 'gained' : 'lost';
      return { arm: r.arm, language: r.language, itemId: r.itemId, baseline: bv, value: v, flip, baselineOutput: b?.output ?? null, output: r.output };
    });
}

function consistencyRows(results: ExperimentResult[]): ExperimentView['consistency'] {
  const m = new Map<string, { arm: string; language: string; consistent: number; total: number }>();
  for (const r of results) {
    if (r.consistent === null) continue;
    const k = `${r.arm}\u0000${r.language}`;
    const row = m.get(k) ?? { arm: r.arm, language: r.language, consistent: 0, total: 0 };
    row.total++;
    if (r.consistent) row.consistent++;
    m.set(k, row);
  }
  return [...m.values()];
}
