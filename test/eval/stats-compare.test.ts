import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  compareArms,
  pairedBootstrap,
  pairedT,
  wilcoxonSignedRank,
  wilsonInterval,
  type Observation,
} from '../../src/eval/stats/index.js';
import { comparisonSeed } from '../../src/eval/stats/compare.js';

interface CompareFixture {
  observations: Observation[];
  comparisons: {
    arm: string;
    language: string;
    n: number;
    baseline_score: number;
    arm_score: number;
    baseline_only: number;
    arm_only: number;
    p: number;
    p_holm: number;
  }[];
}
const fixture = JSON.parse(readFileSync(new URL('./stats-reference.json', import.meta.url), 'utf8'));
const COMPARE: CompareFixture = fixture.compare;
type PairedCase = { name: string; baseline: number[]; arm: number[]; wilcoxon: { p: number }; ttest_rel: { p: number } };
const PAIRED: PairedCase[] = fixture.paired_tests;

const Z = 1.959963984540054 + 0.8416212335729143; // z_{0.975} + z_{0.8}: alpha 0.05 two-sided, power 0.8

function obs(arm: string, lang: string, values: number[], sample = 0, prefix = 'q'): Observation[] {
  return values.map((value, i) => ({ arm, item: `${prefix}${i}`, lang, sample, value }));
}

