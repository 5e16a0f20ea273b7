import { describe, expect, it } from 'vitest';
import { adjustedRandIndex, familyAgreement, genealogicalDistance, genealogyFromLookup, pearson } from '../../src/analysis/family.js';
import { clusterLanguages, copheneticMatrix, cutTree, toNewick } from '../../src/analysis/clustering.js';
import { cosine, entropy, expertsForLoad, jsd, layerCurves, layerMatrices, normalisedJsd, sequenceMeanDivergence } from '../../src/analysis/measures.js';
import { detectBands, parseBands, thirds } from '../../src/analysis/bands.js';
import type { LanguageInfo } from '../../src/languages/types.js';
import { syntheticRouting } from './synthetic.js';

describe('divergences and entropy', () => {
  it('match hand computations', () => {
    const p = [0.5, 0.5, 0, 0];
    const q = [0, 0.5, 0.5, 0];
    // m = [.25,.5,.25,0]; KL(p||m) = .5 ln 2 + .5 ln 1 = .5 ln 2; JSD = (KL(p||m) + KL(q||m)) / 2 = .5 ln 2
    expect(jsd(p, q)).toBeCloseTo(0.5 * Math.log(2), 12);
    expect(jsd([1, 0], [0, 1])).toBeCloseTo(Math.log(2), 12);
    expect(jsd(p, p)).toBe(0);
    expect(entropy(p)).toBeCloseTo(Math.log(2), 12);
    // ln 4 - (ln 2 + ln 2) / 2 = ln 2
    expect(normalisedJsd(p, q)).toBeCloseTo(0.5, 12);
    // both one-hot on the same expert: JSD 0 over the floor, not NaN
    expect(normalisedJsd([1, 0], [1, 0])).toBe(0);
    expect(normalisedJsd([1, 0, 0], [0, 1, 0])).toBeCloseTo(Math.log(2) / Math.log(3), 12);
    expect(cosine([1, 0], [1, 1])).toBeCloseTo(Math.SQRT1_2, 12);
    expect(cosine([0, 0], [1, 1])).toBe(0);
    expect(expertsForLoad([0.1, 0.6, 0.2, 0.1], 0.5)).toBe(1);
    expect(expertsForLoad([0.1, 0.6, 0.2, 0.1], 0.9)).toBe(3);
  });

  it('layer matrices are symmetric, finite and agree with the pairwise functions', () => {
    const data = syntheticRouting({ groups: [['a', 'b'], ['c']], layers: 4, experts: 16 });
    const m = layerMatrices(data, 2);
    const n = 3;
    const dist = data.languages.map((l) => {
      const s = Array.from(l.counts.subarray(2 * 16, 3 * 16));
      const t = s.reduce((x, y) => x + y, 0);
      return s.map((x) => x / t);
    });
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        expect(m.jsd[i * n + j]).toBeCloseTo(jsd(dist[i], dist[j]), 12);
        expect(m.njsd[i * n + j]).toBeCloseTo(normalisedJsd(dist[i], dist[j]), 12);
        expect(m.cosine[i * n + j]).toBeCloseTo(i === j ? 1 : cosine(dist[i], dist[j]), 12);
        expect(m.cosine[i * n + j]).toBe(m.cosine[j * n + i]);
      }
    }
    const curves = layerCurves(data, 'a');
    expect(curves.meanPivotCosine).toHaveLength(4);
    expect(() => layerCurves(data, 'zz')).toThrow(/pivot: language 'zz' is not in the routing data/);
  });

  it('averages per-sequence divergences over parallel sequences matched by id', () => {
    const data = syntheticRouting({ groups: [['a', 'b']], layers: 1, experts: 3 });
    const [a, b] = data.languages;
    a.sequences = { ids: ['s1', 's2'], dist: [Float64Array.from([1, 0, 0]), Float64Array.from([0.5, 0.5, 0])], kind: 'gate' };
    b.sequences = { ids: ['s2', 's1', 's3'], dist: [Float64Array.from([0, 0.5, 0.5]), Float64Array.from([1, 0, 0]), Float64Array.from([0, 0, 1])], kind: 'gate' };
    // s1: identical (0); s2: JSD of [.5,.5,0] vs [0,.5,.5] = .5 ln 2
    expect(sequenceMeanDivergence(a, b, 0, 3, 'jsd')).toBeCloseTo(0.25 * Math.log(2), 12);
    expect(sequenceMeanDivergence(a, data.languages[0], 0, 3, 'cosine')).toBeCloseTo(1, 12);
  });
});

