import { describe, expect, it } from 'vitest';
import { adjustedRandIndex, familyAgreement, genealogicalDistance, genealogyFromLookup, genealogyOf, pearson } from '../../src/analysis/family.js';
import { clusterLanguages, copheneticMatrix, cutTree, toNewick } from '../../src/analysis/clustering.js';
import { cosine, entropy, expertDistribution, expertFrequency, expertsForLoad, jsd, layerCurves, layerMatrices, normalisedJsd, sequenceMeanDivergence } from '../../src/analysis/measures.js';
import type { RoutingData } from '../../src/analysis/routing-data.js';
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

describe('layer curves and frequencies on hand-built routing', () => {
  // Three languages, two layers, four experts, 100 tokens per layer (top-1, so counts sum to 100).
  const rows: Record<string, [number[], number[]]> = {
    p: [[60, 20, 10, 10], [25, 25, 25, 25]],
    q: [[40, 30, 20, 10], [10, 10, 20, 60]],
    r: [[10, 10, 20, 60], [25, 25, 25, 25]],
  };
  const data: RoutingData = {
    numLayers: 2,
    numExperts: 4,
    topK: 1,
    moeLayers: [0, 1],
    source: 'hand',
    languages: Object.entries(rows).map(([language, [a, b]]) => ({
      language,
      counts: Float64Array.from([...a, ...b]),
      gateSums: Float64Array.from([...a, ...b].map((c, i) => c * (i % 2 === 0 ? 0.5 : 0.25))),
      totals: Float64Array.of(100, 100),
    })),
  };
  const dist = (lang: string, l: number) => rows[lang]![l]!.map((c) => c / 100);
  // Independent formulas, written out again here.
  const H = (p: number[]) => -p.reduce((s, x) => s + (x > 0 ? x * Math.log(x) : 0), 0);
  const cos = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0) / Math.hypot(...a) / Math.hypot(...b);
  const js = (a: number[], b: number[]) => Math.max(0, H(a.map((x, i) => (x + b[i]!) / 2)) - (H(a) + H(b)) / 2);
  // arXiv 2510.04694's floor: two uniform distributions have ln E - H = 0
  const njs = (a: number[], b: number[]) => js(a, b) / Math.max(Math.log(4) - (H(a) + H(b)) / 2, 1e-6);

  it('entropy and the experts carrying 50 % and 90 % of the load, per language and layer', () => {
    const c = layerCurves(data);
    expect(c.layers).toEqual([0, 1]);
    c.entropy.forEach((row, i) => row.forEach((h, l) => expect(h).toBeCloseTo(H(dist('pqr'[i]!, l)), 12)));
    // p: .6 alone carries half, .6 + .2 + .1 = .9 exactly; q: .4 + .3; .4 + .3 + .2; uniform: 2 and 4
    expect(c.util50).toEqual([[1, 2], [2, 1], [1, 2]]);
    expect(c.util90).toEqual([[3, 4], [3, 3], [3, 4]]);
  });

  it('mean over pairs and mean to the pivot (pivot left out)', () => {
    const c = layerCurves(data, 'q');
    for (let l = 0; l < 2; l++) {
      const [p, q, r] = ['p', 'q', 'r'].map((x) => dist(x, l)) as [number[], number[], number[]];
      expect(c.meanPairCosine[l]).toBeCloseTo((cos(p, q) + cos(p, r) + cos(q, r)) / 3, 12);
      expect(c.meanPairNjsd[l]).toBeCloseTo((njs(p, q) + njs(p, r) + njs(q, r)) / 3, 12);
      expect(c.meanPivotCosine![l]).toBeCloseTo((cos(q, p) + cos(q, r)) / 2, 12);
      expect(c.meanPivotNjsd![l]).toBeCloseTo((njs(q, p) + njs(q, r)) / 2, 12);
      expect(c.pivotCosine![0]![l]).toBeCloseTo(cos(q, p), 12);
      expect(c.pivotCosine![1]![l]).toBeCloseTo(1, 12);
      expect(c.pivotNjsd![2]![l]).toBeCloseTo(njs(q, r), 12);
    }
    expect(c.pivot).toBe('q');
    // p and r are identical in layer 1: cosine 1, nJSD 0
    expect(layerMatrices(data, 1).cosine[0 * 3 + 2]).toBeCloseTo(1, 12);
    expect(layerMatrices(data, 1).njsd[2 * 3 + 0]).toBe(0);
  });

  it('one language: pair and pivot means are 1 (cosine) and 0 (nJSD)', () => {
    const one = { ...data, languages: [data.languages[0]!] };
    const c = layerCurves(one, 'p');
    expect([c.meanPairCosine, c.meanPairNjsd, c.meanPivotCosine, c.meanPivotNjsd]).toEqual([[1, 1], [0, 0], [1, 1], [0, 0]]);
  });

  it('gate weighting uses the gate sums', () => {
    // gate sums: even experts x 0.5, odd x 0.25 -> p layer 0: 30, 5, 5, 2.5
    expect(Array.from(expertFrequency(data.languages[0]!, 0, 4, 'gate'))).toEqual([0.3, 0.05, 0.05, 0.025]);
    expect(Array.from(expertFrequency(data.languages[0]!, 1, 4))).toEqual([0.25, 0.25, 0.25, 0.25]);
    const g = [30, 5, 5, 2.5].map((x) => x / 42.5);
    expect(Array.from(expertDistribution(data.languages[0]!, 0, 4, 'gate'))).toEqual(g);
    expect(layerCurves(data, undefined, undefined, 'gate').entropy[0]![0]).toBeCloseTo(H(g), 12);
    const zero = { ...data.languages[0]!, gateSums: new Float64Array(8) };
    expect(() => expertDistribution(zero, 1, 4, 'gate')).toThrow(/^language 'p', layer 1: all gate sums are zero$/);
    expect(() => expertDistribution({ ...zero, counts: new Float64Array(8) }, 0, 4)).toThrow(/^language 'p', layer 0: all counts are zero$/);
  });

  it('per-sequence means skip empty sequences and unmatched ids, per metric', () => {
    const a = { ...data.languages[0]!, sequences: { ids: ['s1', 's2', 's3'], dist: [Float64Array.of(2, 2, 0, 0, 1, 0, 0, 0), Float64Array.of(0, 0, 0, 0, 0, 0, 0, 0), Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0)], kind: 'gate' as const } };
    const b = { ...data.languages[1]!, sequences: { ids: ['s2', 's1'], dist: [Float64Array.of(1, 1, 1, 1, 1, 1, 1, 1), Float64Array.of(0, 1, 1, 0, 0, 0, 0, 4)], kind: 'gate' as const } };
    // only s1 counts (s2 of a is all zero, s3 has no partner): layer 0 [.5,.5,0,0] vs [0,.5,.5,0]; layer 1 [1,0,0,0] vs [0,0,0,1]
    expect(sequenceMeanDivergence(a, b, 0, 4, 'cosine')).toBeCloseTo(0.5, 12);
    expect(sequenceMeanDivergence(a, b, 0, 4, 'jsd')).toBeCloseTo(0.5 * Math.log(2), 12);
    expect(sequenceMeanDivergence(a, b, 1, 4, 'njsd')).toBeCloseTo(Math.log(2) / Math.log(4), 12);
    expect(sequenceMeanDivergence(a, data.languages[1]!, 0, 4, 'jsd')).toBeUndefined();
    const none = { ...b, sequences: { ids: ['x'], dist: [Float64Array.of(1, 1, 1, 1, 1, 1, 1, 1)], kind: 'gate' as const } };
    expect(sequenceMeanDivergence(a, none, 0, 4, 'jsd')).toBeUndefined();
  });
});