describe('compareArms, binary outcomes', () => {
  // Computed inside each test, not once while the file is collected: StrykerJS's vitest runner neither counts an error
  // thrown during collection as a failure nor attributes the code run there to the tests that read the result.
  const result = () => compareArms(COMPARE.observations, { baseline: 'baseline', binary: true, seed: 2025 });

  it('returns every arm per language then pooled, with SciPy binomtest p-values and Holm over the 6 comparisons', () => {
    expect(result().map((c) => `${c.arm}/${c.language}`)).toEqual(COMPARE.comparisons.map((c) => `${c.arm}/${c.language}`));
    result().forEach((c, i) => {
      const e = COMPARE.comparisons[i];
      expect(c.n).toBe(e.n);
      expect(c.baselineScore).toBeCloseTo(e.baseline_score, 14);
      expect(c.armScore).toBeCloseTo(e.arm_score, 14);
      expect(c.delta).toBeCloseTo(e.arm_score - e.baseline_score, 14);
      expect(c.discordant).toEqual({ baselineOnly: e.baseline_only, armOnly: e.arm_only });
      expect(c.test).toBe('mcnemar-exact');
      expect(Math.abs(c.p - e.p)).toBeLessThanOrEqual(1e-10 * e.p);
      expect(Math.abs(c.pHolm - e.p_holm)).toBeLessThanOrEqual(1e-10 * e.p_holm);
      expect(c.baseline).toBe('baseline');
    });
  });

  it('gives Wilson intervals around each accuracy and a bootstrap interval around the difference', () => {
    for (const c of result()) {
      expect(c.baselineCi![0]).toBeLessThan(c.baselineScore);
      expect(c.baselineCi![1]).toBeGreaterThan(c.baselineScore);
      expect(c.armCi![0]).toBeLessThanOrEqual(c.armScore);
      expect(c.ci[0]).toBeLessThanOrEqual(c.delta);
      expect(c.ci[1]).toBeGreaterThanOrEqual(c.delta);
      // A difference of 0/1 items moves in steps of 1/n: the interval ends are means of n differences.
      expect(Math.abs(c.ci[0] * c.n - Math.round(c.ci[0] * c.n))).toBeLessThan(0.5 + 1e-9);
    }
    // The "boost" arm only ever helps: no baseline-only items and an interval above zero in the pooled comparison.
    const boost = result().find((c) => c.arm === 'boost' && c.language === 'all')!;
    expect(boost.discordant!.baselineOnly).toBe(0);
    expect(boost.ci[0]).toBeGreaterThan(0);
  });

  it('does not depend on the order the observations arrive in', () => {
    const shuffled = [...COMPARE.observations].reverse();
    expect(compareArms(shuffled, { baseline: 'baseline', binary: true, seed: 2025, arms: ['plan', 'boost'] })).toEqual(result());
    // Without `arms`, arms come in the order first seen; each arm's numbers are the same.
    const firstSeen = compareArms(shuffled, { baseline: 'baseline', binary: true, seed: 2025 });
    expect(firstSeen.map((c) => c.arm)).toEqual(['boost', 'boost', 'boost', 'plan', 'plan', 'plan']);
  });

  it('compares only the arms named, and Holm runs over those', () => {
    const [ja, sw, all] = compareArms(COMPARE.observations, { baseline: 'baseline', binary: true, seed: 2025, arms: ['plan'] });
    expect([ja.language, sw.language, all.language]).toEqual(['ja', 'sw', 'all']);
    const ps = [ja.p, sw.p, all.p].sort((x, y) => x - y);
    const holm3 = [3 * ps[0], Math.max(3 * ps[0], 2 * ps[1]), Math.max(3 * ps[0], 2 * ps[1], ps[2])].map((x) => Math.min(1, x));
    expect([ja.pHolm, sw.pHolm, all.pHolm].sort((x, y) => x - y)).toEqual(holm3);
  });

  it('is reproducible, seed-dependent, and an arm\'s interval does not depend on the other arms', () => {
    const again = compareArms(COMPARE.observations, { baseline: 'baseline', binary: true, seed: 2025 });
    expect(again).toEqual(result());
    const other = compareArms(COMPARE.observations, { baseline: 'baseline', binary: true, seed: 7 });
    expect(other.map((c) => c.ci)).not.toEqual(result().map((c) => c.ci));
    const planOnly = compareArms(COMPARE.observations.filter((o) => o.arm !== 'boost'), { baseline: 'baseline', binary: true, seed: 2025 });
    expect(planOnly.map((c) => c.ci)).toEqual(result().filter((c) => c.arm === 'plan').map((c) => c.ci));
  });

  it('computes the minimum detectable effect from the observed discordance (hand formula)', () => {
    // 100 items: 10 right only under the baseline, 20 only under the arm, 70 concordant.
    const base = [...Array(10).fill(1), ...Array(20).fill(0), ...Array(70).fill(1)];
    const arm = [...Array(10).fill(0), ...Array(20).fill(1), ...Array(70).fill(1)];
    const [c] = compareArms([...obs('b', 'sw', base), ...obs('a', 'sw', arm)], { baseline: 'b', binary: true, seed: 1 });
    const sd = Math.sqrt((30 - 100 * 0.1 ** 2) / 99); // sample SD of 30 differences of +-1 and 70 zeros, mean 0.1
    expect(c.mde).toBeCloseTo((Z * sd) / 10, 12);
    expect(c.discordant).toEqual({ baselineOnly: 10, armOnly: 20 });
    expect(c.warnings.some((w) => /fewer than 300/.test(w) && /1\.0 points/.test(w))).toBe(true);
    expect(c.warnings.some((w) => /cannot detect the 1-2 point effects/.test(w))).toBe(true);
    // Items needed for 2 points with this spread: ceil((Z sd / 0.02)^2).
    expect(c.warnings.join(' ')).toContain(`about ${Math.ceil(((Z * sd) / 0.02) ** 2)} items`);
  });

  it('states that one item is 0.8 points at 125 items', () => {
    const base = Array.from({ length: 125 }, (_, i) => (i % 2 === 0 ? 1 : 0));
    const arm = base.map((v, i) => (i % 9 === 0 ? 1 - v : v));
    const [c] = compareArms([...obs('b', 'sw', base), ...obs('a', 'sw', arm)], { baseline: 'b', binary: true, seed: 1 });
    expect(c.warnings.join(' ')).toContain('one item is 0.8 points');
  });

  it('an arm that changes nothing: p = 1, interval [0, 0], a warning, and a fallback MDE from the baseline accuracy', () => {
    const base = Array.from({ length: 50 }, (_, i) => (i < 20 ? 1 : 0));
    const [c] = compareArms([...obs('b', 'ja', base), ...obs('a', 'ja', base)], { baseline: 'b', binary: true, seed: 3 });
    expect(c.p).toBe(1);
    expect(c.ci).toEqual([0, 0]);
    expect(c.discordant).toEqual({ baselineOnly: 0, armOnly: 0 });
    expect(c.warnings.join(' ')).toMatch(/changes no outcome/);
    expect(c.mde).toBeCloseTo((Z * Math.sqrt(2 * 0.4 * 0.6)) / Math.sqrt(50), 12);
  });

  it('every item wrong under both arms: the floor warning', () => {
    const zeros = Array(40).fill(0);
    const [c] = compareArms([...obs('b', 'bn', zeros), ...obs('a', 'bn', zeros)], { baseline: 'b', binary: true, seed: 3 });
    expect(c.warnings.join(' ')).toMatch(/every item scores 0 under both arms/);
    expect(Number.isFinite(c.mde)).toBe(true);
  });

  it('several samples per item: items are averaged first, the test becomes Wilcoxon, and a warning says so', () => {
    const o: Observation[] = [];
    for (let i = 0; i < 20; i++) {
      for (let s = 0; s < 3; s++) {
        o.push({ arm: 'b', item: `i${i}`, lang: 'fr', sample: s, value: (i + s) % 3 === 0 ? 1 : 0 });
        o.push({ arm: 'a', item: `i${i}`, lang: 'fr', sample: s, value: (i + s) % 2 === 0 ? 1 : 0 });
      }
    }
    const [c] = compareArms(o, { baseline: 'b', binary: true, seed: 3 });
    expect(c.test).toBe('wilcoxon');
    expect(c.discordant).toBeUndefined();
    expect(c.warnings.join(' ')).toMatch(/McNemar needs 0\/1 items/);
    expect(c.warnings.join(' ')).toMatch(/up to 3 samples per arm/);
  });
});

