/**
 * The experiment report: paired comparisons of every arm with the baseline, per language and pooled ("all"), from
 * src/eval/stats (Wilson, exact McNemar, paired bootstrap, Holm, MDE); random-control percentiles; the dev/test
 * selection of the best arm; language consistency and routing shares. Written as report.json, by-language.csv and
 * summary.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { experimentArms, experimentResults, getExperiment, type ExperimentArmRecord, type ExperimentRecord, type ExperimentResult, type Store } from '../../store/index.js';
import { compareArms, randomControlPercentile, type ArmComparison, type Observation } from '../stats/index.js';
import { isDevItem } from './runner.js';
import { metricName } from './export.js';
import type { ExperimentSpec } from './spec.js';

export interface ArmSummary {
  arm: string;
  kind: string;
  source: string;
  planHash: string | null;
  results: number;
  /** Mean score over all results (per task metric). */
  mean: number | null;
  noAnswer: number;
  /** Share of outputs in the item's language (generate/translate), null when not applicable. */
  consistency: number | null;
  /** Mean over items of the mean over layers of the routing share on the arm's own experts. */
  routingShare: number | null;
  /** The baseline's share on this arm's experts, for comparison. */
  baselineRoutingShare: number | null;
}

export interface RandomControlSummary {
  arm: string;
  controls: string[];
  effect: number;
  controlEffects: number[];
  /** Percentile (0-100) of the arm's pooled effect among its random controls' effects. */
  percentile: number;
}

export interface ExperimentReport {
  experiment: { id: number; name: string; task: string; status: string; model: string; created: string };
  metric: string;
  /** Lower is better for nll; higher for every other metric. */
  higherIsBetter: boolean;
  binary: boolean;
  /** 'all' when every item is used; 'test' when the best arm was chosen on dev items and comparisons use test items. */
  items: 'all' | 'test';
  selection: { arm: string; on: 'dev' | 'all'; delta: number } | null;
  arms: ArmSummary[];
  comparisons: ReportComparison[];
  randomControls: RandomControlSummary[];
  warnings: string[];
}

/** One comparison as report.json holds it. */
export interface ReportComparison {
  arm: string;
  baseline: string;
  language: string;
  n: number;
  baseline_score: number;
  arm_score: number;
  delta: number;
  ci: [number, number];
  p: number;
  p_holm: number;
  test: string;
  discordant: { baseline_only: number; arm_only: number } | null;
  baseline_ci: [number, number] | null;
  arm_ci: [number, number] | null;
  mde: number;
  warnings: string[];
}

function valueOf(task: string, r: ExperimentResult): number | null {
  if (task === 'generate') return r.correct === null ? null : r.correct ? 1 : 0;
  return r.score;
}

