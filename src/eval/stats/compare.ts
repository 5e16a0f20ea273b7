/**
 * compareArms: every non-baseline arm against the baseline, per language and pooled ("all"), on paired items.
 * Binary outcomes: Wilson intervals per arm, exact McNemar; continuous: Wilcoxon signed-rank (default) or paired t.
 * Both: the seeded paired bootstrap interval of the mean difference and the minimum detectable effect.
 * Holm's correction runs over the whole family this call returns (see holmFamily).
 */
import type { ArmComparison, CompareOptions, Observation } from './index.js';
import { DEFAULT_RESAMPLES, pairedBootstrap } from './bootstrap.js';
import { holm } from './holm.js';
import { mcnemarExact } from './mcnemar.js';
import { pairedT, wilcoxonSignedRank } from './paired-tests.js';
import { groupByArm, pairItems, StatsInputError } from './pairing.js';
import { itemsNeeded, minimumDetectableEffect } from './power.js';
import { checkConfidence, wilsonInterval } from './wilson.js';

/** Below this many paired items a comparison carries a small-sample warning (lm-evaluation-harness uses 300). */
export const MIN_ITEMS_BINARY = 300;
export const MIN_ITEMS_CONTINUOUS = 30;
/** The effects arXiv 2601.14050 and 2510.04694 report are 1-2 accuracy points. */
export const PAPER_EFFECT = 0.02;

export function compareArms(observations: readonly Observation[], opts: CompareOptions): ArmComparison[] {
  checkOptions(opts);
  if (observations.length === 0) throw new StatsInputError('no observations to compare');
  const arms = groupByArm(observations, opts.binary);
  const base = arms.get(opts.baseline);
  if (!base) {
    const present = [...arms.keys()].join(', ');
    throw new StatsInputError(`baseline arm ${JSON.stringify(opts.baseline)} has no observations; arms present: ${present}`);
  }
  const baseLangs = new Set(base.lang.values());
  const out: ArmComparison[] = [];
  /** Index of the comparison whose Holm-adjusted p a pooled single-language comparison shares. */
  const sameAs = new Map<number, number>();
  const armNames = opts.arms ?? [...arms.keys()].filter((a) => a !== opts.baseline);
  for (const armName of armNames) {
    const arm = arms.get(armName);
    if (!arm) throw new StatsInputError(`arm ${JSON.stringify(armName)} has no observations; arms present: ${[...arms.keys()].join(', ')}`);
    if (armName === opts.baseline) {
      throw new StatsInputError(`arm ${JSON.stringify(armName)} is the baseline and cannot be compared with itself`);
    }
    const pairs = pairItems(base, arm);
    if (pairs.langs.length === 0) {
      const names = `arm ${JSON.stringify(armName)} shares no item (same language and id) with baseline ${JSON.stringify(opts.baseline)}`;
      throw new StatsInputError(names);
    }
    const langs = [...new Set(pairs.langs)].sort();
    const common = { arm: armName, opts, maxSamples: Math.max(base.maxSamples, arm.maxSamples) };
    const first = out.length;
    for (const lang of langs) {
      const idx = pairs.langs.flatMap((l, i) => (l === lang ? [i] : []));
      out.push(compareOne(pick(pairs.baseline, idx), pick(pairs.arm, idx), lang, common));
    }
    const pooled = compareOne(pairs.baseline, pairs.arm, 'all', common);
    if (pairs.baselineOnly + pairs.armOnly > 0) {
      pooled.unpaired = { baselineOnly: pairs.baselineOnly, armOnly: pairs.armOnly };
      pooled.warnings.push(
        `${pairs.baselineOnly + pairs.armOnly} items are in one arm only and were left out of the pairing ` +
          `(baseline only: ${pairs.baselineOnly}, arm only: ${pairs.armOnly})`,
      );
    }
    const missing = [...baseLangs].filter((l) => !langs.includes(l)).sort();
    if (missing.length > 0) {
      const those = missing.length === 1 ? 'that language' : 'those languages';
      pooled.warnings.push(`no item of ${missing.join(', ')} is in both arms: no comparison for ${those}`);
    }
    if (langs.length === 1) sameAs.set(out.length, first);
    out.push(pooled);
  }
  const family = out.map((_, i) => i).filter((i) => !sameAs.has(i));
  const adjusted = holm(family.map((i) => out[i].p));
  family.forEach((i, k) => (out[i].pHolm = adjusted[k]));
  for (const [pooled, single] of sameAs) out[pooled].pHolm = out[single].pHolm;
  return out;
}

