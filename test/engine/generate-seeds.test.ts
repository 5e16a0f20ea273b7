/**
 * Per-prompt sampling seeds (GenerateRequest.sampling.seeds): each row samples from its own generator, so a row's
 * tokens follow from its own seed, the same in any batch position; experiments rely on this to give every arm of an
 * item the same seed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEngine, type Engine } from '../../src/engine/index.js';
import { writeTinyModel } from '../support/tiny-models.js';
import { seededIds, tempDir } from './graph-helpers.js';

describe('generate with one seed per prompt', () => {
  const tmp = tempDir('gen-seeds');
  let engine: Engine;
  const sampling = { temperature: 1.5, topK: 0, topP: 1 };
  beforeAll(async () => {
    writeTinyModel(tmp.dir, 'qwen3_moe', { seed: 8 });
    engine = await loadEngine(tmp.dir, { executionProvider: 'cpu' });
  });
  afterAll(async () => {
    await engine?.dispose();
    tmp.cleanup();
  });

  it('a row follows its own seed wherever it sits in the batch; different seeds give different samples', async () => {
    const V = engine.info.vocabSize;
    const p = seededIds(5, V, 1);
    const q = seededIds(5, V, 2); // same length: no padding, so the rows' logits match across batch layouts
    const gen = (prompts: number[][], seeds: number[]) => engine.generate({ prompts, maxNewTokens: 12, sampling: { ...sampling, seeds }, capture: false, stopIds: [] });
    const [a1, b1] = await gen([p, q], [11, 22]);
    const [b2, a2] = await gen([q, p], [22, 11]);
    expect(a2!.generatedIds).toEqual(a1!.generatedIds);
    expect(b2!.generatedIds).toEqual(b1!.generatedIds);
    // The same prompt twice with two seeds: the rows differ (12 tokens at temperature 1.5 over the whole vocabulary).
    const [x, y] = await gen([p, p], [11, 12]);
    expect(x!.generatedIds).toEqual(a1!.generatedIds);
    expect(y!.generatedIds).not.toEqual(x!.generatedIds);
  });

  it('refuses a seed list that does not match the prompts', async () => {
    await expect(engine.generate({ prompts: [[1, 2], [3, 4]], maxNewTokens: 2, sampling: { temperature: 1, seeds: [1] } })).rejects.toThrow(/1 seeds for 2 prompts/);
  });
});