describe('clustering, Newick and family agreement', () => {
  // en/de close, fr/es close, the pairs far apart; zh far from all.
  const labels = ['en', 'de', 'fr', 'es', 'zh'];
  const D = [
    [0, 1, 4, 4, 9],
    [1, 0, 4, 4, 9],
    [4, 4, 0, 2, 9],
    [4, 4, 2, 0, 9],
    [9, 9, 9, 9, 0],
  ].flat();

  it('builds the expected tree for each linkage', () => {
    const avg = clusterLanguages(labels, D, 'average');
    expect(toNewick(avg)).toBe('(((en:1,de:1):3,(fr:2,es:2):2):5,zh:9);');
    expect(avg.height).toBe(9);
    const single = clusterLanguages(labels, D, 'single');
    expect(single.height).toBe(9);
    const complete = clusterLanguages(labels, D, 'complete');
    expect(complete.height).toBe(9);
    const ward = clusterLanguages(labels, D, 'ward');
    expect(cutTree(ward, 5, 3)).toEqual(cutTree(avg, 5, 3));
    const coph = copheneticMatrix(avg, 5);
    expect(coph[0 * 5 + 1]).toBe(1);
    expect(coph[0 * 5 + 2]).toBe(4);
    expect(coph[2 * 5 + 4]).toBe(9);
    const cut = cutTree(avg, 5, 3);
    expect(cut[0]).toBe(cut[1]);
    expect(cut[2]).toBe(cut[3]);
    expect(new Set(cut).size).toBe(3);
    expect(() => clusterLanguages(['a', 'b'], [0, NaN, NaN, 0], 'average')).toThrow(/distance between 'a' and 'b' is NaN/);
  });

  it('adjusted Rand index matches known values', () => {
    expect(adjustedRandIndex([0, 0, 1, 1], [1, 1, 0, 0])).toBe(1);
    expect(adjustedRandIndex([0, 0, 1, 2], [0, 0, 1, 1])).toBeCloseTo(0.5714285714285714, 12); // sklearn docs example
    expect(adjustedRandIndex([0, 0, 1, 1], [0, 1, 0, 1])).toBeCloseTo(-0.5, 12);
    expect(adjustedRandIndex([0, 1, 2, 3], [0, 1, 2, 3])).toBe(1);
    expect(pearson([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12);
    expect(pearson([1, 1, 1], [2, 4, 6])).toBeNull();
    expect(pearson([2, 4, 6], [1, 1, 1])).toBeNull();
    // by hand: deviations (-1.5, -.5, .5, 1.5) and (-1.5, .5, -.5, 1.5); 4 / sqrt(5 * 5) = 0.8
    expect(pearson([1, 2, 3, 4], [1, 3, 2, 4])).toBeCloseTo(0.8, 12);
    expect(pearson([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 12);
    // scale does not matter: deviations (-1, 0, 1) x 10 and (-2, 1, 1); 3 / sqrt(2 * 6) = sqrt(3) / 2
    expect(pearson([10, 20, 30], [0, 3, 3])).toBeCloseTo(Math.sqrt(3) / 2, 12);
  });

  it('scores family agreement from a LanguageInfo lookup', () => {
    const row = (iso3: string, family: string, lineage: string[]): LanguageInfo => ({
      iso3, aliases: [], name: iso3, glottocode: lineage[lineage.length - 1], family, familyGlottocode: lineage[0], lineage, scripts: ['Latn'], resource: 'high',
    });
    const table: Record<string, LanguageInfo> = {
      en: row('eng', 'Indo-European', ['indo1319', 'germ1287', 'west2793', 'stan1293']),
      de: row('deu', 'Indo-European', ['indo1319', 'germ1287', 'west2793', 'stan1295']),
      fr: row('fra', 'Indo-European', ['indo1319', 'ital1284', 'roma1334', 'stan1290']),
      es: row('spa', 'Indo-European', ['indo1319', 'ital1284', 'roma1334', 'stan1288']),
      zh: row('cmn', 'Sino-Tibetan', ['sino1245', 'sini1245', 'mand1415']),
    };
    const g = genealogyFromLookup((c) => table[c]);
    expect(genealogicalDistance(g('en')!, g('de')!)).toBeCloseTo(0.25, 12);
    expect(genealogicalDistance(g('en')!, g('fr')!)).toBeCloseTo(0.75, 12);
    expect(genealogicalDistance(g('en')!, g('zh')!)).toBe(1);
    const good = familyAgreement(clusterLanguages(labels, D, 'average'), labels, g);
    expect(good.ari).toBe(1);
    expect(good.families).toBe(2);
    // cophenetic [1,4,4,9,4,4,9,2,9,9] vs genealogical [.25,.75,.75,1,.75,.75,1,.25,1,1]
    // by hand: means 5.5 and 0.75; Sxy = 7.5, Sxx = 90.5, Syy = 0.75; r = 7.5 / sqrt(90.5 * 0.75) = sqrt(150 / 181)
    expect(good.cophenetic!).toBeCloseTo(Math.sqrt(150 / 181), 12);
    expect(good.cophenetic!).toBeGreaterThan(0.9);
    // a tree that puts zh with en scores worse
    const bad = [0, 5, 5, 5, 1, 5, 0, 2, 5, 5, 5, 2, 0, 5, 5, 5, 5, 5, 0, 5, 1, 5, 5, 5, 0];
    const worse = familyAgreement(clusterLanguages(labels, bad, 'average'), labels, g);
    expect(worse.ari!).toBeLessThan(good.ari!);
    expect(worse.cophenetic!).toBeLessThan(good.cophenetic!);
    const partial = familyAgreement(clusterLanguages(labels, D, 'average'), labels, (c) => (c === 'zh' ? undefined : g(c)));
    expect(partial.unknown).toEqual(['zh']);
  });
});

describe('layer bands', () => {
  it('parses, splits and detects', () => {
    expect(parseBands('0-4,22-26,43-47', 48)).toEqual({ early: [0, 4], middle: [22, 26], late: [43, 47], how: 'user' });
    expect(() => parseBands('0-4,26-22,43-47', 48)).toThrow(/range 26-22 is empty/);
    expect(() => parseBands('0-4,22-26', 48)).toThrow(/three ranges/);
    expect(thirds(48)).toEqual({ early: [0, 15], middle: [16, 31], late: [32, 47], how: 'thirds' });
    const curve = [0.2, 0.25, 0.3, 0.8, 0.85, 0.9, 0.85, 0.8, 0.3, 0.2];
    const b = detectBands(curve);
    expect(b.how).toBe('detected');
    expect(b.early![0]).toBe(0);
    expect(b.late![1]).toBe(9);
    expect(b.middle![0]).toBeGreaterThanOrEqual(2);
    expect(b.middle![1]).toBeLessThanOrEqual(8);
  });
});