describe('compareArms, pairing', () => {
  it('averages an item\'s samples before pairing, so extra samples never weigh an item more', () => {
    const o: Observation[] = [
      { arm: 'b', item: 'A', lang: 'sw', sample: 0, value: 1 },
      { arm: 'b', item: 'A', lang: 'sw', sample: 1, value: 3 },
      { arm: 'a', item: 'A', lang: 'sw', sample: 0, value: 4 },
      { arm: 'b', item: 'B', lang: 'sw', sample: 0, value: 0 },
      ...[0, 0, 0, 3].map((value, sample) => ({ arm: 'a', item: 'B', lang: 'sw', sample, value })),
    ];
    const [c] = compareArms(o, { baseline: 'b', binary: false, seed: 1 });
    // Item means: A 2 -> 4, B 0 -> 0.75; differences 2 and 0.75.
    expect(c.baselineScore).toBeCloseTo(1, 15);
    expect(c.armScore).toBeCloseTo(2.375, 15);
    expect(c.delta).toBeCloseTo(1.375, 15);
    expect(c.n).toBe(2);
  });

  it('pairs by language and id, excludes items in one arm only and counts them on the pooled comparison', () => {
    const o: Observation[] = [
      ...obs('b', 'sw', [0.1, 0.2, 0.3, 0.4]),
      ...obs('b', 'ja', [1, 2, 3]),
      ...obs('a', 'sw', [0.2, 0.2, 0.5]), // q3 missing
      ...obs('a', 'ja', [2, 2, 3]),
      { arm: 'a', item: 'extra', lang: 'ja', sample: 0, value: 9 },
    ];
    const out = compareArms(o, { baseline: 'b', binary: false, seed: 1 });
    expect(out.map((c) => [c.language, c.n])).toEqual([['ja', 3], ['sw', 3], ['all', 6]]);
    const all = out[2];
    expect(all.unpaired).toEqual({ baselineOnly: 1, armOnly: 1 });
    expect(all.warnings.join(' ')).toMatch(/2 items are in one arm only/);
    expect(out[1].delta).toBeCloseTo((0.1 + 0 + 0.2) / 3, 14);
    expect(all.delta).toBeCloseTo((0.1 + 0 + 0.2 + 1 + 0 + 0) / 6, 14);
  });

  it('with one language the pooled comparison is the same hypothesis: counted once in the Holm family', () => {
    const base = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const a1 = base.map((v, i) => (i % 5 === 0 ? 1 : v));
    const a2 = base.map((v, i) => (i % 7 === 0 ? 0 : v));
    const o = [...obs('b', 'sw', base), ...obs('a1', 'sw', a1), ...obs('a2', 'sw', a2)];
    const out = compareArms(o, { baseline: 'b', binary: true, seed: 1 });
    expect(out.map((c) => `${c.arm}/${c.language}`)).toEqual(['a1/sw', 'a1/all', 'a2/sw', 'a2/all']);
    const [p1, p2] = [out[0].p, out[2].p];
    const lo = Math.min(p1, p2);
    const hi = Math.max(p1, p2);
    const expected = new Map([[lo, Math.min(1, 2 * lo)], [hi, Math.max(Math.min(1, 2 * lo), hi)]]);
    expect(out[0].pHolm).toBeCloseTo(expected.get(p1)!, 15);
    expect(out[1].pHolm).toBe(out[0].pHolm);
    expect(out[2].pHolm).toBeCloseTo(expected.get(p2)!, 15);
    expect(out[3].pHolm).toBe(out[2].pHolm);
  });

  it('notes a language of the baseline that an arm never covers', () => {
    const o = [...obs('b', 'sw', [1, 0, 1]), ...obs('b', 'ja', [1, 1, 0]), ...obs('a', 'sw', [1, 1, 1])];
    const out = compareArms(o, { baseline: 'b', binary: true, seed: 1 });
    expect(out.map((c) => c.language)).toEqual(['sw', 'all']);
    expect(out[1].warnings.join(' ')).toMatch(/no item of ja is in both arms/);
  });
});

