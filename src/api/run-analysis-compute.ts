/**
 * One run's analysis as the workbench computes it (RunAnalysis, run-analysis.ts), written so that it runs the same on
 * the server's main thread or in the analysis thread (analysis-worker.ts): the run's state and its settings are read
 * in one snapshot, then either the kept rows (db/009 run_derived) are read back or the aggregates are read and
 * analysed, and what was computed is kept for the next process, unless the run changed meanwhile.
 */
import { existsSync } from 'node:fs';
import {
  analyzeRouting, genealogyFromLookup, AnalysisInputError, parseBands, type AnalysisResult, type RoutingData,
} from '../analysis/index.js';
import { demoBands, DEMO_SPECIALISATION, pivotCandidates, scaledK, targetCandidates } from '../demo/settings.js';
import { findLanguage } from '../languages/index.js';
import { getRun, loadRunRouting, readAnalysisSettings, readDerived, Store, StoreError, writeDerived, type RunRecord } from '../store/index.js';
import type { AnalysisSettings, MatrixMetric } from './contract.js';
import { LINKAGE_NAMES, MATRIX_METRICS } from './schemas/analysis.js';
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

export type SettingsField = keyof AnalysisSettings;
export const SETTINGS_FIELDS: SettingsField[] = ['measure', 'linkage', 'k', 'thr', 'pivot', 'bands'];

function settingsError(field: SettingsField, runId: number, what: string): never {
  throw new ApiError('invalid-argument', `analysis settings of run ${runId}: ${field} ${what}`, { field, runId });
}

/** The defaults (what `routescope demo` uses) for a run of this shape. */
export function defaultSettings(run: RunRecord): AnalysisSettings {
  return { measure: 'jsd', linkage: 'average', k: scaledK(DEMO_SPECIALISATION.paperK, run.numExperts, run.topK), thr: DEMO_SPECIALISATION.thr, pivot: null, bands: null };
}

/**
 * The stored fields (as saved: bands as "a-b,c-d,e-f" text) checked against the run and laid over the defaults.
 * A bad stored value is an error naming the field, never silently replaced.
 */
