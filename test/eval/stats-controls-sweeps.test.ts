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
import { once } from './once.js';

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
  const comparisons = once(() => compareArms(o, { baseline: 'baseline', binary: false, seed: 1, resamples: 500 }));

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
