/** DeepSeek-V2 multi-head latent attention over the compressed (latent) KV cache. */
import type { MlaSpec } from '../architectures/types.js';
import { DataType } from '../onnx/model.js';
import type { GraphContext } from './context.js';
import { isQuantised, linear } from './dense.js';
import { GraphNames } from './names.js';
import { rmsNorm } from './norms.js';
import { applyRope, type RopeTables } from './rope.js';

/**
 * DeepSeek-V2 multi-head latent attention with the compressed cache (see MlaSpec). The rope half of q and k is
 * rotated in adjacent pairs (transformers' complex multiplication); the same permutation of both (pairs
 * de-interleaved, then the rotate-half form with the shared cos/sin tables) leaves every q.k product unchanged.
 * `bias` is the [B, 1, 1, T, S] attention bias of the grouped path.
 */
export function mlaAttention(ctx: GraphContext, layer: number, a: MlaSpec, x: string, rope: RopeTables, bias: string): string {
  const g = ctx.g;
  const s = ctx.spec;
  const H = s.numHeads;
  const qk = a.nopeDim + a.ropeDim;
  const q = a.q ? linear(ctx, x, a.q) : linear(ctx, rmsNorm(ctx, linear(ctx, x, a.qA!), a.qANorm!, a.latentNormEps), a.qB!);
  const q4 = g.transpose(g.reshape(q, g.concat([ctx.shapeBT, g.int64([H, qk])], 0)), [0, 2, 1, 3]);
  const [qNope, qPeRaw] = g.opN('Split', [q4, g.int64([a.nopeDim, a.ropeDim])], 2, { axis: -1 }) as [string, string];
  const [latentRaw, kPeRaw] = g.opN('Split', [linear(ctx, x, a.kvA), g.int64([a.kvLoraRank, a.ropeDim])], 2, { axis: -1 }) as [string, string];
  const oneHead = (t: string, dim: number) => g.transpose(g.reshape(t, g.concat([ctx.shapeBT, g.int64([1, dim])], 0)), [0, 2, 1, 3]);
  const pairsToHalves = (t: string) => {
    const shape = g.op('Shape', [t]);
    const pairs = g.reshape(t, g.int64([0, 0, 0, a.ropeDim / 2, 2]));
    return g.reshape(g.transpose(pairs, [0, 1, 2, 4, 3]), shape);
  };
  const qPe = applyRope(ctx, pairsToHalves(qPeRaw), rope);
  const latent = oneHead(rmsNorm(ctx, latentRaw, a.kvANorm, a.latentNormEps), a.kvLoraRank);
  const kPe = applyRope(ctx, pairsToHalves(oneHead(kPeRaw, a.ropeDim)), rope);

  const c = s.kvCache!;
  const pastK = g.input(GraphNames.pastKey(layer), DataType.FLOAT, ['batch', c.keyHeads, 'past_sequence', c.keyDim]);
  const pastV = g.input(GraphNames.pastValue(layer), DataType.FLOAT, ['batch', c.valueHeads, 'past_sequence', c.valueDim]);
  const latents = g.concat([pastK, latent], 2);
  const kPes = g.concat([pastV, kPe], 2);
  g.output(latents, GraphNames.presentKey(layer), DataType.FLOAT, ['batch', c.keyHeads, 'total_sequence', c.keyDim]);
  g.output(kPes, GraphNames.presentValue(layer), DataType.FLOAT, ['batch', c.valueHeads, 'total_sequence', c.valueDim]);

  const scale = (scores: string) => g.add(g.mul(scores, g.scalarF(s.attentionScale)), g.squeeze(bias, [1]));
  const peScores = () => g.op('MatMul', [qPe, g.transpose(kPes, [0, 1, 3, 2])]);
  const ctxShape = { elemType: DataType.FLOAT, shape: ['batch', H, 'sequence', a.valueDim] };

  // Decompressed form: per-head k_nope and v for every cached position, [B, 1, S, r] -> [B, H, S, nope + v].
  const decompressed = () => {
    const batch = g.op('Gather', [ctx.shapeBT, g.scalarI(0)], { axis: 0 });
    const kv2 = linear(ctx, g.reshape(latents, g.int64([-1, a.kvLoraRank])), a.kvB);
    const kv4 = g.transpose(g.reshape(kv2, g.concat([g.unsqueeze(batch, [0]), g.int64([-1, H, a.nopeDim + a.valueDim])], 0)), [0, 2, 1, 3]);
    const [kNope, v] = g.opN('Split', [kv4, g.int64([a.nopeDim, a.valueDim])], 2, { axis: -1 }) as [string, string];
    const scores = g.add(g.op('MatMul', [qNope, g.transpose(kNope, [0, 1, 3, 2])]), peScores());
    return g.op('MatMul', [g.op('Softmax', [scale(scores)], { axis: -1 }), v]);
  };
  // A quantised kv_b_proj (int8/int4: MatMulNBits, quant-dense.ts) has no fp32 matrix to absorb; absorbing the
  // checkpoint's own weights instead would run other numbers than the decompressed form. So it stays decompressed.
  if (a.kvB.layout !== 'out_in' || a.kvB.bias || isQuantised(ctx, a.kvB)) return linear(ctx, g.reshape(g.transpose(decompressed(), [0, 2, 1, 3]), g.int64([-1, H * a.valueDim])), a.o);
  // The weights' fp32 form is made here, in the main graph: a Cast created inside an If branch would be cached
  // and then read outside it.
  const kvB = ctx.weight(a.kvB.weight);

  // Absorbed form: q_nope . (W_UK c_j) = (W_UK^T q_nope) . c_j, and sum_j p_j (W_UV c_j) = W_UV (sum_j p_j c_j), so
  // attention runs on the latents themselves. Per new position it costs 2 H S r multiply-adds against the
  // decompressed form's S r H (nope + v) for the cache's keys and values plus H T S (nope + rope + v): cheaper
  // while T (2r - nope - rope - v) < r (nope + v), i.e. for decode steps and short chunks, not for long prefills.
  const perHead = g.reshape(kvB, g.int64([H, a.nopeDim + a.valueDim, a.kvLoraRank]));
  const [wUK, wUV] = g.opN('Split', [perHead, g.int64([a.nopeDim, a.valueDim])], 2, { axis: 1 }) as [string, string];
  const wUVt = g.transpose(wUV, [0, 2, 1]);
  const absorbed = () => {
    const qLatent = g.op('MatMul', [qNope, wUK]); // [B, H, T, nope] x [H, nope, r] -> [B, H, T, r]
    const scores = g.add(g.op('MatMul', [qLatent, g.transpose(latents, [0, 1, 3, 2])]), peScores());
    const ctxLatent = g.op('MatMul', [g.op('Softmax', [scale(scores)], { axis: -1 }), latents]);
    return g.op('MatMul', [ctxLatent, wUVt]); // [B, H, T, r] x [H, r, v] -> [B, H, T, v]
  };
  const extra = 2 * a.kvLoraRank - a.nopeDim - a.ropeDim - a.valueDim;
  const maxAbsorbedT = extra <= 0 ? Number.MAX_SAFE_INTEGER : Math.floor((a.kvLoraRank * (a.nopeDim + a.valueDim)) / extra);
  const seq = g.op('Gather', [ctx.shapeBT, g.scalarI(1)], { axis: 0 });
  const useAbsorbed = g.op('LessOrEqual', [seq, g.scalarI(maxAbsorbedT)]);
  const out = g.op('If', [useAbsorbed], {
    then_branch: { graph: g.subgraph(`mla${layer}_absorbed`, ctxShape, absorbed) },
    else_branch: { graph: g.subgraph(`mla${layer}_decompressed`, ctxShape, decompressed) },
  });
  return linear(ctx, g.reshape(g.transpose(out, [0, 2, 1, 3]), g.int64([-1, H * a.valueDim])), a.o);
}
