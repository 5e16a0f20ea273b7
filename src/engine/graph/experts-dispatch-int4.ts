/** int4 precision on the dispatch kernel: each routed expert as two prepacked MatMulNBits over the QMoE cache. */
import { EngineError } from '../errors.js';
import { MS_DOMAIN } from '../onnx/graph.js';
import { DataType } from '../onnx/model.js';
import type { GraphContext } from './context.js';

/**
 * MatMulNBits accuracy_level of int4 experts on the dispatch kernel: 4 rounds each block of an expert's input to int8
 * (error ~4e-3 against the 4-bit weights' ~5e-2) and decoded 1.6x faster than level 1 (fp32 activations) on
 * bench:engine's model, which is what takes int4 decode past 2x fp32 (docs/precision.md).
 */
const EXPERT_ACCURACY = 4;

/**
 * int4 on the dispatch kernel (moeKernel 'dispatch'): one expert as two prepacked MatMulNBits over its rows of the
 * QMoE cache, whose [rows, H * bits / 8] codes and [rows, H / block] scales are already MatMulNBits' layout (fc1
 * rows interleave gate and up). 2.6x faster per decode step than onnxruntime 1.30's 4-bit QMoE, but the prepacked
 * copies hold more memory (docs/precision.md).
 */
export function int4ExpertMlp(ctx: GraphContext, moeIndex: number, e: number, rows: string, I: number): string {
  const g = ctx.g;
  const q = ctx.opts.quantExperts!;
  const layer = q.layers[moeIndex];
  if (!layer) throw new EngineError(`internal error: the int${q.bits} expert cache has no entry for MoE layer ${moeIndex}`);
  const H = ctx.spec.hiddenSize;
  const bs = q.blockSize;
  const matmul = (input: string, name: string, n: number, k: number, codes: { offset: number }, scales: { offset: number }) => {
    const rowBytes = (k * q.bits) / 8;
    const B = ctx.cachedWeight(`${name}_q${q.bits}`, [n, k / bs, (bs * q.bits) / 8], { offset: codes.offset + e * n * rowBytes, length: n * rowBytes }, DataType.UINT8);
    const S = ctx.cachedWeight(`${name}_scales`, [n * (k / bs)], { offset: scales.offset + e * n * (k / bs) * 4, length: n * (k / bs) * 4 });
    return g.op('MatMulNBits', [input, B, S], { K: k, N: n, bits: q.bits, block_size: bs, accuracy_level: EXPERT_ACCURACY }, MS_DOMAIN);
  };
  const pairs = g.reshape(matmul(rows, `moe${moeIndex}.e${e}.fc1`, 2 * I, H, layer.fc1, layer.fc1Scales), g.int64([-1, I, 2]));
  const [a, b] = g.opN('Split', [pairs, g.int64([1, 1])], 2, { axis: -1 }) as [string, string];
  const gate = g.squeeze(a, [-1]);
  const act = g.mul(g.mul(gate, g.op('Sigmoid', [gate])), g.squeeze(b, [-1]));
  return matmul(act, `moe${moeIndex}.e${e}.fc2`, H, I, layer.fc2, layer.fc2Scales);
}
