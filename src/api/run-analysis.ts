/**
 * The UI's view of one capture run: the project's analysis (src/analysis) run with the run's stored analysis settings
 * (db/006_analysis_settings.sql) over the defaults `routescope demo` uses (thirds for the bands, the paper's k scaled
 * to the expert count, thr 0.4, average linkage on JSD, the steering plan in the middle band), reshaped into plain
 * JSON for the charts. Results are cached per database, run, settings and pivot, since the UI asks for one layer
 * after another, and kept in the project database (db/009_derived_cache.sql, with the run's aggregates as one blob)
 * so that a fresh process reads a large run's analysis instead of recomputing it (seconds for 100 languages). The
 * reading and analysing happen in the analysis thread (analysis-thread.ts, run-analysis-compute.ts), so the server
 * answers other calls meanwhile; this thread checks the run, finds a cached or running analysis, and shapes the views.
 */
import { existsSync } from 'node:fs';
import { computeShares, specialisationTable, steeringPlan, steerPlanJson, uShapeVerdict, type RoutingData, type SteerPlan } from '../analysis/index.js';
import { decoderLayerPlan, DEMO_STEER, DEMO_STEER_METHOD, scaledK } from '../demo/settings.js';
import { getRun, readAnalysisSettings, Store, StoreError, writeAnalysisSettings, type RunRecord } from '../store/index.js';
import type {
  AnalysisOverview, AnalysisSettingsView, ApiArgs, Band, ExpertLayerMap, RunComparison, ExpertTable, LayerDetail, LayerRow, MatrixMetric, SteeringPlanView, TreeNode,
} from './contract.js';
import { languageView } from './datasets-service.js';
import { ApiError } from './errors.js';
import { AnalysisThread } from './analysis-thread.js';
import {
  computeAnalysis, defaultSettings, prepareAnalysis, resolveSettings, SETTINGS_FIELDS, type AnalysisOutcome, type AnalysisRequest, type Computed,
} from './run-analysis-compute.js';

export { ANALYSIS_FORMAT, ROUTING_FORMAT, keptAnalysis, type Computed } from './run-analysis-compute.js';

/** Where RunAnalysis computes: a worker thread (the default; shared by every RunAnalysis of a backend) or this thread. */
export type AnalysisPlace = AnalysisThread | 'main';

let sharedThread: AnalysisThread | null = null;
/** The thread of RunAnalysis objects not given one (tests, scripts): one per process. */
function defaultThread(): AnalysisThread {
  return (sharedThread ??= new AnalysisThread());
}

export class RunAnalysis {
  private cache = new Map<string, Computed>();
  /** Analyses being computed, by cache key: concurrent requests for the same run and settings share one. */
  private inFlight = new Map<string, Promise<Computed>>();
  /** How many times a run was analysed (neither in memory nor kept in the database): diagnostics for benchmarks and tests. */
  computations = 0;
  /** How many analyses were read back from the database instead. */
  keptReads = 0;
  private migrated = false;
  private readonly place: AnalysisPlace;

  constructor(private readonly dbFile: string, options: { place?: AnalysisPlace } = {}) {
    this.place = options.place ?? defaultThread();
  }

  private openStore(): Store | null {
    if (!existsSync(this.dbFile)) return null;
    // A project last opened by an older version gets the kept-results tables before the first read-only open.
    if (!this.migrated) {
      try {
        Store.open(this.dbFile, { create: false }).close();
      } catch {
        // A read-only folder: the read-only open below says whether the file can be read as it is.
      }
      this.migrated = true;
    }
    return Store.open(this.dbFile, { readonly: true });
  }

  /** The analysis a view is built from (exposed for tests that compare a kept analysis with a fresh one). */
  analysed(runId: number, pivotArg?: string, targetArg?: string): Promise<Computed> {
    return this.compute(runId, pivotArg, targetArg);
  }

