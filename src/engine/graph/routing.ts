/**
 * Routing, always from standard ops: router logits, the steering rule of the graph contract, then the spec's
 * routing rule (one entry of ROUTING_RULES per MoeSpec routing kind). TopK breaks ties towards the lower expert
 * index (the contract) and the ids reported are exactly the ones the expert kernels run.
 */
import type { MoeSpec } from '../architectures/types.js';
import type { OnnxGraph } from '../onnx/graph.js';
import { DataType } from '../onnx/model.js';
import { sparsemixerRouting } from './routing-sparsemixer.js';
import type { GraphContext } from './context.js';
import { linear } from './dense.js';
import { GraphNames } from './names.js';
import { MASKED_LOGIT } from '../steering-plan.js';


export interface RoutingRule {
  /** [weights, expert ids], [N, topK] each, from the steered logits z [N, E]; `k` is the int64 [topK] constant. */
  select(g: OnnxGraph, z: string, m: MoeSpec, k: string): [string, string];
  /**
   * Whether a token's weights sum to 1. The fused kernels renormalise the weights they are given, so otherwise
   * their output is scaled back by the sum (experts-fused.ts). Only softmax_topk carries routedScalingFactor, and
   * no adapter combines it with normTopK (deepseek-v2.ts refuses norm_topk_prob).
   */
  sumsToOne(m: MoeSpec): boolean;
}

const topK = (g: OnnxGraph, x: string, k: string) => g.opN('TopK', [x, k], 2, { axis: -1, largest: 1, sorted: 1 }) as [string, string];

export const ROUTING_RULES: Record<MoeSpec['routing'], RoutingRule> = {
  /** Softmax over all experts, top-k, optional renormalisation and scaling (Qwen, OLMoE, Mixtral, DeepSeek-V2). */
  softmax_topk: {
    select(g, z, m, k) {
      let [topW, topI] = topK(g, g.op('Softmax', [z], { axis: -1 }), k);
      if (m.normTopK) topW = g.div(topW, g.reduceSum(topW, [-1]));
      if (m.routedScalingFactor !== undefined && m.routedScalingFactor !== 1) topW = g.mul(topW, g.scalarF(m.routedScalingFactor));
      return [topW, topI];
    },
    sumsToOne: (m) => m.normTopK,
  },
  /** Top-k on the logits, softmax over the k (Granite, GPT-OSS). */
  topk_softmax: {
    select(g, z, _m, k) {
      const [topZ, topI] = topK(g, z, k);
      return [g.op('Softmax', [topZ], { axis: -1 }), topI];
    },
    sumsToOne: () => true,
  },
  /** Phi-3.5-MoE (routing-sparsemixer.ts): its two weights come from two different softmaxes and do not sum to 1. */
  sparsemixer: {
    select: (g, z, m) => sparsemixerRouting(g, z, m.jitterEps ?? 0),
    sumsToOne: () => false,
  },
};

/** The steering rule of the graph contract, applied to raw router logits z [N, E]. */
function steer(g: OnnxGraph, moeIndex: number, z: string, numExperts: number): string {
  const vec = (name: string) => g.input(name, DataType.FLOAT, [numExperts]);
  const bias = vec(GraphNames.steerBias(moeIndex));
  const scale = vec(GraphNames.steerScale(moeIndex));
  const std = vec(GraphNames.steerStd(moeIndex));
  const force = vec(GraphNames.steerForce(moeIndex));
  const mask = vec(GraphNames.steerMask(moeIndex));
  const mean = g.reduceMean(z, [-1]);
  const centred = g.sub(z, mean);
  const stddev = g.op('Sqrt', [g.reduceMean(g.mul(centred, centred), [-1])]);
  const z1 = g.add(g.add(g.add(z, bias), g.mul(scale, g.op('Abs', [z]))), g.mul(std, stddev));
  const zMax = g.op('ReduceMax', [z1], { axes: [-1], keepdims: 1 });
  const zMin = g.op('ReduceMin', [z1], { axes: [-1], keepdims: 1 });
  const zero = g.scalarF(0);
  const z2 = g.where(g.op('Greater', [force, zero]), g.add(zMax, force), g.where(g.op('Less', [force, zero]), g.add(zMin, force), z1));
  const masked = g.op('Not', [g.op('Equal', [mask, zero])]);
  return g.where(masked, g.scalarF(MASKED_LOGIT), z2);
}

export interface Routed {
  /** Raw router logits [N, E] (before steering). */
  logits: string;
  /** Selected expert ids [N, topK], int64. */
  experts: string;
  /** Their weights [N, topK]. */
  weights: string;
}

/** Router, steering and routing rule of one MoE layer, with the logits, ids and weights declared as capture outputs. */
export function route(ctx: GraphContext, moeIndex: number, m: MoeSpec, x: string): Routed {
  const g = ctx.g;
  const z = linear(ctx, x, m.router);
  g.output(z, GraphNames.routerLogits(moeIndex), DataType.FLOAT, ['tokens', m.numExperts]);
  const steered = steer(g, moeIndex, z, m.numExperts);
  const [topW, topI] = ROUTING_RULES[m.routing].select(g, steered, m, g.int64([m.topK]));
  g.output(topI, GraphNames.topkExperts(moeIndex), DataType.INT64, ['tokens', m.topK]);
  g.output(topW, GraphNames.topkWeights(moeIndex), DataType.FLOAT, ['tokens', m.topK]);
  return { logits: z, experts: topI, weights: topW };
}
