/**
 * Weight precisions (src/engine/precision.ts, half-experts.ts). The fp16 graph is checked against the
 * independent float64 reference run on a copy of the checkpoint whose expert weights were rounded to fp16
 * in the test (roundToF16, itself checked against torch bit patterns): that is exactly what fp16 promises,
 * so the tolerance stays the fp32 one (1e-4). Against the unrounded fp32 reference it is within the fp16
 * tolerance stated in docs/precision.md, with the same top-k sets. Also: the cache (outside the model folder,
 * reused, rebuilt when from another format or when a byte flip keeping size and mtime breaks a segment checksum), an overflowing expert kept at fp32, the memory plan, `auto`,
 * and the refusals; on the demo model, the top-k agreement with fp32 on UDHR held-out text. int8/int4 (QMoE, and int4's
 * dispatch kernel): the graph equals the float64 reference run on expert weights quantised and dequantised by a second
 * implementation.
 */
import { copyFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadUdhrCorpus } from '../../src/corpus/udhr.js';
import { decoderSpecFor } from '../../src/engine/architectures/index.js';
import { readModelFolder } from '../../src/engine/model-folder.js';
import * as ort from 'onnxruntime-node';
import { MS_DOMAIN, OnnxGraph } from '../../src/engine/onnx/graph.js';
import { DataType } from '../../src/engine/onnx/model.js';
import { choosePrecision, memoryPlan, parsePrecision } from '../../src/engine/precision.js';
import { quantizeForMatMulNBits } from '../../src/engine/quant-dense.js';
import { WeightStore } from '../../src/engine/safetensors.js';
import { writeSafetensors, type TensorToWrite } from '../../src/engine/safetensors-writer.js';
import { DecoderSession } from '../../src/engine/session.js';
import { loadTokenizer } from '../../src/engine/tokenizer.js';
import { roundToF16 } from '../../src/numeric/float16.js';
import { DENSE_BLOCK, dequantizeMatrix, writeDequantizedCopy, writeRoundedCopy } from '../support/precision-copies.js';
import { referenceForward } from '../support/reference-forward.js';
import { REAL_CONFIGS } from '../support/real-configs.js';
import { writeTinyModel, TINY_ARCHS, type TinyArch } from '../support/tiny-models.js';
import { flipBytes, relativeError, row, seededIds, tempDir } from './graph-helpers.js';
import { expectCloseWithSameExperts, expectMatchesReference, expectRoutingMatchesReference, expectTopKAgreement, INT8_ACTIVATION_TOL, INT8_FIRST_ROUTER_TOL } from './reference-suite.js';

/** fp16 against the unrounded fp32 reference: expert weights carry 2^-11 relative rounding. */
const FP16_TOL = 5e-3;

const cache = tempDir('precision-cache');
afterAll(() => cache.cleanup());

describe.each(TINY_ARCHS)('fp16 precision (%s)', (arch: TinyArch) => {
  const tmp = tempDir(`fp16-${arch}`);
  const rounded = tempDir(`fp16-rounded-${arch}`);
  let fp16: DecoderSession;
  let ids: number[][];

  beforeAll(async () => {
    writeTinyModel(tmp.dir, arch, { seed: 31 });
    writeRoundedCopy(tmp.dir, rounded.dir);
    fp16 = await DecoderSession.load(tmp.dir, { precision: 'fp16', cacheDir: cache.dir });
    ids = [seededIds(7, fp16.info.vocabSize, 8), seededIds(7, fp16.info.vocabSize, 9)];
  });
  afterAll(async () => {
    await fp16?.dispose();
    tmp.cleanup();
    rounded.cleanup();
  });

  it('reports fp16 on the dispatch kernel, with its cache outside the model folder', () => {
    expect(fp16.info.precision?.name).toBe('fp16');
    expect(fp16.info.moeKernel?.name).toBe('dispatch');
    expect(fp16.info.precision?.cacheFile?.startsWith(cache.dir)).toBe(true);
    expect(fp16.info.precision?.keptFp32).toEqual([]);
  });

  it('equals the reference on fp16-rounded expert weights, embedding and lm_head within 1e-4', async () => {
    expectMatchesReference(await fp16.forward(ids), referenceForward(rounded.dir, ids));
  });

  it('stays within the fp16 tolerance of the fp32 reference, with the same top-k sets', async () => {
    const got = await fp16.forward(ids);
    const ref = referenceForward(tmp.dir, ids);
    expectCloseWithSameExperts(got, ref, ids, FP16_TOL);
  });
});

