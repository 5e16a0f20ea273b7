/**
 * The `fused` expert kernel: one com.microsoft.MoE (fp32 or fp16, experts-half-fused.ts) or QMoE (int8/int4,
 * experts-qmoe.ts) node per layer, fed crafted router logits (log of our weights for our selected experts, -1e30
 * elsewhere) so the op's own routing reproduces ours exactly. The fp32 op needs an interleaved copy of gate/up,
 * kept in a cache file (fused-experts.ts, expert-cache.ts).
 */
import type { MoeSpec } from '../architectures/types.js';
import { EngineError } from '../errors.js';
import { hasExpertBias, uniformExpertWidth } from '../fused-experts.js';
import { MS_DOMAIN, type Attr } from '../onnx/graph.js';
import { DataType } from '../onnx/model.js';
import type { GraphContext } from './context.js';
import { halfFusedExperts } from './experts-half-fused.js';
import { qmoeExperts } from './experts-qmoe.js';
import { ROUTING_RULES } from './routing.js';

/** Crafted logit for experts the fused op must not pick: exp(-1e30 - max) is exactly 0 in fp32. */
const FUSED_UNSELECTED_LOGIT = -1e30;
/**
 * Floor for a selected expert's weight before Log (a weight can underflow to 0, e.g. a masked expert picked
 * because fewer than k are unmasked): keeps it finite and strictly above the unselected ones, so the op
 * still picks exactly our k experts; its contribution (1e-30 relative) is what the dispatch path's 0 gives.
 */
const FUSED_WEIGHT_FLOOR = 1e-30;

type Segment = { offset: number; length: number };

/** What every fused node variant takes: the layer, its input, our routing as crafted logits, and the op's attributes. */
export interface FusedLayerCall {
  moeIndex: number;
  m: MoeSpec;
  x: string;
  crafted: string;
  topI: string;
  /** The experts' (uniform) width. */
  I: number;
  attrs: Record<string, Attr>;
  /** fc1/fc2 bias initializers of a cache layer in `dataType`, ['', ''] when the experts have none. */
  biases(layer: { fc1Bias?: Segment; fc2Bias?: Segment }, dataType?: DataType): readonly [string, string];
}

/**
 * One com.microsoft.MoE node running exactly our routing. Its CPU kernel takes a softmax over the logits it
 * is given, keeps the top k and divides by their sum. Given log(w) for our k experts and -1e30 for the rest,
 * the softmax is w_i / sum(w) on our experts and exactly 0 elsewhere, so its top k is our set whatever its
 * tie-break, and its weights are ours renormalised. Without norm_topk_prob our weights do not sum to 1, so
 * the output is scaled back by sum(w) per token.
 */
export function fusedExperts(ctx: GraphContext, moeIndex: number, m: MoeSpec, x: string, z: string, topI: string, topW: string): string {
  const g = ctx.g;
  const H = ctx.spec.hiddenSize;
  const I = uniformExpertWidth(m.experts, `MoE layer ${moeIndex}`, 'cannot use the fused kernel');
  const floor = g.op('Expand', [g.scalarF(FUSED_UNSELECTED_LOGIT), g.op('Shape', [z])]);
  const logW = g.op('Log', [g.op('Max', [topW, g.scalarF(FUSED_WEIGHT_FLOOR)])]);
  const crafted = g.op('ScatterElements', [floor, topI, logW], { axis: 1 });
  // onnxruntime's interleaved SwiGLU (moe_utils.cc, checked on CPU against a float64 reference): gate = even
  // fc1 row clamped above at swiglu_limit, linear = odd row clamped to [-limit, limit], out =
  // gate * sigmoid(alpha * gate) * (linear + beta). alpha 1, beta 0, no limit is SiLU(gate) * up; GPT-OSS's
  // clamped SwiGLU is alpha 1.702, beta 1, limit 7, exactly.
  const act = m.expertActivation;
  const attrs = {
    k: m.topK,
    activation_type: 'swiglu',
    swiglu_fusion: 1,
    activation_alpha: { float: act ? act.alpha : 1 },
    activation_beta: { float: act ? 1 : 0 },
    ...(act ? { swiglu_limit: { float: act.limit } } : {}),
    normalize_routing_weights: 1,
  };
  const biases: FusedLayerCall['biases'] = (layer, dataType = DataType.FLOAT) => {
    if (!layer.fc1Bias !== !m.experts.some(hasExpertBias)) throw new EngineError(`internal error: the expert cache's biases for MoE layer ${moeIndex} do not match the model`);
    if (!layer.fc1Bias || !layer.fc2Bias) return ['', ''] as const;
    const tag = dataType === DataType.FLOAT16 ? '_fp16' : '';
    return [
      ctx.cachedWeight(`moe${moeIndex}.fc1_bias${tag}`, [m.numExperts, 2 * I], layer.fc1Bias, dataType),
      ctx.cachedWeight(`moe${moeIndex}.fc2_bias${tag}`, [m.numExperts, H], layer.fc2Bias, dataType),
    ] as const;
  };
  const call: FusedLayerCall = { moeIndex, m, x, crafted, topI, I, attrs, biases };
  const out = ctx.opts.quantExperts ? qmoeExperts(ctx, call) : ctx.opts.halfFusedExperts ? halfFusedExperts(ctx, call) : fp32FusedExperts(ctx, call);
  return ROUTING_RULES[m.routing].sumsToOne(m) ? out : g.mul(out, g.reduceSum(topW, [-1]));
}

/** The fp32 com.microsoft.MoE over the interleaved expert cache (fc2 mapped from the checkpoint when its layout allows). */
function fp32FusedExperts(ctx: GraphContext, { moeIndex, m, x, crafted, I, attrs, biases }: FusedLayerCall): string {
  const H = ctx.spec.hiddenSize;
  const cached = ctx.opts.fusedCache!.layers[moeIndex];
  if (!cached) throw new EngineError(`internal error: the expert cache has no entry for MoE layer ${moeIndex}`);
  const fc1 = ctx.cachedWeight(`moe${moeIndex}.fc1_interleaved`, [m.numExperts, 2 * I, H], cached.fc1);
  const fc2 = cached.fc2.kind === 'mapped' ? ctx.rawWeight(cached.fc2.slice).raw : ctx.cachedWeight(`moe${moeIndex}.fc2`, [m.numExperts, H, I], cached.fc2.segment);
  const [b1, b2] = biases(cached);
  return ctx.g.op('MoE', [x, crafted, fc1, b1, fc2, b2], attrs, MS_DOMAIN);
}
