/** The decoder stack: inputs, embedding, the layers (attention + dense MLP or MoE block), final norm and lm_head. */
import { DataType } from '../onnx/model.js';
import { attentionBiases, attentionBlock } from './attention.js';
import type { GraphContext } from './context.js';
import { embed, lmHead } from './dense.js';
import { gatedMlp } from './mlp.js';
import { moeBlock } from './moe.js';
import { GraphNames } from './names.js';
import { blockNorm } from './norms.js';
import { ropeTables } from './rope.js';

export function buildDecoder(ctx: GraphContext): Uint8Array {
  const g = ctx.g;
  const s = ctx.spec;
  const ids = g.input(GraphNames.inputIds, DataType.INT64, ['batch', 'sequence']);
  const mask = g.input(GraphNames.attentionMask, DataType.INT64, ['batch', 'total_sequence']);
  const positions = g.input(GraphNames.positionIds, DataType.INT64, ['batch', 'sequence']);
  ctx.shapeBT = g.op('Shape', [ids]);

  let x = embed(ctx, ids);
  if (s.embeddingMultiplier !== 1) x = g.mul(x, g.scalarF(s.embeddingMultiplier));
  const rope = ropeTables(ctx, positions);
  const biasFor = attentionBiases(ctx, mask);

  let moeIndex = 0;
  s.layers.forEach((layer, i) => {
    g.scope = `l${i}_`;
    const window = layer.slidingWindow !== undefined ? layer.slidingWindow : s.slidingWindow;
    const normed = blockNorm(ctx, x, layer.inputNorm, layer.inputNormBias);
    const attn = attentionBlock(ctx, i, layer.attention, normed, rope, biasFor(window));
    x = g.add(x, s.residualMultiplier === 1 ? attn : g.mul(attn, g.scalarF(s.residualMultiplier)));
    const h = blockNorm(ctx, x, layer.postAttentionNorm, layer.postAttentionNormBias);
    const mlp = layer.mlp.kind === 'moe' ? moeBlock(ctx, moeIndex++, layer.mlp.moe, h) : gatedMlp(ctx, h, layer.mlp.mlp);
    x = g.add(x, s.residualMultiplier === 1 ? mlp : g.mul(mlp, g.scalarF(s.residualMultiplier)));
  });
  g.scope = '';
  if (!(ctx.opts.withLogits ?? true)) return g.encode(`routescope-${s.architecture}`, { architecture: s.architecture });
  // Only the requested token rows reach the final norm and lm_head (both per-row, so selecting first is
  // exact): capture asks for none, generation for the last position; the lm_head is the largest matmul per
  // token for small models and [rows, V] floats dominate memory for large vocabularies.
  const rows = g.input(GraphNames.logitsRows, DataType.INT64, ['logits_rows']);
  const selected = g.op('Gather', [x, rows], { axis: 0 });
  let logits = lmHead(ctx, blockNorm(ctx, selected, s.finalNorm, s.finalNormBias), rows);
  if (s.logitsDivisor !== 1) logits = g.div(logits, g.scalarF(s.logitsDivisor));
  g.output(logits, GraphNames.logits, DataType.FLOAT, ['logits_rows', s.vocabSize]);
  return g.encode(`routescope-${s.architecture}`, { architecture: s.architecture });
}