describe('fp16 on F16 and BF16 checkpoints', () => {
  const f16 = tempDir('fp16-f16');
  const bf16 = tempDir('fp16-bf16');
  afterAll(() => (f16.cleanup(), bf16.cleanup()));

  it('maps F16 experts as they are (no cache) and equals the fp32 graph exactly', async () => {
    writeTinyModel(f16.dir, 'qwen3_moe', { seed: 5, dtype: 'F16' });
    const before = readdirSync(f16.dir).map((f) => `${f}:${statSync(join(f16.dir, f)).mtimeMs}`);
    const a = await DecoderSession.load(f16.dir, { precision: 'fp16', cacheDir: cache.dir });
    const b = await DecoderSession.load(f16.dir, { precision: 'fp32', moeKernel: 'dispatch', cacheDir: cache.dir });
    const ids = [seededIds(6, a.info.vocabSize, 2)];
    const [x, y] = [await a.forward(ids), await b.forward(ids)];
    expect(a.info.precision?.cacheFile).toBeUndefined();
    expect(Array.from(x.logits)).toEqual(Array.from(y.logits));
    expect(readdirSync(f16.dir).map((f) => `${f}:${statSync(join(f16.dir, f)).mtimeMs}`)).toEqual(before);
    await a.dispose();
    await b.dispose();
  });

  it('converts BF16 experts once (reused on the next load) and matches the reference of the checkpoint', async () => {
    writeTinyModel(bf16.dir, 'mixtral', { seed: 6, dtype: 'BF16' });
    const progress: number[] = [];
    const first = await DecoderSession.load(bf16.dir, { precision: 'fp16', cacheDir: cache.dir, onCacheProgress: (p) => progress.push(p.layer) });
    const second = await DecoderSession.load(bf16.dir, { precision: 'fp16', cacheDir: cache.dir });
    // The expert cache per MoE layer, then the dense cache's one step (the fp16 embedding and head).
    expect(progress).toEqual([1, 2, 1]);
    expect(second.info.precision?.cacheFile).toBe(first.info.precision?.cacheFile);
    const ids = [seededIds(6, first.info.vocabSize, 4)];
    // Tiny BF16 weights are all within the fp16 normal range here or subnormal; the reference reads BF16 exactly.
    const got = await second.forward(ids);
    const ref = referenceForward(bf16.dir, ids);
    expect(relativeError(got.logits, ref.logits.flat(2))).toBeLessThan(FP16_TOL);
    await first.dispose();
    await second.dispose();
  });
});

