import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeSafetensors, type TensorToWrite } from '../../src/engine/safetensors-writer.js';
import { neutralSteering, resolvePlan, type SteeringTensors } from '../../src/engine/steering-plan.js';
import { referenceForward } from '../support/reference-forward.js';
import { TINY_ARCHS, writeTinyModel, type TinyModelInfo } from '../support/tiny-models.js';

const root = mkdtempSync(join(tmpdir(), 'rs-ref-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const EPS = 1e-6;
const silu = (v: number) => v / (1 + Math.exp(-v));
const t = (shape: number[], values: number[]): TensorToWrite => ({ dtype: 'F32', shape, data: new Float32Array(values) });
const eye4 = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
const zeros = (n: number) => new Array<number>(n).fill(0);

/** A one-layer, H = 4, single-head model whose every matrix is chosen so outputs have closed forms. */
function handModel(name: string, family: 'mixtral' | 'olmoe', parts: { o: number[]; downs: number[][]; embed: number[]; theta?: number }): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const moe = family === 'mixtral' ? 'model.layers.0.block_sparse_moe.' : 'model.layers.0.mlp.';
  const [g, u, d] = family === 'mixtral' ? ['w1', 'w3', 'w2'] : ['gate_proj', 'up_proj', 'down_proj'];
  const tensors: Record<string, TensorToWrite> = {
    'model.embed_tokens.weight': t([4, 4], parts.embed),
    'model.layers.0.input_layernorm.weight': t([4], [1, 1, 1, 1]),
    'model.layers.0.post_attention_layernorm.weight': t([4], [1, 1, 1, 1]),
    'model.layers.0.self_attn.q_proj.weight': t([4, 4], eye4),
    'model.layers.0.self_attn.k_proj.weight': t([4, 4], eye4),
    'model.layers.0.self_attn.v_proj.weight': t([4, 4], eye4),
    'model.layers.0.self_attn.o_proj.weight': t([4, 4], parts.o),
    [`${moe}gate.weight`]: t([3, 4], [1, 0, 0, 0, 0.5, 0, 0, 0, 0, 0, 0, 0]),
  };
  if (family === 'olmoe') {
    tensors['model.layers.0.self_attn.q_norm.weight'] = t([4], [1, 1, 1, 1]);
    tensors['model.layers.0.self_attn.k_norm.weight'] = t([4], [1, 1, 1, 1]);
  }
  const ups = [[0.5, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]];
  for (let e = 0; e < 3; e++) {
    tensors[`${moe}experts.${e}.${g}.weight`] = t([1, 4], [1, 0, 0, 0]);
    tensors[`${moe}experts.${e}.${u}.weight`] = t([1, 4], ups[e]!);
    tensors[`${moe}experts.${e}.${d}.weight`] = t([4, 1], parts.downs[e]!);
  }
  tensors['model.norm.weight'] = t([4], [1, 1, 1, 1]);
  tensors['lm_head.weight'] = t([4, 4], eye4);
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  const config: Record<string, unknown> = {
    architectures: [family === 'mixtral' ? 'MixtralForCausalLM' : 'OlmoeForCausalLM'],
    model_type: family,
    vocab_size: 4,
    hidden_size: 4,
    intermediate_size: 1,
    num_hidden_layers: 1,
    num_attention_heads: 1,
    num_key_value_heads: 1,
    num_experts_per_tok: 2,
    hidden_act: 'silu',
    rms_norm_eps: EPS,
    rope_theta: parts.theta ?? 10000,
    tie_word_embeddings: false,
  };
  if (family === 'mixtral') config.num_local_experts = 3;
  else Object.assign(config, { num_experts: 3, norm_topk_prob: false, clip_qkv: null });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

const unitDowns = [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
const normalise = (h: number[]) => {
  const inv = 1 / Math.sqrt(h.reduce((a, b) => a + b * b, 0) / h.length + EPS);
  return h.map((v) => v * inv);
};

function steeringFor(E: number, moeLayers: number[], edit: (l: SteeringTensors['perMoeLayer'][number], slot: number) => void): SteeringTensors {
  const s = neutralSteering({ numLayers: Math.max(...moeLayers) + 1, numExperts: E, moeLayers });
  s.perMoeLayer.forEach(edit);
  return s;
}

describe('reference forward against hand computation', () => {
  // Token 0 embeds to [2, 0, 0, 0]; attention output is zeroed (o_proj = 0), so only the MoE acts.
  const embed = [2, 0, 0, 0, ...eye4.slice(4)];
  const n = 1 / Math.sqrt(1 + EPS); // RMSNorm of [2, 0, 0, 0]
  const s = silu(2 * n);

  it('mixtral: softmax, top-2, renormalised', () => {
    const dir = handModel('hand-mixtral', 'mixtral', { o: zeros(16), downs: unitDowns, embed });
    const r = referenceForward(dir, [[0]]);
    expect(r.routerLogits[0]![0]![0]).toEqual([2 * n, n, 0].map((v) => expect.closeTo(v, 12)));
    expect(r.experts[0]![0]![0]).toEqual([0, 1]);
    const w0 = Math.exp(2 * n) / (Math.exp(2 * n) + Math.exp(n));
    expect(r.weights[0]![0]![0]![0]).toBeCloseTo(w0, 12);
    expect(r.weights[0]![0]![0]![1]).toBeCloseTo(1 - w0, 12);
    // expert 0: silu(2n) * (0.5 * 2n) into dim 1; expert 1: silu(2n) * 2n into dim 2.
    const want = normalise([2, w0 * s * n, (1 - w0) * s * 2 * n, 0]);
    r.logits[0]![0]!.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 12));
  });

  it('olmoe: softmax, top-2, not renormalised', () => {
    const dir = handModel('hand-olmoe', 'olmoe', { o: zeros(16), downs: unitDowns, embed });
    const r = referenceForward(dir, [[0]]);
    const Z = Math.exp(2 * n) + Math.exp(n) + 1;
    const [w0, w1] = [Math.exp(2 * n) / Z, Math.exp(n) / Z];
    expect(r.weights[0]![0]![0]).toEqual([expect.closeTo(w0, 12), expect.closeTo(w1, 12)]);
    const want = normalise([2, w0 * s * n, w1 * s * 2 * n, 0]);
    r.logits[0]![0]!.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 12));
  });

  it('force > 0 puts an expert on top; mask removes one; raw logits are reported unsteered', () => {
    const dir = handModel('hand-mixtral-steer', 'mixtral', { o: zeros(16), downs: unitDowns, embed });
    const forced = referenceForward(dir, [[0]], { steering: steeringFor(3, [0], (l) => (l.force[2] = 1)) });
    expect(forced.routerLogits[0]![0]![0]).toEqual([2 * n, n, 0].map((v) => expect.closeTo(v, 12)));
    expect(forced.experts[0]![0]![0]).toEqual([2, 0]);
    // z3 = [2n, n, 2n + 1]: renormalised over {2, 0} the weights are sigmoid(1) and 1 - sigmoid(1).
    const w2 = 1 / (1 + Math.exp(-1));
    expect(forced.weights[0]![0]![0]![0]).toBeCloseTo(w2, 12);
    const want = normalise([2, (1 - w2) * s * n, 0, w2 * s * 2 * n]);
    forced.logits[0]![0]!.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 12));

    const masked = referenceForward(dir, [[0]], { steering: steeringFor(3, [0], (l) => (l.mask[0] = 1)) });
    expect(masked.experts[0]![0]![0]).toEqual([1, 2]);
    // z3 = [-1e9, n, 0]: weight of expert 1 is e^n / (e^n + 1).
    expect(masked.weights[0]![0]![0]![0]).toBeCloseTo(Math.exp(n) / (Math.exp(n) + 1), 12);
  });

  it('bias, scale and std follow z + bias + scale*|z| + std*stddev(z)', () => {
    const dir = handModel('hand-mixtral-soft', 'mixtral', { o: zeros(16), downs: unitDowns, embed });
    // z = [2n, n, 0], population std = n * sqrt(2/3).
    const sd = n * Math.sqrt(2 / 3);
    const steer = steeringFor(3, [0], (l) => {
      l.bias[2] = 0.25;
      l.scale[1] = 0.5;
      l.std[2] = 2;
    });
    const r = referenceForward(dir, [[0]], { steering: steer });
    const z3 = [2 * n, n + 0.5 * n, 0.25 + 2 * sd];
    const order = [0, 1, 2].sort((a, b) => z3[b]! - z3[a]!);
    expect(r.experts[0]![0]![0]).toEqual(order.slice(0, 2));
    const [a, b] = order;
    expect(r.weights[0]![0]![0]![0]).toBeCloseTo(Math.exp(z3[a!]!) / (Math.exp(z3[a!]!) + Math.exp(z3[b!]!)), 12);
  });

  it('attention with rotate-half RoPE over two tokens', () => {
    // Experts write nothing (down = 0) and o_proj = I, so logits = norm(e_t + attention_t).
    const theta = 100;
    const embedRows = [1, 2, 0, -1, 0.5, -1, 2, 1, ...zeros(8)];
    const dir = handModel('hand-rope', 'mixtral', { o: eye4, downs: [zeros(4), zeros(4), zeros(4)], embed: embedRows, theta });
    const r = referenceForward(dir, [[0, 1]]);
    const e0 = embedRows.slice(0, 4);
    const e1 = embedRows.slice(4, 8);
    const x0 = normalise(e0);
    const x1 = normalise(e1);
    // Pairs (0, 2) rotate with frequency 1, pairs (1, 3) with theta^(-2/4) = 0.1.
    const rot = ([a, b, c, d]: number[], p: number) => [
      a! * Math.cos(p) - c! * Math.sin(p),
      b! * Math.cos(0.1 * p) - d! * Math.sin(0.1 * p),
      c! * Math.cos(p) + a! * Math.sin(p),
      d! * Math.cos(0.1 * p) + b! * Math.sin(0.1 * p),
    ];
    const dot = (p: number[], q: number[]) => p.reduce((acc, v, i) => acc + v * q[i]!, 0);
    const q1 = rot(x1, 1);
    const s0 = dot(q1, x0) / 2; // key 0 sits at position 0 (no rotation); scale 1/sqrt(4)
    const s1 = dot(x1, x1) / 2; // rotation preserves the norm
    const a0 = Math.exp(s0) / (Math.exp(s0) + Math.exp(s1));
    const attn1 = x0.map((v, i) => a0 * v + (1 - a0) * x1[i]!);
    const want1 = normalise(e1.map((v, i) => v + attn1[i]!));
    const want0 = normalise(e0.map((v, i) => v + x0[i]!));
    r.logits[0]![0]!.forEach((v, i) => expect(v).toBeCloseTo(want0[i]!, 12));
    r.logits[0]![1]!.forEach((v, i) => expect(v).toBeCloseTo(want1[i]!, 12));
  });
});

