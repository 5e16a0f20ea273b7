/**
 * The UI's analysis view of a run agrees with what `routescope demo` wrote for the same run (demo.json and the
 * steering-plan file come from src/demo, a separate code path), and its similarity matrix agrees with cosine
 * similarities computed here directly from the stored expert counts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunAnalysis } from '../../src/api/run-analysis.js';
import { runDemo, type DemoResult } from '../../src/demo/run-demo.js';
import type { DemoSummary } from '../../src/demo/summary.js';
import { importRoutingData, loadRunRouting, Store } from '../../src/store/index.js';
import { plainLayerCounts } from '../analysis/plain-specialisation.js';
import { tempDir } from '../store/helpers.js';
import { writeTinyModel } from '../support/tiny-models.js';

const LANGS = ['eng', 'deu', 'fra', 'spa', 'rus', 'swh', 'yor', 'cmn'];
let tmp: ReturnType<typeof tempDir>;
let demo: DemoResult;
let view: RunAnalysis;

beforeAll(async () => {
  tmp = tempDir('routescope-run-view-');
  const model = writeTinyModel(join(tmp.dir, 'model'), 'qwen3_moe', { seed: 5 });
  demo = await runDemo({ modelDir: model.dir, languages: LANGS, limit: 2, out: join(tmp.dir, 'out') });
  view = new RunAnalysis(demo.db);
});
afterAll(() => tmp?.cleanup());

describe('RunAnalysis (analysis.overview / analysis.layer)', () => {
  it('matches the demo summary layer by layer and proposes the same steering plan file', async () => {
    expect(demo.status).toBe('completed');
    const summary = JSON.parse(readFileSync(join(tmp.dir, 'out', 'demo.json'), 'utf8')) as DemoSummary;
    const o = await view.overview(demo.runId);
    expect(o.languages.map((l) => l.code)).toEqual(LANGS);
    expect(o.languages.map((l) => l.tokens)).toEqual(summary.languages.map((l) => l.tokens));
    expect(o.pivot).toBe('eng');
    expect(o.target).toBe('swh');
    expect(o.layers).toHaveLength(summary.layers.length);
    // Shared/exclusive counts recomputed from the stored counts by the tests' plain float32 implementation of the
    // rule: the view and the summary both come from src/analysis, so agreeing with each other proves little.
    const counts = plainLayerCounts(loadRunRouting(demo.db, demo.runId), summary.specialisation.k, summary.specialisation.thr);
    for (const [i, row] of o.layers.entries()) {
      expect(row.shared, `layer ${i} shared`).toBe(counts[i]!.shared);
      expect(row.exclusive, `layer ${i} exclusive`).toBe(Object.values(counts[i]!.exclusive).reduce((a, b) => a + b, 0));
      const s = summary.layers[i]!;
      expect(row.decoderLayer).toBe(s.decoderLayer);
      expect(row.band).toBe(s.band);
      expect(row.alignmentMeanPair).toBeCloseTo(s.alignment, 12);
      expect(row.cophenetic).toBeCloseTo(s.cophenetic!, 12);
      expect(row.ari).toBeCloseTo(s.ari!, 12);
      expect(row.shared).toBe(s.shared);
      expect(row.exclusive).toBe(s.exclusive);
    }
    expect(o.pattern.text).toBe(summary.pattern.text);
    expect(o.plan).not.toBeNull();
    expect(o.plan!.json + '\n').toBe(readFileSync(summary.steering.file, 'utf8'));
    expect(o.plan!.experts.length).toBe(summary.steering.experts);
    expect(o.plan!.decoderLayers).toEqual(summary.steering.decoderLayers);
    expect(o.languages.find((l) => l.code === 'deu')).toMatchObject({ name: 'German', family: 'Indo-European' });
    // The precision the run was captured at, as its row records it.
    const store = Store.open(demo.db, { readonly: true });
    const row = store.db.prepare('SELECT precision FROM capture_run WHERE id = ?').get(demo.runId) as { precision: string | null };
    store.close();
    expect(row.precision).toMatch(/^(fp32|fp16|int8|int4)$/);
    expect(o.precision).toBe(row.precision);
  });

  it('analyses a run once for the overview and the layers the page then asks for with the chosen pivot', async () => {
    const fresh = new RunAnalysis(demo.db);
    // Computed here, or read back from the project database where an earlier test's reader kept it.
    const analysed = () => fresh.computations + fresh.keptReads;
    const o = await fresh.overview(demo.runId);
    expect(analysed()).toBe(1);
    const named = await fresh.layer(demo.runId, 1, 'cosine', o.pivot!);
    expect(analysed()).toBe(1);
    expect(named).toEqual(await fresh.layer(demo.runId, 1, 'cosine'));
    // Another pivot is another analysis.
    await fresh.layer(demo.runId, 1, 'cosine', o.languages.map((l) => l.code).find((c) => c !== o.pivot)!);
    expect(analysed()).toBe(2);
  });

  it('gives each layer a cosine matrix equal to the cosine of the stored expert counts, and a tree over all languages', async () => {
    const data = loadRunRouting(demo.db, demo.runId);
    const E = data.numExperts;
    const o = await view.overview(demo.runId);
    for (let layer = 0; layer < data.numLayers; layer++) {
      const d = await view.layer(demo.runId, layer, 'cosine');
      const vec = data.languages.map((l) => Array.from(l.counts.subarray(layer * E, (layer + 1) * E)));
      for (let i = 0; i < LANGS.length; i++) {
        for (let j = 0; j < LANGS.length; j++) {
          const a = vec[i]!;
          const b = vec[j]!;
          const dot = a.reduce((s, x, e) => s + x * b[e]!, 0);
          const na = Math.hypot(...a);
          const nb = Math.hypot(...b);
          expect(d.matrix[i]![j]).toBeCloseTo(i === j ? 1 : dot / (na * nb), 10);
        }
      }
      const leaves: string[] = [];
      const walk = (n: typeof d.tree) => (n.children?.length ? n.children.forEach(walk) : leaves.push(n.label!));
      walk(d.tree);
      expect(leaves.sort()).toEqual([...LANGS].sort());
      expect(d.family.cophenetic).toBeCloseTo(o.layers[layer]!.cophenetic!, 12);
    }
  });

  it('names the problem for a missing run, a bad layer, a foreign pivot', async () => {
    await expect(view.overview(999)).rejects.toThrow(/run 999 does not exist/);
    await expect(view.layer(demo.runId, 99, 'cosine')).rejects.toThrow(/layer must be 0-\d+ \(MoE-layer index\) for run \d+, got 99/);
    await expect(view.overview(demo.runId, 'hin')).rejects.toThrow(/pivot hin is not a language of this run/);
    const viaDeu = await view.overview(demo.runId, 'deu', 'yor');
    expect(viaDeu.plan?.fileName).toBe('steer-yor-toward-deu.json');
  });
});

describe('analysis settings stored with the run (analysis.settings / analysis.saveSettings)', () => {
  it('uses the stored measure, linkage, k, thr, pivot and bands, keeps them for a new reader, and resets to the defaults', async () => {
    const data = loadRunRouting(demo.db, demo.runId);
    const L = data.numLayers;
    const E = data.numExperts;
    const before = view.settings(demo.runId);
    expect(before.stored).toEqual([]);
    expect(before.settings).toEqual(before.defaults);
    expect(before.defaults).toMatchObject({ measure: 'jsd', linkage: 'average', thr: 0.4, pivot: null, bands: null });

    const bands = `0-0,1-${L - 2},${L - 1}-${L - 1}`;
    const saved = view.saveSettings({ projectId: 'p', runId: demo.runId, measure: 'cosine', linkage: 'complete', k: 3, thr: 0.5, pivot: 'deu', bands });
    expect(saved.stored.sort()).toEqual(['bands', 'k', 'linkage', 'measure', 'pivot', 'thr']);
    expect(saved.settings).toEqual({ measure: 'cosine', linkage: 'complete', k: 3, thr: 0.5, pivot: 'deu', bands: { early: [0, 0], middle: [1, L - 2], late: [L - 1, L - 1] } });

    // A second reader of the same database (another window, a restart) sees them.
    const fresh = new RunAnalysis(demo.db);
    const o = await fresh.overview(demo.runId);
    expect(o.settings).toEqual(saved.settings);
    expect(o.pivot).toBe('deu');
    expect(o.clusterMetric).toBe('cosine, complete linkage');
    expect(o.bands.find((b) => b.name === 'middle')?.layers).toEqual([1, L - 2]);
    expect(o.specialisation).toEqual({ k: 3, thr: 0.5 });
    const t = await fresh.experts(demo.runId, 0, undefined, undefined);
    expect([t.k, t.thr]).toEqual([3, 0.5]);
    // Complete linkage on 1 - cosine: the root merges at the largest pairwise distance (computed here from the counts).
    for (let layer = 0; layer < L; layer++) {
      const vec = data.languages.map((l) => Array.from(l.counts.subarray(layer * E, (layer + 1) * E)));
      let far = 0;
      for (let i = 0; i < vec.length; i++) {
        for (let j = i + 1; j < vec.length; j++) {
          const dot = vec[i]!.reduce((s, x, e) => s + x * vec[j]![e]!, 0);
          far = Math.max(far, 1 - dot / (Math.hypot(...vec[i]!) * Math.hypot(...vec[j]!)));
        }
      }
      expect((await fresh.layer(demo.runId, layer, 'cosine')).tree.height).toBeCloseTo(far, 10);
    }

    // Bad values are refused with the field named, and nothing is written.
    const refused = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e as { code: string; message: string; details?: { field?: string } };
      }
      throw new Error('expected an error');
    };
    const tooMany = refused(() => view.saveSettings({ projectId: 'p', runId: demo.runId, k: E + 1 }));
    expect(tooMany).toMatchObject({ code: 'invalid-argument', details: { field: 'k' } });
    expect(tooMany.message).toContain(`number of experts (${E})`);
    expect(refused(() => view.saveSettings({ projectId: 'p', runId: demo.runId, bands: `0-1,2-${L},0-0` })).message).toMatch(/bands .*past the last layer/);
    expect(refused(() => view.saveSettings({ projectId: 'p', runId: demo.runId, pivot: 'hin' })).details?.field).toBe('pivot');
    expect(view.settings(demo.runId).settings).toEqual(saved.settings);

    // pivot 'auto' returns to the automatic choice; reset forgets everything.
    expect(view.saveSettings({ projectId: 'p', runId: demo.runId, pivot: 'auto' }).settings.pivot).toBeNull();
    const reset = view.saveSettings({ projectId: 'p', runId: demo.runId, reset: true });
    expect(reset.stored).toEqual([]);
    expect((await new RunAnalysis(demo.db).overview(demo.runId)).clusterMetric).toBe('jsd, average linkage');
  });
});

describe('run comparison (analysis.compare)', () => {
  it('overlays both runs per layer and gives the difference of their matrices over the common languages, with warnings', async () => {
    const data = loadRunRouting(demo.db, demo.runId);
    const E = data.numExperts;
    // A second run: four of the languages, in another order, with each layer's expert counts reversed.
    const keep = ['yor', 'eng', 'swh', 'deu'];
    const other = {
      ...data,
      source: 'test',
      languages: keep.map((code) => {
        const l = data.languages.find((x) => x.language === code)!;
        const counts = new Float64Array(l.counts.length);
        for (let layer = 0; layer < data.numLayers; layer++) for (let e = 0; e < E; e++) counts[layer * E + e] = l.counts[layer * E + (E - 1 - e)]!;
        return { language: code, counts, gateSums: l.gateSums, totals: l.totals };
      }),
    };
    const store = Store.open(demo.db);
    const otherId = importRoutingData(store, other, { name: 'reversed', source: 'import' });
    store.close();

    const c = await new RunAnalysis(demo.db).compare(demo.runId, otherId, 1, 'cosine');
    expect(c.common).toEqual(['eng', 'deu', 'swh', 'yor']);
    const cos = (a: number[], b: number[]) => a.reduce((s, x, e) => s + x * b[e]!, 0) / (Math.hypot(...a) * Math.hypot(...b));
    const vecA = (code: string) => Array.from(data.languages.find((l) => l.language === code)!.counts.subarray(E, 2 * E));
    const vecB = (code: string) => vecA(code).reverse();
    for (const [i, x] of c.common.entries()) {
      for (const [j, y] of c.common.entries()) {
        const expected = i === j ? 0 : cos(vecA(x), vecA(y)) - cos(vecB(x), vecB(y));
        expect(c.difference[i]![j]).toBeCloseTo(expected, 10);
      }
    }
    expect(c.layers).toHaveLength(data.numLayers);
    const own = await view.overview(demo.runId);
    for (const row of c.layers) expect(row.meanPair[0]).toBeCloseTo(own.layers[row.layer]!.alignmentMeanPair, 12);
    expect(c.warnings.join('\n')).toMatch(/model of one run is not recorded/);
    expect(c.warnings.join('\n')).toMatch(/languages differ: 4 only in run \d+, 0 only in run \d+; the difference heatmap uses the 4 common ones/);
    await expect(view.compare(demo.runId, demo.runId, 0, 'cosine')).rejects.toThrow(/otherRunId must be another run/);
    await expect(view.compare(demo.runId, otherId, 99, 'cosine')).rejects.toThrow(/layer must be 0-\d+ .*present in both runs/);
  });
});

describe('run comparison across precisions', () => {
  it('warns, in a field of its own and first among the warnings, when the runs were captured at different precisions', async () => {
    const data = loadRunRouting(demo.db, demo.runId);
    const store = Store.open(demo.db);
    const a = importRoutingData(store, { ...data, source: 'test' }, { name: 'at fp32', source: 'import' });
    const b = importRoutingData(store, { ...data, source: 'test' }, { name: 'at int4', source: 'import' });
    const c = importRoutingData(store, { ...data, source: 'test' }, { name: 'also fp32', source: 'import' });
    const setPrecision = store.db.prepare('UPDATE capture_run SET precision = ? WHERE id = ?');
    setPrecision.run('fp32', a);
    setPrecision.run('int4', b);
    setPrecision.run('fp32', c);
    store.close();
    const analysis = new RunAnalysis(demo.db);
    const differ = await analysis.compare(a, b, 0, 'cosine');
    expect(differ.runs.map((r) => r.precision)).toEqual(['fp32', 'int4']);
    expect(differ.precisionWarning).toBe(`captured at different precisions: run ${a} at fp32, run ${b} at int4; part of the difference may be the weight precision, not the routing (docs/precision.md)`);
    expect(differ.warnings[0]).toBe(differ.precisionWarning);
    // Identical routing data: the precision is the only difference the comparison can point at.
    for (const row of differ.difference) for (const v of row) expect(v).toBe(0);
    const same = await analysis.compare(a, c, 0, 'cosine');
    expect(same.precisionWarning).toBeNull();
    expect(same.warnings.join('\n')).not.toMatch(/precision/);
    // A run whose precision is not recorded (an import, a run from before db/005): nothing to compare, no warning.
    const unknown = await analysis.compare(a, importedWithoutPrecision(data), 0, 'cosine');
    expect(unknown.runs[1]!.precision).toBeNull();
    expect(unknown.precisionWarning).toBeNull();
  });
});

function importedWithoutPrecision(data: ReturnType<typeof loadRunRouting>): number {
  const store = Store.open(demo.db);
  try {
    return importRoutingData(store, { ...data, source: 'test' }, { name: 'unknown precision', source: 'import' });
  } finally {
    store.close();
  }
}

describe('expert x layer map (analysis.expertMap)', () => {
  it("gives each layer's share of a language's tokens per expert, and the difference of two languages", async () => {
    const data = loadRunRouting(demo.db, demo.runId);
    const [L, E, K] = [data.numLayers, data.numExperts, data.topK];
    const swh = data.languages.find((l) => l.language === 'swh')!;
    const eng = data.languages.find((l) => l.language === 'eng')!;
    const one = await view.expertMap(demo.runId, 'swh', undefined);
    expect([one.numLayers, one.numExperts, one.values.length]).toEqual([L, E, L * E]);
    for (let l = 0; l < L; l++) {
      // Every token picks top-k experts: a layer's shares sum to k.
      expect(one.values.slice(l * E, (l + 1) * E).reduce((s, v) => s + v, 0)).toBeCloseTo(K, 9);
      for (let e = 0; e < E; e++) expect(one.values[l * E + e]).toBeCloseTo(swh.counts[l * E + e]! / swh.totals[l]!, 12);
    }
    const diff = await view.expertMap(demo.runId, 'swh', 'eng');
    expect(diff.minus).toBe('eng');
    for (let i = 0; i < L * E; i++) {
      const l = Math.floor(i / E);
      expect(diff.values[i]).toBeCloseTo(swh.counts[i]! / swh.totals[l]! - eng.counts[i]! / eng.totals[l]!, 12);
    }
    await expect(view.expertMap(demo.runId, 'hin', undefined)).rejects.toThrow(/language hin is not a language of run/);
    await expect(view.expertMap(demo.runId, 'swh', 'swh')).rejects.toThrow(/minus must be another language/);
  });
});