describe('fp16 cache and overflow', () => {
  const src = tempDir('fp16-over-src');
  const big = tempDir('fp16-over');
  const bigRef = tempDir('fp16-over-ref');
  afterAll(() => (src.cleanup(), big.cleanup(), bigRef.cleanup()));

  it('keeps an expert matrix that overflows fp16 at fp32, says so, and stays exact', async () => {
    writeTinyModel(src.dir, 'olmoe', { seed: 7 });
    const tensor = 'model.layers.1.mlp.experts.3.up_proj.weight';
    // The graph's own model: unrounded, one weight beyond fp16's range (its matrix must stay fp32).
    const store = WeightStore.fromFolder(src.dir);
    const tensors: Record<string, TensorToWrite> = {};
    for (const name of store.names()) {
      const data = store.readFloat32(name);
      if (name === tensor) data[0] = 1e5;
      tensors[name] = { dtype: 'F32', shape: store.info(name).shape, data };
    }
    writeSafetensors(join(big.dir, 'model.safetensors'), tensors);
    for (const f of readdirSync(src.dir)) if (!f.endsWith('.safetensors')) copyFileSync(join(src.dir, f), join(big.dir, f));
    // The reference: every expert rounded to fp16 except that matrix, which keeps its fp32 values.
    writeRoundedCopy(big.dir, bigRef.dir);
    const exact = WeightStore.fromFolder(big.dir).readFloat32(tensor);
    const refTensors: Record<string, TensorToWrite> = {};
    const refStore = WeightStore.fromFolder(bigRef.dir);
    for (const name of refStore.names()) refTensors[name] = { dtype: 'F32', shape: refStore.info(name).shape, data: name === tensor ? exact : refStore.readFloat32(name) };
    writeSafetensors(join(bigRef.dir, 'model.safetensors'), refTensors);

    const s = await DecoderSession.load(big.dir, { precision: 'fp16', cacheDir: cache.dir });
    expect(s.info.precision?.keptFp32).toEqual([{ moeLayer: 1, expert: 3, part: 'up', maxAbs: 1e5 }]);
    const ids = [seededIds(6, s.info.vocabSize, 11)];
    const got = await s.forward(ids);
    for (const v of got.logits) expect(Number.isFinite(v)).toBe(true);
    expectMatchesReference(got, referenceForward(bigRef.dir, ids));
    await s.dispose();
  });

  it('rebuilds a cache written by another format instead of reading it', async () => {
    const s = await DecoderSession.load(big.dir, { precision: 'fp16', cacheDir: cache.dir });
    const manifest = s.info.precision!.cacheFile!.replace(/\.bin$/, '.json');
    await s.dispose();
    writeFileSync(manifest, JSON.stringify({ ...JSON.parse(readFileSync(manifest, 'utf8')), format: 0 }));
    const progress: number[] = [];
    const again = await DecoderSession.load(big.dir, { precision: 'fp16', cacheDir: cache.dir, onCacheProgress: (p) => progress.push(p.layer) });
    expect(progress.length).toBeGreaterThan(0);
    expect((JSON.parse(readFileSync(manifest, 'utf8')) as { format: number }).format).toBe(2);
    await again.dispose();
  });
});