function checkOptions(opts: CompareOptions): void {
  if (typeof opts.baseline !== 'string' || opts.baseline === '') throw new StatsInputError('compare options: "baseline" must name an arm');
  if (!Number.isInteger(opts.seed)) throw new StatsInputError(`compare options: "seed" must be an integer, got ${opts.seed}`);
  const r = opts.resamples ?? DEFAULT_RESAMPLES;
  if (!Number.isInteger(r) || r < 1) throw new StatsInputError(`compare options: "resamples" must be a positive integer, got ${r}`);
  try {
    checkConfidence(opts.confidence ?? 0.95);
  } catch (e) {
    throw new StatsInputError(`compare options: ${(e as Error).message}`);
  }
  if (opts.arms !== undefined && new Set(opts.arms).size !== opts.arms.length) {
    throw new StatsInputError(`compare options: "arms" names an arm twice: ${opts.arms.join(', ')}`);
  }
  if (opts.continuousTest !== undefined && opts.continuousTest !== 'wilcoxon' && opts.continuousTest !== 'paired-t') {
    throw new StatsInputError(`compare options: "continuousTest" must be "wilcoxon" or "paired-t", got ${String(opts.continuousTest)}`);
  }
}

function pick(values: Float64Array, idx: number[]): Float64Array {
  return Float64Array.from(idx, (i) => values[i]);
}

const mean = (v: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  return s / v.length;
};

function sampleSd(v: ArrayLike<number>): number {
  if (v.length < 2) return 0;
  const m = mean(v);
  let ss = 0;
  for (let i = 0; i < v.length; i++) ss += (v[i] - m) ** 2;
  return Math.sqrt(ss / (v.length - 1));
}

