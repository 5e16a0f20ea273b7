/**
 * arXiv 2601.14050's expert classes pinned at their boundaries: a threshold equal to an actual share, thr 1,
 * experts no language keeps (unused), and top-k-dropped experts. Expected values are worked out by hand below or
 * computed by the plain float32 implementation in plain-specialisation.ts, never by src/analysis itself.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { maskingPlan, steeringPlan } from '../../src/analysis/plans.js';
import { loadRecorderFolder } from '../../src/analysis/recorder-json.js';
import type { RoutingData } from '../../src/analysis/routing-data.js';
import { computeShares, deltaSpecialisation, exclusiveExperts, frequency32, sharedExperts, specialisationTable, summedShare } from '../../src/analysis/specialisation.js';
import { distinctShares, plainExclusive, plainShared, plainShares32, type Ties } from './plain-specialisation.js';
import { syntheticRouting } from './synthetic.js';

const f32 = Math.fround;

/** Routing data from literal count rows: counts[lang][layer][expert], every layer seeing `total` tokens. */
function handData(counts: Record<string, number[][]>, total = 1000): RoutingData {
  const langs = Object.keys(counts);
  const L = counts[langs[0]].length;
  const E = counts[langs[0]][0].length;
  return {
    numLayers: L,
    numExperts: E,
    topK: 2,
    moeLayers: Array.from({ length: L }, (_, i) => i),
    source: 'hand',
    languages: langs.map((language) => {
      const c = Float64Array.from(counts[language].flat());
      return { language, counts: c, gateSums: c.map((x) => x / 4), totals: new Float64Array(L).fill(total) };
    }),
  };
}

// One layer, six experts, three languages with 1000 tokens each. With k = 6 every expert is kept and the float32
// shares are (worked out by hand; f = count / 1000 in float32, r = f / (sum of f + 1e-10) in float32):
//   e0  a 100, b 100, c 100  -> r = 0.33333331 each (denominator 0.3 rounds up: one float32 ulp below fround(1/3))
//   e1  a 200, b 200         -> r_a = r_b = 0.5 exactly (f + f is exact and 1e-10 is below half an ulp)
//   e2  a 300                -> r_a = 1 exactly (f / (f + 1e-10) rounds to 1 in float32)
//   e3  nobody               -> r = 0 for all: unused
//   e4  a 70, b 30           -> r_a = fround(0.7) = 0.69999999, r_b = 0.29999998 (one ulp below fround(0.3))
//   e5  c 400                -> r_c = 1
const HAND = handData({
  a: [[100, 200, 300, 0, 70, 0]],
  b: [[100, 200, 0, 0, 30, 0]],
  c: [[100, 0, 0, 0, 0, 400]],
});

const THIRD = f32(1 / 3) - 2 ** -25;
const B_E4 = f32(0.3) - 2 ** -25;

