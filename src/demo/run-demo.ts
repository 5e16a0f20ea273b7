/**
 * `routescope demo`: the whole loop on the embedded model and the UDHR corpus. Capture (or reuse / resume a matching
 * run in the demo database), then the project's own analysis and steering-plan functions; this module only chooses
 * settings, wires the pieces together and summarises what they return.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import {
  analyzeRouting, genealogyFromLookup, steeringPlan, steerPlanJson, writeReport,
  type AnalysisResult, type RoutingData,
} from '../analysis/index.js';
import { EngineBackend } from '../capture/engine-backend.js';
import { resumeCapture, startCapture, type CaptureProgress } from '../capture/job.js';
import { loadUdhrDataset, type UdhrSplitOption } from '../corpus/udhr.js';
import { summarizeModel } from '../engine/index.js';
import type { PrecisionPreference } from '../engine/precision.js';
import { resolvePlan } from '../engine/steering-plan.js';
import { Store, listRuns, loadRunRouting, type RunRecord } from '../store/index.js';
import { checkDemoResources, DEFAULT_RESOURCES, DemoResourceError, RESOURCES_DIR, type DemoResourcePaths } from './resources.js';
import { decoderLayerPlan, demoBands, DEMO_SPECIALISATION, DEMO_STEER, pivotCandidates, scaledK, targetCandidates } from './settings.js';
import { buildSummary, summaryText, type DemoSummary } from './summary.js';
import { demoExperimentText, runDemoExperiment, type DemoExperimentSummary } from './experiment.js';
import type { ExperimentProgress } from '../eval/experiment/index.js';

export interface DemoOptions {
  /** Model folder; default the embedded resources/demo-model. */
  modelDir?: string;
  /** Overrides of the other resource files (tests). */
  resources?: Partial<Omit<DemoResourcePaths, 'modelDir'>>;
  /** Output folder (default ./routescope-demo); the database defaults to <out>/demo.db. */
  out?: string;
  db?: string;
  languages?: string[];
  split?: UdhrSplitOption;
  limit?: number;
  /** Low-resource language to build the steering plan for, and the high-resource language it is steered toward. */
  target?: string;
  pivot?: string;
  batchSize?: number;
  threads?: number;
  /** Weight precision of the engine (default: ROUTESCOPE_PRECISION, else auto). */
  precision?: PrecisionPreference;
  /** Capture again even when the database already holds a matching completed run. */
  fresh?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: CaptureProgress) => void;
  /** Skip the closing NLL experiment (resources/experiments/demo-nll.json). */
  noExperiment?: boolean;
  onExperimentProgress?: (p: ExperimentProgress) => void;
  log?: (line: string) => void;
}

export interface DemoResult {
  status: 'completed' | 'cancelled';
  runId: number;
  db: string;
  out: string;
  /** How the routing was obtained: captured now, resumed from an interrupted run, or reused. */
  capture: 'captured' | 'resumed' | 'reused';
  captureSeconds: number;
  analysisSeconds: number;
  files: string[];
  summary?: DemoSummary;
  experiment?: DemoExperimentSummary;
  text?: string;
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep) && !/^[a-zA-Z]:/.test(rel));
}

function sameRun(r: RunRecord, fingerprint: string, datasetFingerprint: string, languages: string[], limit: number | undefined, precision?: string): boolean {
  return (
    r.source === 'capture' &&
    r.model?.fingerprint === fingerprint &&
    r.dataset?.fingerprint === datasetFingerprint &&
    JSON.stringify(r.languages) === JSON.stringify(languages) &&
    r.itemLimit === (limit ?? null) &&
    r.promptTemplate === 'raw' &&
    r.plan === null &&
    (precision === undefined || r.precision === precision)
  );
}

function chooseLanguage(candidates: string[], languages: string[], what: string, given?: string): string {
  if (given !== undefined) {
    if (!languages.includes(given)) throw new DemoResourceError(`--${what} ${given} is not one of the demo languages (${languages.join(', ')})`);
    return given;
  }
  const found = candidates[0];
  if (!found) throw new DemoResourceError(`no ${what} language among the demo languages (${languages.join(', ')}); choose one with --${what}`);
  return found;
}

