/**
 * The UI's view of one capture run: the project's analysis (src/analysis) run with the run's stored analysis settings
 * (db/006_analysis_settings.sql) over the defaults `routescope demo` uses (thirds for the bands, the paper's k scaled
 * to the expert count, thr 0.4, average linkage on JSD, the steering plan in the middle band), reshaped into plain
 * JSON for the charts. Results are cached per database, run, settings and pivot, since the UI asks for one layer
 * after another, and kept in the project database (db/009_derived_cache.sql, with the run's aggregates as one blob)
 * so that a fresh process reads a large run's analysis instead of recomputing it (seconds for 100 languages).
 */
import { existsSync } from 'node:fs';
import {
  analyzeRouting, computeShares, genealogyFromLookup, specialisationTable, steeringPlan, steerPlanJson, uShapeVerdict,
  type AnalysisResult, type RoutingData, type SteerPlan,
} from '../analysis/index.js';
import { decoderLayerPlan, demoBands, DEMO_SPECIALISATION, DEMO_STEER, DEMO_STEER_METHOD, pivotCandidates, scaledK, targetCandidates } from '../demo/settings.js';
import { findLanguage } from '../languages/index.js';
import { AnalysisInputError, parseBands } from '../analysis/index.js';
import { getRun, loadRunRouting, readAnalysisSettings, readDerived, Store, StoreError, writeAnalysisSettings, writeDerived, type RunRecord } from '../store/index.js';
import type {
  AnalysisOverview, AnalysisSettings, AnalysisSettingsView, ApiArgs, Band, ExpertLayerMap, RunComparison, ExpertTable, LanguageView, LayerDetail, LayerRow, MatrixMetric, SteeringPlanView, TreeNode,
} from './contract.js';
import { LINKAGE_NAMES, MATRIX_METRICS } from './schemas/analysis.js';
import { languageView } from './datasets-service.js';
import { ApiError } from './errors.js';

export interface Computed {
  data: RoutingData;
  analysis: AnalysisResult;
  model: string | null;
  /** The weight precision the run was captured at (null: not recorded, e.g. an imported or older run). */
  precision: string | null;
  pivot: string | null;
  target: string | null;
  settings: AnalysisSettings;
}

type SettingsField = keyof AnalysisSettings;
const SETTINGS_FIELDS: SettingsField[] = ['measure', 'linkage', 'k', 'thr', 'pivot', 'bands'];

function settingsError(field: SettingsField, runId: number, what: string): never {
  throw new ApiError('invalid-argument', `analysis settings of run ${runId}: ${field} ${what}`, { field, runId });
}

/** The defaults (what `routescope demo` uses) for a run of this shape. */
function defaultSettings(run: RunRecord): AnalysisSettings {
  return { measure: 'jsd', linkage: 'average', k: scaledK(DEMO_SPECIALISATION.paperK, run.numExperts, run.topK), thr: DEMO_SPECIALISATION.thr, pivot: null, bands: null };
}

/**
 * The stored fields (as saved: bands as "a-b,c-d,e-f" text) checked against the run and laid over the defaults.
 * A bad stored value is an error naming the field, never silently replaced.
 */
function resolveSettings(run: RunRecord, stored: Record<string, unknown>): AnalysisSettings {
  const out = defaultSettings(run);
  const id = run.id;
  for (const [field, v] of Object.entries(stored)) {
    switch (field as SettingsField) {
      case 'measure':
        if (!MATRIX_METRICS.includes(v as MatrixMetric)) settingsError('measure', id, `must be one of ${MATRIX_METRICS.join(', ')}, got ${String(v)}`);
        out.measure = v as MatrixMetric;
        break;
      case 'linkage':
        if (!LINKAGE_NAMES.includes(v as AnalysisSettings['linkage'])) settingsError('linkage', id, `must be one of ${LINKAGE_NAMES.join(', ')}, got ${String(v)}`);
        out.linkage = v as AnalysisSettings['linkage'];
        break;
      case 'k':
        if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > run.numExperts) settingsError('k', id, `must be an integer from 1 to the number of experts (${run.numExperts}), got ${String(v)}`);
        out.k = v as number;
        break;
      case 'thr':
        if (typeof v !== 'number' || !(v >= 0 && v <= 1)) settingsError('thr', id, `must be a number from 0 to 1, got ${String(v)}`);
        out.thr = v;
        break;
      case 'pivot':
        if (typeof v !== 'string' || !run.languages.includes(v)) settingsError('pivot', id, `must be a language of the run (${run.languages.join(', ')}), got ${String(v)}`);
        out.pivot = v;
        break;
      case 'bands':
        try {
          const b = parseBands(String(v), run.numMoeLayers);
          out.bands = { early: b.early, middle: b.middle, late: b.late };
        } catch (err) {
          if (err instanceof AnalysisInputError) settingsError('bands', id, `"${String(v)}": ${err.message.replace(/^--bands:? ?/, '')} (MoE layers 0-${run.numMoeLayers - 1})`);
          throw err;
        }
        break;
      default:
        throw new ApiError('storage', `analysis settings of run ${id}: unknown stored field ${field}`, { runId: id });
    }
  }
  return out;
}