describe('shares on hand-computed routing', () => {
  const s = computeShares(HAND, 6);

  it('are the float32 values worked out by hand', () => {
    expect(Array.from(s.shares[0])).toEqual([THIRD, 0.5, 1, 0, f32(0.7), 0]);
    expect(Array.from(s.shares[1])).toEqual([THIRD, 0.5, 0, 0, B_E4, 0]);
    expect(Array.from(s.shares[2])).toEqual([THIRD, 0, 0, 0, 0, 1]);
    expect(frequency32(70, 1000)).toBe(f32(0.07));
    expect(summedShare(s, ['a', 'b'], 0, 4)).toBe(f32(f32(0.7) + s.shares[1][4]));
  });

  it('shared experts: every share strictly below thr (float32 thr), some share above 0', () => {
    expect(sharedExperts(s, 0.3, 0)).toEqual([]); // 1/3 is not below 0.3
    expect(sharedExperts(s, THIRD, 0)).toEqual([]); // thr equal to the share: not shared
    expect(sharedExperts(s, f32(1 / 3), 0)).toEqual([0]); // one float32 ulp above it: shared
    expect(sharedExperts(s, 0.34, 0)).toEqual([0]);
    expect(sharedExperts(s, 0.5, 0)).toEqual([0]); // e1's shares equal thr exactly: not shared
    expect(sharedExperts(s, 0.51, 0)).toEqual([0, 1]);
    // thr 0.7 is compared in float32: fround(0.7) < fround(0.7) is false, so e4 is not shared (in float64 it would be)
    expect(sharedExperts(s, 0.7, 0)).toEqual([0, 1]);
    expect(sharedExperts(s, 0.71, 0)).toEqual([0, 1, 4]);
    // thr 1: experts used by one language have r = 1 and are not shared; the unused e3 never is
    expect(sharedExperts(s, 1, 0)).toEqual([0, 1, 4]);
  });

  it('exclusive experts: summed share strictly above thr (float64 thr)', () => {
    expect(exclusiveExperts(s, ['a'], 0.5, 0)).toEqual([2, 4]); // e1 at exactly 0.5 is not exclusive
    expect(exclusiveExperts(s, ['a'], 0.7, 0)).toEqual([2]); // 0.69999999 is not above 0.7
    expect(exclusiveExperts(s, ['a'], f32(0.7) - 2 ** -26, 0)).toEqual([2, 4]);
    expect(exclusiveExperts(s, ['a'], 1, 0)).toEqual([]); // r = 1 is not above 1
    expect(exclusiveExperts(s, ['c'], 0.4, 0)).toEqual([5]);
    expect(exclusiveExperts(s, ['a', 'b'], 0.9, 0)).toEqual([1, 2, 4]); // 0.5 + 0.5 and 0.7 + 0.3 (float32 sums)
    expect(exclusiveExperts(s, ['a', 'b'], 1, 0)).toEqual([]); // the sums are exactly 1 (e1) or just below (e4)
  });

  it('specialisation table: counts, kinds and owners at the boundaries', () => {
    const at = (thr: number) => specialisationTable(HAND, 6, thr);
    const kinds = (thr: number) => at(thr).experts.map((x) => x.kind);
    expect(at(0.5).layers[0]).toEqual({ layer: 0, shared: 1, exclusive: { a: 2, b: 0, c: 1 } });
    expect(kinds(0.5)).toEqual(['shared', 'unused', 'exclusive', 'unused', 'exclusive', 'exclusive']);
    expect(at(0.7).layers[0]).toEqual({ layer: 0, shared: 2, exclusive: { a: 1, b: 0, c: 1 } });
    expect(kinds(0.7)).toEqual(['shared', 'shared', 'exclusive', 'unused', 'unused', 'exclusive']);
    expect(at(1).layers[0]).toEqual({ layer: 0, shared: 3, exclusive: { a: 0, b: 0, c: 0 } });
    expect(kinds(1)).toEqual(['shared', 'shared', 'unused', 'unused', 'shared', 'unused']);
    const t = at(0.5);
    expect(t.experts.map((x) => x.owner)).toEqual([undefined, undefined, 'a', undefined, 'a', 'c']);
    expect(t.experts[4].share).toEqual([f32(0.7), B_E4, 0]);
    expect(t.experts[4].frequency).toEqual([0.07, 0.03, 0]); // count / total in float64
    expect(t.experts[4].gate).toEqual([70 / 4 / 1000, 30 / 4 / 1000, 0]);
    expect(t.experts.map((x) => [x.layer, x.expert])).toEqual([0, 1, 2, 3, 4, 5].map((e) => [0, e]));
  });

  it('experts dropped by top-k count as unused, not shared', () => {
    // k 2 keeps a: e2, e1; b: e1, e0; c: e5, e0. e4 is used (counts 70, 30) but no language keeps it.
    const s2 = computeShares(HAND, 2);
    expect(Array.from(s2.shares[0])).toEqual([0, 0.5, 1, 0, 0, 0]);
    expect(Array.from(s2.shares[1])).toEqual([0.5, 0.5, 0, 0, 0, 0]);
    expect(sharedExperts(s2, 0.5, 0)).toEqual([]);
    expect(sharedExperts(s2, 1, 0)).toEqual([0, 1]);
    const t = specialisationTable(HAND, 2, 1);
    expect(t.layers[0].shared).toBe(2);
    expect(t.experts.map((x) => x.kind)).toEqual(['shared', 'shared', 'unused', 'unused', 'unused', 'unused']);
  });
});

