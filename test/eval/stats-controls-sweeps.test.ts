import { describe, expect, it } from 'vitest';
import {
  bestArm,
  compareArms,
  randomControlPercentile,
  selectionWarning,
  splitDevTest,
  summariseRandomControls,
  type Observation,
} from '../../src/eval/stats/index.js';

describe('randomControlPercentile', () => {
  it('counts controls below, ties at mid-rank', () => {
    // Below: 0 and -0.02; equal: 0.05 -> (2 + 0.5) / 4.
    expect(randomControlPercentile(0.05, [0, 0.05, 0.1, -0.02])).toBe(62.5);
    expect(randomControlPercentile(1, [0, 0.5])).toBe(100);
    expect(randomControlPercentile(-1, [0, 0.5])).toBe(0);
    expect(randomControlPercentile(0.3, [0.3, 0.3, 0.3])).toBe(50);
  });

  it('rejects no controls and non-finite effects', () => {
    expect(() => randomControlPercentile(0.1, [])).toThrow(/at least one control/);
    expect(() => randomControlPercentile(NaN, [0])).toThrow(/plan's effect/);
    expect(() => randomControlPercentile(0, [0, Infinity])).toThrow(/random control 1/);
  });
});

describe('summariseRandomControls', () => {
  // NLL-like scores (lower is better) for one language: the plan lowers NLL by 0.3, controls by 0.05 * k - 0.1.
  const items = 40;
  const o: Observation[] = [];
  const add = (arm: string, shift: (i: number) => number) => {
    for (let i = 0; i < items; i++) o.push({ arm, item: `u${i}`, lang: 'swh', sample: 0, value: 3 + Math.sin(i) + shift(i) });
  };
  add('baseline', () => 0);
  add('plan', (i) => -0.3 + 0.01 * Math.cos(i));
  const controls = ['r0', 'r1', 'r2', 'r3', 'r4'];
  controls.forEach((name, k) => add(name, (i) => 0.05 * k - 0.1 + 0.01 * Math.sin(3 * i)));
  // Computed in each test, not at collection (see stats-compare.test.ts).
  const comparisons = () => compareArms(o, { baseline: 'baseline', binary: false, seed: 1, resamples: 500 });

  it('places the plan against the controls in the metric\'s better direction', () => {
    const [s] = summariseRandomControls(comparisons(), { plan: 'plan', controls, higherIsBetter: false });
    expect(s.language).toBe('swh');
    expect(s.controls.map((c) => c.arm)).toEqual(controls);
    expect(s.beats).toBe(5);
    expect(s.percentile).toBe(0); // its delta is the lowest of all
    expect(s.pEmpirical).toBeCloseTo(1 / 6, 15);
    expect(s.text).toMatch(/plan beats 5 of 5 random controls/);
    expect(s.text).toMatch(/no p below 0\.167 is possible/);
    const [up] = summariseRandomControls(comparisons(), { plan: 'plan', controls });
    expect(up.beats).toBe(0);
    expect(up.pEmpirical).toBe(1);
  });

  it('rejects unknown arms', () => {
    expect(() => summariseRandomControls(comparisons(), { plan: 'nope', controls })).toThrow(/no comparison for plan arm "nope"/);
    expect(() => summariseRandomControls(comparisons(), { plan: 'plan', controls: ['r0', 'r9'] })).toThrow(/control arm\(s\) "r9"/);
    expect(() => summariseRandomControls(comparisons(), { plan: 'plan', controls: [] })).toThrow(/at least one control arm/);
  });
});

describe('sweep helpers', () => {
  it('warns only when the best arm was chosen on the items it is reported on', () => {
    expect(selectionWarning('lambda=0.03', false, 12)).toBeNull();
    const w = selectionWarning('lambda=0.03', true, 12)!;
    expect(w).toContain('"lambda=0.03"');
    expect(w).toContain('best of 12 arms on the same items');
    expect(w).toMatch(/biased upward/);
  });

  it('picks the arm with the largest improvement, lower-is-better included', () => {
    const mk = (arm: string, delta: number) => ({ arm, delta, language: 'all' }) as Parameters<typeof bestArm>[0][number];
    const rows = [mk('a', 0.01), mk('b', 0.03), mk('c', -0.02)];
    expect(bestArm(rows)).toBe('b');
    expect(bestArm(rows, { higherIsBetter: false })).toBe('c');
    expect(() => bestArm(rows, { language: 'sw' })).toThrow(/no comparison in language "sw"/);
  });

  it('splits ids deterministically, independently of order and duplicates, into disjoint dev and test', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `mgsm-${i}`);
    const s = splitDevTest(ids, { seed: 2025, devFraction: 0.3 });
    expect(s.dev.size).toBe(300);
    expect(s.test.size).toBe(700);
    expect([...s.dev].filter((id) => s.test.has(id))).toEqual([]);
    const shuffled = [...ids].reverse().concat(ids.slice(0, 50));
    const again = splitDevTest(shuffled, { seed: 2025, devFraction: 0.3 });
    expect([...again.dev].sort()).toEqual([...s.dev].sort());
    const other = splitDevTest(ids, { seed: 2026, devFraction: 0.3 });
    expect([...other.dev].sort()).not.toEqual([...s.dev].sort());
    // A hash split, not "the first 300": dev draws from the whole id range.
    const numbers = [...s.dev].map((id) => Number(id.slice(5)));
    expect(Math.min(...numbers)).toBeLessThan(50);
    expect(Math.max(...numbers)).toBeGreaterThan(950);
  });

  it('rejects impossible splits', () => {
    expect(() => splitDevTest(['a', 'b'], { seed: 1, devFraction: 1 })).toThrow(/devFraction/);
    expect(() => splitDevTest(['a', 'a'], { seed: 1 })).toThrow(/at least 2 distinct items/);
    expect(() => splitDevTest(['a', 'b'], { seed: 0.5 })).toThrow(/seed must be an integer/);
  });
});

