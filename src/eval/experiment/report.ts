/**
 * The experiment report: paired comparisons of every arm with the baseline, per language and pooled ("all"), from
 * src/eval/stats (Wilson, exact McNemar, paired bootstrap, Holm, MDE); random-control percentiles; the dev/test
 * selection of the best arm; language consistency and routing shares. Written as report.json, by-language.csv and
 * summary.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { experimentArms, experimentResults, getExperiment, type ExperimentArmRecord, type ExperimentRecord, type ExperimentResult, type Store } from '../../store/index.js';
import {
  bestArm, compareArms, comparisonRows, selectionWarning, splitDevTest, summariseRandomControls, summaryMarkdown, toCsv, toReportJson,
  type ArmComparison, type Observation, type RandomControlSummary, type ReportComparison,
} from '../stats/index.js';
import { metricName } from './export.js';
import { levelAccuracies, levelTable, type LevelAccuracy } from './levels.js';
import { ExperimentError } from './tasks.js';
import { sweepControls, type ExperimentSpec } from './spec.js';

export interface ArmSummary {
  arm: string;
  kind: string;
  source: string;
  planHash: string | null;
  results: number;
  /** Mean of the task metric over all results. */
  mean: number | null;
  noAnswer: number;
  /** Share of outputs in the item's language (generate/translate), null when not applicable. */
  consistency: number | null;
  /** Mean over results of the mean over layers of the routing share on the arm's own experts. */
  routingShare: number | null;
  /** The baseline's share on this arm's experts, for comparison. */
  baselineRoutingShare: number | null;
}

export interface ExperimentReport {
  /** precision: the weight precision the arms ran at (null when not recorded: experiments before db/008). */
  experiment: { id: number; name: string; task: string; status: string; model: string; precision: string | null; created: string };
  metric: string;
  /** Lower is better for nll; higher for every other metric. */
  higherIsBetter: boolean;
  binary: boolean;
  /** 'all' when every item is used; 'test' when the best arm was chosen on dev items and comparisons use test items. */
  items: 'all' | 'test';
  selection: { arm: string; on: 'dev' | 'all'; warning: string | null } | null;
  arms: ArmSummary[];
  comparisons: ReportComparison[];
  randomControls: RandomControlSummary[];
  /** PolyMath: accuracy per difficulty level and the weighted accuracy, per arm and language; empty otherwise. */
  levels: LevelAccuracy[];
  warnings: string[];
}

const METRIC_TEXT: Record<string, string> = {
  nll: 'mean NLL (nats per token)', choice: 'accuracy (log-likelihood choice)', generate: 'accuracy', translate: 'chrF',
};

function valueOf(task: string, r: ExperimentResult): number | null {
  if (task === 'generate') return r.correct === null ? null : r.correct ? 1 : 0;
  return r.score;
}

function mean(xs: number[]): number | null {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

function layerMean(share: (number | null)[] | undefined): number | null {
  return mean((share ?? []).filter((x): x is number => x !== null));
}

interface Built {
  report: ExperimentReport;
  comparisons: ArmComparison[];
}

function build(exp: ExperimentRecord, arms: ExperimentArmRecord[], results: ExperimentResult[], opts: { seed?: number; resamples?: number }): Built {
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
      return v === null ? [] : [{ arm: r.arm, item: r.itemId, lang: r.language, sample: r.sample, value: v }];
    });
  const seed = opts.seed ?? 2025;
  const compare = (rows: ExperimentResult[]) => compareArms(observations(rows), { baseline, binary, seed, resamples: opts.resamples });
  // Plans and recipes (sweep points included) compete for "best"; random controls and the baseline do not.
  const candidates = new Set(arms.filter((a) => a.kind === 'plan' || a.kind === 'recipe').map((a) => a.name));

  let items: ExperimentReport['items'] = 'all';
  let selection: ExperimentReport['selection'] = null;
  let used = results;
  if (spec.devSplit) {
    const split = splitDevTest(results.map((r) => r.itemId), { seed: spec.devSplit.seed, devFraction: spec.devSplit.fraction });
    const dev = results.filter((r) => split.dev.has(r.itemId));
    used = results.filter((r) => split.test.has(r.itemId));
    items = 'test';
    if (candidates.size > 0 && dev.length > 0) {
      const arm = bestArm(compare(dev).filter((c) => candidates.has(c.arm)), { higherIsBetter });
      selection = { arm, on: 'dev', warning: null };
    }
  }
  if (used.length === 0) throw new ExperimentError(`experiment ${exp.id} has no results to report${spec.devSplit ? ' on its test items' : ''}`);
  const comparisons = compare(used);
  if (!spec.devSplit && candidates.size > 1) {
    const arm = bestArm(comparisons.filter((c) => candidates.has(c.arm)), { higherIsBetter });
    selection = { arm, on: 'all', warning: selectionWarning(arm, true, candidates.size) };
  }

  // Each plan set among its own controls: a random arm's seeds, and a sweep's controls point by point.
  const controlGroups: { plan: string; controls: string[] }[] = [];
  for (const a of spec.arms ?? []) if (a.kind === 'random') controlGroups.push({ plan: a.of, controls: a.seeds.map((s) => `${a.name}-s${s}`) });
  for (const s of spec.sweeps ?? []) {
    const byPoint = new Map<string, string[]>();
    for (const c of sweepControls(s)) byPoint.set(c.of, [...(byPoint.get(c.of) ?? []), c.name]);
    for (const [plan, controls] of byPoint) controlGroups.push({ plan, controls });
  }
  const compared = new Set(comparisons.map((x) => x.arm));
  const randomControls: RandomControlSummary[] = [];
  for (const { plan, controls: all } of controlGroups) {
    const controls = all.filter((c) => compared.has(c));
    if (controls.length === 0 || !compared.has(plan)) continue;
    randomControls.push(...summariseRandomControls(comparisons, { plan, controls, higherIsBetter }));
  }

  const byArm = new Map<string, ExperimentResult[]>();
  for (const r of results) byArm.set(r.arm, [...(byArm.get(r.arm) ?? []), r]);
  const baseRows = byArm.get(baseline) ?? [];
  const summaries: ArmSummary[] = arms.map((a) => {
    const rows = byArm.get(a.name) ?? [];
    const values = rows.map((r) => valueOf(task, r)).filter((x): x is number => x !== null);
    const cons = rows.map((r) => r.consistent).filter((x): x is boolean => x !== null);
    const share = (rs: ExperimentResult[]) => mean(rs.map((r) => layerMean(r.routing?.[a.name])).filter((x): x is number => x !== null));
    return {
      arm: a.name, kind: a.kind, source: a.source, planHash: a.planHash, results: rows.length, mean: mean(values),
      noAnswer: rows.filter((r) => r.noAnswer === true).length,
      consistency: cons.length ? cons.filter(Boolean).length / cons.length : null,
      routingShare: a.kind === 'baseline' ? null : share(rows),
      baselineRoutingShare: a.kind === 'baseline' ? null : share(baseRows),
    };
  });
  const report: ExperimentReport = {
    experiment: { id: exp.id, name: exp.name, task, status: exp.status, model: exp.modelPath, precision: exp.precision, created: exp.createdAt },
    metric: METRIC_TEXT[task] ?? metricName(task),
    higherIsBetter, binary, items, selection, arms: summaries, comparisons: toReportJson(comparisons, { detail: true }), randomControls,
    levels: task === 'generate' ? levelAccuracies(used, arms.map((a) => a.name)) : [], warnings,
  };
  return { report, comparisons };
}

