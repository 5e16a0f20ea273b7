/**
 * Which weight precisions an architecture's experts can run at, decided from its DecoderSpec before anything is
 * loaded, so an impossible combination is refused with the architecture and the precision named instead of
 * failing deep inside an expert cache or the graph builder.
 *
 * Every expert form of types.ts runs at every precision: SiLU-gated experts, and GPT-OSS's biased experts under
 * its clamped SwiGLU ((clamp(up) + 1) * gate * sigmoid(1.702 gate)). The fused com.microsoft.MoE / QMoE ops take
 * fc1/fc2 bias inputs and express that activation exactly (swiglu_fusion 1, swiglu_limit, activation_alpha,
 * activation_beta 1: onnxruntime 1.30 clamps the gate above and the linear half on both sides, as transformers
 * does; checked against the float64 reference); the fp16 dispatch path adds the biases at fp32 and builds the
 * activation from standard ops. An activation kind added later is refused here until a path implements it.
 */
import type { Precision } from '../precision.js';
import type { DecoderSpec, MoeSpec } from './types.js';

const RUNS_AT_EVERY_PRECISION: readonly string[] = ['clamped_swiglu'];

function unsupportedExperts(m: MoeSpec): string | null {
  const kind: string | undefined = m.expertActivation?.kind;
  if (kind !== undefined && !RUNS_AT_EVERY_PRECISION.includes(kind)) return `its experts use a ${kind.replace('_', ' ')} activation`;
  return null;
}

/** Why `precision` cannot run this model (a sentence naming architecture and precision), or null when it can. */
export function precisionRefusal(spec: DecoderSpec, precision: Precision): string | null {
  if (precision === 'fp32') return null;
  const moe = spec.layers.flatMap((l) => (l.mlp.kind === 'moe' ? [l.mlp.moe] : []));
  const why = moe.map(unsupportedExperts).find((w) => w !== null);
  if (!why) return null;
  return `${spec.architecture} cannot run at --precision ${precision}: ${why}, which only the fp32 path implements; running it as another activation would give silently wrong output. Use --precision fp32 (or auto)`;
}

/** The precisions of `candidates` this model's experts can run at. */
export function runnablePrecisions(spec: DecoderSpec, candidates: readonly Precision[]): Precision[] {
  return candidates.filter((p) => precisionRefusal(spec, p) === null);
}
