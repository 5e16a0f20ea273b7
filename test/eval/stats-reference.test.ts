import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  holm,
  itemsNeeded,
  minimumDetectableEffect,
  mcnemarExact,
  pairedBootstrap,
  pairedT,
  wilcoxonSignedRank,
  wilsonInterval,
} from '../../src/eval/stats/index.js';
import { quantileSorted } from '../../src/eval/stats/bootstrap.js';
import { binomialCdf, logGamma, normalQuantile, normalSf, studentTTwoSided } from '../../src/eval/stats/special-functions.js';
import { seededRandom } from '../../src/numeric/random.js';

// Independent values: SciPy (tests, distributions, bootstrap), Newcombe (1998) for Wilson, a plain loop for Holm.
// Regenerate with the command in the fixture's "generator" field (tools/stats-reference/generate.py).
interface Fixture {
  generator: { command: string; scipy: string };
  special: {
    normal_sf: { z: number; sf: number }[];
    normal_ppf: { q: number; ppf: number }[];
    t_two_sided: { t: number; df: number; p: number }[];
    log_gamma: { x: number; lgamma: number }[];
    binom_cdf: { k: number; n: number; cdf: number }[];
  };
  mcnemar: { b: number; c: number; p: number }[];
  wilson: {
    newcombe1998: { x: number; n: number; published: [number, number]; formula: [number, number] }[];
    formula: { x: number; n: number; confidence: number; formula: [number, number] }[];
  };
  holm: { p: number[]; adjusted: number[] }[];
  paired_tests: {
    name: string;
    baseline: number[];
    arm: number[];
    wilcoxon: { statistic: number; p: number };
    ttest_rel: { statistic: number; p: number; df: number };
  }[];
  bootstrap: { baseline: number[]; arm: number[]; ci: [number, number]; standard_error: number; n_resamples: number };
}

export const FIXTURE: Fixture = JSON.parse(readFileSync(new URL('./stats-reference.json', import.meta.url), 'utf8'));

const close = (actual: number, expected: number, rtol: number, atol = 0) =>
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(atol + rtol * Math.abs(expected));

const diffs = (c: { baseline: number[]; arm: number[] }) => c.arm.map((a, i) => a - c.baseline[i]);

describe('special functions against SciPy', () => {
  it('normal tail, quantile, Student t, log-gamma and the binomial CDF', () => {
    for (const { z, sf } of FIXTURE.special.normal_sf) close(normalSf(z), sf, 1e-12);
    for (const { q, ppf } of FIXTURE.special.normal_ppf) close(normalQuantile(q), ppf, 1e-12);
    for (const { t, df, p } of FIXTURE.special.t_two_sided) close(studentTTwoSided(t, df), p, 1e-10);
    for (const { x, lgamma } of FIXTURE.special.log_gamma) close(logGamma(x), lgamma, 1e-13, 1e-14);
    for (const { k, n, cdf } of FIXTURE.special.binom_cdf) close(binomialCdf(k, n, 0.5), cdf, 1e-10);
  });
});

describe('exact McNemar', () => {
  it('equals scipy.stats.binomtest two-sided on the discordant counts', () => {
    for (const { b, c, p } of FIXTURE.mcnemar) {
      const r = mcnemarExact(b, c);
      close(r.p, p, 1e-10);
      expect([r.b, r.c]).toEqual([b, c]);
    }
  });

  it('matches hand counts: b = 0, c = 7 gives 2 / 2^7; b = 1, c = 4 gives 12 / 2^5', () => {
    expect(mcnemarExact(0, 7).p).toBeCloseTo(2 / 128, 14);
    expect(mcnemarExact(1, 4).p).toBeCloseTo((2 * (1 + 5)) / 32, 14); // 2 * P(X <= 1), X ~ Bin(5, 1/2)
    expect(mcnemarExact(0, 0).p).toBe(1);
  });

  it('rejects counts that are not non-negative integers', () => {
    expect(() => mcnemarExact(-1, 3)).toThrow(/discordant count b/);
    expect(() => mcnemarExact(2, 1.5)).toThrow(/discordant count c/);
  });
});