export function buildReport(exp: ExperimentRecord, arms: ExperimentArmRecord[], results: ExperimentResult[], opts: { seed?: number; resamples?: number } = {}): ExperimentReport {
  return build(exp, arms, results, opts).report;
}

const f = (x: number | null | undefined, d = 4) => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(d));

function armsTable(r: ExperimentReport): string[] {
  const L = ['## Arms', '', '| arm | kind | results | mean | no answer | consistency | routing share on its experts (baseline\'s) | plan |', '|---|---|---:|---:|---:|---:|---|---|'];
  for (const a of r.arms) {
    const share = a.routingShare === null ? '-' : `${f(a.routingShare, 3)} (${f(a.baselineRoutingShare, 3)})`;
    L.push(`| ${a.arm} | ${a.kind} | ${a.results} | ${f(a.mean)} | ${a.noAnswer} | ${a.consistency === null ? 'n/a' : f(a.consistency, 3)} | ${share} | ${a.source.replace(/\|/g, '\\|')} |`);
  }
  return L;
}

/** The summary.md text: src/eval/stats' verdict (the honest sentence when no interval excludes zero) and the arms table. */
function summaryText(exp: ExperimentRecord, report: ExperimentReport, comparisons: ArmComparison[], resamples?: number): string {
  const notes = [
    exp.precision ? `Weights at precision ${exp.precision} for every arm (docs/precision.md).` : 'Weight precision not recorded (an experiment run before it was).',
    report.items === 'test' ? `Comparisons use the test items of the spec's dev/test split; the best arm (${report.selection?.arm ?? 'none'}) was chosen on the dev items.` : 'Comparisons use every item.',
    ...report.warnings,
  ];
  const md = summaryMarkdown(comparisons, {
    title: `Experiment ${exp.id}: ${exp.name} (${exp.task})`, metric: report.metric, higherIsBetter: report.higherIsBetter, resamples,
    randomControls: report.randomControls, selection: report.selection?.warning ?? null, notes,
  });
  return md + '\n' + [...armsTable(report), ...(report.levels.length ? ['', ...levelTable(report.levels)] : [])].join('\n') + '\n';
}

/** The report and its summary.md text, for a reader that shows them (the workbench) rather than writing files. */
export function experimentReport(store: Store, id: number, opts: { seed?: number; resamples?: number } = {}): { report: ExperimentReport; summary: string; results: ExperimentResult[] } {
  const exp = getExperiment(store, id);
  const results = experimentResults(store, id);
  const { report, comparisons } = build(exp, experimentArms(store, id), results, opts);
  return { report, summary: summaryText(exp, report, comparisons, opts.resamples), results };
}

/** Writes report.json, comparisons.csv, one CSV per language, arms.csv and summary.md into `dir`. */
export function writeExperimentReport(store: Store, id: number, dir: string, opts: { seed?: number; resamples?: number } = {}): { report: ExperimentReport; files: string[] } {
  const exp = getExperiment(store, id);
  const { report, comparisons } = build(exp, experimentArms(store, id), experimentResults(store, id), opts);
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const write = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    files.push(file);
  };
  write('report.json', JSON.stringify(report, null, 2) + '\n');
  write('comparisons.csv', toCsv(comparisonRows(comparisons)));
  for (const lang of [...new Set(comparisons.map((c) => c.language))]) {
    write(`language-${lang.replace(/[^\w.-]/g, '_')}.csv`, toCsv(comparisonRows(comparisons.filter((c) => c.language === lang))));
  }
  write('arms.csv', toCsv(report.arms.map((a) => ({ ...a }))));
  write('summary.md', summaryText(exp, report, comparisons, opts.resamples));
  return { report, files };
}