function mean(xs: number[]): number | null {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

function toReport(c: ArmComparison): ReportComparison {
  return {
    arm: c.arm, baseline: c.baseline, language: c.language, n: c.n, baseline_score: c.baselineScore, arm_score: c.armScore, delta: c.delta,
    ci: c.ci, p: c.p, p_holm: c.pHolm, test: c.test, discordant: c.discordant ? { baseline_only: c.discordant.baselineOnly, arm_only: c.discordant.armOnly } : null,
    baseline_ci: c.baselineCi ?? null, arm_ci: c.armCi ?? null, mde: c.mde, warnings: c.warnings,
  };
}

function layerMean(share: (number | null)[] | undefined): number | null {
  return mean((share ?? []).filter((x): x is number => x !== null));
}

export function buildReport(exp: ExperimentRecord, arms: ExperimentArmRecord[], results: ExperimentResult[], opts: { seed?: number; resamples?: number } = {}): ExperimentReport {
  const spec = exp.spec as ExperimentSpec;
  const task = exp.task;
  const binary = task === 'choice' || task === 'generate';
  const higherIsBetter = task !== 'nll';
  const baseline = arms.find((a) => a.kind === 'baseline')!.name;
  const warnings: string[] = [];
  if (exp.status !== 'completed') warnings.push(`experiment ${exp.id} is ${exp.status}: the report covers the ${results.length} results stored so far`);

  const observations = (rows: ExperimentResult[]): Observation[] =>
    rows.flatMap((r) => {
      const v = valueOf(task, r);
      return v === null ? [] : [{ arm: r.arm, item: `${r.language}\u0000${r.itemId}`, lang: r.language, sample: r.sample, value: v }];
    });
  const seed = opts.seed ?? 2025;
  const compare = (rows: ExperimentResult[]) => compareArms(observations(rows), { baseline, binary, seed, resamples: opts.resamples });

  const better = (a: number, b: number) => (higherIsBetter ? a > b : a < b);
  const candidates = arms.filter((a) => a.kind === 'plan' || a.kind === 'recipe').map((a) => a.name);
  const pick = (cs: ArmComparison[]) => {
    const pooled = cs.filter((c) => c.language === 'all' && candidates.includes(c.arm));
    return pooled.reduce<ArmComparison | null>((best, c) => (best === null || better(c.delta, best.delta) ? c : best), null);
  };

  let items: ExperimentReport['items'] = 'all';
  let selection: ExperimentReport['selection'] = null;
  let used = results;
  if (spec.devSplit) {
    const dev = results.filter((r) => isDevItem(spec, r.itemId));
    used = results.filter((r) => !isDevItem(spec, r.itemId));
    items = 'test';
    const best = dev.length ? pick(compare(dev)) : null;
    if (best) selection = { arm: best.arm, on: 'dev', delta: best.delta };
    if (used.length === 0) warnings.push('the dev/test split left no test items');
  } else if (candidates.length > 1) {
    const best = pick(compare(results));
    if (best) {
      selection = { arm: best.arm, on: 'all', delta: best.delta };
      warnings.push(`the best arm ('${best.arm}') was selected on the same items it is reported on, so its effect is biased upward; add a dev_split to the spec to choose on dev items and report on test items`);
    }
  }
  const comparisons = used.length ? compare(used) : [];
  for (const c of comparisons) for (const w of c.warnings) if (!warnings.includes(w)) warnings.push(w);

  const randomControls: RandomControlSummary[] = [];
  for (const a of spec.arms ?? []) {
    if (a.kind !== 'random') continue;
    const controls = a.seeds.map((s) => `${a.name}-s${s}`);
    const pooled = (name: string) => comparisons.find((c) => c.arm === name && c.language === 'all')?.delta;
    const effect = pooled(a.of);
    const controlEffects = controls.map(pooled).filter((x): x is number => x !== undefined);
    if (effect === undefined || controlEffects.length === 0) continue;
    // For nll a better plan has a lower (more negative) delta: percentiles are of the improvement.
    const sign = higherIsBetter ? 1 : -1;
    randomControls.push({ arm: a.of, controls, effect, controlEffects, percentile: randomControlPercentile(sign * effect, controlEffects.map((x) => sign * x)) });
  }

  const byArm = new Map<string, ExperimentResult[]>();
  for (const r of results) byArm.set(r.arm, [...(byArm.get(r.arm) ?? []), r]);
  const baseRows = byArm.get(baseline) ?? [];
  const summaries: ArmSummary[] = arms.map((a) => {
    const rows = byArm.get(a.name) ?? [];
    const values = rows.map((r) => valueOf(task, r)).filter((x): x is number => x !== null);
    const cons = rows.map((r) => r.consistent).filter((x): x is boolean => x !== null);
    return {
      arm: a.name, kind: a.kind, source: a.source, planHash: a.planHash, results: rows.length, mean: mean(values),
      noAnswer: rows.filter((r) => r.noAnswer === true).length,
      consistency: cons.length ? cons.filter(Boolean).length / cons.length : null,
      routingShare: a.kind === 'baseline' ? null : mean(rows.map((r) => layerMean(r.routing?.[a.name])).filter((x): x is number => x !== null)),
      baselineRoutingShare: a.kind === 'baseline' ? null : mean(baseRows.map((r) => layerMean(r.routing?.[a.name])).filter((x): x is number => x !== null)),
    };
  });

  return {
    experiment: { id: exp.id, name: exp.name, task, status: exp.status, model: exp.modelPath, created: exp.createdAt },
    metric: task === 'generate' ? 'accuracy' : metricName(task),
    higherIsBetter, binary, items, selection, arms: summaries, comparisons: comparisons.map(toReport), randomControls, warnings,
  };
}

const csvCell = (v: unknown) => {
  const s = v === null || v === undefined ? '' : typeof v === 'number' ? String(v) : String(v);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
};

export function comparisonsCsv(r: ExperimentReport): string {
  const head = ['arm', 'baseline', 'language', 'n', 'baseline_score', 'arm_score', 'delta', 'ci_lo', 'ci_hi', 'p', 'p_holm', 'test', 'baseline_only', 'arm_only', 'mde'];
  const rows = r.comparisons.map((c) => [c.arm, c.baseline, c.language, c.n, c.baseline_score, c.arm_score, c.delta, c.ci[0], c.ci[1], c.p, c.p_holm, c.test, c.discordant?.baseline_only, c.discordant?.arm_only, c.mde]);
  return [head, ...rows].map((row) => row.map(csvCell).join(',')).join('\n') + '\n';
}

const f = (x: number | null | undefined, d = 4) => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(d));