describe('Wilson interval', () => {
  it('reproduces Newcombe (1998) Table I, method 3, to the published 4 decimals', () => {
    for (const { x, n, published } of FIXTURE.wilson.newcombe1998) {
      const [lo, hi] = wilsonInterval(x, n);
      expect(Math.abs(lo - published[0])).toBeLessThan(5e-5 + 1e-12);
      expect(Math.abs(hi - published[1])).toBeLessThan(5e-5 + 1e-12);
    }
  });

  it('equals the closed formula at other levels, at 0% and 100%, and for fractional successes', () => {
    for (const { x, n, confidence, formula } of FIXTURE.wilson.formula) {
      const [lo, hi] = wilsonInterval(x, n, confidence);
      close(lo, formula[0], 1e-12, 1e-15);
      close(hi, formula[1], 1e-12, 1e-15);
    }
  });

  it('rejects an empty sample and impossible counts', () => {
    expect(() => wilsonInterval(0, 0)).toThrow(/at least one trial/);
    expect(() => wilsonInterval(5, 4)).toThrow(/outside 0..4/);
    expect(() => wilsonInterval(1, 4, 1)).toThrow(/confidence/);
    expect(() => wilsonInterval(1, 4, 0)).toThrow(/confidence/);
    expect(() => wilsonInterval(-0.5, 4)).toThrow(/outside 0..4/);
    // The ends of the allowed range are accepted: 0 of 4 and 4 of 4.
    expect(wilsonInterval(0, 4)[0]).toBe(0);
    expect(wilsonInterval(4, 4)[1]).toBe(1);
  });
});

describe('Holm step-down', () => {
  it('adjusts a textbook family by hand: p = .01 .04 .03 .005 -> .03 .06 .06 .02', () => {
    const adj = holm([0.01, 0.04, 0.03, 0.005]);
    [0.03, 0.06, 0.06, 0.02].forEach((e, i) => expect(adj[i]).toBeCloseTo(e, 15));
  });

  it('equals an independent loop over Holm\'s rule on the fixture families', () => {
    for (const { p, adjusted } of FIXTURE.holm) holm(p).forEach((a, i) => close(a, adjusted[i], 1e-15));
  });

  it('rejects values that are not probabilities', () => {
    expect(() => holm([0.2, Number.NaN])).toThrow(/p-value 1/);
    expect(() => holm([-0.01, 0.2])).toThrow(/p-value 0 is -0.01/);
    expect(() => holm([0.2, 1.01])).toThrow(/p-value 1 is 1.01/);
    // 0 and 1 are probabilities: 2 * 0 = 0, then max(0, min(1, 1 * 1)) = 1.
    expect(holm([0, 1])).toEqual([0, 1]);
  });
});

// z_{0.975} + z_{0.8} and z_{0.95} + z_{0.9} from scipy.stats.norm.ppf; MDE = (z_a + z_b) sd / sqrt(n).
const Z_05_80 = 1.959963984540054 + 0.8416212335729143;
const Z_10_90 = 1.6448536269514722 + 1.2815515655446004;

describe('minimum detectable effect and items needed', () => {
  it('equals the normal-approximation formula by hand at the defaults and at alpha 0.1, power 0.9', () => {
    close(minimumDetectableEffect(100, 0.5), (Z_05_80 * 0.5) / 10, 1e-12); // 0.140079...
    close(minimumDetectableEffect(25, 0.3, { alpha: 0.1, power: 0.9 }), (Z_10_90 * 0.3) / 5, 1e-12); // 0.175584...
    expect(minimumDetectableEffect(10, 0)).toBe(0);
    // (2.8016 * 0.5 / 0.02)^2 = 4905.55 -> 4906 items; (2.9264 * 0.3 / 0.05)^2 = 308.30 -> 309.
    expect(itemsNeeded(0.02, 0.5)).toBe(4906);
    expect(itemsNeeded(0.05, 0.3, { alpha: 0.1, power: 0.9 })).toBe(309);
  });

  it('rejects impossible sizes, spreads, effects and levels, naming the value', () => {
    expect(() => minimumDetectableEffect(0, 0.5)).toThrow(/n > 0, got 0/);
    expect(() => minimumDetectableEffect(10, -0.1)).toThrow(/standard deviation must be >= 0, got -0.1/);
    expect(() => itemsNeeded(0, 0.5)).toThrow(/effect must be > 0, got 0/);
    expect(() => itemsNeeded(-0.02, 0.5)).toThrow(/effect must be > 0, got -0.02/);
    for (const alpha of [0, 1]) expect(() => minimumDetectableEffect(10, 0.5, { alpha })).toThrow(`alpha must lie in (0, 1), got ${alpha}`);
    for (const power of [0, 1]) expect(() => minimumDetectableEffect(10, 0.5, { power })).toThrow(`power must lie in (0, 1), got ${power}`);
  });
});

