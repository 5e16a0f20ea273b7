/** int8/int4 precision on the fused kernel: block-quantised experts (quant-experts.ts) run by com.microsoft.QMoE. */
import { EngineError } from '../errors.js';
import { MS_DOMAIN } from '../onnx/graph.js';
import { DataType } from '../onnx/model.js';
import type { GraphContext } from './context.js';
import type { FusedLayerCall } from './experts-fused.js';

/**
 * QMoE's CPU routing is top-k on the given logits, then a softmax over those k: on the crafted logits that is
 * again exactly our experts with w_i / sum(w).
 */
export function qmoeExperts(ctx: GraphContext, { moeIndex, m, x, crafted, topI, I, attrs, biases }: FusedLayerCall): string {
  const g = ctx.g;
  const H = ctx.spec.hiddenSize;
  const q = ctx.opts.quantExperts!;
  const layer = q.layers[moeIndex];
  if (!layer) throw new EngineError(`internal error: the int${q.bits} expert cache has no entry for MoE layer ${moeIndex}`);
  const scaleDims = (rows: number, cols: number) => (q.blockSize ? [m.numExperts, rows, cols / q.blockSize] : [m.numExperts, rows]);
  // Sessions with MatMulNBits run with prepacking on (quant-dense.ts), and a prepacked int4 QMoE decoded 2.4x
  // slower (measured, docs/precision.md): a Reshape to a shape that depends on a run-time zero makes its weights
  // non-constant, so they are never prepacked and stay mapped cache pages.
  const size = g.op('Size', [topI]);
  const runtimeZero = g.sub(size, size);
  const unpacked = (name: string, dims: number[], segment: { offset: number; length: number }, dataType = DataType.FLOAT) =>
    g.reshape(ctx.cachedWeight(name, dims, segment, dataType), g.add(g.int64(dims), runtimeZero));
  const fc1 = unpacked(`moe${moeIndex}.fc1_q${q.bits}`, [m.numExperts, 2 * I, (H * q.bits) / 8], layer.fc1, DataType.UINT8);
  const fc1Scales = unpacked(`moe${moeIndex}.fc1_scales`, scaleDims(2 * I, H), layer.fc1Scales);
  const fc2 = unpacked(`moe${moeIndex}.fc2_q${q.bits}`, [m.numExperts, H, (I * q.bits) / 8], layer.fc2, DataType.UINT8);
  const fc2Scales = unpacked(`moe${moeIndex}.fc2_scales`, scaleDims(H, I), layer.fc2Scales);
  const [b1, b2] = biases(layer);
  return g.op('QMoE', [x, crafted, fc1, fc1Scales, b1, fc2, fc2Scales, b2], { ...attrs, expert_weight_bits: q.bits, block_size: q.blockSize }, MS_DOMAIN);
}