export function summaryMarkdown(r: ExperimentReport): string {
  const L: string[] = [];
  const e = r.experiment;
  L.push(`# Experiment ${e.id}: ${e.name}`, '');
  L.push(`Task ${e.task} (metric: ${r.metric}, ${r.higherIsBetter ? 'higher' : 'lower'} is better), model ${e.model}, status ${e.status}.`);
  L.push(r.items === 'test' ? 'Comparisons use the test items; the best arm was chosen on the dev items.' : 'Comparisons use every item.');
  if (r.selection) L.push(`Best arm: **${r.selection.arm}** (pooled delta ${f(r.selection.delta)} on ${r.selection.on === 'dev' ? 'dev items' : 'all items'}).`);
  L.push('', '## Arms', '', '| arm | kind | results | mean | no answer | consistency | routing share on its experts (baseline) |', '|---|---|---|---|---|---|---|');
  for (const a of r.arms) {
    L.push(`| ${a.arm} | ${a.kind} | ${a.results} | ${f(a.mean)} | ${a.noAnswer} | ${a.consistency === null ? 'n/a' : f(a.consistency, 3)} | ${a.routingShare === null ? '-' : `${f(a.routingShare, 3)} (${f(a.baselineRoutingShare, 3)})`} |`);
  }
  L.push('', '## Paired comparisons with the baseline', '', `Delta = arm minus baseline; 95% paired bootstrap interval; p from ${r.binary ? 'the exact McNemar test (discordant counts b = right only under the baseline, c = right only under the arm)' : 'a paired test'}; p_holm Holm-adjusted over all rows.`, '');
  L.push(`| arm | language | n | baseline | arm | delta | 95% CI | p | p_holm |${r.binary ? ' b / c |' : ''} MDE |`, `|---|---|---|---|---|---|---|---|---|${r.binary ? '---|' : ''}---|`);
  for (const c of r.comparisons) {
    L.push(`| ${c.arm} | ${c.language} | ${c.n} | ${f(c.baseline_score)} | ${f(c.arm_score)} | ${f(c.delta)} | [${f(c.ci[0])}, ${f(c.ci[1])}] | ${f(c.p, 4)} | ${f(c.p_holm, 4)} |${r.binary ? ` ${c.discordant?.baseline_only ?? '-'} / ${c.discordant?.arm_only ?? '-'} |` : ''} ${f(c.mde)} |`);
  }
  if (r.randomControls.length) {
    L.push('', '## Random-expert controls', '');
    for (const rc of r.randomControls) {
      L.push(`- ${rc.arm}: pooled delta ${f(rc.effect)}; ${rc.controls.length} random controls (same experts per layer) gave ${rc.controlEffects.map((x) => f(x)).join(', ')}; the plan's improvement is at the ${f(rc.percentile, 0)}th percentile of theirs.`);
    }
  }
  if (r.warnings.length) {
    L.push('', '## Warnings', '');
    for (const w of r.warnings) L.push(`- ${w}`);
  }
  L.push('');
  return L.join('\n');
}

/** Writes report.json, by-language.csv and summary.md into `dir`; returns the report and the files. */
export function writeExperimentReport(store: Store, id: number, dir: string, opts: { seed?: number; resamples?: number } = {}): { report: ExperimentReport; files: string[] } {
  const report = buildReport(getExperiment(store, id), experimentArms(store, id), experimentResults(store, id), opts);
  mkdirSync(dir, { recursive: true });
  const files = [join(dir, 'report.json'), join(dir, 'by-language.csv'), join(dir, 'summary.md')];
  writeFileSync(files[0]!, JSON.stringify(report, null, 2) + '\n');
  writeFileSync(files[1]!, comparisonsCsv(report));
  writeFileSync(files[2]!, summaryMarkdown(report));
  return { report, files };
}