describe('genealogy and family agreement at their edges', () => {
  const info = (over: Partial<LanguageInfo>): LanguageInfo => ({
    iso3: 'xxx', aliases: [], name: 'X', glottocode: 'xxxx1234', family: 'Fam', familyGlottocode: 'fami1234', lineage: [], scripts: ['Latn'], resource: 'low', ...over,
  });

  it('builds a lineage from family, branch and language when Glottolog gives none', () => {
    expect(genealogyOf(info({ branch: 'bran1234' }))).toEqual({ family: 'fami1234', lineage: ['fami1234', 'bran1234', 'xxxx1234'] });
    expect(genealogyOf(info({}))).toEqual({ family: 'fami1234', lineage: ['fami1234', 'xxxx1234'] });
    expect(genealogyOf(info({ lineage: ['a', 'b'] })).lineage).toEqual(['a', 'b']);
    expect(genealogyOf(info({ familyGlottocode: '' })).family).toBe('Fam');
  });

  it('distance: 1 across families, shared prefix over the longer lineage within one', () => {
    expect(genealogicalDistance({ family: 'f', lineage: ['r', 'x'] }, { family: 'g', lineage: ['r', 'x'] })).toBe(1);
    expect(genealogicalDistance({ family: 'f', lineage: ['r', 'x'] }, { family: 'f', lineage: ['r', 'x', 'y'] })).toBeCloseTo(1 / 3, 15);
    expect(genealogicalDistance({ family: 'f', lineage: ['r', 'x', 'y'] }, { family: 'f', lineage: ['r', 'x'] })).toBeCloseTo(1 / 3, 15);
    expect(genealogicalDistance({ family: 'f', lineage: ['r', 'x', 'y', 'z'] }, { family: 'f', lineage: ['r', 'w'] })).toBe(0.75);
    expect(genealogicalDistance({ family: 'f', lineage: [] }, { family: 'f', lineage: [] })).toBe(0);
  });

  it('pearson of two points is +-1; fewer points give null', () => {
    expect(pearson([1, 2], [3, 5])).toBe(1);
    expect(pearson([1, 2], [5, 3])).toBe(-1);
    expect(pearson([1], [2])).toBeNull();
    expect(pearson([], [])).toBeNull();
  });

  it('says why the cophenetic correlation is undefined, and only then', () => {
    const labels = ['a', 'b', 'c'];
    const tree = clusterLanguages(labels, [0, 1, 2, 1, 0, 2, 2, 2, 0], 'average');
    // every language its own family: all genealogical distances are 1, a constant
    const apart = familyAgreement(tree, labels, (c) => ({ family: c, lineage: [c] }));
    expect(apart.cophenetic).toBeNull();
    expect(apart.note).toBe('cophenetic correlation undefined (constant distances)');
    const related = familyAgreement(tree, labels, (c) => ({ family: 'f', lineage: c === 'c' ? ['f', 'q'] : ['f', 'p', c] }));
    expect(related.cophenetic).toBeCloseTo(1, 12);
    expect(related).not.toHaveProperty('note');
  });
});

