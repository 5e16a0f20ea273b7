/**
 * Which kernel runs the experts at `int4`, and what it holds beyond the int4 cache (docs/precision.md, "Decode speed").
 *
 * Both kernels read the same cache (quant-experts.ts): its rows are already MatMulNBits' layout.
 * - QMoE (`com.microsoft.QMoE`, one node per layer): onnxruntime-node 1.30's CPU kernel dequantises every routed
 *   expert to fp32 on every call, which made int4 decode slower than fp32 (0.64-0.80x, measured). The weights stay
 *   mapped cache pages (they reach the node through a run-time Reshape, so they are never prepacked).
 * - dispatch: two prepacked `MatMulNBits` per expert. onnxruntime releases the mapped codes after packing them, so
 *   what is held depends on the accuracy level (measured on a 1.2 B-parameter Qwen3-30B-A3B-shaped checkpoint,
 *   VmHWM and RssAnon/RssFile after loading and one pass):
 *   - accuracy_level 1 (fp32 activations, exact on the 4-bit weights): the packed codes (0.5 bytes per weight,
 *     anonymous) plus the scales, read from the mapped cache at run time: what QMoE holds (peak 829-841 MiB against
 *     816-842 MiB through QMoE). Decode 1.21-1.43x fp32 where QMoE gave 0.68-0.80x (same runs).
 *   - accuracy_level 4 (int8 activations, error ~4e-3 against the 4-bit weights' ~5e-2): MLAS's packed layout adds a
 *     copy of each block's scale and a block sum (8 / block bytes per weight), and the original scales stay mapped
 *     and resident (onnxruntime keeps them: not marked packed): 980 MiB, +0.125 bytes per weight at blocks of 64.
 *     Decode 1.64-1.88x fp32 in the same runs. The memory plan counts the extra (`int4ExtraBytesPerExpertWeight`).
 * So `auto` takes the dispatch kernel at accuracy_level 1 (same memory as QMoE, faster, exact), `dispatch` asks for
 * accuracy_level 4 (fastest, more memory), `fused` keeps QMoE. The dispatch kernel runs SiLU-gated experts without
 * biases on blocks of at least 16 (MatMulNBits' smallest); anything else runs on QMoE.
 */
import type { DecoderSpec } from './architectures/types.js';
import { EngineError } from './errors.js';
import { expertWidth, hasExpertBias } from './fused-experts.js';
import type { MoeKernelChoice, MoeKernelPreference } from './moe-kernel.js';
import { quantBlockSize } from './quant-experts.js';


/**
 * The most experts (MoE layers x experts per layer) for which `auto` takes the dispatch kernel. Its session creation
 * still grows about quadratically with them (tiny qwen3_moe, hidden 64, int4, 2 shared vCPU, 2026-12-08, with the
 * unranked positions of experts-dispatch.ts: 7 x 128 in 2.1 s, 23 x 128 in 16 s, 47 x 128 in 64-67 s against 4.5 s
 * through QMoE), and every capture and experiment loads its own copy: a full Qwen3-30B-A3B (48 x 128) stays on QMoE.
 * OLMoE (16 x 64), Mixtral (32 x 8), Phi-3.5-MoE (32 x 16), Qwen1.5-MoE-A2.7B (24 x 60) and DeepSeek-V2-Lite
 * (26 x 64) are under it.
 */
const DISPATCH_AUTO_MAX_EXPERTS = 3072;

/** The int4 expert block size; 0 = one scale per row (no block size of at least 16 divides the hidden size and the expert width). */
export function int4ExpertBlock(spec: DecoderSpec): number {
  const first = spec.layers.find((l) => l.mlp.kind === 'moe');
  if (!first || first.mlp.kind !== 'moe') return 0;
  const I = expertWidth(first.mlp.moe.experts[0]!);
  const uniform = first.mlp.moe.experts.every((e) => expertWidth(e) === I);
  return uniform ? quantBlockSize(spec.hiddenSize, I) : 0;
}