describe('plans on hand-computed routing, at the boundaries', () => {
  it('shared-mode steering over a,b: thr equal to a share and thr 1', () => {
    // C = {a, b}: e0 r = 0.5 each, e1 0.5 each, e2 a 1, e4 0.7/0.3, e5 0 (only c uses it and c is not in C)
    const steer = (thr: number) => steeringPlan(HAND, { targets: ['a', 'b'], k: 6, thr, layers: [0, 0], lambda: 0.1, mode: 'shared' }).steer.get(0);
    expect(steer(0.5)).toBeUndefined();
    expect([...steer(0.6)!]).toEqual([[0, 0.5], [1, 0.5]]);
    expect([...steer(1)!]).toEqual([[0, 0.5], [1, 0.5], [4, f32(0.7)]]);
    // the coefficient is the first target's share, which can be 0 when only a later target keeps the expert
    const cab = steeringPlan(HAND, { targets: ['c', 'a', 'b'], k: 6, thr: 1, layers: [0, 0], lambda: 0.1, mode: 'shared' }).steer.get(0);
    expect([...cab!]).toEqual([[0, THIRD], [1, 0], [4, 0]]);
  });

  it('aggregate-mode steering keeps a score equal to thr', () => {
    const agg = (thr: number) => steeringPlan(HAND, { targets: ['a'], k: 6, thr, layers: [0, 0], lambda: 0.1, mode: 'aggregate' }).steer.get(0);
    expect([...agg(0.5)!.keys()]).toEqual([1, 2, 4]);
    expect([...agg(f32(0.7))!.keys()]).toEqual([2, 4]);
    expect([...agg(1)!]).toEqual([[2, 1]]);
  });

  it('masking plans: shared at thr 1 and exclusive at a share', () => {
    expect(maskingPlan(HAND, { targets: [], shared: true, k: 6, thr: 1, layers: [0, 0] }).get(0)).toEqual([0, 1, 4]);
    expect(maskingPlan(HAND, { targets: [], shared: true, k: 6, thr: 0.5, layers: [0, 0] }).get(0)).toEqual([0]);
    expect(maskingPlan(HAND, { targets: ['a'], shared: false, k: 6, thr: 0.5, layers: [0, 0] }).get(0)).toEqual([2, 4]);
    expect(maskingPlan(HAND, { targets: ['a'], shared: false, k: 6, thr: 1, layers: [0, 0] }).size).toBe(0);
  });
});