describe('memory plan and precision choice', () => {
  const tmp = tempDir('plan');
  afterAll(() => tmp.cleanup());
  const specOf = () => {
    const folder = readModelFolder(tmp.dir);
    return { spec: decoderSpecFor(folder.dir, folder.architecture, folder.config, folder.weights), weights: folder.weights };
  };

  it('counts expert, dense, embedding and KV bytes by hand', () => {
    writeTinyModel(tmp.dir, 'mixtral', { seed: 1, vocabSize: 320 });
    const { spec, weights } = specOf();
    // Mixtral tiny: H 32, 2 layers, 4 experts of I 16, heads 4 (D 8), 2 KV heads, V 320, untied.
    const H = 32, L = 2, E = 4, I = 16, V = 320, KV = 2, D = 8;
    const experts = L * E * 3 * I * H;
    const dense = L * (H * H + 2 * KV * D * H + H * H + 2 * H + E * H) + H + V * H;
    const fp32 = memoryPlan(spec, weights, 'fp32', 100);
    const fp16 = memoryPlan(spec, weights, 'fp16', 100);
    expect(fp32.expertBytes).toBe(experts * 4);
    expect(fp16.expertBytes).toBe(experts * 2);
    expect(fp32.denseBytes).toBe(dense * 4);
    expect(fp32.embeddingBytes).toBe(V * H * 4);
    expect(fp32.kvBytes).toBe(2 * L * KV * D * 100 * 4);
    expect(fp32.parameters).toBe(experts + dense + V * H);
    // fp16: experts at 2 bytes, the embedding and the head at 2 bytes; everything else fp32.
    expect(fp16.embeddingBytes).toBe(V * H * 2);
    expect(fp32.totalBytes - fp16.totalBytes).toBe(experts * 2 + V * H * 2 + V * H * 2);
    // int8/int4: attention projections (rows of K = 32: one 32-weight block, codes + one fp32 scale per row),
    // the head at 8 bits the same way; routers and norms fp32.
    const projRows = L * (H + 2 * KV * D + H);
    const rest = L * (2 * H + E * H) + H;
    const int8 = memoryPlan(spec, weights, 'int8', 100);
    const int4 = memoryPlan(spec, weights, 'int4', 100);
    expect(int8.denseBytes).toBe(rest * 4 + projRows * (32 + 4) + V * (32 + 4));
    expect(int4.denseBytes).toBe(rest * 4 + projRows * (16 + 4) + V * (32 + 4));
    expect(int4.embeddingBytes).toBe(V * H * 2);
    expect(int4.expertBytes).toBe(experts * (0.5 + 4 / 64));
  });

  it('counts a tied head once at fp16 (the embedding table) and as an 8-bit copy at int4', () => {
    const tied = tempDir('plan-tied');
    writeTinyModel(tied.dir, 'granitemoe', { seed: 1 });
    const folder = readModelFolder(tied.dir);
    const spec = decoderSpecFor(folder.dir, folder.architecture, folder.config, folder.weights);
    const weights = folder.weights;
    tied.cleanup();
    const [V, H] = spec.embed.shape as [number, number];
    expect(spec.lmHead.tensor).toBe(spec.embed.tensor);
    const fp32 = memoryPlan(spec, weights, 'fp32', 100);
    const fp16 = memoryPlan(spec, weights, 'fp16', 100);
    const int4 = memoryPlan(spec, weights, 'int4', 100);
    expect(fp32.denseBytes - fp16.denseBytes).toBe(V * H * 4);
    expect(int4.embeddingBytes).toBe(V * H * 2);
    expect(fp16.parameters).toBe(fp32.parameters);
  });

  it('auto takes the most faithful precision that fits and says why', () => {
    const { spec, weights } = specOf();
    const fp32 = memoryPlan(spec, weights, 'fp32').totalBytes;
    const fp16 = memoryPlan(spec, weights, 'fp16').totalBytes;
    const roomy = choosePrecision(spec, weights, 'auto', { machine: { totalBytes: 2 * fp32, availableBytes: 2 * fp32 } });
    expect(roomy.name).toBe('fp32');
    const tight = choosePrecision(spec, weights, 'auto', { machine: { totalBytes: fp32, availableBytes: (fp32 + fp16) / 2 } });
    expect(tight.name).toBe('fp16');
    expect(tight.reason).toMatch(/fp32 needs/);
    expect(() => choosePrecision(spec, weights, 'auto', { machine: { totalBytes: fp16 / 2, availableBytes: fp16 / 2 } })).toThrow(/does not fit in memory at any precision/);
    expect(() => choosePrecision(spec, weights, 'fp32', { machine: { totalBytes: fp32, availableBytes: (fp32 + fp16) / 2 } })).toThrow(/--precision fp16 fits/);
  });

  it('refuses what it cannot run, with the reason', async () => {
    expect(() => parsePrecision('fp8', '--precision')).toThrow(/--precision must be auto, fp32, fp16, int8, int4; got 'fp8'/);
    const { spec, weights } = specOf();
    await expect(DecoderSession.load(tmp.dir, { precision: 'int8', moeKernel: 'dispatch', cacheDir: cache.dir })).rejects.toThrow(/int8 runs the experts through com.microsoft.QMoE/);
    await expect(DecoderSession.load(tmp.dir, { precision: 'int4', executionProvider: 'cuda', cacheDir: cache.dir })).rejects.toThrow(/int4 runs onnxruntime's QMoE CPU kernel; the CUDA provider is not supported/);
  });

  it('refuses int4 for experts whose hidden size x width is odd (experts are packed one at a time, two codes per byte)', async () => {
    const odd = tempDir('precision-odd');
    try {
      const config = {
        ...REAL_CONFIGS.qwen3_moe.config, num_hidden_layers: 1, max_window_layers: 1, vocab_size: 400, bos_token_id: 1, eos_token_id: 2,
        num_experts: 4, num_experts_per_tok: 2, hidden_size: 33, moe_intermediate_size: 15, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8,
      };
      writeTinyModel(odd.dir, 'qwen3_moe', { seed: 1, config });
      await expect(DecoderSession.load(odd.dir, { precision: 'int4', cacheDir: cache.dir })).rejects.toThrow(/hidden size 33 and width 15 to int4: their product is odd/);
    } finally {
      odd.cleanup();
    }
  });
});

describe('fp16 on the demo model', () => {
  const demo = join(__dirname, '../../resources/demo-model');

  it('keeps the top-k sets of at least 99% of (token, layer) decisions on UDHR held-out text, logits within the fp16 tolerance', async () => {
    const tok = await loadTokenizer(demo);
    const corpus = loadUdhrCorpus({ split: 'heldout', languages: ['eng', 'swh', 'yor', 'hin', 'arb'] });
    const sequences = corpus.items.slice(0, 2).flatMap((it) => Object.values(it.texts).map((t) => tok.encode(t, { addSpecialTokens: true }).slice(0, 48)));
    const fp32 = await DecoderSession.load(demo, { precision: 'fp32', cacheDir: cache.dir });
    const fp16 = await DecoderSession.load(demo, { precision: 'fp16', cacheDir: cache.dir });
    let same = 0;
    let total = 0;
    for (const ids of sequences) {
      const [a, b] = [await fp32.forward([ids]), await fp16.forward([ids])];
      expect(relativeError(b.logits, a.logits)).toBeLessThan(FP16_TOL);
      const k = fp32.info.topK;
      a.routing!.forEach((layer, i) => {
        for (let r = 0; r < ids.length; r++) {
          total++;
          const set = new Set(row(layer.experts, r, k));
          if (row(b.routing![i]!.experts, r, k).every((e) => set.has(e))) same++;
        }
      });
    }
    expect(total).toBeGreaterThan(400);
    expect(same / total).toBeGreaterThanOrEqual(0.99);
    await fp32.dispose();
    await fp16.dispose();
  });
});

// DeepSeek-V2 adds MLA projections, a dense first layer and shared experts.
describe.each([...TINY_ARCHS, 'deepseek_v2'] as TinyArch[])('int8 and int4 precision: QMoE or MatMulNBits experts, MatMulNBits dense projections, 16-bit embedding (%s)', (arch: TinyArch) => {
  const tmp = tempDir(`quant-${arch}`);
  const refs = { 8: tempDir(`quant8-${arch}`), 4: tempDir(`quant4-${arch}`) };
  afterAll(() => (tmp.cleanup(), refs[8].cleanup(), refs[4].cleanup()));
  beforeAll(() => {
    writeTinyModel(tmp.dir, arch, { seed: 41 });
  });

  // Exact on the dequantised weights (fp32 activations): the same check for both kernels.
  it.each([
    ['auto', 'dispatch', 1],
    ['fused', 'fused', undefined],
  ] as const)('int4, moeKernel %s (%s kernel): routing equals the reference on the dequantised weights within 1e-4, logits within the head\'s int8 activation rounding', async (moeKernel, kernel, accuracy) => {
    const s = await DecoderSession.load(tmp.dir, { precision: 'int4', moeKernel, cacheDir: cache.dir });
    // Every tiny architecture here has SiLU experts without biases on blocks of 16: auto takes the dispatch kernel at fp32 activations.
    expect(s.info.moeKernel?.name).toBe(kernel);
    expect(s.info.moeKernel?.expertAccuracy).toBe(accuracy);
    expect(s.info.precision?.cacheFile?.startsWith(cache.dir)).toBe(true);
    expect(s.info.precision?.denseCacheFile?.startsWith(cache.dir)).toBe(true);
    expect(s.info.precision?.denseQuantised).toBeGreaterThanOrEqual(4 * s.info.numLayers);
    writeDequantizedCopy(tmp.dir, refs[4].dir, 4, s.info.precision!.blockSize!);
    const ids = [seededIds(7, s.info.vocabSize, 12), seededIds(7, s.info.vocabSize, 13)];
    const got = await s.forward(ids);
    const ref = referenceForward(refs[4].dir, ids);
    expectRoutingMatchesReference(got, ref);
    // The unquantised checkpoint is much further away: the graph really runs the quantised weights.
    expect(relativeError(got.logits, referenceForward(tmp.dir, ids).logits.flat(2))).toBeGreaterThan(5 * relativeError(got.logits, ref.logits.flat(2)));
    await s.dispose();
  });

  it('int4, moeKernel dispatch (MatMulNBits experts with int8 activations): first router exact, >= 90% identical top-k sets', async () => {
    const s = await DecoderSession.load(tmp.dir, { precision: 'int4', moeKernel: 'dispatch', cacheDir: cache.dir });
    expect(s.info.moeKernel?.name).toBe('dispatch');
    expect(s.info.moeKernel?.expertAccuracy).toBe(4);
    writeDequantizedCopy(tmp.dir, refs[4].dir, 4, s.info.precision!.blockSize!);
    const ids = [seededIds(7, s.info.vocabSize, 12), seededIds(7, s.info.vocabSize, 13)];
    const got = await s.forward(ids);
    const ref = referenceForward(refs[4].dir, ids);
    expectTopKAgreement(got, ref, ids, 1e-4);
    await s.dispose();
  });

  it('int8: the first MoE layer\'s router logits within 3e-2 of the dequantised reference (int8 activations), >= 90% identical top-k sets', async () => {
    // accuracy_level 4 rounds every dense projection's input to int8 per block: no longer exact, and a perturbed
    // near-tie in one layer changes everything after it in these random models, so later layers are compared by
    // top-k agreement (the 8-bit layout itself is checked exactly below, at accuracy_level 1).
    const s = await DecoderSession.load(tmp.dir, { precision: 'int8', cacheDir: cache.dir });
    writeDequantizedCopy(tmp.dir, refs[8].dir, 8, s.info.precision!.blockSize!);
    const ids = [seededIds(7, s.info.vocabSize, 12), seededIds(7, s.info.vocabSize, 13)];
    expectTopKAgreement(await s.forward(ids), referenceForward(refs[8].dir, ids), ids, INT8_FIRST_ROUTER_TOL);
    await s.dispose();
  });
});

describe('MatMulNBits layout (quant-dense.ts) against a second implementation', () => {
  it.each([
    [8, 1, 1e-5],
    [4, 1, 1e-5],
    [8, 4, INT8_ACTIVATION_TOL],
    [4, 4, INT8_ACTIVATION_TOL],
  ] as const)('%i bits, accuracy_level %i: x W^T on the dequantised weights (K = 70: a padded last block)', async (bits, level, tol) => {
    const N = 12;
    const K = 70;
    const M = 3;
    let seed = 9;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 2;
    const w = Float32Array.from({ length: N * K }, rand);
    const x = Float32Array.from({ length: M * K }, rand);
    const q = quantizeForMatMulNBits(w, N, K, bits);
    const g = new OnnxGraph();
    const xi = g.input('x', DataType.FLOAT, [M, K]);
    const blocks = Math.ceil(K / 32);
    const B = g.initializer({ name: 'B', dataType: DataType.UINT8, dims: [N, blocks, (32 * bits) / 8], payload: { kind: 'raw', bytes: q.codes } });
    const S = g.initializer({ name: 'S', dataType: DataType.FLOAT, dims: [N * blocks], payload: { kind: 'raw', bytes: new Uint8Array(q.scales.buffer) } });
    g.output(g.op('MatMulNBits', [xi, B, S], { K, N, bits, block_size: 32, accuracy_level: level }, MS_DOMAIN), 'y', DataType.FLOAT, [M, N]);
    const session = await ort.InferenceSession.create(g.encode('t'), { graphOptimizationLevel: 'all', extra: { session: { disable_prepacking: '0' } } });
    const y = (await session.run({ x: new ort.Tensor('float32', x, [M, K]) })).y!.data as Float32Array;
    await session.release();
    const deq = w.slice();
    dequantizeMatrix(deq, K, bits, DENSE_BLOCK);
    const want = Array.from({ length: M * N }, (_, i) => {
      let acc = 0;
      for (let c = 0; c < K; c++) acc += x[Math.floor(i / N) * K + c]! * deq[(i % N) * K + c]!;
      return acc;
    });
    expect(relativeError(y, want)).toBeLessThan(tol);
    expect(relativeError(y, want)).toBeGreaterThanOrEqual(0);
  });
});

describe('cache writing is cancellable and leaves nothing half-written', () => {
  const tmp = tempDir('precision-cancel');
  const root = tempDir('precision-cancel-cache');
  afterAll(() => (tmp.cleanup(), root.cleanup()));

  it.each(['fp16', 'int8', 'int4'] as const)('%s: an aborted load writes no cache entry', async (precision) => {
    writeTinyModel(tmp.dir, 'qwen2_moe', { seed: 3 });
    const ac = new AbortController();
    ac.abort();
    await expect(DecoderSession.load(tmp.dir, { precision, cacheDir: root.dir, signal: ac.signal })).rejects.toThrow(/cache was cancelled/);
    const dir = join(root.dir, precision === 'fp16' ? 'fp16-experts' : `${precision}-experts`);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('a byte flip in the fp16 or int4 cache (size and mtime kept)', () => {
  const tmp = tempDir('precision-flip');
  const root = tempDir('precision-flip-cache');
  beforeAll(() => writeTinyModel(tmp.dir, 'olmoe', { seed: 5 }));
  afterAll(() => (tmp.cleanup(), root.cleanup()));

  type Seg = { offset: number; length: number };
  type FlipManifest = { data: { layers: ({ up: { segment: Seg } }[] | { fc1: Seg })[] } };

  it.each(['fp16', 'int4'] as const)('%s: is caught on the next load, announced, rebuilt once, and the output unchanged', async (precision) => {
    const a = await DecoderSession.load(tmp.dir, { precision, cacheDir: root.dir });
    const ids = [seededIds(5, a.info.vocabSize, 1)];
    const good = await a.forward(ids);
    const file = a.info.precision!.cacheFile!;
    const secondMoeLayer = a.info.moeLayers[1]!;
    await a.dispose();
    const pristine = readFileSync(file);
    // Inside the second MoE layer (expert 2's up_proj at fp16, the fc1 codes at int4): offsets from the manifest.
    const layer = (JSON.parse(readFileSync(file.replace(/\.bin$/, '.json'), 'utf8')) as FlipManifest).data.layers[1]!;
    const seg = Array.isArray(layer) ? layer[2]!.up.segment : layer.fc1;
    flipBytes(file, seg.offset + Math.floor(seg.length / 2), 8);
    expect(readFileSync(file).equals(pristine)).toBe(false);
    const notices: string[] = [];
    const b = await DecoderSession.load(tmp.dir, { precision, cacheDir: root.dir, onCacheNotice: (m) => notices.push(m) });
    const part = precision === 'fp16' ? 'expert 2 up_proj' : 'fc1 codes';
    // The touched file is announced as being checked, then its mismatch as one rebuild.
    expect(notices, notices.join('\n')).toHaveLength(2);
    expect(notices[0]).toMatch(new RegExp(`^${precision} expert cache .* changed on disk since it was last verified; checking its checksums`));
    expect(notices[1]).toMatch(new RegExp(`^${precision} expert cache .* does not match its checksum in decoder layer ${secondMoeLayer}'s ${part} .*; rebuilding it$`));
    expect(b.info.precision!.cacheFile).toBe(file);
    expect(readFileSync(file).equals(pristine)).toBe(true);
    expect(Array.from((await b.forward(ids)).logits)).toEqual(Array.from(good.logits));
    await b.dispose();
  });
  it('int8 dense cache: a flipped projection is caught, announced, rebuilt, and the output unchanged', async () => {
    const a = await DecoderSession.load(tmp.dir, { precision: 'int8', cacheDir: root.dir });
    const ids = [seededIds(5, a.info.vocabSize, 1)];
    const good = await a.forward(ids);
    const file = a.info.precision!.denseCacheFile!;
    await a.dispose();
    const pristine = readFileSync(file);
    const linears = (JSON.parse(readFileSync(file.replace(/\.bin$/, '.json'), 'utf8')) as { data: { linears: Record<string, { codes: Seg }> } }).data.linears;
    const key = Object.keys(linears).find((k) => k.startsWith('model.layers.1.self_attn.q_proj.weight@'))!;
    flipBytes(file, linears[key]!.codes.offset + 3, 4);
    const notices: string[] = [];
    const b = await DecoderSession.load(tmp.dir, { precision: 'int8', cacheDir: root.dir, onCacheNotice: (m) => notices.push(m) });
    expect(notices, notices.join('\n')).toHaveLength(2);
    expect(notices[1]).toMatch(/^int8 dense cache .* does not match its checksum in decoder layer 1's model\.layers\.1\.self_attn\.q_proj\.weight codes .*; rebuilding it$/);
    expect(readFileSync(file).equals(pristine)).toBe(true);
    expect(Array.from((await b.forward(ids)).logits)).toEqual(Array.from(good.logits));
    await b.dispose();
  });
});
