/**
 * Plans at their edges: bad options and plan files with the error each gets, arXiv 2510.04694 plans with their
 * defaults, and the random control plans' draws (range, order, uniformity). Expected values are worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import {
  deltaSteeringPlan,
  maskingPlan,
  parseSteerPlanJson,
  randomMaskControl,
  randomSteerControl,
  steeringPlan,
  type MaskPlan,
  type SteerPlan,
} from '../../src/analysis/plans.js';
import type { RoutingData } from '../../src/analysis/routing-data.js';
import { seededRandom } from '../../src/numeric/random.js';
import { computeShares, deltaSpecialisation, specialisationTable, summedShare } from '../../src/analysis/specialisation.js';
import { syntheticRouting } from './synthetic.js';

/** Two layers, four experts, 100 tokens per layer; counts[lang] = [layer 0 row, layer 1 row]. */
function twoLayers(counts: Record<string, [number[], number[]]>): RoutingData {
  const langs = Object.keys(counts);
  return {
    numLayers: 2,
    numExperts: 4,
    topK: 2,
    moeLayers: [0, 1],
    source: 'hand',
    languages: langs.map((language) => {
      const c = Float64Array.from(counts[language].flat());
      return { language, counts: c, gateSums: c.map((x) => x / 2), totals: Float64Array.of(100, 100) };
    }),
  };
}

// frequency x minus y: layer 0 = (0.3, 0, 0, -0.1), layer 1 = (0.5, 0.5, 0, 0)
const TWO = twoLayers({
  x: [[40, 20, 10, 0], [60, 60, 10, 10]],
  y: [[10, 20, 10, 10], [10, 10, 10, 10]],
});

