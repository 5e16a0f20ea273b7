/** The gated MLP of dense layers, shared experts and fp32 dispatch experts, and its activations. */
import type { ClampedSwigluSpec, GatedMlpSpec } from '../architectures/types.js';
import type { OnnxGraph } from '../onnx/graph.js';
import type { GraphContext } from './context.js';
import { linear } from './dense.js';

export function gatedMlp(ctx: GraphContext, x: string, m: GatedMlpSpec, activation?: ClampedSwigluSpec): string {
  const g = ctx.g;
  let gate: string;
  let up: string;
  if (m.kind === 'split') {
    gate = linear(ctx, x, m.gate);
    up = linear(ctx, x, m.up);
  } else if (m.interleaved) {
    // [N, 2I] with gate_j, up_j adjacent: view as [N, I, 2] and take the two columns.
    const pairs = g.reshape(linear(ctx, x, m.gateUp), g.int64([-1, m.intermediate, 2]));
    const [a, b] = g.opN('Split', [pairs, g.int64([1, 1])], 2, { axis: -1 }) as [string, string];
    gate = g.squeeze(a, [-1]);
    up = g.squeeze(b, [-1]);
  } else {
    [gate, up] = g.opN('Split', [linear(ctx, x, m.gateUp), g.int64([m.intermediate, m.intermediate])], 2, { axis: -1 }) as [string, string];
  }
  return linear(ctx, gatedActivation(g, gate, up, activation), m.down);
}

/** silu(gate) * up, or GPT-OSS's clamped SwiGLU (gate <= limit, |up| <= limit, (up + 1) * gate * sigmoid(alpha gate)). */
export function gatedActivation(g: OnnxGraph, gate: string, up: string, activation?: ClampedSwigluSpec): string {
  if (activation?.kind === 'clamped_swiglu') {
    const limit = g.scalarF(activation.limit);
    const clampedGate = g.op('Min', [gate, limit]);
    const clampedUp = g.op('Clip', [up, g.scalarF(-activation.limit), limit]);
    const glu = g.mul(clampedGate, g.op('Sigmoid', [g.mul(clampedGate, g.scalarF(activation.alpha))]));
    return g.mul(g.add(clampedUp, g.scalarF(1)), glu);
  }
  return g.mul(g.mul(gate, g.op('Sigmoid', [gate])), up);
}