describe('expert classes on synthetic routing equal the plain float32 implementation at every share value', () => {
  // k 6 of 24 experts: many experts are kept by one language only (r = 1) and some by none (unused).
  const data = syntheticRouting({ groups: [['aa', 'ab'], ['ba', 'bb', 'bc'], ['ca']], layers: 6, experts: 24, seed: 3 });
  const langs = data.languages.map((l) => l.language);
  const k = 6;
  const s = computeShares(data, k);
  const plain = Array.from({ length: data.numLayers }, (_, l) => plainShares32(data, langs, k, l));

  it('has the structure the boundaries need', () => {
    expect(plain.flatMap((layer) => layer.flat()).filter((r) => r === 1).length, 'single-language experts').toBeGreaterThan(5);
    for (let l = 0; l < data.numLayers; l++) {
      const unused = plain[l][0].filter((_, e) => plain[l].every((row) => row[e] === 0)).length;
      expect(unused, `layer ${l} unused experts`).toBeGreaterThan(0);
    }
  });

  it('shares are identical', () => {
    for (let l = 0; l < data.numLayers; l++) {
      for (let c = 0; c < langs.length; c++) expect(Array.from(s.shares[c].subarray(l * 24, l * 24 + 24))).toEqual(plain[l][c]);
    }
  });

  it('shared and exclusive experts and the table agree at thr = each share, just above it, and thr 1', () => {
    for (let l = 0; l < data.numLayers; l++) {
      const thrs = [...distinctShares(plain[l]).flatMap((r) => [r, Math.min(1, r + 1e-7)]), 1];
      for (const thr of thrs) {
        expect(sharedExperts(s, thr, l), `layer ${l} thr ${thr}`).toEqual(plainShared(plain[l], thr));
        for (let c = 0; c < langs.length; c++) expect(exclusiveExperts(s, [langs[c]], thr, l)).toEqual(plainExclusive(plain[l], c, thr));
      }
    }
    for (const thr of [distinctShares(plain[2])[3], 0.4, 1]) {
      const table = specialisationTable(data, k, thr, s);
      for (let l = 0; l < data.numLayers; l++) {
        const shared = plainShared(plain[l], thr);
        expect(table.layers[l].shared, `layer ${l} thr ${thr}`).toBe(shared.length);
        expect(table.layers[l].exclusive).toEqual(Object.fromEntries(langs.map((code, c) => [code, plainExclusive(plain[l], c, thr).length])));
        const kinds = table.experts.filter((x) => x.layer === l).map((x) => x.kind);
        const owned = new Set(langs.flatMap((_, c) => plainExclusive(plain[l], c, thr)));
        expect(kinds).toEqual(kinds.map((_, e) => (shared.includes(e) ? 'shared' : owned.has(e) ? 'exclusive' : 'unused')));
      }
    }
  });

  it('a table limited to a layer range has exactly the full table\'s rows for those layers', () => {
    const full = specialisationTable(data, k, 0.4, s);
    for (const [a, b] of [[2, 2], [1, 3], [0, data.numLayers - 1]] as const) {
      const part = specialisationTable(data, k, 0.4, s, [a, b]);
      expect(part.layers).toEqual(full.layers.filter((r) => r.layer >= a && r.layer <= b));
      expect(part.experts).toEqual(full.experts.filter((r) => r.layer >= a && r.layer <= b));
    }
    expect(() => specialisationTable(data, k, 0.4, s, [3, data.numLayers])).toThrow(/layers must be a range within 0-/);
  });

  it('a layer range fills only those layers', () => {
    const part = computeShares(data, k, ['aa', 'ca'], [2, 3]);
    expect(part.shares[0].subarray(0, 2 * 24).every((r) => r === 0)).toBe(true);
    expect(Array.from(part.shares[1].subarray(3 * 24, 4 * 24))).toEqual(plainShares32(data, ['aa', 'ca'], k, 3)[1]);
    expect(part.shares[0].subarray(4 * 24).every((r) => r === 0)).toBe(true);
  });
});

