/** int4 precision on the dispatch kernel: each routed expert as two prepacked MatMulNBits over the QMoE cache. */
import { EngineError } from '../errors.js';
import { MS_DOMAIN } from '../onnx/graph.js';
import { DataType } from '../onnx/model.js';
import type { GraphContext } from './context.js';

/**
 * MatMulNBits accuracy_level of int4 experts on the dispatch kernel when the session does not set one
 * (QuantExpertCache.dispatchAccuracy; the session chooses in int4-kernel.ts): 4 rounds each block of an expert's input
 * to int8 (faster, more memory), 1 keeps fp32 activations (exact, the cache's memory).
 */
const EXPERT_ACCURACY = 4;

/**
 * int4 on the dispatch kernel (moeKernel 'dispatch'): one expert as two prepacked MatMulNBits over its rows of the
 * QMoE cache, whose [rows, H * bits / 8] codes and [rows, H / block] scales are already MatMulNBits' layout (fc1
 * rows interleave gate and up), at the accuracy_level the session chose (int4-kernel.ts: speed and memory of each).
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
    return g.op('MatMulNBits', [input, B, S], { K: k, N: n, bits: q.bits, block_size: bs, accuracy_level: q.dispatchAccuracy ?? EXPERT_ACCURACY }, MS_DOMAIN);
  };
  const fc1 = matmul(rows, `moe${moeIndex}.e${e}.fc1`, 2 * I, H, layer.fc1, layer.fc1Scales);
  // fc1's outputs interleave gate (even) and up (odd): two strided Slices, fewer nodes per expert than Reshape/Split/Squeeze.
  const strided = (start: number) => g.op('Slice', [fc1, g.int64([start]), g.int64([2 * I]), g.int64([1]), g.int64([2])]);
  const gate = strided(0);
  const act = g.mul(g.mul(gate, g.op('Sigmoid', [gate])), strided(1));
  return matmul(act, `moe${moeIndex}.e${e}.fc2`, H, I, layer.fc2, layer.fc2Scales);
}
