/** RMSNorm and the block norms (RMSNorm, or LayerNorm with bias). */
import type { TensorSlice } from '../architectures/types.js';
import { EngineError } from '../errors.js';
import type { GraphContext } from './context.js';

export function rmsNorm(ctx: GraphContext, x: string, weight: TensorSlice, eps = ctx.spec.rmsNormEps): string {
  const g = ctx.g;
  const variance = g.reduceMean(g.mul(x, x), [-1]);
  const normed = g.div(x, g.op('Sqrt', [g.add(variance, g.scalarF(eps))]));
  return g.mul(normed, ctx.weight(weight));
}

/** The block/final norm: RMSNorm, or LayerNorm with bias when the spec says so (Phi-3.5-MoE). */
export function blockNorm(ctx: GraphContext, x: string, weight: TensorSlice, bias?: TensorSlice): string {
  if (ctx.spec.normKind !== 'layer') return rmsNorm(ctx, x, weight);
  if (!bias) throw new EngineError(`internal error: LayerNorm '${weight.tensor}' has no bias`);
  return ctx.g.op('LayerNormalization', [x, ctx.weight(weight), ctx.weight(bias)], { axis: -1, epsilon: { float: ctx.spec.rmsNormEps } });
}
