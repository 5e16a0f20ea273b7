/**
 * The capture backend over the real engine: encoding with the model's own chat template, left-padded batches, and
 * a real capture whose stored aggregates are checked against aggregates built here from unpadded, one-sequence
 * engine.forward calls (an independent path: no padding, no backend, no job).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineBackend, templateMaskOf } from '../../src/capture/engine-backend.js';
import { startCapture } from '../../src/capture/index.js';
import { buildDataset, type Dataset } from '../../src/datasets/index.js';
import { loadEngine, type Engine } from '../../src/engine/index.js';
import { Store, iterateSequences, loadRunRouting, type TraceSequence } from '../../src/store/index.js';
import { referenceAggregate, roundToHalfReference, tempDir } from '../store/helpers.js';
import { writeTinyModel, type TinyModelInfo } from '../support/tiny-models.js';

let tmp: ReturnType<typeof tempDir>;
let model: TinyModelInfo;
let backend: EngineBackend;
let engine: Engine;

const TEXTS: Record<string, string[]> = {
  en: ['the cat sat on the mat', 'what is the answer to the question ?', 'this is the house that they built', 'the dog ate the bread and then there was the end of it all'],
  fr: ['le chat est sur la table', 'le chien mange le pain', 'la question', 'le chat et le chien sont dans la maison avec le pain et la table'],
  de: ['der Hund und die Katze', 'sind in dem Haus', 'die Katze', 'der Hund und die Katze sind in dem Haus und der Hund'],
};

function dataset(): Dataset {
  const perLanguage = new Map(Object.entries(TEXTS).map(([l, xs]) => [l, xs.map((text, i) => ({ id: `s${i}`, text }))]));
  return buildDataset({ kind: 'jsonl', name: 'toy', source: 'in-test', defaultTemplate: 'chat', perLanguage });
}

/** Independent template mask for the tiny model's template: the content is the run of encode(content) ids. */
function referenceEncode(text: string, chat: boolean): { ids: number[]; mask: number[] } {
  const tk = engine.tokenizer!;
  const content = tk.encode(text, { addSpecialTokens: false });
  if (!chat) return { ids: content, mask: content.map(() => 0) };
  const prefix = tk.encode('<|im_start|>user\n', { addSpecialTokens: false });
  const suffix = tk.encode('<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n', { addSpecialTokens: false });
  return { ids: [...prefix, ...content, ...suffix], mask: [...prefix.map(() => 1), ...content.map(() => 0), ...suffix.map(() => 1)] };
}

async function referenceSequences(chat: boolean, steering?: Parameters<Engine['forward']>[1]): Promise<TraceSequence[]> {
  const L = engine.info.moeLayers.length;
  const K = engine.info.topK;
  const seqs: TraceSequence[] = [];
  for (const [language, texts] of Object.entries(TEXTS)) {
    for (const [i, text] of texts.entries()) {
      const { ids, mask } = referenceEncode(text, chat);
      const r = await engine.forward([ids], { ...steering, capture: true });
      const T = ids.length;
      const expertIds = new Uint16Array(L * T * K);
      const gateWeights = new Float32Array(L * T * K);
      r.routing!.forEach((layer, l) => {
        expertIds.set(layer.experts, l * T * K);
        gateWeights.set(layer.weights, l * T * K);
      });
      seqs.push({ language, itemId: `s${i}`, itemIndex: i, tokenIds: ids, templateMask: mask, expertIds, gateWeights });
    }
  }
  return seqs;
}

beforeAll(async () => {
  tmp = tempDir('routescope-engine-capture-');
  model = writeTinyModel(join(tmp.dir, 'model'), 'qwen3_moe', { seed: 11 });
  backend = await EngineBackend.load(model.dir, { executionProvider: 'cpu', maxBatchTokens: 64 });
  engine = await loadEngine(model.dir, { executionProvider: 'cpu' });
});

afterAll(async () => {
  await backend?.dispose();
  await engine?.dispose();
  tmp?.cleanup();
});

describe('EngineBackend.encode', () => {
  it('marks chat-template markup 1 and the item text 0, with the ids the whole rendered prompt tokenises to', () => {
    const tk = engine.tokenizer!;
    for (const text of ['the cat sat on the mat', ' leading space and trailing ', 'ümlaut ß 中文']) {
      const enc = backend.encode({ kind: 'chat', messages: [{ role: 'user', content: text }], addGenerationPrompt: true, enableThinking: false });
      const rendered = tk.applyChatTemplate([{ role: 'user', content: text }], { addGenerationPrompt: true, enableThinking: false });
      expect(rendered).toContain('<think>\n\n</think>'); // thinking disabled as in arXiv 2601.14050
      expect(enc.ids).toEqual(tk.encode(rendered, { addSpecialTokens: false }));
      const content = enc.ids.filter((_, i) => enc.templateMask[i] === 0);
      const markup = enc.ids.filter((_, i) => enc.templateMask[i] === 1);
      expect(tk.decode(content)).toBe(text);
      expect(tk.decode(markup)).toBe(rendered.replace(text, ''));
      const ref = referenceEncode(text, true);
      expect(Array.from(enc.templateMask)).toEqual(ref.mask);
    }
  });

  it('when a token straddles markup and content it counts as markup; byte pieces follow the token completing them', () => {
    const pieces = ['<|im_start|>', 'user', '\nhe', 'llo', ' w', '', 'ö', '<|im_end|>'];
    const rendered = pieces.join('');
    expect(Array.from(templateMaskOf(pieces, rendered, ['hello wö']))).toEqual([1, 1, 1, 0, 0, 0, 0, 1]);
    expect(() => templateMaskOf(pieces, rendered, ['not there'])).toThrow(/--template raw/);
  });

  it('reports the precision the engine chose, for the run to record', () => {
    expect(backend.model.precision).toBe(engine.info.precision?.name);
    expect(backend.model.precision).toBe('fp32');
  });

  it('raw prompts are all content', () => {
    const enc = backend.encode({ kind: 'raw', text: 'der Hund' });
    expect(enc.ids).toEqual(engine.tokenizer!.encode('der Hund', { addSpecialTokens: false }));
    expect(Array.from(enc.templateMask).every((m) => m === 0)).toBe(true);
  });
});

