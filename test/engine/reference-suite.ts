/**
 * The ONNX graph against the independent Float64 reference forward pass (test/support/reference-forward.ts)
 * for every supported architecture: logits, raw router logits, selected experts and weights, with and
 * without steering, with left padding, for per-expert and stacked expert tensors and for BF16 weights.
 * Shared by graph-reference.test.ts (dispatch kernel) and graph-fused-reference.test.ts (fused kernel).
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MoeKernelName } from '../../src/engine/graph-builder.js';
import { DecoderSession, type ForwardResult } from '../../src/engine/session.js';
import { WeightStore } from '../../src/engine/safetensors.js';
import { writeSafetensors, type TensorToWrite } from '../../src/engine/safetensors-writer.js';
import type { SteeringTensors } from '../../src/engine/steering-plan.js';
import { referenceForward, type ReferenceResult } from '../support/reference-forward.js';
import { writeTinyModel, TINY_ARCHS, type TinyArch } from '../support/tiny-models.js';
import { editedSteering, relativeError, row, seededIds, tempDir } from './graph-helpers.js';

const TOL = 1e-4;

/** Asserts graph == reference on every real (mask 1) position. */
export function expectMatchesReference(got: ForwardResult, ref: ReferenceResult, mask?: number[][]): void {
  const { batch: B, seq: T, vocabSize: V } = got;
  let compared = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      if (mask && mask[b]![mask[b]!.length - T + t] === 0) continue;
      const r = b * T + t;
      expect(relativeError(row(got.logits, r, V), ref.logits[b]![t]!), `logits b${b} t${t}`).toBeLessThan(TOL);
      got.routing!.forEach((layer, i) => {
        const E = ref.routerLogits[i]![b]![t]!.length;
        const k = ref.experts[i]![b]![t]!.length;
        expect(relativeError(row(layer.routerLogits, r, E), ref.routerLogits[i]![b]![t]!), `router logits L${i} b${b} t${t}`).toBeLessThan(TOL);
        expect(row(layer.experts, r, k), `experts L${i} b${b} t${t}`).toEqual(ref.experts[i]![b]![t]!);
        expect(relativeError(row(layer.weights, r, k), ref.weights[i]![b]![t]!), `weights L${i} b${b} t${t}`).toBeLessThan(TOL);
      });
      compared++;
    }
  }
  expect(compared).toBeGreaterThan(0);
}

/** Logits within `tol` (relative, per row) of the reference, and every token's top-k expert set identical. */
export function expectCloseWithSameExperts(got: ForwardResult, ref: ReferenceResult, ids: number[][], tol: number): void {
  const T = ids[0]!.length;
  for (let b = 0; b < ids.length; b++) {
    for (let t = 0; t < T; t++) {
      const r = b * T + t;
      expect(relativeError(row(got.logits, r, got.vocabSize), ref.logits[b]![t]!)).toBeLessThan(tol);
      got.routing!.forEach((layer, i) => {
        const k = ref.experts[i]![b]![t]!.length;
        expect(new Set(row(layer.experts, r, k))).toEqual(new Set(ref.experts[i]![b]![t]!));
      });
    }
  }
}

/**
 * int8/int4 run the lm_head as an 8-bit MatMulNBits with int8 activations (accuracy_level 4): each block of 32 input
 * values is rounded to int8, so the logits carry up to ~1/254 relative rounding on top of the quantised weights.
 */
export const INT8_ACTIVATION_TOL = 1e-2;
/** The first router at int8 sees the output of 4-6 dense projections whose inputs were each rounded that way. */
export const INT8_FIRST_ROUTER_TOL = 3e-2;

/**
 * int4 (QMoE experts, dense projections at accuracy_level 1: exact on the dequantised weights): router logits,
 * experts and weights equal the reference within 1e-4, since routing never passes through the head; the logits do,
 * so they are within INT8_ACTIVATION_TOL. Returns the logits' relative error.
 */
