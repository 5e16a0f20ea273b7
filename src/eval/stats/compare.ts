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
  if (!base) throw new StatsInputError(`baseline arm ${JSON.stringify(opts.baseline)} has no observations; arms present: ${[...arms.keys()].join(', ')}`);
  const baseLangs = new Set(base.lang.values());
  const out: ArmComparison[] = [];
  /** Index of the comparison whose Holm-adjusted p a pooled single-language comparison shares. */
  const sameAs = new Map<number, number>();
  for (const [armName, arm] of arms) {
    if (armName === opts.baseline) continue;
    const pairs = pairItems(base, arm);
    if (pairs.langs.length === 0) throw new StatsInputError(`arm ${JSON.stringify(armName)} shares no item (same language and id) with baseline ${JSON.stringify(opts.baseline)}`);
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
      pooled.warnings.push(`${pairs.baselineOnly + pairs.armOnly} items are in one arm only and were left out of the pairing (baseline only: ${pairs.baselineOnly}, arm only: ${pairs.armOnly})`);
    }
    const missing = [...baseLangs].filter((l) => !langs.includes(l)).sort();
    if (missing.length > 0) pooled.warnings.push(`no item of ${missing.join(', ')} is in both arms: no comparison for ${missing.length === 1 ? 'that language' : 'those languages'}`);
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

function compareOne(
  b: Float64Array,
  a: Float64Array,
  language: string,
  ctx: { arm: string; opts: CompareOptions; maxSamples: number },
): ArmComparison {
  const { opts } = ctx;
  const n = b.length;
  const diffs = Float64Array.from(b, (x, i) => a[i] - x);
  const baselineScore = mean(b);
  const armScore = mean(a);
  const warnings: string[] = [];
  const boot = pairedBootstrap(diffs, { seed: comparisonSeed(opts.seed, ctx.arm, language), resamples: opts.resamples, confidence: opts.confidence });
  const zeroBinary = (v: Float64Array) => v.every((x) => x === 0 || x === 1);
  const base = { arm: ctx.arm, baseline: opts.baseline, language, n, baselineScore, armScore, delta: armScore - baselineScore, ci: boot.ci, pHolm: NaN };

  let test: ArmComparison['test'];
  let p: number;
  let discordant: ArmComparison['discordant'];
  if (opts.binary && zeroBinary(b) && zeroBinary(a)) {
    let baselineOnly = 0;
    let armOnly = 0;
    for (let i = 0; i < n; i++) {
      if (b[i] === 1 && a[i] === 0) baselineOnly++;
      else if (b[i] === 0 && a[i] === 1) armOnly++;
    }
    discordant = { baselineOnly, armOnly };
    test = 'mcnemar-exact';
    p = mcnemarExact(baselineOnly, armOnly).p;
  } else {
    test = opts.binary ? 'wilcoxon' : (opts.continuousTest ?? 'wilcoxon');
    if (opts.binary) warnings.push('items have several samples, so item scores are fractions: McNemar needs 0/1 items; the Wilcoxon signed-rank test on item means is used instead');
    if (test === 'paired-t' && n < 2) {
      p = 1;
      warnings.push('one paired item: no paired t test is possible (p set to 1)');
    } else {
      p = test === 'paired-t' ? pairedT(diffs).p : wilcoxonSignedRank(diffs).p;
    }
  }
  if (ctx.maxSamples > 1) warnings.push(`items have up to ${ctx.maxSamples} samples per arm; each item's samples were averaged before pairing`);

  const allSame = diffs.every((d) => d === 0);
  if (allSame) {
    const constant = b.every((x) => x === b[0]);
    warnings.push(
      constant
        ? `every item scores ${b[0]} under both arms: nothing can be detected at this floor or ceiling`
        : 'the arm and the baseline score identically on every item: the arm changes no outcome',
    );
  }

  let sd = sampleSd(diffs);
  if (sd === 0) {
    // Nothing varies: fall back to the spread two independent arms with the baseline's scores would have.
    sd = opts.binary ? Math.sqrt(baselineScore > 0 && baselineScore < 1 ? 2 * baselineScore * (1 - baselineScore) : 0.5) : Math.SQRT2 * sampleSd(b);
    if (n > 1) warnings.push('the per-item differences do not vary; the minimum detectable effect assumes independent arms with the baseline\'s spread');
  }
  const mde = sd > 0 ? minimumDetectableEffect(n, sd) : NaN;

  const minItems = opts.binary ? MIN_ITEMS_BINARY : MIN_ITEMS_CONTINUOUS;
  if (n < minItems) {
    warnings.push(
      opts.binary
        ? `only ${n} paired items (fewer than ${minItems}): one item is ${points(1 / n)} points of accuracy`
        : `only ${n} paired items (fewer than ${minItems}): the interval and the test are rough`,
    );
  }
  if (opts.binary && mde > PAPER_EFFECT) {
    warnings.push(
      `the minimum detectable effect is ${points(mde)} points (80% power, alpha 0.05 two-sided): ${n} items cannot detect the 1-2 point effects the papers report; about ${itemsNeeded(PAPER_EFFECT, sd)} items would be needed for 2 points`,
    );
  }
  if (n === 1) warnings.push('one paired item: the bootstrap interval is a single point');

  const out: ArmComparison = { ...base, p, test, mde, warnings };
  if (opts.binary) {
    // Item means times n can stray past n by a rounding error.
    const successes = (score: number) => Math.min(n, Math.max(0, score * n));
    out.baselineCi = wilsonInterval(successes(baselineScore), n, opts.confidence);
    out.armCi = wilsonInterval(successes(armScore), n, opts.confidence);
  }
  if (discordant) out.discordant = discordant;
  return out;
}