describe('compareArms, continuous outcomes against SciPy', () => {
  it.each(PAIRED.map((c) => [c.name, c] as const))('%s: Wilcoxon by default, paired t on request', (_name, c) => {
    const o = [...obs('base', 'xx', c.baseline), ...obs('arm', 'xx', c.arm)];
    const [w] = compareArms(o, { baseline: 'base', binary: false, seed: 9, resamples: 2000 });
    expect(w.test).toBe('wilcoxon');
    expect(Math.abs(w.p - c.wilcoxon.p)).toBeLessThanOrEqual(1e-9 * c.wilcoxon.p);
    expect(w.baselineCi).toBeUndefined();
    expect(w.discordant).toBeUndefined();
    const [t] = compareArms(o, { baseline: 'base', binary: false, seed: 9, resamples: 2000, continuousTest: 'paired-t' });
    expect(t.test).toBe('paired-t');
    expect(Math.abs(t.p - c.ttest_rel.p)).toBeLessThanOrEqual(1e-9 * c.ttest_rel.p);
    // MDE from the sample SD of the differences.
    const d = c.arm.map((a, i) => a - c.baseline[i]);
    const m = d.reduce((s, x) => s + x, 0) / d.length;
    const sd = Math.sqrt(d.reduce((s, x) => s + (x - m) ** 2, 0) / (d.length - 1));
    expect(t.mde).toBeCloseTo((Z * sd) / Math.sqrt(d.length), 10);
    expect(t.warnings.some((x) => /fewer than 30/.test(x))).toBe(d.length < 30);
  });
});

describe('compareArms, bad input', () => {
  const good = [...obs('b', 'sw', [1, 0]), ...obs('a', 'sw', [1, 1])];
  const opts = { baseline: 'b', binary: true, seed: 1 };
  const extra = (value: number): Observation => ({ arm: 'a', item: 'q9', lang: 'sw', sample: 0, value });
  it.each([
    ['no observations', [], opts, /no observations/],
    ['a missing baseline', good, { ...opts, baseline: 'base' }, /baseline arm "base" has no observations; arms present: b, a/],
    ['a non-binary value', [...good, extra(0.5)], opts, /observation 4 .*binary outcomes must be 0 or 1, got 0.5/],
    ['a non-finite value', [...good, extra(NaN)], { ...opts, binary: false }, /"value" must be a finite number/],
    ['a sample recorded twice', [...good, { arm: 'a', item: 'q0', lang: 'sw', sample: 0, value: 1 }], opts, /sample 0 is recorded twice/],
    ['the reserved language "all"', [{ arm: 'b', item: 'q0', lang: 'all', sample: 0, value: 1 }], opts, /"all" is reserved/],
    ['an empty item id', [{ arm: 'b', item: '', lang: 'sw', sample: 0, value: 1 }], opts, /"item" must be a non-empty string/],
    ['a negative sample', [{ arm: 'b', item: 'q0', lang: 'sw', sample: -1, value: 1 }], opts, /"sample" must be a non-negative integer, got -1/],
    ['a fractional sample', [{ arm: 'b', item: 'q0', lang: 'sw', sample: 0.5, value: 1 }], opts, /"sample" must be a non-negative integer, got 0.5/],
    ['a string value', [{ arm: 'b', item: 'q0', lang: 'sw', sample: 0, value: '1' }], { ...opts, binary: false }, /"value" must be a finite number, got 1/],
    ['an empty language', [{ arm: 'b', item: 'q0', lang: '', sample: 0, value: 1 }], opts, /"lang" must be a non-empty string/],
    ['an arm sharing no item', [...good, ...obs('c', 'ja', [1])], opts, /arm "c" shares no item/],
    ['an unknown arm in "arms"', good, { ...opts, arms: ['a', 'z'] }, /arm "z" has no observations/],
    ['the baseline in "arms"', good, { ...opts, arms: ['b'] }, /is the baseline and cannot be compared with itself/],
    ['an arm named twice', good, { ...opts, arms: ['a', 'a'] }, /names an arm twice/],
    ['a fractional seed', good, { ...opts, seed: 1.5 }, /"seed" must be an integer/],
    ['zero resamples', good, { ...opts, resamples: 0 }, /"resamples" must be a positive integer/],
    ['confidence 95', good, { ...opts, confidence: 95 }, /confidence must lie strictly between 0 and 1/],
  ] as const)('rejects %s with a clear message', (_what, o, op, message) => {
    expect(() => compareArms(o as Observation[], op)).toThrow(message);
  });
});

