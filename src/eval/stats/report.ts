/**
 * Pure renderers of comparisons for `experiment report`: report.json objects, CSV tables and summary.md. No file
 * I/O here; the caller writes the strings.
 */
import type { ArmComparison } from './index.js';
import type { RandomControlSummary } from './random-controls.js';

/** One report.json comparison: the keys issue #8 lists (discordant counts only for McNemar comparisons). */
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
  discordant?: { baseline_only: number; arm_only: number };
  /** Only with { detail: true }. */
  test?: ArmComparison['test'];
  baseline_ci?: [number, number];
  arm_ci?: [number, number];
  mde?: number;
  warnings?: string[];
}

/** NaN (an undefined statistic) becomes null in JSON.stringify, which is what report.json should carry. */
export function toReportJson(comparisons: readonly ArmComparison[], opts: { detail?: boolean } = {}): ReportComparison[] {
  return comparisons.map((c) => {
    const row: ReportComparison = {
      arm: c.arm,
      baseline: c.baseline,
      language: c.language,
      n: c.n,
      baseline_score: c.baselineScore,
      arm_score: c.armScore,
      delta: c.delta,
      ci: [c.ci[0], c.ci[1]],
      p: c.p,
      p_holm: c.pHolm,
    };
    if (c.discordant) row.discordant = { baseline_only: c.discordant.baselineOnly, arm_only: c.discordant.armOnly };
    if (opts.detail) {
      row.test = c.test;
      if (c.baselineCi) row.baseline_ci = [c.baselineCi[0], c.baselineCi[1]];
      if (c.armCi) row.arm_ci = [c.armCi[0], c.armCi[1]];
      row.mde = c.mde;
      row.warnings = [...c.warnings];
    }
    return row;
  });
}

export type CsvValue = string | number | boolean | null | undefined;

/** Flat rows for per-language CSV tables (one per comparison; filter by language for a per-language file). */
export function comparisonRows(comparisons: readonly ArmComparison[]): Record<string, CsvValue>[] {
  return comparisons.map((c) => ({
    language: c.language,
    arm: c.arm,
    baseline: c.baseline,
    n: c.n,
    baseline_score: c.baselineScore,
    baseline_ci_lo: c.baselineCi?.[0],
    baseline_ci_hi: c.baselineCi?.[1],
    arm_score: c.armScore,
    arm_ci_lo: c.armCi?.[0],
    arm_ci_hi: c.armCi?.[1],
    delta: c.delta,
    ci_lo: c.ci[0],
    ci_hi: c.ci[1],
    test: c.test,
    p: c.p,
    p_holm: c.pHolm,
    discordant_baseline_only: c.discordant?.baselineOnly,
    discordant_arm_only: c.discordant?.armOnly,
    mde: c.mde,
    warnings: c.warnings.join(' | '),
  }));
}

/**
 * RFC 4180 CSV: CRLF line ends, a header row, fields quoted when they hold a comma, quote, CR or LF or begin or
 * end with a space, quotes doubled. Columns: `columns`, or every key in first-seen order. Empty for null,
 * undefined and NaN.
 */
export function toCsv(rows: readonly Record<string, CsvValue>[], columns?: readonly string[]): string {
  const cols = columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const lines = [cols.map(csvField).join(',')];
  for (const row of rows) lines.push(cols.map((k) => csvField(row[k])).join(','));
  return lines.join('\r\n') + '\r\n';
}

function csvField(value: CsvValue): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' && Number.isNaN(value)) return '';
  const s = String(value);
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export interface SummaryContext {
  title?: string;
  /** What the score is, e.g. "accuracy" or "mean NLL (nats per token)". */
  metric: string;
  /** False for NLL-like metrics. Default true. */
  higherIsBetter?: boolean;
  /** The confidence level the comparisons were made at; default 0.95. */
  confidence?: number;
  /** Bootstrap resamples used; default 10,000. */
  resamples?: number;
  randomControls?: readonly RandomControlSummary[];
  /** A sweep's selection warning (selectionWarning), shown before the verdict. */
  selection?: string | null;
  notes?: readonly string[];
}

const isBinary = (c: ArmComparison) => c.baselineCi !== undefined;
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
const fmtP = (p: number) => (Number.isNaN(p) ? 'n/a' : p >= 0.001 ? p.toFixed(3) : p.toExponential(1));
const signed = (s: string, x: number) => (x > 0 ? `+${s}` : s);

function fmtScore(c: ArmComparison, x: number): string {
  return isBinary(c) ? `${(100 * x).toFixed(1)}%` : x.toPrecision(4);
}

function fmtDiff(c: ArmComparison, x: number): string {
  if (Number.isNaN(x)) return 'n/a';
  return isBinary(c) ? signed((100 * x).toFixed(1), x) : signed(x.toPrecision(3), x);
}

const unit = (c: ArmComparison) => (isBinary(c) ? ' pts' : '');
const excludesZero = (c: ArmComparison) => c.ci[0] > 0 || c.ci[1] < 0;

const TEST_NAMES: Record<ArmComparison['test'], string> = {
  'mcnemar-exact': 'exact McNemar',
  wilcoxon: 'Wilcoxon signed-rank',
  'paired-t': 'paired t',
};

