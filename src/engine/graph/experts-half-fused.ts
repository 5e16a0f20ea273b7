/** fp16 precision on the fused kernel (CUDA): the fp16 expert cache run by an fp16 com.microsoft.MoE (half-fused-experts.ts). */
import { EngineError } from '../errors.js';
import { halfFusedMoe } from '../half-fused-experts.js';
import { DataType } from '../onnx/model.js';
import type { GraphContext } from './context.js';
import type { FusedLayerCall } from './experts-fused.js';

export function halfFusedExperts(ctx: GraphContext, { moeIndex, m, x, crafted, I, attrs, biases }: FusedLayerCall): string {
  const H = ctx.spec.hiddenSize;
  const layer = ctx.opts.halfFusedExperts!.layers[moeIndex];
  if (!layer) throw new EngineError(`internal error: the fp16 fused expert cache has no entry for MoE layer ${moeIndex}`);
  const fc1 = ctx.cachedWeight(`moe${moeIndex}.fc1_fp16`, [m.numExperts, 2 * I, H], layer.fc1, DataType.FLOAT16);
  const fc2 = ctx.cachedWeight(`moe${moeIndex}.fc2_fp16`, [m.numExperts, H, I], layer.fc2, DataType.FLOAT16);
  const [b1, b2] = biases(layer, DataType.FLOAT16);
  return halfFusedMoe(ctx.g, x, crafted, fc1, fc2, attrs, b1, b2);
}