/** Why the dispatch kernel cannot run this model's int4 experts, or null when it can. */
export function int4DispatchRefusal(spec: DecoderSpec): string | null {
  if (spec.layers.some((l) => l.mlp.kind === 'moe' && (l.mlp.moe.expertActivation || l.mlp.moe.experts.some(hasExpertBias)))) {
    return `int4 on the dispatch kernel runs SiLU-gated experts without biases; ${spec.architecture}'s experts have biases or a clamped SwiGLU`;
  }
  if (int4ExpertBlock(spec) < 16) return 'int4 on the dispatch kernel needs a block size of at least 16 dividing the hidden size and the expert width (got one scale per row)';
  return null;
}

/** Extra bytes per expert weight the int8-activation packing holds beyond the cache: a scale copy and a block sum per block. */
const packedInt8Extra = (block: number) => 8 / block;

/**
 * Bytes per expert weight a session holds beyond the plan's int4 cache bytes with this kernel preference: 8 / block
 * for the dispatch kernel at accuracy_level 4 (`moeKernel: 'dispatch'`), else 0.
 */
export function int4ExtraBytesPerExpertWeight(spec: DecoderSpec, preference: MoeKernelPreference | undefined): number {
  if (preference !== 'dispatch' || int4DispatchRefusal(spec)) return 0;
  return packedInt8Extra(int4ExpertBlock(spec));
}

/** The int4 expert kernel for a CPU session (the caller refuses other providers). */
export function chooseInt4Kernel(spec: DecoderSpec, preference: MoeKernelPreference | undefined): MoeKernelChoice {
  const refusal = int4DispatchRefusal(spec);
  const qmoe = (why: string): MoeKernelChoice => ({ name: 'fused', reason: `int4 precision: block-quantised experts through com.microsoft.QMoE (${why})`, expertCopyBytes: 0 });
  if (preference === 'fused') return qmoe('moeKernel fused requested; decodes slower than the dispatch kernel on onnxruntime 1.30');
  if (preference === 'dispatch') {
    if (refusal) throw new EngineError(`precision ${refusal}: use moeKernel auto (QMoE)`);
    const block = int4ExpertBlock(spec);
    return {
      name: 'dispatch',
      reason: `int4 precision on the dispatch kernel with int8 activations (moeKernel dispatch): one prepacked MatMulNBits pair per routed expert at accuracy_level 4, the fastest decode; holds ${packedInt8Extra(block).toFixed(3)} more bytes per expert weight than the int4 cache (counted in the memory plan)`,
      expertCopyBytes: 0,
      expertAccuracy: 4,
    };
  }
  if (refusal) return qmoe(`${refusal}, so not the faster dispatch kernel`);
  const experts = spec.moeLayers.length * spec.numExperts;
  if (experts > DISPATCH_AUTO_MAX_EXPERTS) {
    return qmoe(
      `${experts} experts: creating a dispatch-kernel session grows about quadratically with them (64-67 s for 47 x 128 ` +
        `small experts on 2 cores against 4.5 s through QMoE), so auto takes it up to ${DISPATCH_AUTO_MAX_EXPERTS}; moeKernel dispatch forces it`,
    );
  }
  // Session creation prepares every expert's pair: 6-7 ms each on 2 shared vCPU at 256 experts of Qwen3-30B-A3B's
  // shape since the planner fix in experts-dispatch.ts (11-12 ms before, 31 ms under heavy load), growing faster than
  // linearly with experts and depth (docs/precision.md): against seconds through QMoE, so the reason says what loading
  // will cost, as a lower bound.
  return {
    name: 'dispatch',
    reason: `int4 precision on the dispatch kernel: one prepacked MatMulNBits pair per routed expert at accuracy_level 1 (fp32 activations, exact on the 4-bit weights); same memory as QMoE, faster decode and prefill than onnxruntime 1.30's 4-bit QMoE; loading prepares ${experts} experts (at least ${Math.max(1, Math.round(experts * 0.007))} s on 2 cores, more per expert in deep models; moeKernel fused loads in seconds)`,
    expertCopyBytes: 0,
    expertAccuracy: 1,
  };
}
