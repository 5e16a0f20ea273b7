/**
 * PolyMath over several difficulty levels: the loader's multi-level split (per-level limit, meta.level), a real
 * generate run on a tiny model that records each result's level, and the report's per-level accuracy and
 * difficulty-weighted accuracy, checked against a hand computation after setting known outcomes in the stored rows.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolymath } from '../../src/datasets/index.js';
import { loadEngine, type Engine } from '../../src/engine/index.js';
import { parseExperimentSpec, runExperiment, writeExperimentReport } from '../../src/eval/experiment/index.js';
import { createScorer, type Scorer } from '../../src/eval/scoring/index.js';
import { Store } from '../../src/store/index.js';
import { tempDir } from '../store/helpers.js';
import { writeTinyModel, type TinyModelInfo } from '../support/tiny-models.js';

const LEVELS = ['low', 'medium', 'high', 'top'];
let tmp: ReturnType<typeof tempDir>;
let model: TinyModelInfo;
let engine: Engine;
let scorer: Scorer;
let pmDir: string;

beforeAll(async () => {
  tmp = tempDir('routescope-polymath-levels-');
  model = writeTinyModel(join(tmp.dir, 'model'), 'qwen3_moe', { seed: 5 });
  pmDir = join(tmp.dir, 'polymath');
  for (const lang of ['en', 'sw']) {
    mkdirSync(join(pmDir, lang), { recursive: true });
    for (const level of LEVELS) {
      const rows = Array.from({ length: 3 }, (_, i) => JSON.stringify({ id: `${level}-${lang}-${i}`, question: `${lang} ${level} what is ${i} + ${i}?`, answer: String(2 * i) }));
      writeFileSync(join(pmDir, lang, `${level}.jsonl`), rows.join('\n') + '\n');
    }
  }
  engine = await loadEngine(model.dir, { executionProvider: 'cpu' });
  scorer = await createScorer();
});

afterAll(async () => {
  await engine?.dispose();
  tmp?.cleanup();
});

describe('PolyMath difficulty levels', () => {
  it('loads several levels ("all" or a list), limit per level, each item keeping its level; bad level lists refused', async () => {
    const all = await loadPolymath(pmDir, { split: 'all', limit: 2 });
    expect(all.ids).toEqual(LEVELS.flatMap((l) => [`${l}-0`, `${l}-1`]));
    expect(all.items('sw').map((it) => it.meta?.level)).toEqual(LEVELS.flatMap((l) => [l, l]));
    expect(all.name).toBe('PolyMath (low+medium+high+top)');
    const two = await loadPolymath(pmDir, { split: 'top, low' });
    expect(two.ids).toEqual(['low-0', 'low-1', 'low-2', 'top-0', 'top-1', 'top-2']);
    expect((await loadPolymath(pmDir, { split: 'medium', limit: 2 })).ids).toEqual(['medium-0', 'medium-1']);
    await expect(loadPolymath(pmDir, { split: 'low,low' })).rejects.toThrow(/level 'low' is named twice/);
    await expect(loadPolymath(pmDir, { split: 'low,easy' })).rejects.toThrow(/level must be one of low, medium, high, top .*got 'low,easy'/);
  });

  it('a generate run records each level; the report gives per-level and weighted accuracy per arm and language', async () => {
    const spec = parseExperimentSpec({
      name: 'pm-levels', model: model.dir, task: 'generate', dataset: { kind: 'polymath', path: pmDir, split: 'all', languages: ['en', 'sw'], limit: 2 },
      batch_size: 4, decoding: { greedy: true, max_new_tokens: 3 }, scoring: { task: 'polymath' },
      arms: [{ kind: 'baseline' }, { name: 'aa', kind: 'plan', plan: { format: 'routescope-plan', version: 1, layers: {} }, allow_noop: true }],
    });
    const db = join(tmp.dir, 'levels.db');
    const store = Store.open(db);
    try {
      const r = await runExperiment({ store, spec, engine, scorer });
      expect(r.status).toBe('completed');
      expect(r.resultsDone).toBe(2 * 2 * 8);
      const levels = store.db.prepare('SELECT item_id, extra FROM experiment_result WHERE experiment_id = ?').all(r.experimentId) as { item_id: string; extra: string }[];
      for (const row of levels) expect(JSON.parse(row.extra).level).toBe(row.item_id.split('-')[0]);
      // Known outcomes (the tiny model writes no \boxed{}, so every stored answer is wrong): baseline en gets
      // low 2/2, medium 1/2, high 0/2, top 1/2 right; sw only top-0.
      const right = store.db.prepare("UPDATE experiment_result SET correct = 1, no_answer = 0 WHERE experiment_id = ? AND arm = 'baseline' AND language = ? AND item_id = ?");
      for (const id of ['low-0', 'low-1', 'medium-0', 'top-1']) right.run(r.experimentId, 'en', id);
      right.run(r.experimentId, 'sw', 'top-0');
      const { report } = writeExperimentReport(store, r.experimentId, join(tmp.dir, 'report'), { resamples: 200 });
      const get = (arm: string, language: string) => report.levels.find((x) => x.arm === arm && x.language === language)!;
      expect(get('baseline', 'en').levels).toEqual({
        low: { n: 2, correct: 2, accuracy: 1 }, medium: { n: 2, correct: 1, accuracy: 0.5 }, high: { n: 2, correct: 0, accuracy: 0 }, top: { n: 2, correct: 1, accuracy: 0.5 },
      });
      // (1*1 + 2*0.5 + 4*0 + 8*0.5) / 15 = 6/15
      expect(get('baseline', 'en').weighted).toBeCloseTo(6 / 15, 12);
      expect(get('baseline', 'sw').weighted).toBeCloseTo((8 * 0.5) / 15, 12);
      // pooled: low 2/4, medium 1/4, high 0/4, top 2/4 -> (0.5 + 0.5 + 0 + 4) / 15
      expect(get('baseline', 'all').weighted).toBeCloseTo(5 / 15, 12);
      expect(get('aa', 'all').weighted).toBe(0);
      expect(report.levels.map((x) => `${x.arm}/${x.language}`)).toEqual(['baseline/en', 'baseline/sw', 'baseline/all', 'aa/en', 'aa/sw', 'aa/all']);
      const md = readFileSync(join(tmp.dir, 'report', 'summary.md'), 'utf8');
      expect(md).toContain('## PolyMath accuracy by difficulty level');
      expect(md).toContain('| baseline | en | 100.0 | 50.0 | 0.0 | 50.0 | 40.0 | 8 |');
      expect(JSON.parse(readFileSync(join(tmp.dir, 'report', 'report.json'), 'utf8')).levels).toHaveLength(6);
    } finally {
      store.close();
    }
  });

  it('one level: per-level accuracy only, no weighted accuracy', async () => {
    const spec = parseExperimentSpec({
      name: 'pm-low', model: model.dir, task: 'generate', dataset: { kind: 'polymath', path: pmDir, split: 'low', languages: ['en'], limit: 2 },
      batch_size: 2, decoding: { greedy: true, max_new_tokens: 2 }, scoring: { task: 'polymath' }, arms: [{ kind: 'baseline' }],
    });
    const store = Store.open(join(tmp.dir, 'low.db'));
    try {
      const r = await runExperiment({ store, spec, engine, scorer });
      const { report } = writeExperimentReport(store, r.experimentId, join(tmp.dir, 'report-low'), { resamples: 200 });
      expect(report.levels).toEqual([{ arm: 'baseline', language: 'en', levels: { low: { n: 2, correct: 0, accuracy: 0 } }, weighted: null }]);
    } finally {
      store.close();
    }
  });
});