describe('deltaSpecialisation and 2510.04694 plans', () => {
  it('covers every layer by default, with each layer its own counts', () => {
    const d = deltaSpecialisation(TWO, 'x', 'y', 0.2);
    expect([...d.keys()]).toEqual([0, 1]);
    expect(d.get(0)).toEqual([{ expert: 0, delta: 0.4 - 0.1 }]);
    expect(d.get(1)).toEqual([{ expert: 0, delta: 0.6 - 0.1 }, { expert: 1, delta: 0.6 - 0.1 }]);
    expect(deltaSpecialisation(TWO, 'y', 'x', 0.05).get(0)).toEqual([{ expert: 3, delta: 0.1 }]);
    expect(() => deltaSpecialisation(TWO, 'x', 'zz', 0.2)).toThrow(/^delta specialisation: language 'zz' is not in the routing data \(available: x, y\)$/);
  });

  it('soft plans default lambda to 0.5 and keep only layers with experts', () => {
    const soft = deltaSteeringPlan(TWO, { target: 'x', pivot: 'y', tau: 0.4, layers: [0, 1], mode: 'soft' });
    expect(soft).toEqual({ paper: '2510.04694', mode: 'soft', target: 'x', pivot: 'y', tau: 0.4, layers: { 1: [0, 1] }, lambda: 0.5 });
    expect(deltaSteeringPlan(TWO, { target: 'x', pivot: 'y', tau: 0.2, layers: [0, 0], mode: 'soft', lambda: 2 })).toEqual({
      paper: '2510.04694', mode: 'soft', target: 'x', pivot: 'y', tau: 0.2, layers: { 0: [0] }, lambda: 2,
    });
    expect(() => deltaSteeringPlan(TWO, { target: 'x', pivot: 'y', tau: 0.2, layers: [0, 1], mode: 'soft', lambda: Number.NaN })).toThrow(/^lambda must be a finite number, got NaN$/);
    expect(() => deltaSteeringPlan(TWO, { target: 'x', pivot: 'y', tau: 0.2, layers: [0, 2], mode: 'soft' })).toThrow(/^2510\.04694 plan: layer range 0-2 is outside the model's MoE layers 0-1$/);
  });

  it('hard plans default eps to 1e-3 and suppress to false; eps 0 is allowed, negative is not', () => {
    const hard = deltaSteeringPlan(TWO, { target: 'x', pivot: 'y', tau: 0.2, layers: [0, 1], mode: 'hard' });
    expect(hard).toEqual({ paper: '2510.04694', mode: 'hard', target: 'x', pivot: 'y', tau: 0.2, layers: { 0: [0], 1: [0, 1] }, eps: 1e-3, suppress: false });
    const sup = deltaSteeringPlan(TWO, { target: 'x', pivot: 'y', tau: 0.2, layers: [0, 1], mode: 'hard', eps: 0, suppress: true });
    expect([sup.eps, sup.suppress]).toEqual([0, true]);
    expect(() => deltaSteeringPlan(TWO, { target: 'x', pivot: 'y', tau: 0.2, layers: [0, 1], mode: 'hard', eps: -1e-9 })).toThrow(/^eps must be a non-negative number, got -1e-9$/);
    expect(() => deltaSteeringPlan(TWO, { target: 'x', pivot: 'y', tau: 0.2, layers: [0, 1], mode: 'hard', eps: Infinity })).toThrow(/^eps must be a non-negative number, got Infinity$/);
    const bad = { target: 'x', pivot: 'y', tau: 0.2, layers: [0, 1] as [number, number], mode: 'medium' as 'soft' };
    expect(() => deltaSteeringPlan(TWO, bad)).toThrow(/^mode must be 'soft' or 'hard', got 'medium'$/);
  });
});

describe('plan and share options name what is wrong', () => {
  const base = { targets: ['x', 'y'], k: 2, thr: 0.7, layers: [0, 1] as [number, number], lambda: 0.02, mode: 'shared' as const };

  it('steering and masking plans', () => {
    expect(() => steeringPlan(TWO, { ...base, lambda: Infinity })).toThrow(/^lambda must be a finite number, got Infinity$/);
    expect(() => steeringPlan(TWO, { ...base, mode: 'both' as 'shared' })).toThrow(/^mode must be 'shared' or 'aggregate', got 'both'$/);
    expect(() => steeringPlan(TWO, { ...base, targets: ['zz'] })).toThrow(/^steering plan targets: language 'zz' is not in the routing data \(available: x, y\)$/);
    expect(() => steeringPlan(TWO, { ...base, layers: [1, 0] })).toThrow(/^steering plan: layer range 1-0 is empty$/);
    expect(() => maskingPlan(TWO, { targets: ['zz'], shared: false, k: 2, thr: 0.4, layers: [0, 1] })).toThrow(/^masking plan target: language 'zz'/);
    expect(() => maskingPlan(TWO, { targets: [], shared: true, k: 2, thr: 0.4, layers: [0, 5] })).toThrow(/^masking plan: layer range 0-5 is outside/);
  });

  it('shares, summed shares and the table', () => {
    expect(() => computeShares(TWO, 2, ['x', 'zz'])).toThrow(/^comparison set: language 'zz' is not in the routing data/);
    const s = computeShares(TWO, 2, ['y', 'x']);
    expect(() => summedShare(s, ['x', 'q'], 0, 0)).toThrow(/^language 'q' is not in the comparison set \(y, x\)$/);
    const other = twoLayers({ x: [[1, 1, 1, 1], [1, 1, 1, 1]], z: [[1, 1, 1, 1], [1, 1, 1, 1]] });
    expect(() => specialisationTable(TWO, 2, 0.4, computeShares(other, 2))).toThrow(/^specialisation table: language 'z' is not in the routing data/);
  });

  it('shares keep their own copy of the language list', () => {
    const langs = ['y', 'x'];
    const s = computeShares(TWO, 2, langs);
    langs.reverse();
    expect(s.languages).toEqual(['y', 'x']);
  });
});

describe('steering plan files', () => {
  it('name the file and what is wrong', () => {
    expect(() => parseSteerPlanJson('{"lambda": 1,', 'p.json')).toThrow(/^p\.json: malformed JSON \(.+\)$/);
    const shape = /^p\.json: expected \{"lambda": number, "steer_dict": \{\.\.\.\}\}$/;
    expect(() => parseSteerPlanJson('{"steer_dict": {}}', 'p.json')).toThrow(shape);
    expect(() => parseSteerPlanJson('{"lambda": "1", "steer_dict": {}}', 'p.json')).toThrow(shape);
    expect(() => parseSteerPlanJson('{"lambda": 1}', 'p.json')).toThrow(shape);
    expect(() => parseSteerPlanJson('{"lambda": 1, "steer_dict": null}', 'p.json')).toThrow(shape);
    expect(() => parseSteerPlanJson('{"lambda": 1, "steer_dict": 3}', 'p.json')).toThrow(shape);
    expect(() => parseSteerPlanJson('null', 'p.json')).toThrow(shape);
    expect(() => parseSteerPlanJson('{"lambda": 1, "steer_dict": {"4": {"7": "0.5"}}}', 'p.json')).toThrow(/^p\.json: layer 4 expert 7: coefficient must be a number$/);
    expect(() => parseSteerPlanJson('{"lambda": 1, "steer_dict": {"4": {"7": 1e999}}}', 'p.json')).toThrow(/^p\.json: layer 4 expert 7: coefficient must be a number$/);
    expect(parseSteerPlanJson('{"lambda": 0.5, "steer_dict": {"4": {"7": 0.25, "2": 0}}}', 'p.json')).toEqual({ lambda: 0.5, steer: new Map([[4, new Map([[2, 0], [7, 0.25]])]]) });
  });
});

describe('random control plans', () => {
  const E = 16;
  const steer: SteerPlan = { lambda: 0.1, steer: new Map([[3, new Map([[0, 0.1], [5, 0.2], [9, 0.3], [15, 0.4]])]]) };

  it('draw distinct in-range experts outside the plan, ascending', () => {
    for (let seed = 0; seed < 50; seed++) {
      const c = randomSteerControl(steer, E, seed).steer.get(3)!;
      const experts = [...c.keys()];
      expect(experts).toHaveLength(4);
      expect(experts).toEqual([...experts].sort((a, b) => a - b));
      expect(new Set(experts).size).toBe(4);
      for (const e of experts) {
        expect(Number.isInteger(e) && e >= 0 && e < E, `expert ${e}`).toBe(true);
        expect(steer.steer.get(3)!.has(e)).toBe(false);
      }
      expect([...c.values()].sort()).toEqual([0.1, 0.2, 0.3, 0.4]);
    }
  });

  it('can use every expert outside the plan, and no more', () => {
    const all: MaskPlan = new Map([[0, [1, 3, 5, 7, 9, 11, 13, 15]]]);
    expect(randomMaskControl(all, E, 3).get(0)).toEqual([0, 2, 4, 6, 8, 10, 12, 14]);
    for (let seed = 0; seed < 20; seed++) expect(randomMaskControl(all, E, seed).get(0)).toEqual([0, 2, 4, 6, 8, 10, 12, 14]);
    const tooMany: MaskPlan = new Map([[0, Array.from({ length: 9 }, (_, i) => i)]]);
    expect(() => randomMaskControl(tooMany, E, 1)).toThrow(/^random control: 9 experts requested but only 7 are outside the plan$/);
    expect(randomMaskControl(tooMany, E, 1, false).get(0)).toHaveLength(9);
  });

  it('pick experts and place coefficients uniformly over seeds', () => {
    // 12 candidates, 4 drawn: each candidate 1/3 of the time; each coefficient lands on each drawn slot 1/4 of the time.
    const N = 600;
    const picked = new Map<number, number>();
    const lastSlot = new Map<number, number>();
    for (let seed = 1; seed <= N; seed++) {
      const row = randomSteerControl(steer, E, seed).steer.get(3)!;
      for (const e of row.keys()) picked.set(e, (picked.get(e) ?? 0) + 1);
      const last = [...row.values()][3]!;
      lastSlot.set(last, (lastSlot.get(last) ?? 0) + 1);
    }
    expect(picked.size).toBe(12);
    for (const [e, n] of picked) expect(Math.abs(n / N - 1 / 3), `expert ${e}: ${n}`).toBeLessThan(0.07);
    expect(lastSlot.size).toBe(4);
    for (const [s, n] of lastSlot) expect(Math.abs(n / N - 1 / 4), `coefficient ${s}: ${n}`).toBeLessThan(0.07);
  });

  it('are the documented draw: per layer ascending, a partial Fisher-Yates over the free experts, then a Fisher-Yates of the coefficients', () => {
    // A plain rewrite of docs/analysis.md's "Random controls", so that a control file keeps the same experts for the
    // same seed across versions (one extra or missing random draw shifts every later layer).
    const plain = (plan: SteerPlan, seed: number): [number, [number, number][]][] => {
      const rand = seededRandom(seed);
      return [...plan.steer.keys()].sort((a, b) => a - b).map((l) => {
        const row = plan.steer.get(l)!;
        const free = Array.from({ length: E }, (_, e) => e).filter((e) => !row.has(e));
        for (let i = 0; i < row.size; i++) {
          const j = i + Math.floor(rand() * (free.length - i));
          [free[i], free[j]] = [free[j]!, free[i]!];
        }
        const experts = free.slice(0, row.size).sort((a, b) => a - b);
        const coeffs = [...row.values()];
        for (let i = coeffs.length - 1; i >= 1; i--) {
          const j = Math.floor(rand() * (i + 1));
          [coeffs[i], coeffs[j]] = [coeffs[j]!, coeffs[i]!];
        }
        return [l, experts.map((e, i): [number, number] => [e, coeffs[i]!])];
      });
    };
    const plan: SteerPlan = { lambda: 1, steer: new Map([[1, new Map([[3, 0.5], [4, 0.25], [7, 0.125]])], [6, new Map([[0, 1], [15, 2]])], [9, new Map([[2, 3], [8, 4], [11, 5], [12, 6]])]]) };
    for (const seed of [1, 2, 2025, 99991]) {
      expect([...randomSteerControl(plan, E, seed).steer].map(([l, row]) => [l, [...row]])).toEqual(plain(plan, seed));
    }
  });

  it('do not depend on the order the plan lists its layers in', () => {
    const rowA = new Map([[1, 0.5], [2, 0.25]]);
    const rowB = new Map([[4, 0.75], [6, 0.125], [8, 0.0625]]);
    const forward: SteerPlan = { lambda: 1, steer: new Map([[2, rowA], [5, rowB]]) };
    const backward: SteerPlan = { lambda: 1, steer: new Map([[5, rowB], [2, rowA]]) };
    const a = randomSteerControl(forward, E, 9);
    const b = randomSteerControl(backward, E, 9);
    expect([...b.steer.keys()]).toEqual([2, 5]);
    expect([...b.steer]).toEqual([...a.steer]);
    const mf: MaskPlan = new Map([[2, [1, 2]], [10, [4, 6, 8]]]);
    const mb: MaskPlan = new Map([[10, [4, 6, 8]], [2, [1, 2]]]);
    expect([...randomMaskControl(mb, E, 9)]).toEqual([...randomMaskControl(mf, E, 9)]);
  });

  it('reuse the plans of real data', () => {
    const data = syntheticRouting({ groups: [['aa', 'ab'], ['ba']], layers: 4, experts: E, seed: 8 });
    const plan = steeringPlan(data, { targets: ['aa', 'ba'], k: 5, thr: 0.7, layers: [0, 3], lambda: 0.02, mode: 'shared' });
    const c = randomSteerControl(plan, E, 4);
    expect(c.lambda).toBe(0.02);
    expect([...c.steer.keys()]).toEqual([...plan.steer.keys()]);
  });
});