describe('paired tests against SciPy', () => {
  it.each(FIXTURE.paired_tests.map((c) => [c.name, c] as const))('Wilcoxon signed-rank (scipy defaults) on %s', (_name, c) => {
    const r = wilcoxonSignedRank(diffs(c));
    expect(r.statistic).toBeCloseTo(c.wilcoxon.statistic, 9);
    close(r.p, c.wilcoxon.p, 1e-9);
  });

  it.each(FIXTURE.paired_tests.map((c) => [c.name, c] as const))('paired t (scipy.stats.ttest_rel) on %s', (_name, c) => {
    const r = pairedT(diffs(c));
    close(r.statistic, c.ttest_rel.statistic, 1e-9);
    close(r.p, c.ttest_rel.p, 1e-9);
    expect(r.df).toBe(c.ttest_rel.df);
  });

  it('uses the exact distribution where SciPy does and the normal approximation where SciPy does', () => {
    const method = (name: string) => wilcoxonSignedRank(diffs(FIXTURE.paired_tests.find((c) => c.name === name)!)).method;
    expect(method('n10-continuous')).toBe('exact');
    expect(method('n50-continuous')).toBe('exact');
    expect(method('n12-ties-zeros')).toBe('exact');
    expect(method('n40-ties-zeros')).toBe('asymptotic');
    expect(method('n300-chrf-like')).toBe('asymptotic');
    // The edges of method='auto': ties or zeros alone switch 14-50 items to the normal approximation; 13 stays exact.
    expect(method('n20-ties-no-zeros')).toBe('asymptotic');
    expect(method('n20-zeros-no-ties')).toBe('asymptotic');
    expect(method('n13-ties')).toBe('exact');
    expect(method('n14-ties')).toBe('asymptotic');
  });

  it('a hand case: d = 1..5 all positive gives the smallest exact two-sided p, 2 / 2^5', () => {
    expect(wilcoxonSignedRank([1, 2, 3, 4, 5]).p).toBeCloseTo(2 / 32, 15);
    expect(wilcoxonSignedRank([0, 0, 0])).toEqual({ statistic: 0, p: 1, method: 'exact' });
    expect(() => wilcoxonSignedRank([])).toThrow(/at least one paired item/);
    expect(pairedT([1, 1, 1])).toEqual({ statistic: Infinity, p: 0, method: 't', df: 2 });
    expect(pairedT([-2, -2])).toEqual({ statistic: -Infinity, p: 0, method: 't', df: 1 });
    expect(pairedT([0, 0, 0])).toEqual({ statistic: 0, p: 1, method: 't', df: 2 });
    expect(() => pairedT([1])).toThrow(/at least 2/);
    // Two items, d = 1, 3: t = 2 / (sqrt 2 / sqrt 2) = 2 on 1 df (Cauchy): p = 1 - (2 / pi) atan 2.
    const two = pairedT([1, 3]);
    expect(two.statistic).toBeCloseTo(2, 14);
    expect(two.method).toBe('t');
    close(two.p, 1 - (2 / Math.PI) * Math.atan(2), 1e-10);
  });
});