/** A comparison row with only what the control and sweep helpers read. */
const row = (arm: string, language: string, delta: number) => ({ arm, language, delta }) as Parameters<typeof bestArm>[0][number];

describe('random controls and sweeps: ties, languages and bounds', () => {
  it('counts a control that ties the plan as at least as good (not beaten), per language', () => {
    const rows = [
      row('plan', 'sw', 0.04),
      row('plan', 'ja', -0.01),
      row('r0', 'sw', 0.04), // tie
      row('r1', 'sw', 0.01),
      row('r0', 'ja', 0.02),
      row('r1', 'ja', -0.03),
    ];
    const [sw, ja] = summariseRandomControls(rows, { plan: 'plan', controls: ['r0', 'r1'] });
    // sw: beats r1 only; the tie counts against: p = (1 + 1) / 3; percentile (1 + 1/2) / 2 = 75.
    expect([sw.language, sw.beats, sw.percentile]).toEqual(['sw', 1, 75]);
    expect(sw.pEmpirical).toBeCloseTo(2 / 3, 15);
    expect(sw.controls).toEqual([
      { arm: 'r0', effect: 0.04 },
      { arm: 'r1', effect: 0.01 },
    ]);
    expect(sw.text).toBe('sw: plan beats 1 of 2 random controls (percentile 75 of their effects; empirical one-sided p = 0.667, and with 2 controls no p below 0.333 is possible)');
    // ja: only the other language's controls count: beats r1 (-0.03), not r0 (0.02).
    expect([ja.beats, ja.percentile, ja.effect]).toEqual([1, 50, -0.01]);
    expect(() => summariseRandomControls([...rows, row('plan', 'zh', 0)], { plan: 'plan', controls: ['r0', 'r1'] })).toThrow(
      /no control arm has a comparison in language zh/,
    );
  });

  it('states the p floor only below 19 controls (1 / 20 = 0.05 is reachable from 19 on)', () => {
    const with_ = (k: number) => [row('plan', 'all', 1), ...Array.from({ length: k }, (_, i) => row(`r${i}`, 'all', 0))];
    const names = (k: number) => Array.from({ length: k }, (_, i) => `r${i}`);
    const [s18] = summariseRandomControls(with_(18), { plan: 'plan', controls: names(18) });
    expect(s18.text).toMatch(/with 18 controls no p below 0\.053 is possible\)$/);
    expect(s18.pEmpirical).toBeCloseTo(1 / 19, 15);
    const [s19] = summariseRandomControls(with_(19), { plan: 'plan', controls: names(19) });
    expect(s19.text).toMatch(/empirical one-sided p = 0\.050\)$/);
  });

  it('gives a tie for the best arm to the first listed', () => {
    expect(bestArm([row('a', 'all', 0.02), row('b', 'all', 0.02)])).toBe('a');
    expect(bestArm([row('a', 'all', -0.02), row('b', 'all', -0.02)], { higherIsBetter: false })).toBe('a');
    expect(bestArm([row('a', 'sw', 0.5), row('b', 'all', 0.01)])).toBe('b');
  });

  it('names the number of candidates only when there is a choice', () => {
    expect(selectionWarning('x', true, 1)).toMatch(/^arm "x" was selected as the best on the same items/);
    expect(selectionWarning('x', true)).toMatch(/^arm "x" was selected as the best on the same items/);
    expect(selectionWarning('x', true, 2)).toMatch(/best of 2 arms on/);
  });

  it('keeps at least one item on each side and rounds the dev share', () => {
    const ids = Array.from({ length: 10 }, (_, i) => `i${i}`);
    expect(splitDevTest(ids, { seed: 3, devFraction: 0.01 }).dev.size).toBe(1);
    expect(splitDevTest(ids, { seed: 3, devFraction: 0.99 }).dev.size).toBe(9);
    expect(splitDevTest(ids, { seed: 3 }).dev.size).toBe(5);
    expect(splitDevTest(ids, { seed: 3, devFraction: 0.26 }).dev.size).toBe(3);
    expect(() => splitDevTest(ids, { seed: 3, devFraction: 0 })).toThrow(/devFraction must lie strictly between 0 and 1, got 0/);
    const two = splitDevTest(['a', 'b'], { seed: 3 });
    expect([two.dev.size, two.test.size]).toEqual([1, 1]);
  });

  it('orders ids by the documented hash (FNV-1a of seed and id, murmur3 finish), computed here with BigInt', () => {
    const M = 0xffffffffn;
    const mul = (a: bigint, b: bigint) => (a * b) & M;
    const hash = (seed: number, id: string): bigint => {
      let h = (0x811c9dc5n ^ (BigInt(seed) & M)) & M;
      for (const ch of id) h = mul(h ^ BigInt(ch.codePointAt(0)!), 0x01000193n);
      h ^= h >> 16n;
      h = mul(h, 0x85ebca6bn);
      h ^= h >> 13n;
      h = mul(h, 0xc2b2ae35n);
      h ^= h >> 16n;
      return h;
    };
    const ids = Array.from({ length: 40 }, (_, i) => `mgsm-${i}`).concat(['é', '日本', '😀x']);
    for (const seed of [0, 2025, -7]) {
      const expected = [...ids].sort((x, y) => Number(hash(seed, x) - hash(seed, y)) || (x < y ? -1 : 1)).slice(0, 13);
      expect([...splitDevTest(ids, { seed, devFraction: 0.3 }).dev]).toEqual(expected);
    }
  });
});