export function resolveSettings(run: RunRecord, stored: Record<string, unknown>): AnalysisSettings {
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
export function runStamp(run: RunRecord, tokens: number): string {
  return JSON.stringify([run.createdAt, run.finishedAt, run.status, run.sequencesDone, tokens]);
}

/** Languages with aggregates (scope 'all', in the run's order, as loadRunRouting keeps them) and their token sum. */
export function languagesWithData(store: Store, run: RunRecord): { langs: string[]; tokens: number } {
  const rows = store.read('reading run totals', () =>
    store.db.prepare(`SELECT language, sum(tokens) AS tokens FROM run_layer_total WHERE run_id = ? AND scope = 'all' GROUP BY language`).all(run.id) as { language: string; tokens: number }[],
  );
  const present = new Set(rows.map((r) => r.language));
  return { langs: run.languages.filter((l) => present.has(l)), tokens: rows.reduce((s, r) => s + r.tokens, 0) };
}


/** What a view's request names: the run, and a pivot or target other than the settings' (or the automatic) choice. */
export interface AnalysisRequest {
  dbFile: string;
  runId: number;
  pivot?: string;
  target?: string;
}

/** The run as its analysis depends on it, read with its settings in one snapshot. */
export interface PreparedAnalysis {
  run: RunRecord;
  settings: AnalysisSettings;
  langs: string[];
  stamp: string;
  pivot: string | null;
  target: string | null;
  /** The run_derived key of this analysis. */
  key: string;
  /** The in-memory cache key: run, state and key. */
  memKey: string;
}

/** An analysis and how it was obtained (the counters RunAnalysis keeps for tests and benchmarks). */
export interface AnalysisOutcome {
  computed: Computed;
  memKey: string;
  /** True when the aggregates were analysed, false when the kept analysis was read back. */
  analysed: boolean;
}

/**
 * The run's state and settings, checked: a missing run, a run not completed, or a bad stored setting is an ApiError
 * saying so. Cheap (a few small queries), so the main thread runs it to find a cached or running analysis.
 */
export function prepareAnalysis(store: Store, runId: number, pivotArg?: string, targetArg?: string): PreparedAnalysis {
  return store.snapshot('reading the run to analyse', () => {
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
    const stamp = runStamp(run, tokens);
    const resourceOf = (code: string) => findLanguage(code)?.resource;
    const pivot = pickLanguage(langs, pivotArg ?? settings.pivot ?? undefined, 'pivot', pivotCandidates(langs, resourceOf));
    const target = pickLanguage(langs, targetArg, 'target', targetCandidates(langs, resourceOf, pivot));
    // Keyed by the chosen pivot and target, so the overview (no pivot given) and the page's layer requests (the
    // pivot it chose) share one analysis.
    const key = `analysis:${JSON.stringify({ settings: stored, pivot, target })}`;
    return { run, settings, langs, stamp, pivot, target, key, memKey: [runId, stamp, key].join('\0') };
  });
}

/**
 * The analysis of one run, wherever this runs: the run's state and its aggregates (or kept rows) are read in one
 * snapshot, so the stamp the result is kept under is the state it was computed from.
 *
 * One writable connection serves the reads and the writes: it keeps the file in WAL mode while the aggregates are
 * read (a second or more for a large run), so the server's own calls on the project meanwhile (each opens the file
 * writable, which in rollback-journal mode means switching it to WAL under an exclusive lock) neither wait for the
 * read nor block it. A folder that cannot be written is read as it is, and nothing is kept.
 */
export function computeAnalysis(req: AnalysisRequest): AnalysisOutcome {
  if (!existsSync(req.dbFile)) throw new ApiError('not-found', `analysis: no database yet at ${req.dbFile}; capture a run first`);
  let store: Store;
  let writable = true;
  try {
    // create: false: a run analysed while its project is deleted must not bring the file back.
    store = Store.open(req.dbFile, { create: false, busyTimeoutMs: 1000 });
  } catch {
    writable = false;
    store = Store.open(req.dbFile, { readonly: true });
  }
  try {
    const toKeep: { key: string; format: number; value: unknown }[] = [];
    const { prepared, data, kept } = store.snapshot('reading the run to analyse', () => {
      const p = prepareAnalysis(store, req.runId, req.pivot, req.target);
      let d: RoutingData;
      const keptData = readDerived<RoutingData>(store, 'run', req.runId, ROUTING_KEY, p.stamp, ROUTING_FORMAT);
      if (keptData.status === 'hit' && sameLanguages(keptData.value.languages.map((l) => l.language), p.langs)) d = keptData.value;
      else {
        d = loadRunRouting(store, req.runId, { scope: 'all' });
        toKeep.push({ key: ROUTING_KEY, format: ROUTING_FORMAT, value: d });
      }
      const k = readDerived<AnalysisResult>(store, 'run', req.runId, p.key, p.stamp, ANALYSIS_FORMAT);
      const hit = k.status === 'hit' && sameLanguages(k.value.languages, p.langs) && k.value.matrices?.length === d.numLayers;
      return { prepared: p, data: d, kept: hit ? k.value : null };
    });
    const { run, settings, pivot, target, key, stamp, memKey } = prepared;
    let analysis = kept;
    if (!analysis) {
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
    if (writable && toKeep.length) keepDerived(store, req.runId, stamp, toKeep);
    const computed: Computed = { data, analysis, model: run.model ? (run.model.name ?? run.model.architecture) : null, precision: run.precision, pivot, target, settings };
    return { computed, memKey, analysed: kept === null };
  } finally {
    store.close();
  }
}

/**
 * Writes what was computed into the project database for the next process, each row only if the run is still in the
 * state it was computed from (checked inside the row's write transaction): a run re-imported or resumed meanwhile
 * keeps its newer rows, and the stale result is not stored. Best effort: a busy database or a run deleted meanwhile
 * only means the next process computes it again.
 */
export function keepDerived(store: Store, runId: number, stamp: string, rows: { key: string; format: number; value: unknown }[]): void {
  const current = () => {
    try {
      const run = getRun(store, runId);
      return runStamp(run, languagesWithData(store, run).tokens) === stamp;
    } catch {
      return false; // deleted meanwhile
    }
  };
  for (const r of rows) {
    try {
      writeDerived(store, 'run', runId, r.key, stamp, r.format, r.value, current);
    } catch {
      // Recomputed next time; the caller has its result.
    }
  }
}
