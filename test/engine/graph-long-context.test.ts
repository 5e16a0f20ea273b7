/**
 * Long inputs: the context limit (config.json's max_position_embeddings) is enforced where sequences enter
 * the engine (forward, generate, score), and long inputs run in chunks through the KV cache so that no
 * onnxruntime run materialises attention scores for the whole sequence, with the same results (logits against
 * the independent reference, routing identical to the single-run pass) on both MoE kernels.
 */
import type * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, score } from '../../src/engine/generate.js';
import type { MoeKernelName } from '../../src/engine/graph-builder.js';
import { DecoderSession, defaultAttentionScoreBudget, defaultPositionIds, type ForwardResult } from '../../src/engine/session.js';
import { referenceForward } from '../support/reference-forward.js';
import { writeTinyModel } from '../support/tiny-models.js';
import { relativeError, row, seededIds, tempDir } from './graph-helpers.js';

/** The context limit of the tiny models (config.json's max_position_embeddings). */
const LIMIT = 300;
/** A small attention score budget, so automatic chunking engages at this length: 2 rows x 4 heads x 300 keys x 4 bytes = 9,600 bytes per position, 109 positions per run. */
const BUDGET = 2 ** 20;

/** Records the [B, T] of input_ids and the attention_mask length of every onnxruntime run of a session. */
function recordRuns(session: DecoderSession): { batch: number; queries: number; keys: number }[] {
  const runs: { batch: number; queries: number; keys: number }[] = [];
  const ortSession = session.session;
  const real = ortSession.run.bind(ortSession);
  const recording = (feeds: ort.InferenceSession.FeedsType, fetches?: ort.InferenceSession.FetchesType) => {
    const [batch, queries] = feeds.input_ids!.dims as number[];
    runs.push({ batch: batch!, queries: queries!, keys: feeds.attention_mask!.dims[1]! });
    return real(feeds, fetches as string[]);
  };
  (ortSession as { run: unknown }).run = recording;
  return runs;
}

/**
 * Per MoE layer, the routing of the real (not padding) positions: padding rows attend to nothing real, so their
 * outputs are meaningless (and depend on how many masked keys a run has); generate and score drop them.
 */
function realRouting(r: ForwardResult, lengths: number[], T: number, k: number, E: number): { experts: number[][]; logits: number[][]; weights: number[][] } {
  const rows = lengths.flatMap((n, b) => Array.from({ length: n }, (_, j) => b * T + T - n + j));
  const pick = (a: ArrayLike<number>, w: number) => rows.flatMap((r) => Array.from({ length: w }, (_, i) => a[r * w + i]!));
  return {
    experts: r.routing!.map((l) => pick(l.experts, k)),
    logits: r.routing!.map((l) => pick(l.routerLogits, E)),
    weights: r.routing!.map((l) => pick(l.weights, k)),
  };
}