function sameLanguages(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function pickLanguage(langs: string[], given: string | undefined, field: 'pivot' | 'target', candidates: string[]): string | null {
  if (given !== undefined) {
    if (!langs.includes(given)) throw new ApiError('invalid-argument', `analysis: ${field} ${given} is not a language of this run (${langs.join(', ')})`);
    return given;
  }
  return candidates[0] ?? null;
}

/**
 * The layout of the analysis kept in the project database (run_derived rows keyed 'analysis:<settings, pivot,
 * target>'): bump it whenever AnalysisResult, or what keptAnalysis leaves out, changes shape, so rows written by an
 * older version are recomputed rather than misread.
 */
export const ANALYSIS_FORMAT = 1;
/** The layout of the run's aggregates kept as one blob (run_derived 'routing:all'): RoutingData as loadRunRouting returns it. */
export const ROUTING_FORMAT = 1;
const ROUTING_KEY = 'routing:all';

/**
 * What is kept of an analysis: everything but the per-expert rows of the specialisation table (6,144 experts x
 * 100 languages x 3 numbers for a large run), which no view reads from here (analysis.experts computes its layer
 * with the caller's k and thr).
 */
export function keptAnalysis(r: AnalysisResult): AnalysisResult {
  return { ...r, specialisation: { ...r.specialisation, experts: [] } };
}

/** The run's state its analysis depends on: a resumed capture, a re-import or new sequences change it. */
function runStamp(run: RunRecord, tokens: number): string {
  return JSON.stringify([run.createdAt, run.finishedAt, run.status, run.sequencesDone, tokens]);
}

/** Languages with aggregates (scope 'all', in the run's order, as loadRunRouting keeps them) and their token sum. */
function languagesWithData(store: Store, run: RunRecord): { langs: string[]; tokens: number } {
  const rows = store.read('reading run totals', () =>
    store.db.prepare(`SELECT language, sum(tokens) AS tokens FROM run_layer_total WHERE run_id = ? AND scope = 'all' GROUP BY language`).all(run.id) as { language: string; tokens: number }[],
  );
  const present = new Set(rows.map((r) => r.language));
  return { langs: run.languages.filter((l) => present.has(l)), tokens: rows.reduce((s, r) => s + r.tokens, 0) };
}

export class RunAnalysis {
  private cache = new Map<string, Computed>();
  /** How many times a run was analysed (neither in memory nor kept in the database): diagnostics for benchmarks and tests. */
  computations = 0;
  /** How many analyses were read back from the database instead. */
  keptReads = 0;
  private migrated = false;

  constructor(private readonly dbFile: string) {}

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
  analysed(runId: number, pivotArg?: string, targetArg?: string): Computed {
    return this.compute(runId, pivotArg, targetArg);
  }

  private compute(runId: number, pivotArg: string | undefined, targetArg?: string): Computed {
    const store = this.openStore();
    if (!store) throw new ApiError('not-found', `analysis: no database yet at ${this.dbFile}; capture a run first`);
    let computed: Computed;
    let memKey: string;
    let stamp: string;
    const toKeep: { key: string; format: number; value: unknown }[] = [];
    try {
      let run;
      try {
        run = getRun(store, runId);
      } catch (err) {
        throw new ApiError(err instanceof StoreError && err.code === 'not-found' ? 'not-found' : 'storage', `analysis: ${(err as Error).message}`, { runId });
      }
      if (run.status !== 'completed') throw new ApiError('conflict', `analysis: run ${runId} is ${run.status}, not completed (${run.sequencesDone}/${run.sequencesTotal ?? '?'} sequences); finish or resume it first`);
      const stored = readAnalysisSettings(store, runId) ?? {};
      const settings = resolveSettings(run, stored);
      const { langs, tokens } = languagesWithData(store, run);
      // The run's timestamps are part of the stamp: a deleted run's id can be reused by a new run.
      stamp = runStamp(run, tokens);
      const resourceOf = (code: string) => findLanguage(code)?.resource;
      const pivot = pickLanguage(langs, pivotArg ?? settings.pivot ?? undefined, 'pivot', pivotCandidates(langs, resourceOf));
      const target = pickLanguage(langs, targetArg, 'target', targetCandidates(langs, resourceOf, pivot));
      // Keyed by the chosen pivot and target, so the overview (no pivot given) and the page's layer requests (the
      // pivot it chose) share one analysis.
      const key = `analysis:${JSON.stringify({ settings: stored, pivot, target })}`;
      memKey = [runId, stamp, key].join('\0');
      const hit = this.cache.get(memKey);
      if (hit) return hit;
      let data: RoutingData;
      const keptData = readDerived<RoutingData>(store, 'run', runId, ROUTING_KEY, stamp, ROUTING_FORMAT);
      if (keptData.status === 'hit' && sameLanguages(keptData.value.languages.map((l) => l.language), langs)) data = keptData.value;
      else {
        data = loadRunRouting(store, runId, { scope: 'all' });
        toKeep.push({ key: ROUTING_KEY, format: ROUTING_FORMAT, value: data });
      }
      let analysis: AnalysisResult;
      const kept = readDerived<AnalysisResult>(store, 'run', runId, key, stamp, ANALYSIS_FORMAT);
      if (kept.status === 'hit' && sameLanguages(kept.value.languages, langs) && kept.value.matrices?.length === data.numLayers) {
        analysis = kept.value;
        this.keptReads++;
      } else {
        this.computations++;
        analysis = keptAnalysis(analyzeRouting(data, {
          ...(pivot ? { pivot } : {}),
          genealogy: genealogyFromLookup(findLanguage),
          k: settings.k,
          thr: settings.thr,
          clusterMetric: settings.measure,
          linkages: [settings.linkage],
          bands: settings.bands ? { ...settings.bands, how: 'user' } : demoBands(data.numLayers),
        }));
        toKeep.push({ key, format: ANALYSIS_FORMAT, value: analysis });
      }
      computed = { data, analysis, model: run.model ? (run.model.name ?? run.model.architecture) : null, precision: run.precision, pivot, target, settings };
    } finally {
      store.close();
    }
    if (toKeep.length) this.keep(runId, stamp, toKeep);
    if (this.cache.size >= 8) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(memKey, computed);
    return computed;
  }

  /**
   * Writes what was computed into the project database for the next process. Best effort: a read-only folder, a
   * busy database or a run deleted meanwhile only means the next process computes it again.
   */
  private keep(runId: number, stamp: string, rows: { key: string; format: number; value: unknown }[]): void {
    let store: Store | undefined;
    try {
      // create: false: a run analysed while its project is deleted must not bring the file back.
      store = Store.open(this.dbFile, { create: false, busyTimeoutMs: 1000 });
      for (const r of rows) writeDerived(store, 'run', runId, r.key, stamp, r.format, r.value);
    } catch {
      // Recomputed next time; the caller has its result.
    } finally {
      store?.close();
    }
  }

  overview(runId: number, pivotArg?: string, targetArg?: string): AnalysisOverview {
    const { data, analysis: r, model, precision, pivot, target, settings } = this.compute(runId, pivotArg, targetArg);
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
  experts(runId: number, layer: number, kArg: number | undefined, thrArg: number | undefined): ExpertTable {
    const { data, settings } = this.compute(runId, undefined);
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

  layer(runId: number, layer: number, metric: MatrixMetric, pivot?: string): LayerDetail {
    const { data, analysis: r, settings } = this.compute(runId, pivot);
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
  compare(runA: number, runB: number, layer: number, metric: MatrixMetric): RunComparison {
    if (runA === runB) throw new ApiError('invalid-argument', `analysis.compare: otherRunId must be another run than ${runA}`, { field: 'otherRunId' });
    const [a, b] = [this.compute(runA, undefined), this.compute(runB, undefined)];
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
  expertMap(runId: number, language: string, minus: string | undefined): ExpertLayerMap {
    const { data } = this.compute(runId, undefined);
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
