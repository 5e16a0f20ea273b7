/**
 * The demo's closing experiment (resources/experiments/demo-nll.json): does the steering plan the demo proposes
 * change held-out NLL in the target language, and by more than random experts would? The spec file is the recipe;
 * this module fills in the model, the languages and the demo's plan, runs it (reusing a completed identical run,
 * resuming an interrupted one) and states the result as it is, whatever it shows.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  NoopArmError, parseExperimentSpec, runExperiment, specHash, writeExperimentReport, type ExperimentProgress, type ExperimentReport, type ExperimentSpec,
} from '../eval/experiment/index.js';
import { listExperiments, type Store } from '../store/index.js';
import { RESOURCES_DIR } from './resources.js';

export const DEMO_EXPERIMENT_SPEC = join(RESOURCES_DIR, 'experiments', 'demo-nll.json');

export interface DemoExperimentSummary {
  experimentId: number | null;
  /** 'ran', 'resumed', 'reused'; 'no-op' when the plan changes no routing decision (nothing to measure). */
  how: 'ran' | 'resumed' | 'reused' | 'no-op' | 'cancelled';
  target: string;
  pivot: string;
  items: number;
  randomControls: number;
  /** Pooled over the target's items: baseline and steered mean NLL, delta, 95% CI, p. */
  target_effect: { baseline: number; steered: number; delta: number; ci: [number, number]; p: number; n: number } | null;
  /** The same in the pivot language: a side effect check. */
  pivot_effect: { baseline: number; steered: number; delta: number; ci: [number, number]; p: number; n: number } | null;
  /** Percentile of the plan's target-language effect among the random controls' (in the "better" direction), and how many it beats. */
  percentile: number | null;
  beats: number | null;
  verdict: string;
  reportDir: string | null;
  seconds: number;
}

/** The demo spec with the model, the languages (target first) and the plan filled in. */
export function demoExperimentSpec(o: { modelDir: string; target: string; pivot: string; plan: unknown; limit?: number; specFile?: string }): ExperimentSpec {
  const file = o.specFile ?? DEMO_EXPERIMENT_SPEC;
  const doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown> & { arms: Record<string, unknown>[]; dataset: Record<string, unknown> };
  doc.model = o.modelDir;
  doc.dataset = { ...doc.dataset, languages: [o.target, o.pivot], ...(o.limit ? { limit: o.limit } : {}) };
  doc.arms = doc.arms.map((a) => (a.name === 'steer' ? { ...a, plan: o.plan } : a));
  return parseExperimentSpec(doc, RESOURCES_DIR);
}

function effect(report: ExperimentReport, language: string) {
  const c = report.comparisons.find((x) => x.arm === 'steer' && x.language === language);
  return c ? { baseline: c.baseline_score, steered: c.arm_score, delta: c.delta, ci: c.ci, p: c.p, n: c.n } : null;
}

const fmt = (x: number) => (Math.abs(x) >= 0.01 ? x.toFixed(3) : x.toExponential(1));

function verdictOf(s: Pick<DemoExperimentSummary, 'target' | 'target_effect' | 'percentile' | 'beats' | 'randomControls'>): string {
  const e = s.target_effect;
  if (!e) return 'no comparison could be made';
  const ci = `95% CI ${fmt(e.ci[0])} to ${fmt(e.ci[1])}`;
  const size = `${fmt(Math.abs(e.delta))} nats/token, ${((100 * Math.abs(e.delta)) / e.baseline).toFixed(3)}% of the baseline NLL`;
  const excludes = e.ci[1] < 0 || e.ci[0] > 0;
  const direction = e.delta < 0 ? `lowers ${s.target} NLL (helps)` : `raises ${s.target} NLL (hurts)`;
  let head: string;
  if (excludes && e.p < 0.05) head = `the plan ${direction} by ${size} (${ci}, paired test p = ${e.p.toFixed(3)}, n = ${e.n} items)`;
  else if (excludes) head = `suggestive at most: the plan ${direction} by ${size}; the bootstrap ${ci} excludes zero but the paired test does not reject (p = ${e.p.toFixed(3)}, n = ${e.n} items)`;
  else head = `no effect on ${s.target} NLL distinguishable from zero (delta ${fmt(e.delta)} nats/token, ${ci}, p = ${e.p.toFixed(3)}, n = ${e.n} items)`;
  const random = s.percentile === null ? '' : `; its effect beats ${s.beats} of ${s.randomControls} random-expert controls (percentile ${s.percentile.toFixed(0)}), so ${s.beats === s.randomControls ? 'which experts it picks may matter' : 'it is not clearly better than steering random experts'}`;
  return head + random;
}