describe.each(['fused', 'dispatch'] as MoeKernelName[])('chunked prefill (%s kernel)', (kernel) => {
  const tmp = tempDir(`long-${kernel}`);
  const cache = tempDir(`long-cache-${kernel}`);
  let whole: DecoderSession;
  let chunked: DecoderSession;
  let V: number;
  // Two rows left-padded to T = 40, fed 7 positions per run (6 runs, the last one of 5).
  const lengths = [40, 29];
  const T = 40;
  let ids: number[][];
  let mask: number[][];

  beforeAll(async () => {
    writeTinyModel(tmp.dir, 'qwen3_moe', { seed: 8, configOverrides: { max_position_embeddings: LIMIT } });
    whole = await DecoderSession.load(tmp.dir, { moeKernel: kernel, cacheDir: cache.dir });
    chunked = await DecoderSession.load(tmp.dir, { moeKernel: kernel, cacheDir: cache.dir, prefillChunk: 7 });
    V = whole.info.vocabSize;
    ids = lengths.map((n, b) => [...Array<number>(T - n).fill(0), ...seededIds(n, V, 40 + b)]);
    mask = lengths.map((n) => [...Array<number>(T - n).fill(0), ...Array<number>(n).fill(1)]);
  });
  afterAll(async () => {
    await whole?.dispose();
    await chunked?.dispose();
    tmp.cleanup();
    cache.cleanup();
  });

  it('runs 7 positions at a time and gives the reference logits and the single-run routing', async () => {
    const runs = recordRuns(chunked);
    const got = await chunked.forward(ids, { attentionMask: mask });
    expect(runs.map((r) => [r.queries, r.keys])).toEqual([[7, 7], [7, 14], [7, 21], [7, 28], [7, 35], [5, 40]]);
    const one = await whole.forward(ids, { attentionMask: mask });
    const ref = referenceForward(tmp.dir, ids, { attentionMask: mask });
    expect(got.logits.length).toBe(lengths.length * T * V);
    lengths.forEach((n, b) => {
      for (let t = T - n; t < T; t++) expect(relativeError(row(got.logits, b * T + t, V), ref.logits[b]![t]!), `b${b} t${t}`).toBeLessThan(1e-4);
    });
    // Routing of every real token is the same as in one run: experts identical, values to rounding.
    const { topK: k, numExperts: E } = chunked.info;
    const a = realRouting(got, lengths, T, k, E);
    const w = realRouting(one, lengths, T, k, E);
    expect(a.experts).toEqual(w.experts);
    a.logits.forEach((l, i) => expect(relativeError(l, w.logits[i]!)).toBeLessThan(1e-5));
    a.weights.forEach((l, i) => expect(relativeError(l, w.weights[i]!)).toBeLessThan(1e-5));
    const refExperts = ref.experts.map((layer) => lengths.flatMap((n, b) => layer[b]!.slice(T - n).flat()));
    expect(a.experts).toEqual(refExperts);
    // The cache of row 0 (no padding) too; it is [B, kvHeads, T, headDim], row 0 first.
    expect(got.cache.length).toBe(T);
    const half = (t: ort.Tensor) => (t.data as Float32Array).subarray(0, (t.data as Float32Array).length / 2);
    [...got.cache.keys, ...got.cache.values].forEach((c, i) => expect(relativeError(half(c), half([...one.cache.keys, ...one.cache.values][i]!))).toBeLessThan(1e-5));
  });

  it('explicit logits rows keep their order across chunks; a cached prefix and capture off work too', async () => {
    const rows = [2 * T - 1, 3, 20, 3, 13];
    const got = await chunked.forward(ids, { attentionMask: mask, logits: { rows } });
    const one = await whole.forward(ids, { attentionMask: mask, logits: { rows } });
    expect(Array.from(got.logitsRows)).toEqual(rows);
    expect(relativeError(got.logits, one.logits)).toBeLessThan(1e-5);
    // 10 cached positions, then 30 new ones in chunks: the same as the single run over all 40.
    const head = await chunked.forward(ids.map((r) => r.slice(0, 10)), { attentionMask: mask.map((r) => r.slice(0, 10)) });
    const tail = await chunked.forward(ids.map((r) => r.slice(10)), { past: head.cache, attentionMask: mask, positionIds: defaultPositionIds(mask, 30), capture: false, logits: 'last' });
    expect(tail.routing).toBeUndefined();
    expect(relativeError(tail.logits, (await whole.forward(ids, { attentionMask: mask, logits: 'last' })).logits)).toBeLessThan(1e-5);
  });

  it('generate and score give the same tokens, routing and log-probabilities chunked or not', async () => {
    const prompts = [seededIds(30, V, 7), seededIds(17, V, 8)];
    const req = { prompts, maxNewTokens: 4 };
    const [a, b] = [await generate(chunked, req), await generate(whole, req)];
    expect(a.map((s) => s.generatedIds)).toEqual(b.map((s) => s.generatedIds));
    expect(a.map((s) => s.routing!.experts.map((e) => Array.from(e)))).toEqual(b.map((s) => s.routing!.experts.map((e) => Array.from(e))));
    const items = [{ prompt: prompts[0]!, continuation: seededIds(12, V, 9) }];
    const [sa, sb] = [await score(chunked, items), await score(whole, items)];
    sa[0]!.tokenLogprobs.forEach((lp, i) => expect(lp).toBeCloseTo(sb[0]!.tokenLogprobs[i]!, 4));
  });
});