export function expectRoutingMatchesReference(got: ForwardResult, ref: ReferenceResult): number {
  const wantLogits = ref.logits.flat(2);
  expectMatchesReference({ ...got, logits: new Float32Array(wantLogits) }, ref);
  const err = relativeError(got.logits, wantLogits);
  expect(err).toBeLessThan(INT8_ACTIVATION_TOL);
  return err;
}

/**
 * int8 (every dense projection's input rounded to int8 per block) and int4 on the dispatch kernel: the first MoE
 * layer's router logits within `firstTol` of the reference; a perturbed near-tie in one layer changes everything
 * after it in these random models, so all layers are compared by >= 90% identical top-k sets.
 */
export function expectTopKAgreement(got: ForwardResult, ref: ReferenceResult, ids: number[][], firstTol: number): void {
  const T = ids[0]!.length;
  let same = 0;
  let total = 0;
  got.routing!.forEach((layer, i) => {
    for (let b = 0; b < ids.length; b++) {
      for (let t = 0; t < T; t++) {
        const E = ref.routerLogits[i]![b]![t]!.length;
        if (i === 0) expect(relativeError(row(layer.routerLogits, b * T + t, E), ref.routerLogits[0]![b]![t]!)).toBeLessThan(firstTol);
        const k = ref.experts[i]![b]![t]!.length;
        const want = new Set(ref.experts[i]![b]![t]!);
        total++;
        if (row(layer.experts, b * T + t, k).every((e) => want.has(e))) same++;
      }
    }
  });
  expect(same / total).toBeGreaterThanOrEqual(0.9);
}

function allExperts(got: ForwardResult): number[][] {
  return got.routing!.map((l) => Array.from(l.experts));
}