/** summary.md: method line, the verdict stated plainly (including "nothing distinguishable from zero"), tables, warnings. */
export function summaryMarkdown(comparisons: readonly ArmComparison[], ctx: SummaryContext): string {
  const conf = ctx.confidence ?? 0.95;
  const alpha = 1 - conf;
  const pct = `${Math.round(conf * 100)}%`;
  const better = ctx.higherIsBetter === false ? -1 : 1;
  const lines: string[] = [`# ${ctx.title ?? 'Experiment report'}`, ''];
  if (comparisons.length === 0) {
    lines.push('No comparison: the experiment has no arm besides the baseline, or no item was paired.', '');
    return lines.join('\n');
  }
  const baseline = comparisons[0].baseline;
  const tests = [...new Set(comparisons.map((c) => TEST_NAMES[c.test]))].join(', ');
  lines.push(
    `Metric: ${ctx.metric} (${better > 0 ? 'higher' : 'lower'} is better). Baseline: \`${baseline}\`. ` +
      `Differences are arm minus baseline over paired items, with ${pct} paired bootstrap intervals ` +
      `(${(ctx.resamples ?? 10_000).toLocaleString('en-US')} resamples, percentile method)` +
      (comparisons.some(isBinary) ? `; each arm's accuracy has a ${pct} Wilson interval` : '') +
      `. Tests: ${tests}. p (Holm) is adjusted over all ${comparisons.length} comparisons of this report.`,
    '',
  );
  if (ctx.selection) lines.push(`> **Selection warning:** ${ctx.selection}`, '');

  lines.push('## Verdict', '');
  const shown = comparisons.filter(excludesZero);
  if (shown.length === 0) {
    const mdes = comparisons.map((c) => c.mde).filter((m) => Number.isFinite(m));
    const first = comparisons[0];
    const magnitude = (x: number) => fmtDiff(first, x).replace('+', '');
    const range = mdes.length > 0 ? `${magnitude(Math.min(...mdes))} to ${magnitude(Math.max(...mdes))}${unit(first)}` : 'not estimable';
    lines.push(
      `No difference is distinguishable from zero: every ${pct} interval of the difference includes 0. ` +
        `This does not show that the arms are equal; the smallest effects these item counts would detect (80% power) are ${range}.`,
    );
  } else {
    for (const c of shown) {
      const dir = better * c.delta > 0 ? 'better' : 'worse';
      const holmOk = c.pHolm < alpha;
      lines.push(
        `- \`${c.arm}\` in ${c.language}: ${dir} than the baseline by ${fmtDiff(c, Math.abs(c.delta)).replace('+', '')}${unit(c)} ` +
          `(${pct} CI ${fmtDiff(c, c.ci[0])} to ${fmtDiff(c, c.ci[1])}${unit(c)}, n = ${c.n}); ` +
          `p = ${fmtP(c.p)}, ${holmOk ? '' : 'not '}significant after Holm correction (p = ${fmtP(c.pHolm)})` +
          '.',
      );
    }
    const rest = comparisons.length - shown.length;
    if (rest > 0) lines.push(`- The other ${rest} comparison${rest === 1 ? '' : 's'}: the interval includes 0.`);
    if (!shown.some((c) => c.pHolm < alpha)) {
      lines.push('', `None of these survives the Holm correction at alpha ${alpha.toFixed(2)}: treat them as unconfirmed.`);
    }
  }
  lines.push('');

  // Languages alphabetically, the pooled "all" last.
  const order = (l: string) => (l === 'all' ? '\uffff' : l);
  const byLanguage = (a: string, b: string) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0);
  const languages = [...new Set(comparisons.map((c) => c.language))].sort(byLanguage);
  lines.push('## Comparisons', '');
  lines.push(`| Language | Arm | n | Baseline | Arm | Difference | ${pct} CI | Test | p | p (Holm) | Baseline-only / arm-only | MDE |`);
  lines.push('|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|');
  for (const lang of languages) {
    for (const c of comparisons.filter((x) => x.language === lang)) {
      const baseCi = c.baselineCi ? ` [${fmtScore(c, c.baselineCi[0])}, ${fmtScore(c, c.baselineCi[1])}]` : '';
      const armCi = c.armCi ? ` [${fmtScore(c, c.armCi[0])}, ${fmtScore(c, c.armCi[1])}]` : '';
      const disc = c.discordant ? `${c.discordant.baselineOnly} / ${c.discordant.armOnly}` : '';
      const cells = [
        cell(c.language),
        cell(c.arm),
        String(c.n),
        `${fmtScore(c, c.baselineScore)}${baseCi}`,
        `${fmtScore(c, c.armScore)}${armCi}`,
        `${fmtDiff(c, c.delta)}${unit(c)}`,
        `[${fmtDiff(c, c.ci[0])}, ${fmtDiff(c, c.ci[1])}]`,
        TEST_NAMES[c.test],
        fmtP(c.p),
        fmtP(c.pHolm),
        disc,
        `${fmtDiff(c, c.mde).replace('+', '')}${unit(c)}`,
      ];
      lines.push(`| ${cells.join(' | ')} |`);
    }
  }
  lines.push('');

  if (ctx.randomControls && ctx.randomControls.length > 0) {
    lines.push('## Random controls', '');
    for (const r of ctx.randomControls) lines.push(`- ${r.text}`);
    lines.push('');
  }

  // The same warning often holds for many comparisons (every arm at 125 items): say it once, then where it holds.
  const warnings = new Map<string, string[]>();
  for (const c of comparisons) {
    for (const w of c.warnings) warnings.set(w, [...(warnings.get(w) ?? []), `${c.arm} (${c.language})`]);
  }
  if (warnings.size > 0) {
    lines.push('## Warnings', '');
    for (const [w, where] of warnings) lines.push(`- ${w[0].toUpperCase()}${w.slice(1)}. Applies to: ${where.join(', ')}.`);
    lines.push('');
  }
  if (ctx.notes && ctx.notes.length > 0) {
    lines.push('## Notes', '');
    for (const n of ctx.notes) lines.push(`- ${n}`);
    lines.push('');
  }
  return lines.join('\n');
}