export async function runDemo(o: DemoOptions = {}): Promise<DemoResult> {
  const log = o.log ?? (() => {});
  const modelDir = resolve(o.modelDir ?? DEFAULT_RESOURCES.modelDir);
  const res = checkDemoResources({ ...DEFAULT_RESOURCES, ...o.resources, modelDir }, o.modelDir === undefined);
  const out = resolve(o.out ?? 'routescope-demo');
  const db = resolve(o.db ?? join(out, 'demo.db'));
  for (const [what, p] of [['output folder', out], ['database', db]] as const) {
    if (isInside(p, RESOURCES_DIR)) throw new DemoResourceError(`the demo's ${what} ${p} is inside resources/, which holds committed files only; choose another --${what === 'database' ? 'db' : 'out'}`);
  }
  const languages = o.languages ?? res.defaultLanguages;
  if (languages.length < 3) throw new DemoResourceError(`the demo needs at least 3 languages to cluster, got ${languages.join(', ') || 'none'}`);
  const split = o.split ?? 'heldout';
  const dataset = loadUdhrDataset({ languages, split });
  const table = res.table;
  const resourceOf = (code: string) => table.find(code)?.resource;
  const pivot = chooseLanguage(pivotCandidates(languages, resourceOf), languages, 'pivot', o.pivot);
  const target = chooseLanguage(targetCandidates(languages, resourceOf, pivot), languages, 'target', o.target);
  if (target === pivot) throw new DemoResourceError(`--target and --pivot are both ${target}`);

  mkdirSync(out, { recursive: true });
  mkdirSync(dirname(db), { recursive: true });
  const store = Store.open(db);
  try {
    // An explicit precision only reuses runs captured at it; auto reuses any (the log names the run's precision).
    const wanted = o.precision && o.precision !== 'auto' ? o.precision : undefined;
    const previous = o.fresh ? [] : listRuns(store).filter((r) => sameRun(r, res.modelFingerprint, dataset.fingerprint, languages, o.limit, wanted));
    const done = previous.filter((r) => r.status === 'completed').at(-1);
    const unfinished = previous.filter((r) => r.status !== 'completed').at(-1);
    let runId: number;
    let how: DemoResult['capture'];
    const t0 = performance.now();
    if (done) {
      runId = done.id;
      how = 'reused';
      log(`reusing completed run ${runId} in ${db}${done.precision ? ` (captured at ${done.precision})` : ''} (pass --fresh to capture again)`);
    } else {
      const backend = await EngineBackend.load(modelDir, { threads: o.threads, maxBatchTokens: 2048, precision: o.precision });
      try {
        const m = backend.model;
        log(`${m.architecture}: ${m.numMoeLayers} MoE layers x ${m.numExperts} experts, top-${m.topK}, on ${m.executionProvider}; ` +
          `${languages.length} languages x ${o.limit ? Math.min(o.limit, dataset.ids.length) : dataset.ids.length} UDHR items (${split})`);
        const common = { store, backend, dataset, signal: o.signal, onProgress: o.onProgress };
        const r = unfinished
          ? (log(`resuming interrupted run ${unfinished.id}`), await resumeCapture({ ...common, runId: unfinished.id }))
          : await startCapture({ ...common, languages, template: 'raw', limit: o.limit, batchSize: o.batchSize ?? 8, name: 'demo', projectName: 'demo' });
        runId = r.runId;
        how = unfinished ? 'resumed' : 'captured';
        if (r.status === 'cancelled') {
          return { status: 'cancelled', runId, db, out, capture: how, captureSeconds: (performance.now() - t0) / 1000, analysisSeconds: 0, files: [] };
        }
      } finally {
        await backend.dispose();
      }
    }
    const captureSeconds = (performance.now() - t0) / 1000;

    const t1 = performance.now();
    const data: RoutingData = loadRunRouting(store, runId, { scope: 'all' });
    const analysis: AnalysisResult = analyzeRouting(data, {
      genealogy: genealogyFromLookup((code) => table.find(code)),
      k: scaledK(DEMO_SPECIALISATION.paperK, data.numExperts, data.topK),
      thr: DEMO_SPECIALISATION.thr,
      bands: demoBands(data.numLayers),
      signal: o.signal,
    });
    const files = writeReport(analysis, join(out, 'analysis'));
    // Steer in the middle band, where routing is most language-agnostic (arXiv 2601.14050 steers layers 10-39 of 48).
    const middle = analysis.bands.middle!;
    const steerK = scaledK(DEMO_STEER.paperK, data.numExperts, data.topK);
    const steerThr = DEMO_STEER.thr;
    const plan = steeringPlan(data, { targets: [pivot, target], k: steerK, thr: steerThr, layers: middle, lambda: DEMO_STEER.lambda, mode: DEMO_STEER.mode });
    const planJson = steerPlanJson(decoderLayerPlan(plan, data.moeLayers));
    const shape = summarizeModel(modelDir);
    // The plan must be one the engine accepts as is (`routescope forward --plan`, `capture --plan`).
    resolvePlan(JSON.parse(planJson), { numLayers: shape.numLayers, numExperts: shape.numExperts, moeLayers: shape.moeLayers, topK: shape.topK }, 'demo steering plan');
    const planFile = join(out, `steer-${target}-toward-${pivot}.json`);
    writeFileSync(planFile, planJson + '\n');
    files.push(planFile);
    const summary = buildSummary({ analysis, data, runId, db, target, pivot, plan, planFile, middle, split, modelDir, captureSeconds, steerK, steerThr });
    let text = summaryText(summary);
    let experiment: DemoExperimentSummary | undefined;
    const analysisSeconds = (performance.now() - t1) / 1000;
    if (!o.noExperiment) {
      // The closing question: does the proposed plan change held-out NLL, and more than random experts would?
      experiment = await runDemoExperiment({
        store, modelDir, target, pivot, plan: JSON.parse(planJson), out, limit: o.limit, threads: o.threads, signal: o.signal, onProgress: o.onExperimentProgress, log,
      });
      text += demoExperimentText(experiment).join('\n') + '\n';
      if (experiment.reportDir) files.push(join(experiment.reportDir, 'summary.md'), join(experiment.reportDir, 'report.json'));
    }
    const jsonFile = join(out, 'demo.json');
    const mdFile = join(out, 'demo-summary.md');
    writeFileSync(jsonFile, JSON.stringify(experiment ? { ...summary, experiment } : summary, null, 2) + '\n');
    writeFileSync(mdFile, text);
    files.push(jsonFile, mdFile);
    return { status: 'completed', runId, db, out, capture: how, captureSeconds, analysisSeconds, files, summary, experiment, text };
  } finally {
    store.close();
  }
}