describe('reference forward properties on the tiny models', () => {
  const models = new Map<string, TinyModelInfo>();
  const model = (arch: (typeof TINY_ARCHS)[number]) => {
    let m = models.get(arch);
    if (!m) {
      m = writeTinyModel(join(root, `tiny-${arch}`), arch, { seed: 42 });
      models.set(arch, m);
    }
    return m;
  };
  const seq = [17, 240, 99, 5, 180, 64];
  const close = (a: number[], b: number[], digits = 9) => a.forEach((v, i) => expect(v).toBeCloseTo(b[i]!, digits));

  for (const arch of TINY_ARCHS) {
    it(`${arch}: causal, left-padding and batch invariant`, () => {
      const m = model(arch);
      const full = referenceForward(m.dir, [seq]);
      const prefix = referenceForward(m.dir, [seq.slice(0, 3)]);
      for (let t = 0; t < 3; t++) close(prefix.logits[0]![t]!, full.logits[0]![t]!);
      // Batch of the full sequence and a left-padded shorter one.
      const pad = 0;
      const short = seq.slice(2);
      const batch = referenceForward(m.dir, [seq, [pad, pad, ...short]], { attentionMask: [[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]] });
      const alone = referenceForward(m.dir, [short]);
      for (let t = 0; t < short.length; t++) {
        close(batch.logits[1]![t + 2]!, alone.logits[0]![t]!);
        for (let l = 0; l < m.moeLayers.length; l++) {
          expect(batch.experts[l]![1]![t + 2]).toEqual(alone.experts[l]![0]![t]);
        }
      }
      for (let t = 0; t < seq.length; t++) close(batch.logits[0]![t]!, full.logits[0]![t]!);
    });

    it(`${arch}: RoPE depends only on relative positions`, () => {
      const m = model(arch);
      const base = referenceForward(m.dir, [seq]);
      const shifted = referenceForward(m.dir, [seq], { positionIds: [seq.map((_, i) => i + 7)] });
      for (let t = 0; t < seq.length; t++) close(shifted.logits[0]![t]!, base.logits[0]![t]!, 8);
      // ...and they do matter: scrambled positions change the output.
      const scrambled = referenceForward(m.dir, [seq], { positionIds: [[0, 3, 1, 5, 2, 4]] });
      expect(Math.abs(scrambled.logits[0]![5]![0]! - base.logits[0]![5]![0]!)).toBeGreaterThan(1e-6);
    });

    it(`${arch}: routing weights follow the architecture's rule`, () => {
      const m = model(arch);
      const r = referenceForward(m.dir, [seq]);
      const renorm = arch === 'qwen3_moe' || arch === 'mixtral' || arch === 'granitemoe';
      for (let l = 0; l < m.moeLayers.length; l++) {
        for (let t = 0; t < seq.length; t++) {
          const z = r.routerLogits[l]![0]![t]!;
          const ex = r.experts[l]![0]![t]!;
          const w = r.weights[l]![0]![t]!;
          expect(ex.length).toBe(m.topK);
          // Selected = the k largest raw logits (no steering).
          const sorted = [...z].sort((a, b) => b - a);
          ex.forEach((e, i) => expect(z[e]).toBe(sorted[i]));
          const Z = z.reduce((a, v) => a + Math.exp(v), 0);
          const Zk = ex.reduce((a, e) => a + Math.exp(z[e]!), 0);
          ex.forEach((e, i) => expect(w[i]).toBeCloseTo(Math.exp(z[e]!) / (renorm ? Zk : Z), 12));
          const sum = w.reduce((a, b) => a + b, 0);
          if (renorm) expect(sum).toBeCloseTo(1, 12);
          else expect(sum).toBeLessThan(1);
        }
      }
    });

    it(`${arch}: masked experts are never used, forced ones always`, () => {
      const m = model(arch);
      const E = m.numExperts;
      const steer = steeringFor(E, m.moeLayers, (l) => {
        l.mask[1] = 1;
        l.force[E - 1] = 0.5;
        l.force[0] = -3;
        l.bias[2] = 0.1;
      });
      const r = referenceForward(m.dir, [seq], { steering: steer });
      const plain = referenceForward(m.dir, [seq]);
      for (let l = 0; l < m.moeLayers.length; l++) {
        for (let t = 0; t < seq.length; t++) {
          const ex = r.experts[l]![0]![t]!;
          expect(ex).not.toContain(1);
          expect(ex).not.toContain(0);
          expect(ex[0]).toBe(E - 1);
          // Raw logits are reported before steering (later layers differ because earlier steering changed their input).
          if (l === 0) expect(r.routerLogits[0]![0]![t]).toEqual(plain.routerLogits[0]![0]![t]);
        }
      }
    });
  }

  it('a reference steering plan raises logits by lambda * s * |z| on its layer only', () => {
    const m = model('qwen3_moe');
    const plan = { lambda: 0.5, steer_dict: { '2': { '3': 1, '5': 0.4 } } };
    const steering = resolvePlan(plan, { numLayers: m.numLayers, numExperts: m.numExperts, moeLayers: m.moeLayers, topK: m.topK });
    const r = referenceForward(m.dir, [seq], { steering });
    const slot = m.moeLayers.indexOf(2);
    for (let t = 0; t < seq.length; t++) {
      const z = r.routerLogits[slot]![0]![t]!;
      const z3 = r.steeredLogits[slot]![0]![t]!;
      z.forEach((v, e) => {
        const s = e === 3 ? 0.5 : e === 5 ? 0.2 : 0;
        expect(z3[e]).toBeCloseTo(v + Math.fround(s) * Math.abs(v), 12);
      });
      // Layer 0 (before the steered layer) is untouched.
      expect(r.steeredLogits[0]![0]![t]).toEqual(r.routerLogits[0]![0]![t]);
    }
  });

  it('granitemoe multipliers matter (embedding, residual, logits scaling)', () => {
    const m = model('granitemoe');
    const other = writeTinyModel(join(root, 'granite-unscaled'), 'granitemoe', {
      seed: 42,
      configOverrides: { embedding_multiplier: 1, residual_multiplier: 1, logits_scaling: 1, attention_multiplier: 0.25 },
    });
    const a = referenceForward(m.dir, [seq]).logits[0]![5]!;
    const b = referenceForward(other.dir, [seq]).logits[0]![5]!;
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]!)))).toBeGreaterThan(1e-3);
  });
});