describe('EngineBackend.route', () => {
  it('left-padded batches give each prompt the routing it gets alone, for real tokens only', async () => {
    const rows = [referenceEncode(TEXTS.en![3]!, true).ids, referenceEncode('la', false).ids, referenceEncode(TEXTS.fr![0]!, true).ids];
    const [L, K, E] = [engine.info.moeLayers.length, engine.info.topK, engine.info.numExperts];
    // No token budget here: all three rows share one forward pass, so the short ones really are padded.
    const unsplit = await EngineBackend.load(model.dir, { executionProvider: 'cpu' });
    try {
      const got = await unsplit.route(rows, { withLogits: true });
      for (const [b, ids] of rows.entries()) {
        const T = ids.length;
        expect(got[b]!.expertIds.length).toBe(L * T * K);
        expect(got[b]!.routerLogits!.length).toBe(L * T * E);
        const alone = await engine.forward([ids]);
        alone.routing!.forEach((layer, l) => {
          expect(Array.from(got[b]!.expertIds).slice(l * T * K, (l + 1) * T * K)).toEqual(Array.from(layer.experts));
          const w = Array.from(got[b]!.gateWeights).slice(l * T * K, (l + 1) * T * K);
          w.forEach((x, i) => expect(x).toBeCloseTo(layer.weights[i]!, 5));
          const z = Array.from(got[b]!.routerLogits!).slice(l * T * E, (l + 1) * T * E);
          z.forEach((x, i) => expect(x).toBeCloseTo(layer.routerLogits[i]!, 4));
        });
      }
    } finally {
      await unsplit.dispose();
    }
  });

  it('rejects promptly when the signal is already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(backend.route([[1, 2, 3]], { withLogits: false, signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('capture through the engine', () => {
  it('stores aggregates equal to those computed from unpadded engine.forward outputs; padding is never counted', async () => {
    const file = join(tmp.dir, 'cap.db');
    const store = Store.open(file);
    const res = await startCapture({ store, backend, dataset: dataset(), template: 'chat', batchSize: 3 });
    expect(res.status).toBe('completed');
    const ref = await referenceSequences(true);
    const L = engine.info.moeLayers.length;
    const [E, K] = [engine.info.numExperts, engine.info.topK];
    const realTokens = ref.reduce((s, x) => s + x.tokenIds.length, 0);
    expect(res.tokensDone).toBe(realTokens);
    for (const scope of ['all', 'content'] as const) {
      const data = loadRunRouting(store, res.runId, { scope });
      expect(data.moeLayers).toEqual(model.moeLayers);
      for (const lr of data.languages) {
        const want = referenceAggregate(ref, L, E, K, lr.language, scope, roundToHalfReference);
        expect(Array.from(lr.counts)).toEqual(Array.from(want.counts));
        lr.gateSums.forEach((g, i) => expect(g).toBeCloseTo(want.gates[i]!, 2));
        for (let l = 0; l < L; l++) expect(lr.totals[l]).toBe(want.tokens);
      }
    }
    // Stored token ids are the unpadded prompt: no pad id in front of any sequence.
    const padId = engine.tokenizer!.padId!;
    for (const s of iterateSequences(store, res.runId)) {
      const want = ref.find((r) => r.language === s.language && r.itemId === s.itemId)!;
      expect(Array.from(s.tokenIds)).toEqual(want.tokenIds);
      expect(s.tokenIds[0]).not.toBe(padId);
    }
    expect(store.integrityProblems()).toEqual([]);
    store.close();
  });

  it('applies the run\'s steering plan: masked experts never appear, matching a steered engine.forward', async () => {
    const file = join(tmp.dir, 'steer.db');
    const store = Store.open(file);
    const layer = model.moeLayers[1]!;
    const plan = { [String(layer)]: [0, 1, 2] };
    const res = await startCapture({ store, backend, dataset: dataset(), template: 'raw', batchSize: 4, plan });
    const { resolvePlan } = await import('../../src/engine/steering-plan.js');
    const ref = await referenceSequences(false, { steering: resolvePlan(plan, engine.steeringModel) });
    const L = engine.info.moeLayers.length;
    const [E, K] = [engine.info.numExperts, engine.info.topK];
    for (const lr of loadRunRouting(store, res.runId).languages) {
      for (const e of [0, 1, 2]) expect(lr.counts[1 * E + e]).toBe(0);
      expect(Array.from(lr.counts)).toEqual(Array.from(referenceAggregate(ref, L, E, K, lr.language, 'all', roundToHalfReference).counts));
    }
    store.close();
  });
});
