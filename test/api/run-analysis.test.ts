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
import { loadRunRouting } from '../../src/store/index.js';
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
  it('matches the demo summary layer by layer and proposes the same steering plan file', () => {
    expect(demo.status).toBe('completed');
    const summary = JSON.parse(readFileSync(join(tmp.dir, 'out', 'demo.json'), 'utf8')) as DemoSummary;
    const o = view.overview(demo.runId);
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
  });

  it('gives each layer a cosine matrix equal to the cosine of the stored expert counts, and a tree over all languages', () => {
    const data = loadRunRouting(demo.db, demo.runId);
    const E = data.numExperts;
    const o = view.overview(demo.runId);
    for (let layer = 0; layer < data.numLayers; layer++) {
      const d = view.layer(demo.runId, layer, 'cosine');
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

  it('names the problem for a missing run, a bad layer, a foreign pivot', () => {
    expect(() => view.overview(999)).toThrow(/run 999 does not exist/);
    expect(() => view.layer(demo.runId, 99, 'cosine')).toThrow(/layer must be 0-\d+ \(MoE-layer index\) for run \d+, got 99/);
    expect(() => view.overview(demo.runId, 'hin')).toThrow(/pivot hin is not a language of this run/);
    const viaDeu = view.overview(demo.runId, 'deu', 'yor');
    expect(viaDeu.plan?.fileName).toBe('steer-yor-toward-deu.json');
  });
});