/** A per-comparison bootstrap seed, so that adding or removing an arm never changes another arm's interval. */
export function comparisonSeed(seed: number, arm: string, language: string): number {
  let h = 0x811c9dc5;
  for (const ch of `${arm}\u0000${language}`) {
    h ^= ch.codePointAt(0) as number;
    h = Math.imul(h, 0x01000193);
  }
  return (h ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0;
}

const points = (x: number): string => (100 * x).toFixed(1);
const isZeroOne = (v: Float64Array) => v.every((x) => x === 0 || x === 1);

interface ComparisonContext {
  arm: string;
  opts: CompareOptions;
  maxSamples: number;
}

function compareOne(b: Float64Array, a: Float64Array, language: string, ctx: ComparisonContext): ArmComparison {
  const { opts } = ctx;
  const n = b.length;
  const diffs = Float64Array.from(b, (x, i) => a[i] - x);
  const baselineScore = mean(b);
  const armScore = mean(a);
  const seed = comparisonSeed(opts.seed, ctx.arm, language);
  const { ci } = pairedBootstrap(diffs, { seed, resamples: opts.resamples, confidence: opts.confidence });
  const tested = pairedTest(b, a, diffs, opts);
  const warnings = [...tested.warnings];
  if (ctx.maxSamples > 1) {
    warnings.push(`items have up to ${ctx.maxSamples} samples per arm; each item's samples were averaged before pairing`);
  }
  if (diffs.every((d) => d === 0)) {
    warnings.push(
      b.every((x) => x === b[0])
        ? `every item scores ${b[0]} under both arms: nothing can be detected at this floor or ceiling`
        : 'the arm and the baseline score identically on every item: the arm changes no outcome',
    );
  }
  const { mde, sd } = detectable(diffs, b, baselineScore, opts.binary, warnings);
  warnings.push(...sizeWarnings(n, mde, sd, opts.binary));

  const out: ArmComparison = {
    arm: ctx.arm,
    baseline: opts.baseline,
    language,
    n,
    baselineScore,
    armScore,
    delta: armScore - baselineScore,
    ci,
    p: tested.p,
    pHolm: NaN,
    test: tested.test,
    mde,
    warnings,
  };
  if (opts.binary) {
    // Item means times n can stray past n by a rounding error.
    const successes = (score: number) => Math.min(n, Math.max(0, score * n));
    out.baselineCi = wilsonInterval(successes(baselineScore), n, opts.confidence);
    out.armCi = wilsonInterval(successes(armScore), n, opts.confidence);
  }
  if (tested.discordant) out.discordant = tested.discordant;
  return out;
}

/** Exact McNemar for 0/1 items; otherwise the continuous test (fractional binary items: Wilcoxon). */
function pairedTest(
  b: Float64Array,
  a: Float64Array,
  diffs: Float64Array,
  opts: CompareOptions,
): { test: ArmComparison['test']; p: number; discordant?: ArmComparison['discordant']; warnings: string[] } {
  if (opts.binary && isZeroOne(b) && isZeroOne(a)) {
    let baselineOnly = 0;
    let armOnly = 0;
    for (let i = 0; i < b.length; i++) {
      if (b[i] === 1 && a[i] === 0) baselineOnly++;
      else if (b[i] === 0 && a[i] === 1) armOnly++;
    }
    return { test: 'mcnemar-exact', p: mcnemarExact(baselineOnly, armOnly).p, discordant: { baselineOnly, armOnly }, warnings: [] };
  }
  const warnings: string[] = [];
  if (opts.binary) {
    warnings.push(
      'items have several samples, so item scores are fractions: McNemar needs 0/1 items; ' +
        'the Wilcoxon signed-rank test on item means is used instead',
    );
  }
  const test = opts.binary ? 'wilcoxon' : (opts.continuousTest ?? 'wilcoxon');
  if (test === 'paired-t' && diffs.length < 2) {
    warnings.push('one paired item: no paired t test is possible (p set to 1)');
    return { test, p: 1, warnings };
  }
  return { test, p: test === 'paired-t' ? pairedT(diffs).p : wilcoxonSignedRank(diffs).p, warnings };
}

/** MDE from the spread of the differences; when they do not vary, from independent arms with the baseline's spread. */
function detectable(diffs: Float64Array, b: Float64Array, p0: number, binary: boolean, warnings: string[]): { mde: number; sd: number } {
  let sd = sampleSd(diffs);
  if (sd === 0) {
    sd = binary ? Math.sqrt(p0 > 0 && p0 < 1 ? 2 * p0 * (1 - p0) : 0.5) : Math.SQRT2 * sampleSd(b);
    if (diffs.length > 1) {
      warnings.push(
        'the per-item differences do not vary; ' +
          "the minimum detectable effect assumes independent arms with the baseline's spread",
      );
    }
  }
  return { mde: sd > 0 ? minimumDetectableEffect(diffs.length, sd) : NaN, sd };
}

function sizeWarnings(n: number, mde: number, sd: number, binary: boolean): string[] {
  const out: string[] = [];
  const minItems = binary ? MIN_ITEMS_BINARY : MIN_ITEMS_CONTINUOUS;
  if (n < minItems) {
    out.push(
      binary
        ? `only ${n} paired items (fewer than ${minItems}): one item is ${points(1 / n)} points of accuracy`
        : `only ${n} paired items (fewer than ${minItems}): the interval and the test are rough`,
    );
  }
  if (binary && mde > PAPER_EFFECT) {
    out.push(
      `the minimum detectable effect is ${points(mde)} points (80% power, alpha 0.05 two-sided): ${n} items cannot detect ` +
        `the 1-2 point effects the papers report; about ${itemsNeeded(PAPER_EFFECT, sd)} items would be needed for 2 points`,
    );
  }
  if (n === 1) out.push('one paired item: the bootstrap interval is a single point');
  return out;
}