export async function runDemoExperiment(o: {
  store: Store; modelDir: string; target: string; pivot: string; plan: unknown; out: string; limit?: number; threads?: number;
  signal?: AbortSignal; onProgress?: (p: ExperimentProgress) => void; log?: (line: string) => void;
}): Promise<DemoExperimentSummary> {
  const t0 = performance.now();
  const spec = demoExperimentSpec(o);
  const hash = specHash(spec);
  const same = listExperiments(o.store).filter((e) => e.specHash === hash);
  const done = same.filter((e) => e.status === 'completed').at(-1);
  const open = same.filter((e) => e.status !== 'completed').at(-1);
  const controls = spec.arms.filter((a) => a.kind === 'random').reduce((n, a) => n + (a.kind === 'random' ? a.seeds.length : 0), 0);
  const base = { target: o.target, pivot: o.pivot, randomControls: controls };
  let id: number;
  let how: DemoExperimentSummary['how'];
  if (done) {
    id = done.id;
    how = 'reused';
    o.log?.(`reusing completed experiment ${id} (same spec, model and plan)`);
  } else {
    try {
      const r = await runExperiment({
        store: o.store, spec, resumeId: open?.id, engineOptions: { threads: o.threads }, signal: o.signal, onProgress: o.onProgress, log: o.log,
      });
      id = r.experimentId;
      how = open ? 'resumed' : 'ran';
      if (r.status === 'cancelled') {
        return { ...base, experimentId: id, how: 'cancelled', items: 0, target_effect: null, pivot_effect: null, percentile: null, beats: null, verdict: 'cancelled; run the demo again to resume it', reportDir: null, seconds: (performance.now() - t0) / 1000 };
      }
    } catch (err) {
      if (!(err instanceof NoopArmError) || err.arm !== 'steer') throw err;
      return {
        ...base, experimentId: null, how: 'no-op', items: 0, target_effect: null, pivot_effect: null, percentile: null, beats: null,
        verdict: `the plan changes no routing decision on the held-out ${o.target} text, so it cannot change anything; no experiment was run`,
        reportDir: null, seconds: (performance.now() - t0) / 1000,
      };
    }
  }
  const reportDir = join(o.out, 'experiment');
  const { report } = writeExperimentReport(o.store, id, reportDir);
  const rc = report.randomControls.find((r) => r.plan === 'steer' && r.language === o.target);
  const target_effect = effect(report, o.target);
  // NLL: lower is better, so the plan's percentile among the controls is taken in the improvement direction.
  const percentile = rc ? 100 - rc.percentile : null;
  const s = { ...base, percentile, beats: rc?.beats ?? null, target_effect };
  return {
    ...s, experimentId: id, how, items: target_effect?.n ?? 0, pivot_effect: effect(report, o.pivot), verdict: verdictOf(s), reportDir,
    seconds: (performance.now() - t0) / 1000,
  };
}

export function demoExperimentText(s: DemoExperimentSummary): string[] {
  const L = [`Does the plan help? Held-out UDHR NLL (nats/token, lower is better), baseline vs steered, ${s.randomControls} random-expert controls:`];
  if (s.target_effect) {
    const t = s.target_effect;
    L.push(`  ${s.target}: baseline ${t.baseline.toFixed(4)}, steered ${t.steered.toFixed(4)}, delta ${fmt(t.delta)} [${fmt(t.ci[0])}, ${fmt(t.ci[1])}], p ${t.p.toFixed(3)} (n = ${t.n}).`);
  }
  if (s.pivot_effect) {
    const t = s.pivot_effect;
    L.push(`  ${s.pivot} (side effect): baseline ${t.baseline.toFixed(4)}, steered ${t.steered.toFixed(4)}, delta ${fmt(t.delta)} [${fmt(t.ci[0])}, ${fmt(t.ci[1])}], p ${t.p.toFixed(3)}.`);
  }
  L.push(`  Result: ${s.verdict}.`);
  if (s.items > 0 && s.items < 30) L.push(`  With ${s.items} held-out items this can only detect large effects; the plan was also derived from routing on these same articles.`);
  if (s.reportDir) L.push(`  Report (summary.md, report.json, CSV): ${s.reportDir}; experiment ${s.experimentId} (${s.how}, ${s.seconds.toFixed(1)} s).`);
  return L;
}
