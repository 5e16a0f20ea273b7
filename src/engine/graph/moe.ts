/** One MoE block: routing (routing.ts), the routed experts on the build's kernel, and the always-on shared expert. */
import type { MoeSpec } from '../architectures/types.js';
import type { GraphContext } from './context.js';
import { linear } from './dense.js';
import { dispatchExperts } from './experts-dispatch.js';
import { fusedExperts } from './experts-fused.js';
import { gatedMlp } from './mlp.js';
import { route } from './routing.js';

export function moeBlock(ctx: GraphContext, moeIndex: number, m: MoeSpec, x: string): string {
  const g = ctx.g;
  const { logits, experts, weights } = route(ctx, moeIndex, m, x);
  const routed = ctx.opts.moeKernel === 'fused' ? fusedExperts(ctx, moeIndex, m, x, logits, experts, weights) : dispatchExperts(ctx, moeIndex, m, x, experts, weights);
  if (!m.shared) return routed;
  const sharedOut = gatedMlp(ctx, x, m.shared.mlp);
  if (!m.shared.gate) return g.add(routed, sharedOut);
  return g.add(routed, g.mul(sharedOut, g.op('Sigmoid', [linear(ctx, x, m.shared.gate)])));
}
