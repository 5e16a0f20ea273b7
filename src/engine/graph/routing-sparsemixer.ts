/**
 * Phi-3.5-MoE's sparsemixer routing in inference mode (transformers' modular_phimoe.py `sparsemixer` with
 * training=False), as standard ONNX ops on the steered logits z [N, E]. No randomness: the Gumbel sampling and
 * the Heun midpoint mask exist only in training.
 *
 * Pick 1: e1 = argmax z; experts with (max z - z) / max(|z|, max z) > 2 eps are set to -inf; the weight is
 * the softmax of what is left, at e1. Pick 2: the same on z with e1 set to -inf (the threshold now the second
 * largest logit, the factor still |z| of the unmasked logits); the weight is that softmax at e2.
 * The two weights need not sum to 1 nor be in descending order: the experts are reported in pick order.
 *
 * onnxruntime's com.microsoft.MoE accepts `use_sparse_mixer` but its CPU kernel ignores it, so the selection is
 * always made here; the expert kernels only run the experts and weights given to them.
 * Ties go to the lower expert index (ArgMax select_last_index=0, what torch.max returns on CPU).
 */
import type { OnnxGraph } from '../onnx/graph.js';

function pick(g: OnnxGraph, scores: string, candidates: string, twoEps: string): { expert: string; weight: string } {
  const threshold = g.op('ReduceMax', [candidates], { axes: [-1], keepdims: 1 });
  const expert = g.op('ArgMax', [candidates], { axis: -1, keepdims: 1, select_last_index: 0 });
  const factor = g.op('Max', [g.op('Abs', [scores]), threshold]);
  const tooFar = g.op('Greater', [g.div(g.sub(threshold, scores), factor), twoEps]);
  const kept = g.where(tooFar, g.scalarF(-Infinity), candidates);
  const weight = g.op('GatherElements', [g.op('Softmax', [kept], { axis: -1 }), expert], { axis: 1 });
  return { expert, weight };
}

/** [topW, topI] ([N, 2] each) of sparsemixer on steered logits z [N, E]. */
export function sparsemixerRouting(g: OnnxGraph, z: string, jitterEps: number): [string, string] {
  const twoEps = g.scalarF(2 * jitterEps);
  const first = pick(g, z, z, twoEps);
  const withoutFirst = g.op('ScatterElements', [z, first.expert, g.op('Expand', [g.scalarF(-Infinity), g.op('Shape', [first.expert])])], { axis: 1 });
  const second = pick(g, z, withoutFirst, twoEps);
  return [g.concat([first.weight, second.weight], 1), g.concat([first.expert, second.expert], 1)];
}
