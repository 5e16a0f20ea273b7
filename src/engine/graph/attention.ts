/**
 * Attention: the additive bias (causal, left padding, sliding window), grouped-query attention with an optional
 * per-head q/k norm, q/k/v clipping and GPT-OSS's sinks, and the choice between it and MLA (mla.ts) per layer.
 */
import type { AttentionSpec, MlaSpec, TensorSlice } from '../architectures/types.js';
import { DataType } from '../onnx/model.js';
import type { GraphContext } from './context.js';
import { linear } from './dense.js';
import { mlaAttention } from './mla.js';
import { GraphNames } from './names.js';
import { rmsNorm } from './norms.js';
import { applyRope, type RopeTables } from './rope.js';

/** Additive attention bias for disallowed keys; finite so fully padded rows stay NaN-free. */
const MASKED_SCORE = -1e9;

/**
 * Attention bias [B, 1, 1, T, S] per attention window: query t sits at cache index past + t; key j is visible when
 * j <= past + t (causal), attention_mask[b, j] = 1 (left padding), and within the sliding window. The returned
 * function makes one bias per distinct window, on first use (GPT-OSS alternates sliding and full layers).
 */
export function attentionBiases(ctx: GraphContext, mask: string): (window: number | null) => string {
  const g = ctx.g;
  const total = g.op('Gather', [g.op('Shape', [mask]), g.scalarI(1)], { axis: 0 });
  const seq = g.op('Gather', [ctx.shapeBT, g.scalarI(1)], { axis: 0 });
  const keyIdx = g.unsqueeze(g.op('Range', [g.scalarI(0), total, g.scalarI(1)]), [0]);
  const queryIdx = g.unsqueeze(g.add(g.op('Range', [g.scalarI(0), seq, g.scalarI(1)]), g.sub(total, seq)), [1]);
  const causal = g.op('LessOrEqual', [keyIdx, queryIdx]);
  const notPadding = g.unsqueeze(g.cast(mask, DataType.BOOL), [1]);
  const biases = new Map<number | null, string>();
  return (window) => {
    const hit = biases.get(window);
    if (hit) return hit;
    let visible = causal;
    if (window !== null) visible = g.op('And', [visible, g.op('Greater', [keyIdx, g.sub(queryIdx, g.scalarI(window))])]);
    const allowed = g.op('And', [g.unsqueeze(visible, [0]), notPadding]);
    const b = g.unsqueeze(g.where(allowed, g.scalarF(0), g.scalarF(MASKED_SCORE)), [1, 2]);
    biases.set(window, b);
    return b;
  };
}

/** One layer's attention output [N, hidden]; `bias` is the layer's window's attentionBiases entry. */
export function attentionBlock(ctx: GraphContext, layer: number, a: AttentionSpec | MlaSpec, x: string, rope: RopeTables, bias: string): string {
  return a.kind === 'mla' ? mlaAttention(ctx, layer, a, x, rope, bias) : groupedQueryAttention(ctx, layer, a, x, rope, bias);
}

/** [N, heads*D] -> [B, heads, T, D]. */
function toHeads(ctx: GraphContext, x: string, heads: number): string {
  const g = ctx.g;
  const shape = g.concat([ctx.shapeBT, g.int64([heads, ctx.spec.headDim])], 0);
  return g.reshape(x, shape);
}

function groupedQueryAttention(ctx: GraphContext, layer: number, a: AttentionSpec, x: string, rope: RopeTables, bias: string): string {
  const g = ctx.g;
  const s = ctx.spec;
  let q = linear(ctx, x, a.q);
  let k = linear(ctx, x, a.k);
  let v = linear(ctx, x, a.v);
  if (a.qkNorm?.kind === 'full') {
    q = rmsNorm(ctx, q, a.qkNorm.q);
    k = rmsNorm(ctx, k, a.qkNorm.k);
  }
  if (s.clipQkv !== null) {
    const lo = g.scalarF(-s.clipQkv);
    const hi = g.scalarF(s.clipQkv);
    q = g.op('Clip', [q, lo, hi]);
    k = g.op('Clip', [k, lo, hi]);
    v = g.op('Clip', [v, lo, hi]);
  }
  let q4 = toHeads(ctx, q, s.numHeads);
  let k4 = toHeads(ctx, k, s.numKvHeads);
  if (a.qkNorm?.kind === 'per_head') {
    q4 = rmsNorm(ctx, q4, a.qkNorm.q);
    k4 = rmsNorm(ctx, k4, a.qkNorm.k);
  }
  q4 = applyRope(ctx, g.transpose(q4, [0, 2, 1, 3]), rope);
  k4 = applyRope(ctx, g.transpose(k4, [0, 2, 1, 3]), rope);
  const v4 = g.transpose(toHeads(ctx, v, s.numKvHeads), [0, 2, 1, 3]);

  const kvShape = ['batch', s.numKvHeads, 'total_sequence', s.headDim];
  const pastK = g.input(GraphNames.pastKey(layer), DataType.FLOAT, ['batch', s.numKvHeads, 'past_sequence', s.headDim]);
  const pastV = g.input(GraphNames.pastValue(layer), DataType.FLOAT, ['batch', s.numKvHeads, 'past_sequence', s.headDim]);
  const keys = g.concat([pastK, k4], 2);
  const values = g.concat([pastV, v4], 2);
  g.output(keys, GraphNames.presentKey(layer), DataType.FLOAT, kvShape);
  g.output(values, GraphNames.presentValue(layer), DataType.FLOAT, kvShape);

  // Grouped-query attention without repeating K/V: query heads are grouped [B, kvH, rep, T, D] and
  // broadcast against [B, kvH, 1, S, D]; query head h uses kv head floor(h / rep), as repeat_kv does.
  const rep = s.numHeads / s.numKvHeads;
  const q5 = g.reshape(q4, g.int64([0, s.numKvHeads, rep, -1, s.headDim]));
  const kT = g.unsqueeze(g.transpose(keys, [0, 1, 3, 2]), [2]);
  const scores = g.add(g.mul(g.op('MatMul', [q5, kT]), g.scalarF(s.attentionScale)), bias);
  const probs = a.sinks ? softmaxWithSinks(ctx, scores, a.sinks) : g.op('Softmax', [scores], { axis: -1 });
  const ctx5 = g.op('MatMul', [probs, g.unsqueeze(values, [2])]);
  const out = g.reshape(g.transpose(g.reshape(ctx5, g.int64([0, s.numHeads, -1, s.headDim])), [0, 2, 1, 3]), g.int64([-1, s.numHeads * s.headDim]));
  return linear(ctx, out, a.o);
}

/**
 * GPT-OSS attention sinks: softmax over [scores, sink_h] with the sink's column dropped, i.e.
 * exp(s - m) / (sum exp(s - m) + exp(sink - m)) with m = max(max s, sink). Scores are [B, kvH, rep, T, S].
 */
function softmaxWithSinks(ctx: GraphContext, scores: string, sinks: TensorSlice): string {
  const g = ctx.g;
  const s = ctx.spec;
  const sink = g.reshape(ctx.weight(sinks), g.int64([1, s.numKvHeads, s.numHeads / s.numKvHeads, 1, 1]));
  const m = g.op('Max', [g.op('ReduceMax', [scores], { axes: [-1], keepdims: 1 }), sink]);
  const e = g.op('Exp', [g.sub(scores, m)]);
  return g.div(e, g.add(g.reduceSum(e, [-1]), g.op('Exp', [g.sub(sink, m)])));
}
