/**
 * Dense projections: a LinearSpec as Gemm/MatMul on the checkpoint's weights, or as com.microsoft.MatMulNBits when
 * the dense cache quantised it (quant-dense.ts), and the lm_head at the dense cache's precision.
 */
import type { LinearSpec } from '../architectures/types.js';
import { MS_DOMAIN } from '../onnx/graph.js';
import { DataType } from '../onnx/model.js';
import { DENSE_ACCURACY, DENSE_BLOCK, sliceKey, type QuantLinear } from '../quant-dense.js';
import type { GraphContext } from './context.js';

export function linear(ctx: GraphContext, x: string, l: LinearSpec): string {
  const g = ctx.g;
  const q = ctx.opts.dense?.linears[sliceKey(l.weight)];
  if (q) {
    const y = matMulNBits(ctx, x, q, l.weight.offsetElements ? `${l.weight.tensor}[${l.weight.offsetElements}]` : l.weight.tensor);
    return l.bias ? g.add(y, ctx.weight(l.bias)) : y;
  }
  const w = ctx.weight(l.weight);
  const b = l.bias ? ctx.weight(l.bias) : undefined;
  if (l.layout === 'out_in') return g.linear(x, w, b);
  const y = g.op('MatMul', [x, w]);
  return b ? g.add(y, b) : y;
}

/** Whether the dense cache runs this projection as MatMulNBits (there is then no fp32 matrix in the graph). */
export function isQuantised(ctx: GraphContext, l: LinearSpec): boolean {
  return ctx.opts.dense?.linears[sliceKey(l.weight)] !== undefined;
}

/** x [M, K] times a block-quantised [N, K] weight of the dense cache (com.microsoft.MatMulNBits). */
function matMulNBits(ctx: GraphContext, x: string, q: QuantLinear, name: string): string {
  const g = ctx.g;
  const location = ctx.location(ctx.opts.dense!.file!);
  const blocks = Math.ceil(q.k / DENSE_BLOCK);
  const b = g.initializer({ name: `${name}.q${q.bits}`, dataType: DataType.UINT8, dims: [q.n, blocks, (DENSE_BLOCK * q.bits) / 8], payload: { kind: 'external', location, ...q.codes } });
  const s = g.initializer({ name: `${name}.q${q.bits}_scales`, dataType: DataType.FLOAT, dims: [q.n * blocks], payload: { kind: 'external', location, ...q.scales } });
  return g.op('MatMulNBits', [x, b, s], { K: q.k, N: q.n, bits: q.bits, block_size: DENSE_BLOCK, accuracy_level: DENSE_ACCURACY[q.bits] }, MS_DOMAIN);
}

/** The embedding rows of `ids` as fp32 [N, hidden]; only the gathered rows are widened, so a 16-bit table stays 16-bit in memory. */
export function embed(ctx: GraphContext, ids: string): string {
  const g = ctx.g;
  const s = ctx.spec;
  const dense = ctx.opts.dense;
  const embedRaw = dense?.embed ? { raw: ctx.halfTable(dense.embed, s.embed), dtype: DataType.FLOAT16 } : ctx.rawWeight(s.embed);
  let embedded = g.op('Gather', [embedRaw.raw, ids], { axis: 0 });
  if (embedRaw.dtype !== DataType.FLOAT) embedded = g.cast(embedded, DataType.FLOAT);
  return g.reshape(embedded, g.int64([-1, s.hiddenSize]));
}

/** The final projection to the vocabulary, at the dense cache's precision when it has one. */
export function lmHead(ctx: GraphContext, x: string, rowsInput: string): string {
  const g = ctx.g;
  const s = ctx.spec;
  const head = ctx.opts.dense?.head;
  let logits: string;
  if (head?.kind === 'quant') logits = matMulNBits(ctx, x, head.linear, s.lmHead.tensor);
  else if (head?.kind === 'half') {
    // Widened on every pass: the Reshape's shape depends on a run-time zero, so the Cast is not folded into a
    // resident fp32 copy of the head (docs/precision.md).
    const size = g.op('Size', [rowsInput]);
    const w = g.cast(g.reshape(ctx.halfTable(head.table, s.lmHead), g.add(g.int64(s.lmHead.shape), g.sub(size, size))), DataType.FLOAT);
    logits = g.linear(x, w);
  } else return linear(ctx, x, { weight: s.lmHead, bias: s.lmHeadBias, layout: 'out_in' });
  return s.lmHeadBias ? g.add(logits, ctx.weight(s.lmHeadBias)) : logits;
}