/** Registers the reference comparisons for one MoE kernel; expert caches go to a temp folder. */
export function referenceSuite(kernel: MoeKernelName): void {
  const cache = tempDir(`cache-${kernel}`);
  afterAll(() => cache.cleanup());
  const opts = () => ({ moeKernel: kernel, cacheDir: cache.dir });

  describe.each(TINY_ARCHS)(`graph vs reference, ${kernel} kernel (%s)`, (arch: TinyArch) => {
    const tmp = tempDir(`ref-${arch}`);
    let session: DecoderSession;
    let ids: number[][];
    const steering = (edit: (t: SteeringTensors, E: number) => void) => editedSteering(session.info, edit);

    beforeAll(async () => {
      writeTinyModel(tmp.dir, arch, { seed: 11 });
      session = await DecoderSession.load(tmp.dir, opts());
      expect(session.info.moeKernel?.name).toBe(kernel);
      ids = [seededIds(8, session.info.vocabSize, 3), seededIds(8, session.info.vocabSize, 4)];
    });
    afterAll(async () => {
      await session?.dispose();
      tmp.cleanup();
    });

    it('matches logits, router logits, experts and weights without steering', async () => {
      expectMatchesReference(await session.forward(ids), referenceForward(tmp.dir, ids));
    });

    const cases: [string, (t: SteeringTensors, E: number) => void][] = [
      ['bias', (t, E) => t.perMoeLayer.forEach((l) => ((l.bias[E - 1] = 2.5), (l.bias[0] = -1)))],
      ['scale', (t) => t.perMoeLayer.forEach((l) => ((l.scale[1] = 1.5), (l.scale[2] = -0.5)))],
      ['std', (t) => t.perMoeLayer.forEach((l) => (l.std[2] = 2))],
      ['force', (t, E) => t.perMoeLayer.forEach((l) => ((l.force[E - 2] = 0.5), (l.force[1] = -0.5)))],
      ['mask', (t) => t.perMoeLayer.forEach((l) => ((l.mask[0] = 1), (l.mask[3] = 1)))],
    ];
    it.each(cases)('matches the reference with %s steering', async (_name, edit) => {
      const s = steering(edit);
      expectMatchesReference(await session.forward(ids, { steering: s }), referenceForward(tmp.dir, ids, { steering: s }));
    });

    it('applies the steering rule to the selected experts exactly', async () => {
      const E = session.info.numExperts;
      const k = session.info.topK;
      const neutral = await session.forward(ids);
      // force > 0: the forced expert beats every unforced one, so it is first everywhere.
      const forced = await session.forward(ids, { steering: steering((t) => t.perMoeLayer.forEach((l) => (l.force[E - 1] = 0.25))) });
      for (const layer of allExperts(forced)) for (let r = 0; r < layer.length / k; r++) expect(layer[r * k]).toBe(E - 1);
      // force < 0 and mask: the expert is never selected.
      const pushedDown = await session.forward(ids, { steering: steering((t) => t.perMoeLayer.forEach((l) => (l.force[0] = -0.1))) });
      for (const layer of allExperts(pushedDown)) expect(layer).not.toContain(0);
      const masked = await session.forward(ids, { steering: steering((t) => t.perMoeLayer.forEach((l) => ((l.mask[1] = 1), (l.mask[2] = 1)))) });
      for (const layer of allExperts(masked)) {
        expect(layer).not.toContain(1);
        expect(layer).not.toContain(2);
      }
      // Raw router logits are reported before steering: the first MoE layer's (upstream of any steering) are
      // identical across all of these runs, while later layers see hidden states changed by earlier steering.
      for (const run of [forced, pushedDown, masked]) {
        expect(Array.from(run.routing![0]!.routerLogits)).toEqual(Array.from(neutral.routing![0]!.routerLogits));
      }
      // A large bias on one expert makes it selected for every token.
      const biased = await session.forward(ids, { steering: steering((t) => t.perMoeLayer.forEach((l) => (l.bias[2] = 100))) });
      for (const layer of allExperts(biased)) for (let r = 0; r < layer.length / k; r++) expect(layer[r * k]).toBe(2);
    });

    it('left padding does not change the unpadded rows', async () => {
      const short = ids[0]!.slice(0, 5);
      const alone = await session.forward([short]);
      const mask = [[0, 0, 0, 1, 1, 1, 1, 1], Array(8).fill(1)];
      const padded = await session.forward([[0, 0, 0, ...short], ids[1]!], { attentionMask: mask });
      const V = session.info.vocabSize;
      const k = session.info.topK;
      for (let t = 0; t < 5; t++) {
        expect(relativeError(row(padded.logits, 3 + t, V), row(alone.logits, t, V))).toBeLessThan(TOL);
        padded.routing!.forEach((l, i) => expect(row(l.experts, 3 + t, k)).toEqual(row(alone.routing![i]!.experts, t, k)));
      }
      expectMatchesReference(padded, referenceForward(tmp.dir, [[0, 0, 0, ...short], ids[1]!], { attentionMask: mask, positionIds: [[1, 1, 1, 0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5, 6, 7]] }), mask);
    });
  });

  describe(`weight layouts and dtypes, ${kernel} kernel`, () => {
    const tmp = tempDir('layouts');
    afterAll(() => tmp.cleanup());

    /** Rewrites a per-expert checkpoint with the same numbers as stacked [E, 2I, H] / [E, H, I] tensors. */
    function restack(src: string, dst: string, arch: TinyArch): void {
      const store = WeightStore.fromFolder(src);
      const config = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8'));
      const out: Record<string, TensorToWrite> = {};
      const experts = new Map<string, Map<number, Record<string, Float32Array>>>();
      const rename: Record<string, string> = { w1: 'gate', w3: 'up', w2: 'down', gate_proj: 'gate', up_proj: 'up', down_proj: 'down' };
      for (const name of store.names()) {
        const m = /^(model\.layers\.\d+)\.(mlp|block_sparse_moe)\.experts\.(\d+)\.(\w+)\.weight$/.exec(name);
        if (m) {
          const key = m[1]!;
          if (!experts.has(key)) experts.set(key, new Map());
          const byExpert = experts.get(key)!;
          const e = Number(m[3]);
          byExpert.set(e, { ...(byExpert.get(e) ?? {}), [rename[m[4]!]!]: store.readFloat32(name) });
          continue;
        }
        const info = store.info(name);
        const moved = arch === 'mixtral' ? name.replace('.block_sparse_moe.gate.', '.mlp.gate.') : name;
        out[moved] = { dtype: 'F32', shape: info.shape, data: store.readFloat32(name) };
      }
      for (const [layer, byExpert] of experts) {
        const E = byExpert.size;
        const gate0 = byExpert.get(0)!.gate!;
        const I = config.moe_intermediate_size ?? config.intermediate_size;
        const H = gate0.length / I;
        const gateUp = new Float32Array(E * 2 * I * H);
        const down = new Float32Array(E * H * I);
        for (let e = 0; e < E; e++) {
          const w = byExpert.get(e)!;
          gateUp.set(w.gate!, e * 2 * I * H);
          gateUp.set(w.up!, e * 2 * I * H + I * H);
          down.set(w.down!, e * H * I);
        }
        out[`${layer}.mlp.experts.gate_up_proj`] = { dtype: 'F32', shape: [E, 2 * I, H], data: gateUp };
        out[`${layer}.mlp.experts.down_proj`] = { dtype: 'F32', shape: [E, H, I], data: down };
      }
      writeSafetensors(join(dst, 'model.safetensors'), out);
      copyFileSync(join(src, 'config.json'), join(dst, 'config.json'));
    }

    // Granite is always stacked; Phi-3.5-MoE's checkpoints (and its adapter) use per-expert tensors only.
    it.each(TINY_ARCHS.filter((a) => a !== 'granitemoe' && a !== 'phimoe'))('stacked experts give the same outputs as per-expert tensors (%s)', async (arch) => {
      const perExpert = join(tmp.dir, `${arch}-per-expert`);
      const stacked = join(tmp.dir, `${arch}-stacked`);
      writeTinyModel(perExpert, arch, { seed: 5, withoutTokenizer: true });
      writeTinyModel(stacked, arch, { seed: 5, withoutTokenizer: true }); // creates the folder; weights replaced below
      restack(perExpert, stacked, arch);
      const a = await DecoderSession.load(perExpert, opts());
      const b = await DecoderSession.load(stacked, opts());
      const ids = [seededIds(6, a.info.vocabSize, 9)];
      const ra = await a.forward(ids);
      const rb = await b.forward(ids);
      expect(relativeError(rb.logits, ra.logits)).toBeLessThan(1e-6);
      ra.routing!.forEach((l, i) => expect(Array.from(rb.routing![i]!.experts)).toEqual(Array.from(l.experts)));
      expectMatchesReference(rb, referenceForward(stacked, ids));
      await a.dispose();
      await b.dispose();
    });

    it.each(['qwen3_moe', 'mixtral'] as const)('fused-layout checkpoint written by the tiny-model writer matches the reference (%s)', async (arch) => {
      const dir = join(tmp.dir, `${arch}-fused`);
      writeTinyModel(dir, arch, { seed: 6, fusedExperts: true, withoutTokenizer: true });
      const s = await DecoderSession.load(dir, opts());
      const ids = [seededIds(7, s.info.vocabSize, 2)];
      expectMatchesReference(await s.forward(ids), referenceForward(dir, ids));
      await s.dispose();
    });

    it.each([
      ['qwen2_moe', 'BF16', 1],
      ['olmoe', 'F16', 1],
      ['granitemoe', 'BF16', 3],
    ] as const)('%s with %s weights in %i shard(s) matches the reference', async (arch, dtype, shards) => {
      const dir = join(tmp.dir, `${arch}-${dtype}-${shards}`);
      writeTinyModel(dir, arch, { seed: 8, dtype, shards, withoutTokenizer: true });
      const s = await DecoderSession.load(dir, opts());
      const ids = [seededIds(7, s.info.vocabSize, 5)];
      expectMatchesReference(await s.forward(ids), referenceForward(dir, ids));
      await s.dispose();
    });
  });
}