describe('arXiv 2510.04694 delta specialisation', () => {
  it('keeps experts whose frequency difference is strictly above tau', () => {
    // frequency of a minus b: e0 0, e1 0, e2 0.3, e3 0, e4 0.07 - 0.03, e5 0
    const d = deltaSpecialisation(HAND, 'a', 'b', 0.2, [0, 0]).get(0)!;
    expect(d).toEqual([{ expert: 2, delta: 0.3 }, { expert: 4, delta: 0.07 - 0.03 }].filter((x) => x.delta > 0.2));
    expect(deltaSpecialisation(HAND, 'a', 'b', 0.3, [0, 0]).get(0)).toEqual([]); // e2's delta equals tau: not kept
    expect(deltaSpecialisation(HAND, 'a', 'b', 0.29, [0, 0]).get(0)!.map((x) => x.expert)).toEqual([2]);
    expect(deltaSpecialisation(HAND, 'a', 'b', 0, [0, 0]).get(0)!.map((x) => x.expert)).toEqual([2, 4]); // zero deltas are not above 0
    expect(deltaSpecialisation(HAND, 'b', 'a', -0.2, [0, 0]).get(0)!.map((x) => x.expert)).toEqual([0, 1, 3, 4, 5]);
    expect(deltaSpecialisation(HAND, 'c', 'a', 0, [0, 0]).get(0)!.map((x) => x.expert)).toEqual([5]);
    expect(() => deltaSpecialisation(HAND, 'a', 'b', 1, [0, 0])).toThrow(/tau must be in \(-1, 1\), got 1/);
    expect(() => deltaSpecialisation(HAND, 'a', 'b', -1, [0, 0])).toThrow(/tau must be in \(-1, 1\), got -1/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The real Qwen3-30B-A3B MGSM routing published with arXiv 2601.14050 (../shared/fixtures, not in the repo).

const FIXTURE = resolve(__dirname, '../../../shared/fixtures/qwen3-30b-a3b-mgsm-routing');
const HAVE_FIXTURE = existsSync(join(FIXTURE, 'mgsm_en.json'));
// The expert torch.topk kept at each k = 20 tie of the fixture (torch 1.13, CPU; see plans.test.ts).
const TIES_K20: Ties = { 'fr:22': 45, 'fr:28': 82, 'sw:18': 86, 'zh:36': 92 };

describe.skipIf(!HAVE_FIXTURE)(`thr 1 on the real Qwen3-30B-A3B MGSM routing${HAVE_FIXTURE ? '' : ' (skipped: ../shared/fixtures/qwen3-30b-a3b-mgsm-routing is absent)'}`, () => {
  const data = HAVE_FIXTURE ? loadRecorderFolder(FIXTURE, { languages: ['bn', 'es', 'ja', 'sw', 'fr', 'zh', 'de', 'en'] }) : (undefined as unknown as RoutingData);

  it('shared mask (k 15, all layers) equals the plain float32 implementation', () => {
    const langs = data.languages.map((l) => l.language);
    const mask = maskingPlan(data, { targets: [], shared: true, k: 15, thr: 1, layers: [0, data.numLayers - 1] });
    let total = 0;
    for (let l = 0; l < data.numLayers; l++) {
      const expected = plainShared(plainShares32(data, langs, 15, l), 1);
      expect(mask.get(l) ?? [], `layer ${l}`).toEqual(expected);
      total += expected.length;
    }
    expect(total).toBe(SHARED_MASK_K15_THR1);
  });

  it('shared-mode steering en,zh (k 20, layers 10-39) equals the plain float32 implementation', () => {
    const plan = steeringPlan(data, { targets: ['en', 'zh'], k: 20, thr: 1, layers: [10, 39], lambda: 0.022, mode: 'shared' });
    let total = 0;
    for (let l = 10; l <= 39; l++) {
      const r = plainShares32(data, ['en', 'zh'], 20, l, TIES_K20);
      const expected = plainShared(r, 1);
      expect([...plan.steer.get(l)!], `layer ${l}`).toEqual(expected.map((e) => [e, r[0][e]]));
      total += expected.length;
    }
    expect(total).toBe(STEER_EN_ZH_K20_THR1);
  });
});

// Totals the reference implementation's own functions give at thr 1 (ablation_experts --shared over layers 0-47 at
// k 15; get_target_shared_experts en,zh over layers 10-39 at k 20), torch 1.13.1 on the CPU; regenerate with
// tools/reference-torch/reference_plans.py (see its README.md). The plain implementation must give them too.
const SHARED_MASK_K15_THR1 = 1107;
const STEER_EN_ZH_K20_THR1 = 423;