  /**
   * The run's state and settings are checked here (a few small queries), which finds an analysis cached or being
   * computed; reading the aggregates, analysing them, and reading or writing kept rows happen in the analysis thread.
   */
  private compute(runId: number, pivotArg: string | undefined, targetArg?: string): Promise<Computed> {
    let memKey: string;
    try {
      const store = this.openStore();
      if (!store) throw new ApiError('not-found', `analysis: no database yet at ${this.dbFile}; capture a run first`);
      try {
        memKey = prepareAnalysis(store, runId, pivotArg, targetArg).memKey;
      } finally {
        store.close();
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const hit = this.cache.get(memKey);
    if (hit) return Promise.resolve(hit);
    const running = this.inFlight.get(memKey);
    if (running) return running;
    const request: AnalysisRequest = { dbFile: this.dbFile, runId, ...(pivotArg !== undefined ? { pivot: pivotArg } : {}), ...(targetArg !== undefined ? { target: targetArg } : {}) };
    const outcome = this.place === 'main' ? new Promise<AnalysisOutcome>((res) => res(computeAnalysis(request))) : this.place.analyse(request);
    const p = outcome.then((o) => {
      if (o.analysed) this.computations++;
      else this.keptReads++;
      // Under the state it was computed from (the thread read it again): a run changed meanwhile is not served
      // from this entry once its newer state is seen.
      if (this.cache.size >= 8) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(o.memKey, o.computed);
      return o.computed;
    }).finally(() => this.inFlight.delete(memKey));
    this.inFlight.set(memKey, p);
    return p;
  }

  async overview(runId: number, pivotArg?: string, targetArg?: string): Promise<AnalysisOverview> {
    const { data, analysis: r, model, precision, pivot, target, settings } = await this.compute(runId, pivotArg, targetArg);
    const LINKAGE = settings.linkage;
    const bands: Band[] = (['early', 'middle', 'late'] as const).flatMap((name) => (r.bands[name] ? [{ name, layers: r.bands[name]! }] : []));
    const bandOf = (l: number) => bands.find((b) => l >= b.layers[0] && l <= b.layers[1])?.name ?? null;
    const layers: LayerRow[] = r.dendrograms.map((d) => {
      const sp = r.specialisation.layers[d.layer]!;
      const fam = d.trees[LINKAGE].family;
      return {
        layer: d.layer,
        decoderLayer: data.moeLayers[d.layer]!,
        band: bandOf(d.layer),
        alignmentToPivot: r.curves.meanPivotCosine?.[d.layer] ?? null,
        alignmentMeanPair: r.curves.meanPairCosine[d.layer]!,
        cophenetic: fam?.cophenetic ?? null,
        ari: fam?.ari ?? null,
        shared: sp.shared,
        exclusive: Object.values(sp.exclusive).reduce((s, x) => s + x, 0),
      };
    });
    const verdict = uShapeVerdict(r.curves.meanPairCosine, r.bands);
    let plan: SteeringPlanView | null = null;
    let planNote: string | null = null;
    if (!pivot || !target) planNote = `no steering plan: the run has no ${!pivot ? 'high-resource pivot' : 'low-resource target'} language`;
    else if (!r.bands.middle) planNote = 'no steering plan: the middle band is empty';
    else plan = planView(data, pivot, target, r.bands.middle);
    return {
      runId,
      model,
      precision,
      languages: data.languages.map((l) => ({ ...languageView(l.language), tokens: l.totals[0] ?? 0 })),
      numLayers: r.numLayers,
      numExperts: r.numExperts,
      topK: r.topK,
      pivot,
      target,
      bands,
      pattern: { holds: verdict.holds, text: verdict.text },
      clusterMetric: `${r.options.clusterMetric}, ${LINKAGE} linkage`,
      specialisation: { k: r.options.k, thr: r.options.thr },
      settings,
      layers,
      plan,
      planNote,
    };
  }

  /**
   * The specialisation table of one layer with the caller's k and thr: shares r of the top-k-masked frequencies,
   * shared = r > 0 for some language and r < thr for all, exclusive = r > thr for one language (arXiv 2601.14050).
   */
  async experts(runId: number, layer: number, kArg: number | undefined, thrArg: number | undefined): Promise<ExpertTable> {
    const { data, settings } = await this.compute(runId, undefined);
    if (layer >= data.numLayers) throw new ApiError('invalid-argument', `analysis.experts: layer must be 0-${data.numLayers - 1} (MoE-layer index) for run ${runId}, got ${layer}`, { field: 'layer' });
    const k = kArg ?? settings.k;
    const thr = thrArg ?? settings.thr;
    if (k > data.numExperts) throw new ApiError('invalid-argument', `analysis.experts: k must be at most the number of experts (${data.numExperts}), got ${k}`, { field: 'k' });
    const table = specialisationTable(data, k, thr, computeShares(data, k, undefined, [layer, layer]), [layer, layer]);
    const rows = table.experts.filter((e) => e.layer === layer);
    return {
      runId, layer, decoderLayer: data.moeLayers[layer]!, k, thr, languages: table.languages,
      rule: `share r = a language's top-${k} activation frequency divided by the sum over all ${table.languages.length} languages; shared: r > 0 in some language and r < ${thr} in every language; exclusive: r > ${thr} in one language`,
      experts: rows.map((e) => ({ expert: e.expert, kind: e.kind, owner: e.owner ?? null, share: e.share, frequency: e.frequency })),
    };
  }

  async layer(runId: number, layer: number, metric: MatrixMetric, pivot?: string): Promise<LayerDetail> {
    const { data, analysis: r, settings } = await this.compute(runId, pivot);
    const LINKAGE = settings.linkage;
    if (layer >= r.numLayers) throw new ApiError('invalid-argument', `analysis.layer: layer must be 0-${r.numLayers - 1} (MoE-layer index) for run ${runId}, got ${layer}`);
    const n = r.languages.length;
    const m = r.matrices[layer]![metric];
    const d = r.dendrograms[layer]!.trees[LINKAGE];
    return {
      runId,
      layer,
      decoderLayer: data.moeLayers[layer]!,
      metric,
      languages: r.languages,
      matrix: Array.from({ length: n }, (_, i) => Array.from(m.subarray(i * n, (i + 1) * n))),
      tree: d.tree as TreeNode,
      family: { cophenetic: d.family?.cophenetic ?? null, ari: d.family?.ari ?? null, families: d.family?.families ?? 0 },
    };
  }

  /**
   * Two runs compared: both runs' per-layer curves (layers both have) and, at one layer, the first run's matrix minus
   * the second's over the languages both have. Warnings say when the runs differ in what produced them.
   */
  async compare(runA: number, runB: number, layer: number, metric: MatrixMetric): Promise<RunComparison> {
    if (runA === runB) throw new ApiError('invalid-argument', `analysis.compare: otherRunId must be another run than ${runA}`, { field: 'otherRunId' });
    const [a, b] = await Promise.all([this.compute(runA, undefined), this.compute(runB, undefined)]);
    const [ra, rb] = [this.withRun(runA, true, (_, r) => r), this.withRun(runB, true, (_, r) => r)];
    const L = Math.min(a.data.numLayers, b.data.numLayers);
    if (layer >= L) throw new ApiError('invalid-argument', `analysis.compare: layer must be 0-${L - 1} (MoE-layer index, present in both runs), got ${layer}`, { field: 'layer' });
    const common = a.analysis.languages.filter((l) => b.analysis.languages.includes(l));
    if (common.length === 0) throw new ApiError('invalid-argument', `analysis.compare: runs ${runA} and ${runB} have no language in common`, { field: 'otherRunId' });
    const ia = common.map((l) => a.analysis.languages.indexOf(l));
    const ib = common.map((l) => b.analysis.languages.indexOf(l));
    const [ma, mb] = [a.analysis.matrices[layer]![metric], b.analysis.matrices[layer]![metric]];
    const [na, nb] = [a.analysis.languages.length, b.analysis.languages.length];
    const difference = common.map((_, i) => common.map((__, j) => ma[ia[i]! * na + ia[j]!]! - mb[ib[i]! * nb + ib[j]!]!));
    const curve = (c: Computed, l: number) => c.analysis.curves.meanPivotCosine?.[l] ?? null;
    return {
      runs: [ra, rb].map((r) => ({
        runId: r.id, name: r.name, model: r.model ? (r.model.name ?? r.model.architecture) : null, dataset: r.dataset?.kind ?? null, languages: r.languages.length, numLayers: r.numMoeLayers,
        precision: r.precision,
      })),
      warnings: comparisonWarnings(ra, rb),
      precisionWarning: precisionWarning(ra, rb),
      layers: Array.from({ length: L }, (_, l) => ({
        layer: l,
        decoderLayer: a.data.moeLayers[l]!,
        meanPair: [a.analysis.curves.meanPairCosine[l]!, b.analysis.curves.meanPairCosine[l]!] as [number, number],
        toPivot: [curve(a, l), curve(b, l)] as [number | null, number | null],
      })),
      pivots: [a.pivot, b.pivot],
      layer,
      decoderLayer: a.data.moeLayers[layer]!,
      metric,
      common,
      difference,
    };
  }

  /** Expert x layer map of one language's routing (share of its tokens sent to each expert), or of two's difference. */
  async expertMap(runId: number, language: string, minus: string | undefined): Promise<ExpertLayerMap> {
    const { data } = await this.compute(runId, undefined);
    const codes = data.languages.map((l) => l.language);
    const find = (code: string, field: 'language' | 'minus') => {
      const l = data.languages.find((x) => x.language === code);
      if (!l) throw new ApiError('invalid-argument', `analysis.expertMap: ${field} ${code} is not a language of run ${runId} (${codes.join(', ')})`, { field });
      return l;
    };
    const [L, E] = [data.numLayers, data.numExperts];
    const share = (l: ReturnType<typeof find>) => Array.from({ length: L * E }, (_, i) => {
      const t = l.totals[Math.floor(i / E)]!;
      return t > 0 ? l.counts[i]! / t : 0;
    });
    const a = share(find(language, 'language'));
    if (minus !== undefined && minus === language) throw new ApiError('invalid-argument', `analysis.expertMap: minus must be another language than ${language}`, { field: 'minus' });
    const b = minus !== undefined ? share(find(minus, 'minus')) : null;
    return {
      runId, language, minus: minus ?? null, numLayers: L, numExperts: E, topK: data.topK, decoderLayers: [...data.moeLayers],
      values: b ? a.map((v, i) => v - b[i]!) : a,
    };
  }

  /** The run's settings: stored fields over the defaults. */
  settings(runId: number): AnalysisSettingsView {
    return this.withRun(runId, true, (store, run) => settingsView(run, readAnalysisSettings(store, runId) ?? {}));
  }

  /** Stores the given fields with the run (checked against it first: nothing invalid is written). */
  saveSettings(a: ApiArgs<'analysis.saveSettings'>): AnalysisSettingsView {
    return this.withRun(a.runId, false, (store, run) => {
      const next: Record<string, unknown> = a.reset ? {} : { ...(readAnalysisSettings(store, a.runId) ?? {}) };
      for (const field of SETTINGS_FIELDS) {
        const v = a[field];
        if (v === undefined) continue;
        if ((field === 'pivot' && v === 'auto') || (field === 'bands' && v === 'thirds')) delete next[field];
        else next[field] = v;
      }
      resolveSettings(run, next);
      writeAnalysisSettings(store, a.runId, Object.keys(next).length ? next : null);
      return settingsView(run, next);
    });
  }

  private withRun<T>(runId: number, readonly: boolean, f: (store: Store, run: RunRecord) => T): T {
    if (!existsSync(this.dbFile)) throw new ApiError('not-found', `analysis: no database yet at ${this.dbFile}; capture a run first`);
    // create: false: a run analysed while its project is deleted must not bring the file back.
    const store = Store.open(this.dbFile, { readonly, create: false });
    try {
      let run: RunRecord;
      try {
        run = getRun(store, runId);
      } catch (err) {
        throw new ApiError(err instanceof StoreError && err.code === 'not-found' ? 'not-found' : 'storage', `analysis: ${(err as Error).message}`, { runId });
      }
      return f(store, run);
    } finally {
      store.close();
    }
  }
}

/**
 * The runs were captured at different weight precisions (capture_run.precision): int8/int4 experts change the
 * hidden states later layers route on (docs/precision.md), so part of any difference is the quantisation.
 * Null when both are recorded and equal, or when either is not recorded (imports, runs before db/005).
 */
export function precisionWarning(a: RunRecord, b: RunRecord): string | null {
  if (a.precision === null || b.precision === null || a.precision === b.precision) return null;
  return `captured at different precisions: run ${a.id} at ${a.precision}, run ${b.id} at ${b.precision}; part of the difference may be the weight precision, not the routing (docs/precision.md)`;
}

/** What makes two runs' routing not directly comparable, in words. */
function comparisonWarnings(a: RunRecord, b: RunRecord): string[] {
  const out: string[] = [];
  const precision = precisionWarning(a, b);
  if (precision) out.push(precision);
  const modelName = (r: RunRecord) => (r.model ? `${r.model.name ?? r.model.architecture}` : 'unknown');
  if (!a.model || !b.model) out.push('the model of one run is not recorded');
  else if (modelName(a) !== modelName(b) || a.model.architecture !== b.model.architecture) out.push(`different models: ${modelName(a)} vs ${modelName(b)}`);
  else if (a.model.fingerprint !== b.model.fingerprint) out.push(`same model name (${modelName(a)}) but different weights: another quantised copy or version of the folder`);
  if ((a.executionProvider ?? '') !== (b.executionProvider ?? '')) out.push(`different execution providers (numerics may differ): ${a.executionProvider ?? 'unknown'} vs ${b.executionProvider ?? 'unknown'}`);
  if (a.numMoeLayers !== b.numMoeLayers || a.numExperts !== b.numExperts || a.topK !== b.topK) {
    out.push(`different routing shapes: ${a.numMoeLayers} x ${a.numExperts} top-${a.topK} vs ${b.numMoeLayers} x ${b.numExperts} top-${b.topK} (only common layers are compared)`);
  }
  if (!a.dataset || !b.dataset) out.push('the dataset of one run is not recorded');
  else if (a.dataset.kind !== b.dataset.kind || a.dataset.fingerprint !== b.dataset.fingerprint) out.push(`different datasets: ${a.dataset.kind} (${a.dataset.fingerprint.slice(0, 8)}) vs ${b.dataset.kind} (${b.dataset.fingerprint.slice(0, 8)})`);
  if (a.promptTemplate !== b.promptTemplate) out.push('different prompt templates');
  if (JSON.stringify(a.plan ?? null) !== JSON.stringify(b.plan ?? null)) out.push('different steering or masking plans (one run may be steered)');
  const onlyA = a.languages.filter((l) => !b.languages.includes(l));
  const onlyB = b.languages.filter((l) => !a.languages.includes(l));
  if (onlyA.length || onlyB.length) out.push(`languages differ: ${onlyA.length} only in run ${a.id}, ${onlyB.length} only in run ${b.id}; the difference heatmap uses the ${a.languages.length - onlyA.length} common ones`);
  return out;
}

function settingsView(run: RunRecord, stored: Record<string, unknown>): AnalysisSettingsView {
  return { runId: run.id, settings: resolveSettings(run, stored), defaults: defaultSettings(run), stored: SETTINGS_FIELDS.filter((f) => f in stored) };
}

function planView(data: RoutingData, pivot: string, target: string, middle: [number, number]): SteeringPlanView {
  const k = scaledK(DEMO_STEER.paperK, data.numExperts, data.topK);
  // Targets in this order make the coefficient the pivot's share (the reference's first target), as in the demo.
  const plan: SteerPlan = steeringPlan(data, { targets: [pivot, target], k, thr: DEMO_STEER.thr, layers: middle, lambda: DEMO_STEER.lambda, mode: DEMO_STEER.mode });
  const decoder = decoderLayerPlan(plan, data.moeLayers);
  const experts = [...plan.steer].flatMap(([l, e]) => [...e].map(([expert, coefficient]) => ({ decoderLayer: data.moeLayers[l]!, moeLayer: l, expert, coefficient })));
  return {
    target,
    pivot,
    method: DEMO_STEER_METHOD,
    moeLayers: middle,
    decoderLayers: [data.moeLayers[middle[0]]!, data.moeLayers[middle[1]]!],
    k,
    thr: DEMO_STEER.thr,
    lambda: DEMO_STEER.lambda,
    experts,
    json: steerPlanJson(decoder),
    fileName: `steer-${target}-toward-${pivot}.json`,
  };
}