describe('measures at degenerate inputs', () => {
  it('zero vectors, unused experts, unnormalised loads, tiny partitions', () => {
    expect(cosine([1, 1], [0, 0])).toBe(0);
    // an expert neither language uses (m = 0 there) adds nothing: p = [.5, .5, 0], q = [0, .5, .5] as in the JSD test
    const two: RoutingData = {
      numLayers: 1, numExperts: 4, topK: 1, moeLayers: [0], source: 'hand',
      languages: [
        { language: 'a', counts: Float64Array.of(5, 5, 0, 0), gateSums: Float64Array.of(5, 5, 0, 0), totals: Float64Array.of(10) },
        { language: 'b', counts: Float64Array.of(0, 5, 5, 0), gateSums: Float64Array.of(0, 5, 5, 0), totals: Float64Array.of(10) },
      ],
    };
    const m = layerMatrices(two, 0);
    expect(m.jsd[1]).toBeCloseTo(0.5 * Math.log(2), 12);
    // ln 4 - (ln 2 + ln 2) / 2 = ln 2
    expect(m.njsd[2]).toBeCloseTo(0.5, 12);
    expect(m.cosine[1]).toBeCloseTo(0.5, 12);
    // loads need not sum to 1: 6 of 10 is not 90 %, 6 + 2 + 1 is
    expect(expertsForLoad([6, 2, 1, 1], 0.9)).toBe(3);
    expect(expertsForLoad([6, 2, 1, 1], 0.5)).toBe(1);
    expect(adjustedRandIndex([1], [2])).toBe(1);
    expect(adjustedRandIndex([], [])).toBe(1);
    // identical lineages are distance 0 (the shared-prefix walk stops at the end of both)
    expect(genealogicalDistance({ family: 'f', lineage: ['r', 'x'] }, { family: 'f', lineage: ['r', 'x'] })).toBe(0);
  });

  it('family agreement needs three languages with metadata and says so', () => {
    const labels = ['a', 'b', 'c'];
    const tree = clusterLanguages(labels, [0, 1, 2, 1, 0, 2, 2, 2, 0], 'average');
    const fa = familyAgreement(tree, labels, (c) => (c === 'c' ? undefined : { family: 'f', lineage: ['f', c] }));
    expect(fa).toEqual({ cophenetic: null, ari: null, families: 1, known: ['a', 'b'], unknown: ['c'], note: 'fewer than 3 languages have family metadata' });
  });
});
