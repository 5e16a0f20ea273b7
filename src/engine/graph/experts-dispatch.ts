/**
 * The `dispatch` expert kernel: each expert runs only on the (token, slot) pairs that selected it, as plain ops
 * over zero-copy weight slices (~11 nodes per expert); the outputs are put back in (token, slot) order through the
 * inverse permutation, weighted and summed over the k slots. An expert runs as fp32 Gemms, as 16-bit weights
 * widened inside an If branch (experts-dispatch-half.ts), or as int4 MatMulNBits (experts-dispatch-int4.ts).
 */
import type { GatedMlpSpec, MoeSpec } from '../architectures/types.js';
import { expertWidth } from '../fused-experts.js';
import type { GraphContext } from './context.js';
import { halfDispatchLayer, halfExpert } from './experts-dispatch-half.js';
import { int4ExpertMlp } from './experts-dispatch-int4.js';
import { gatedMlp } from './mlp.js';

/** One expert's output for its `rows` [n, hidden]; `pos` [n] are its (token, slot) positions in the flat top-k ids. */
type ExpertRunner = (e: number, expert: GatedMlpSpec, rows: string, pos: string) => string;

export function dispatchExperts(ctx: GraphContext, moeIndex: number, m: MoeSpec, x: string, topI: string, topW: string): string {
  const g = ctx.g;
  const flat = g.reshape(topI, g.int64([-1]));
  const runExpert = expertRunner(ctx, moeIndex, m, flat);
  const outputs: string[] = [];
  const positions: string[] = [];
  // [-1] with a length shape inference cannot know (a Compress on a run-time condition that is always true).
  // Reshaping each expert's positions to it leaves its intermediates without an inferred rank, so onnxruntime's
  // allocation planner skips them instead of comparing each with every dead intermediate before it (no two experts'
  // row counts match, so that list only grew): int4 session creation 2.8-3.1 s -> 1.5-1.8 s for 256 experts of
  // Qwen3's shape, and for 23 x 128 small experts 74-79 s -> 16 s with the selection below (docs/precision.md);
  // fp32 and fp16 likewise; forward time and results unchanged.
  const unranked = g.op('Compress', [g.int64([-1]), g.op('GreaterOrEqual', [g.reshape(g.op('Size', [flat]), g.int64([1])), g.int64([0])])], { axis: 0 });
  // The selection itself starts from unranked copies too: Compress over them gives each expert's positions without
  // any per-expert tensor whose shape inference knows a rank (NonZero's [1, n] output would be one).
  const flatU = g.reshape(flat, unranked);
  const slotsU = g.reshape(g.op('Range', [g.scalarI(0), g.op('Size', [flat]), g.scalarI(1)]), unranked);
  m.experts.forEach((expert, e) => {
    const savedScope = g.scope;
    g.scope = `${savedScope}e${e}_`;
    const pos = g.op('Compress', [slotsU, g.op('Equal', [flatU, g.scalarI(e)])], { axis: 0 });
    const rows = g.op('Gather', [x, g.div(pos, g.scalarI(m.topK))], { axis: 0 });
    outputs.push(runExpert(e, expert, rows, pos));
    positions.push(pos);
    g.scope = savedScope;
  });
  const grouped = g.concat(outputs, 0);
  const order = g.concat(positions, 0);
  const slots = g.op('Range', [g.scalarI(0), g.op('Size', [flat]), g.scalarI(1)]);
  const inverse = g.op('ScatterElements', [g.mul(flat, g.scalarI(0)), order, slots], { axis: 0 });
  const perSlot = g.mul(g.op('Gather', [grouped, inverse], { axis: 0 }), g.reshape(topW, g.int64([-1, 1])));
  return g.reduceSum(g.reshape(perSlot, g.int64([-1, m.topK, ctx.spec.hiddenSize])), [1], 0);
}

/** int4 MatMulNBits when the build has a quantised expert cache, else 16-bit experts when it has fp16 ones, else fp32. */
function expertRunner(ctx: GraphContext, moeIndex: number, m: MoeSpec, flat: string): ExpertRunner {
  const half = halfDispatchLayer(ctx, moeIndex, m, flat);
  if (ctx.opts.quantExperts) return (e, expert, rows) => int4ExpertMlp(ctx, moeIndex, e, rows, expertWidth(expert));
  if (half) return (e, _expert, rows, pos) => halfExpert(ctx, moeIndex, m, e, half, rows, pos);
  return (_e, expert, rows) => gatedMlp(ctx, rows, expert, m.expertActivation);
}