describe('context limit and automatic chunking (max_position_embeddings 300)', () => {
  const tmp = tempDir('limit');
  const cache = tempDir('limit-cache');
  let session: DecoderSession;
  let V: number;
  beforeAll(async () => {
    writeTinyModel(tmp.dir, 'qwen3_moe', { seed: 9, configOverrides: { max_position_embeddings: LIMIT } });
    session = await DecoderSession.load(tmp.dir, { cacheDir: cache.dir, logits: 'none', attentionScoreBudget: BUDGET });
    V = session.info.vocabSize;
  });
  afterAll(async () => {
    await session?.dispose();
    tmp.cleanup();
    cache.cleanup();
  });

  it('reports the limit and refuses one token more, naming the length and the limit', async () => {
    expect(session.info.maxPositions).toBe(LIMIT);
    await expect(session.forward([seededIds(LIMIT + 1, V, 1)])).rejects.toThrow(/row 0 is too long: it reaches position 300 \(301 tokens\).*max_position_embeddings \(config.json\) is 300; shorten it to at most 300 tokens/);
    // The whole length is named, not the first position past the limit.
    await expect(session.forward([[1, 2], seededIds(1000, V, 1)].map((r) => [...Array<number>(1000 - r.length).fill(0), ...r]), { attentionMask: [[...Array<number>(998).fill(0), 1, 1], Array<number>(1000).fill(1)] })).rejects.toThrow(/input row 1 is too long: it reaches position 999 \(1000 tokens\)/);
    // After a cache (explicit positions stand in for a long one): the limit applies to the positions.
    const head = await session.forward([seededIds(5, V, 2)]);
    await expect(session.forward([[1, 2]], { past: head.cache, positionIds: [[299, 300]] })).rejects.toThrow(/position 300 \(301 tokens, 5 of them cached\)/);
    await expect(session.forward([[1, 2]], { past: head.cache, positionIds: [[298, 299]] })).resolves.toBeDefined();
  });

  it('the full context runs in chunks whose attention scores stay within the budget; padding does not count', async () => {
    const runs = recordRuns(session);
    // Row 1 is mostly padding: only its 5 real tokens count towards the limit.
    const ids = [seededIds(LIMIT, V, 4), [...Array<number>(LIMIT - 5).fill(0), ...seededIds(5, V, 5)]];
    const mask = [Array<number>(LIMIT).fill(1), [...Array<number>(LIMIT - 5).fill(0), ...Array<number>(5).fill(1)]];
    const r = await session.forward(ids, { attentionMask: mask });
    expect(runs.map((x) => x.queries)).toEqual([109, 109, 82]);
    for (const x of runs) expect(x.batch * session.info.numHeads * x.queries * x.keys * 4).toBeLessThanOrEqual(BUDGET);
    expect(r.cache.length).toBe(LIMIT);
    expect(r.routing![0]!.experts.length).toBe(2 * LIMIT * session.info.topK);
  });

  it('generate refuses up front when prompt + maxNewTokens could pass the limit; score names the item', async () => {
    const prompt = seededIds(LIMIT - 3, V, 6);
    await expect(generate(session, { prompts: [[1, 2], prompt], maxNewTokens: 4 })).rejects.toThrow(
      /prompt 1 has 297 tokens; with maxNewTokens 4 the sequence could reach 301 tokens, beyond this model's max_position_embeddings \(config.json\) of 300: lower maxNewTokens to at most 3/,
    );
    await expect(generate(session, { prompts: [seededIds(LIMIT, V, 7)], maxNewTokens: 1 })).rejects.toThrow(/shorten the prompt/);
    await expect(score(session, [{ prompt: [1], continuation: [2] }, { prompt: seededIds(299, V, 8), continuation: [1, 2] }])).rejects.toThrow(
      /score item 1 is 301 tokens long \(prompt 299 \+ continuation 2\), beyond this model's max_position_embeddings \(config.json\) of 300/,
    );
  });

  it('the default budget is 1/32 of the weights, within 64 MiB..1 GiB', () => {
    const MiB = 2 ** 20;
    expect(defaultAttentionScoreBudget(7 * MiB)).toBe(64 * MiB); // the demo model
    expect(defaultAttentionScoreBudget(3404 * MiB)).toBe(Math.floor((3404 * MiB) / 32)); // 106 MiB: the engine benchmark model
    expect(defaultAttentionScoreBudget(61 * 2 ** 30)).toBe(2 ** 30); // Qwen3-30B-A3B in BF16
  });

  it('a config without max_position_embeddings has no limit', async () => {
    const noLimit = tempDir('nolimit');
    writeTinyModel(noLimit.dir, 'qwen3_moe', { seed: 9, configOverrides: { max_position_embeddings: null } });
    const s = await DecoderSession.load(noLimit.dir, { cacheDir: cache.dir, logits: 'none', moeKernel: 'dispatch' });
    try {
      expect(s.info.maxPositions).toBeNull();
      await expect(s.forward([[1, 2, 3]], { positionIds: [[5000, 5001, 5002]] })).resolves.toBeDefined();
    } finally {
      await s.dispose();
      noLimit.cleanup();
    }
  });
});