describe('compareArms, numbers pinned by a second route', () => {
  // The documented per-comparison seed (FNV-1a over "arm\0language", xor the seed times 0x9e3779b1), in BigInt.
  const seedOf = (seed: number, arm: string, language: string): number => {
    const M = 0xffffffffn;
    let h = 0x811c9dc5n;
    for (const ch of `${arm}\u0000${language}`) h = ((h ^ BigInt(ch.codePointAt(0)!)) * 0x01000193n) & M;
    return Number((h ^ ((BigInt(seed >>> 0) * 0x9e3779b1n) & M)) & M);
  };

  it('bootstraps the differences in (language, id) order with the per-comparison seed; Wilson on the item counts', () => {
    // Observations arrive in reverse language and id order; ids compare as strings (q10 < q2).
    const ids = ['q2', 'q10', 'q1'];
    const data: Record<string, [number[], number[]]> = { yo: [[1, 0, 1], [1, 1, 0]], am: [[0, 0, 1], [1, 1, 1]] };
    const o: Observation[] = [];
    for (const lang of ['yo', 'am']) {
      const [b, a] = data[lang];
      ids.forEach((item, i) => o.push({ arm: 'base', item, lang, sample: 0, value: b[i] }, { arm: 'ar\u00e9', item, lang, sample: 0, value: a[i] }));
    }
    const out = compareArms(o, { baseline: 'base', binary: true, seed: 77, resamples: 500 });
    expect(out.map((c) => c.language)).toEqual(['am', 'yo', 'all']);
    const order = (lang: string) => ['q1', 'q10', 'q2'].map((id) => ids.indexOf(id)).map((i) => data[lang][1][i] - data[lang][0][i]);
    const expected: Record<string, number[]> = { am: order('am'), yo: order('yo'), all: [...order('am'), ...order('yo')] };
    for (const c of out) {
      const d = expected[c.language];
      const { ci } = pairedBootstrap(d, { seed: seedOf(77, 'ar\u00e9', c.language), resamples: 500 });
      expect(c.ci).toEqual(ci);
      expect(c.baselineCi).toEqual(wilsonInterval(Math.round(c.baselineScore * c.n), c.n));
      expect(c.armCi).toEqual(wilsonInterval(Math.round(c.armScore * c.n), c.n));
    }
    expect(comparisonSeed(-3, 'x', 'sw')).toBe(seedOf(-3, 'x', 'sw'));
    // Both items of am go 0 -> 1 and none back: McNemar b = 0, c = 2, p = 2 / 4.
    expect(out[0].discordant).toEqual({ baselineOnly: 0, armOnly: 2 });
    expect(out[0].p).toBeCloseTo(0.5, 12);
    expect(out[2].unpaired).toBeUndefined();
    expect(out[2].warnings.some((w) => /no item of/.test(w))).toBe(false);
    // Continuous values make the interval depend on the draw order, so a wrong pairing order shows.
    const cont = o.map((x, i) => ({ ...x, value: x.value + 0.137 * ((i * 7) % 5) }));
    const values = new Map(cont.map((x) => [`${x.arm}|${x.lang}|${x.item}`, x.value]));
    const keyed = ['am', 'yo'].flatMap((lang) => ['q1', 'q10', 'q2'].map((id) => values.get(`ar\u00e9|${lang}|${id}`)! - values.get(`base|${lang}|${id}`)!));
    const pooled = compareArms(cont, { baseline: 'base', binary: false, seed: 77, resamples: 500 })[2];
    expect(pooled.ci).toEqual(pairedBootstrap(keyed, { seed: seedOf(77, 'ar\u00e9', 'all'), resamples: 500 }).ci);
  });

  it('carries exactly the warnings that apply, no more', () => {
    const base = Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? 1 : 0));
    const arm = base.map((v, i) => (i % 10 === 1 ? 1 : v));
    const [c] = compareArms([...obs('b', 'sw', base), ...obs('a', 'sw', arm)], { baseline: 'b', binary: true, seed: 1, resamples: 200 });
    // 400 items, 40 discordant +1: sd^2 = (40 - 400 * 0.1^2) / 399; MDE = Z sd / 20 = 0.0393 > 0.02.
    const sd = Math.sqrt((40 - 400 * 0.01) / 399);
    expect(c.mde).toBeCloseTo((Z * sd) / 20, 12);
    expect(c.warnings).toEqual([
      `the minimum detectable effect is ${(100 * c.mde).toFixed(1)} points (80% power, alpha 0.05 two-sided): 400 items cannot detect ` +
        `the 1-2 point effects the papers report; about ${Math.ceil(((Z * sd) / 0.02) ** 2)} items would be needed for 2 points`,
    ]);
    // Continuous outcomes at 30 items: no size warning, and never the accuracy-points MDE warning however large the MDE.
    const cb = Array.from({ length: 30 }, (_, i) => 10 * Math.sin(i));
    const [k] = compareArms([...obs('b', 'sw', cb), ...obs('a', 'sw', cb.map((x, i) => x + 5 * Math.cos(i)))], { baseline: 'b', binary: false, seed: 1, resamples: 200 });
    expect(k.mde).toBeGreaterThan(1);
    expect(k.warnings).toEqual([]);
    expect(compareArms([...obs('b', 'sw', cb.slice(1)), ...obs('a', 'sw', cb.slice(1))], { baseline: 'b', binary: false, seed: 1, resamples: 200 })[0].warnings).toContain(
      'only 29 paired items (fewer than 30): the interval and the test are rough',
    );
  });

  it('has no MDE warning when the items can detect 2 points', () => {
    // 2000 items, 2 discordant +1: sd^2 = (2 - 2000 * 0.001^2) / 1999, MDE = Z sd / sqrt(2000) = 0.0020.
    const base = Array.from({ length: 2000 }, (_, i) => i % 2);
    const arm = base.map((v, i) => (i < 4 ? 1 : v));
    const [c] = compareArms([...obs('b', 'sw', base), ...obs('a', 'sw', arm)], { baseline: 'b', binary: true, seed: 1, resamples: 50 });
    expect(c.mde).toBeCloseTo((Z * Math.sqrt((2 - 2000 * 1e-6) / 1999)) / Math.sqrt(2000), 12);
    expect(c.warnings).toEqual([]);
  });

  it('falls back to independent arms for the MDE when the differences do not vary, and says so only with 2+ items', () => {
    const ones = Array(50).fill(1);
    const [top] = compareArms([...obs('b', 'sw', ones), ...obs('a', 'sw', ones)], { baseline: 'b', binary: true, seed: 1, resamples: 100 });
    // At 100% the binomial spread is 0, so the fallback sd is sqrt(0.5).
    expect(top.mde).toBeCloseTo((Z * Math.sqrt(0.5)) / Math.sqrt(50), 12);
    expect(top.warnings).toContain("the per-item differences do not vary; the minimum detectable effect assumes independent arms with the baseline's spread");
    const cb = [2, 4, 4, 4, 5, 5, 7, 9];
    const [same] = compareArms([...obs('b', 'sw', cb), ...obs('a', 'sw', cb)], { baseline: 'b', binary: false, seed: 1, resamples: 100 });
    const sdB = Math.sqrt(32 / 7); // sample SD of 2 4 4 4 5 5 7 9 (mean 5, squares sum 32)
    expect(same.mde).toBeCloseTo((Z * Math.SQRT2 * sdB) / Math.sqrt(8), 12);
    const [flat] = compareArms([...obs('b', 'sw', [3, 3, 3]), ...obs('a', 'sw', [3, 3, 3])], { baseline: 'b', binary: false, seed: 1, resamples: 100 });
    expect(flat.mde).toBeNaN();
    const [one] = compareArms([...obs('b', 'sw', [0]), ...obs('a', 'sw', [1])], { baseline: 'b', binary: true, seed: 1, resamples: 100 });
    expect(one.mde).toBeCloseTo(Z * Math.sqrt(0.5), 12); // one item: no spread, p0 = 0 -> sqrt(0.5)
    expect(one.warnings.some((w) => /do not vary/.test(w))).toBe(false);
    expect(one.warnings).toContain('one paired item: the bootstrap interval is a single point');
    // Two items that differ: the sample SD of the differences, not the fallback.
    const [two] = compareArms([...obs('b', 'sw', [0, 0]), ...obs('a', 'sw', [1, 0])], { baseline: 'b', binary: true, seed: 1, resamples: 100 });
    expect(two.mde).toBeCloseTo((Z * Math.sqrt(0.5)) / Math.SQRT2, 12); // d = 1, 0: sd = sqrt(1/2)
    expect(two.warnings.some((w) => /single point|do not vary/.test(w))).toBe(false);
  });

  it('uses Wilcoxon when either arm has fractional binary items, McNemar only when both are 0/1', () => {
    const base = [1, 0, 1, 0, 1, 0, 0, 1];
    const o: Observation[] = [...obs('b', 'sw', base), ...obs('a', 'sw', [1, 1, 1, 1, 0, 0, 1, 1])];
    o.push({ arm: 'a', item: 'q0', lang: 'sw', sample: 1, value: 0 }); // a's q0 becomes 0.5
    const [c] = compareArms(o, { baseline: 'b', binary: true, seed: 1, resamples: 100 });
    expect(c.test).toBe('wilcoxon');
    expect(c.discordant).toBeUndefined();
    const d = [-0.5, 1, 0, 1, -1, 0, 1, 0]; // q0: 0.5 - 1
    expect(c.p).toBe(wilcoxonSignedRank(d).p);
    const o2: Observation[] = [...obs('b', 'sw', base), ...obs('a', 'sw', [1, 1, 1, 1, 0, 0, 1, 1])];
    o2.push({ arm: 'b', item: 'q1', lang: 'sw', sample: 1, value: 1 }); // b's q1 becomes 0.5
    const [c2] = compareArms(o2, { baseline: 'b', binary: true, seed: 1, resamples: 100 });
    expect(c2.test).toBe('wilcoxon');
    // The baseline has two samples of one item, the arm one: "up to" the larger count.
    expect(c2.warnings).toContain("items have up to 2 samples per arm; each item's samples were averaged before pairing");
  });

  it('answers p = 1 with a warning for a paired t on one item, and rejects an unknown test', () => {
    const [c] = compareArms([...obs('b', 'sw', [1.5]), ...obs('a', 'sw', [2])], { baseline: 'b', binary: false, seed: 1, continuousTest: 'paired-t' });
    expect([c.test, c.p]).toEqual(['paired-t', 1]);
    expect(c.warnings).toContain('one paired item: no paired t test is possible (p set to 1)');
    const [w] = compareArms([...obs('b', 'sw', [1.5, 1]), ...obs('a', 'sw', [2, 3])], { baseline: 'b', binary: false, seed: 1, continuousTest: 'paired-t' });
    expect(w.p).toBe(pairedT([0.5, 2]).p);
    const good = [...obs('b', 'sw', [1, 0]), ...obs('a', 'sw', [1, 1])];
    const bad = { baseline: 'b', binary: false, seed: 1, continuousTest: 'ttest' } as unknown as Parameters<typeof compareArms>[1];
    expect(() => compareArms(good, bad)).toThrow('compare options: "continuousTest" must be "wilcoxon" or "paired-t", got ttest');
    expect(() => compareArms(good, { baseline: '', binary: true, seed: 1 })).toThrow('compare options: "baseline" must name an arm');
    expect(() => compareArms(good, { baseline: 'b', binary: true, seed: 1, confidence: 0 })).toThrow(/^compare options: confidence must lie/);
    expect(compareArms(good, { baseline: 'b', binary: true, seed: 1, resamples: 1 })[0].n).toBe(2);
  });
});