describe('paired bootstrap', () => {
  const { baseline, arm } = FIXTURE.bootstrap;
  const d = diffs(FIXTURE.bootstrap);

  it('is reproducible from its seed and changes with it', () => {
    const a = pairedBootstrap(d, { seed: 5 });
    expect(pairedBootstrap(d, { seed: 5 })).toEqual(a);
    expect(pairedBootstrap(d, { seed: 6 }).ci).not.toEqual(a.ci);
    expect(a.resamples).toBe(10_000);
    expect(a.method).toBe('percentile');
  });

  it('agrees with scipy.stats.bootstrap(paired=True, method="percentile") within Monte-Carlo error', () => {
    // Each 2.5% quantile from 10,000 resamples carries about 0.03 bootstrap SE of Monte-Carlo noise;
    // two independent runs differ by about 0.04 SE, so 0.15 SE is a 4-sigma bound.
    const r = pairedBootstrap(d, { seed: 2025 });
    const tol = 0.15 * FIXTURE.bootstrap.standard_error;
    expect(Math.abs(r.ci[0] - FIXTURE.bootstrap.ci[0])).toBeLessThan(tol);
    expect(Math.abs(r.ci[1] - FIXTURE.bootstrap.ci[1])).toBeLessThan(tol);
    const mean = d.reduce((s, x) => s + x, 0) / d.length;
    expect(r.mean).toBeCloseTo(mean, 14);
    expect(baseline.length).toBe(arm.length);
  });

  it('covers the true mean difference about 95% of the time in a known setting', () => {
    // 200 experiments of 80 items whose differences are uniform on {-1, 0, 1, 2}: true mean 0.5.
    let covered = 0;
    let rngState = 12345;
    const next = () => ((rngState = (Math.imul(rngState, 1103515245) + 12345) >>> 0) / 4294967296);
    const runs = 200;
    for (let run = 0; run < runs; run++) {
      const sample = Array.from({ length: 80 }, () => Math.floor(next() * 4) - 1);
      const { ci } = pairedBootstrap(sample, { seed: run, resamples: 1000 });
      if (ci[0] <= 0.5 && 0.5 <= ci[1]) covered++;
    }
    // Binomial(200, 0.95) lies in [180, 200] with probability > 0.999; the percentile method undercovers slightly.
    expect(covered).toBeGreaterThanOrEqual(180);
    expect(covered).toBeLessThan(200);
  });

  it('draws exactly as documented: a plain second implementation with the same generator gives the same interval', () => {
    // Items drawn by floor(u * n) from mulberry32(seed); means sorted; type-7 quantiles at alpha/2 and 1 - alpha/2.
    const reference = (x: number[], seed: number, resamples: number, confidence: number): [number, number] => {
      const u = seededRandom(seed);
      const means: number[] = [];
      for (let r = 0; r < resamples; r++) {
        let s = 0;
        for (let k = 0; k < x.length; k++) s += x[Math.floor(u() * x.length)];
        means.push(s / x.length);
      }
      means.sort((p, q) => p - q);
      const at = (q: number) => {
        const h = (resamples - 1) * q;
        const f = Math.floor(h);
        return f + 1 < resamples ? means[f] + (h - f) * (means[f + 1] - means[f]) : means[f];
      };
      return [at((1 - confidence) / 2), at(1 - (1 - confidence) / 2)];
    };
    const small = [0.5, -1, 2, 0, 0.25, 1.5, -0.75];
    for (const [seed, resamples, confidence] of [[7, 999, 0.95], [8, 64, 0.8], [9, 1, 0.95]] as const) {
      const got = pairedBootstrap(small, { seed, resamples, confidence });
      const want = reference(small, seed, resamples, confidence);
      expect(got.ci[0]).toBeCloseTo(want[0], 14);
      expect(got.ci[1]).toBeCloseTo(want[1], 14);
      expect(got.resamples).toBe(resamples);
    }
    // One item: every resampled mean is that item.
    expect(pairedBootstrap([0.3], { seed: 1, resamples: 20 }).ci).toEqual([0.3, 0.3]);
  });

  it('interpolates quantiles between order statistics (type 7) by hand', () => {
    const x = [1, 2, 4, 8];
    expect(quantileSorted(x, 0)).toBe(1);
    expect(quantileSorted(x, 0.25)).toBeCloseTo(1.75, 15); // h = 0.75: 1 + 0.75 * (2 - 1)
    expect(quantileSorted(x, 0.5)).toBeCloseTo(3, 15); // h = 1.5: 2 + 0.5 * (4 - 2)
    expect(quantileSorted(x, 0.9)).toBeCloseTo(6.8, 14); // h = 2.7: 4 + 0.7 * (8 - 4)
    expect(quantileSorted(x, 1)).toBe(8);
    expect(quantileSorted([5], 0.3)).toBe(5);
    expect(() => quantileSorted([], 0.5)).toThrow(/quantile of an empty sample/);
  });

  it('rejects no items and bad settings', () => {
    expect(() => pairedBootstrap([], { seed: 1 })).toThrow(/at least one/);
    expect(() => pairedBootstrap([1], { seed: 1, resamples: 0 })).toThrow(/resamples/);
    expect(() => pairedBootstrap([1], { seed: 1, confidence: 95 })).toThrow(/confidence/);
  });
});
