/**
 * generate and translate experiments on a real engine (tiny Qwen3-MoE) with the real scorer: every arm of an item
 * samples with the same seed, so an A/A arm reproduces the baseline's outputs exactly, greedy and sampled; a mask
 * arm changes them; max new tokens is always enforced; outputs are scored by src/eval/scoring.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEngine, type Engine } from '../../src/engine/index.js';
import { itemSeed, parseExperimentSpec, runExperiment } from '../../src/eval/experiment/index.js';
import { createScorer, sentenceChrf, type Scorer } from '../../src/eval/scoring/index.js';
import { experimentResults, Store, type ExperimentResult } from '../../src/store/index.js';
import { tempDir } from '../store/helpers.js';
import { writeTinyModel, type TinyModelInfo } from '../support/tiny-models.js';

let tmp: ReturnType<typeof tempDir>;
let model: TinyModelInfo;
let engine: Engine;
let scorer: Scorer;
let mgsmDir: string;
let floresDir: string;

beforeAll(async () => {
  tmp = tempDir('routescope-experiment-gen-');
  model = writeTinyModel(join(tmp.dir, 'model'), 'qwen3_moe', { seed: 4 });
  mgsmDir = join(tmp.dir, 'mgsm');
  mkdirSync(mgsmDir);
  for (const lang of ['en', 'sw']) {
    writeFileSync(join(mgsmDir, `mgsm_${lang}.tsv`), Array.from({ length: 5 }, (_, i) => `${lang} the cat has ${i} and the dog ${i + 2}, how many?\t${2 * i + 2}`).join('\n') + '\n');
  }
  floresDir = join(tmp.dir, 'flores');
  mkdirSync(join(floresDir, 'dev'), { recursive: true });
  writeFileSync(join(floresDir, 'dev', 'eng_Latn.txt'), 'the cat sat on the mat\nthe dog ate bread\na house\n');
  writeFileSync(join(floresDir, 'dev', 'fra_Latn.txt'), 'le chat est sur la table\nle chien mange du pain\nune maison\n');
  engine = await loadEngine(model.dir, { executionProvider: 'cpu' });
  scorer = await createScorer();
});

afterAll(async () => {
  await engine?.dispose();
  tmp?.cleanup();
});

const mask = () => ({ [String(model.moeLayers[1])]: [0, 1, 2] });

function genSpec(decoding: Record<string, unknown>) {
  return parseExperimentSpec({
    name: 'gen', model: model.dir, task: 'generate', dataset: { kind: 'mgsm', path: mgsmDir, languages: ['en', 'sw'] }, batch_size: 3, decoding,
    prompt: { suffix: 'Put the final answer in \\boxed{}.' },
    arms: [{ kind: 'baseline' }, { name: 'aa', kind: 'plan', plan: { format: 'routescope-plan', version: 1, layers: {} }, allow_noop: true }, { name: 'mask', kind: 'plan', plan: mask() }],
  });
}

async function run(spec: ReturnType<typeof genSpec>, db: string): Promise<ExperimentResult[]> {
  const store = Store.open(join(tmp.dir, db));
  try {
    const r = await runExperiment({ store, spec, engine, scorer });
    expect(r.status).toBe('completed');
    return experimentResults(store, r.experimentId);
  } finally {
    store.close();
  }
}

function byArm(rows: ExperimentResult[], arm: string): Map<string, ExperimentResult> {
  return new Map(rows.filter((r) => r.arm === arm).map((r) => [`${r.language}|${r.itemId}|${r.sample}`, r]));
}

describe('generate experiments', () => {
  it('greedy: the A/A arm gives identical outputs, the mask arm changes some; max new tokens enforced; outputs scored', async () => {
    const rows = await run(genSpec({ greedy: true, max_new_tokens: 12 }), 'greedy.db');
    expect(rows).toHaveLength(3 * 2 * 5);
    const base = byArm(rows, 'baseline');
    const aa = byArm(rows, 'aa');
    for (const [k, r] of base) {
      expect(aa.get(k)!.output).toBe(r.output);
      expect(aa.get(k)!.numTokens).toBe(r.numTokens);
    }
    expect([...byArm(rows, 'mask')].some(([k, r]) => r.output !== base.get(k)!.output)).toBe(true);
    for (const r of rows) {
      expect(r.numTokens).toBeLessThanOrEqual(12);
      expect(r.finishReason === 'length' ? r.numTokens === 12 : r.finishReason === 'stop').toBe(true);
      expect(r.prompt).toContain('\\boxed{}');
      // The tiny model writes no \boxed{}: "no answer", counted wrong, never a crash.
      const expected = scorer.score('mgsm', { output: r.output!, answer: r.extra!.answer as string, lang: r.language });
      expect(r.extracted).toBe(expected.extracted);
      expect(r.correct).toBe(expected.correct);
      expect(r.noAnswer).toBe(expected.noAnswer);
      expect(r.seed).toBe(itemSeed(0, r.language, r.itemId, r.sample));
    }
  });

  it('sampling: every arm of an item uses the same seed per sample, so the A/A arm reproduces the baseline; samples differ', async () => {
    const rows = await run(genSpec({ temperature: 1.0, top_p: 0.95, top_k: 50, seed: 2025, max_new_tokens: 10, samples: 2 }), 'sampled.db');
    expect(rows).toHaveLength(3 * 2 * 5 * 2);
    const base = byArm(rows, 'baseline');
    const aa = byArm(rows, 'aa');
    for (const [k, r] of base) {
      expect(aa.get(k)!.output).toBe(r.output);
      expect(aa.get(k)!.seed).toBe(r.seed);
    }
    const s0 = rows.filter((r) => r.arm === 'baseline' && r.sample === 0);
    expect(s0.some((r) => base.get(`${r.language}|${r.itemId}|1`)!.output !== r.output)).toBe(true);
  });
});

describe('translate experiments', () => {
  it('translates from the source into each other language and scores chrF against the reference', async () => {
    const spec = parseExperimentSpec({
      name: 'tr', model: model.dir, task: 'translate', dataset: { kind: 'flores', path: floresDir, split: 'dev', languages: ['eng_Latn', 'fra_Latn'] },
      translate: { source: 'eng_Latn' }, decoding: { greedy: true, max_new_tokens: 8 },
      arms: [{ kind: 'baseline' }, { name: 'mask', kind: 'plan', plan: mask() }],
    });
    const rows = await run(spec, 'translate.db');
    expect(rows).toHaveLength(2 * 3);
    expect(new Set(rows.map((r) => r.language))).toEqual(new Set(['fra_Latn']));
    const refs = ['le chat est sur la table', 'le chien mange du pain', 'une maison'];
    for (const r of rows) {
      expect(r.prompt).toContain('Translate the following text from English to French');
      expect(r.score).toBeCloseTo(sentenceChrf(r.output!, refs[Number(r.itemId) - 1]!), 10);
      expect(r.correct).toBeNull();
    }
  });
});
