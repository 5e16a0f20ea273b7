/**
 * Turns a DecoderSpec into an ONNX model whose weights are external data pointing straight into the user's
 * safetensors files (offset = 8 + header length + data offset). Everything is standard ONNX (opset 17), so
 * the same graph runs on the CPU and CUDA providers. See docs/graph-contract.md for inputs and outputs.
 *
 * Routing is always built from standard ops (graph/routing.ts): TopK breaks ties towards the lower expert index
 * (the contract) and the ids reported are exactly the ones used. The experts then run either
 * - `dispatch`: plain per-expert Gemms over zero-copy weight slices (~11 nodes per expert; graph/experts-dispatch.ts), or
 * - `fused`: one com.microsoft.MoE node fed crafted router logits (log of our weights for our selected
 *   experts, -1e30 elsewhere), so the op's own softmax -> top-k -> renormalise reproduces our routing
 *   exactly; it needs an interleaved copy of gate/up, kept in a cache file (graph/experts-fused.ts,
 *   fused-experts.ts, expert-cache.ts).
 *
 * The parts live in graph/: context.ts (shared builder state, weights as external initializers), decoder.ts (the
 * stack), attention.ts + mla.ts + rope.ts, dense.ts + mlp.ts + norms.ts, routing.ts + moe.ts, experts-*.ts.
 */
import type { DecoderSpec } from './architectures/types.js';
import type { WeightStore } from './safetensors.js';
import { GraphContext, type BuildOptions, type MoeKernelName } from './graph/context.js';
import { buildDecoder } from './graph/decoder.js';

export { commonAncestor, type BuildOptions, type MoeKernelName } from './graph/context.js';
export { GraphNames } from './graph/names.js';

export interface BuiltDecoderModel {
  model: Uint8Array;
  moeKernel: MoeKernelName;
  /** The folder every external-data location is relative to (the session's external-initializers folder). */
  externalDataDir: string;
}

/** The decoder with the chosen MoE kernel; load it with `externalDataDir` as the external-initializers folder. */
export function buildDecoderModel(spec: DecoderSpec, weights: WeightStore, modelDir: string, opts: BuildOptions): BuiltDecoderModel {
  const ctx = new GraphContext(spec, weights, modelDir, opts);
  return { model: buildDecoder(ctx), moeKernel: opts.moeKernel, externalDataDir: ctx.baseDir };
}
