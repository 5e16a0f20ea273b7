/**
 * Which weight precisions an architecture's experts can run at, decided from its DecoderSpec before anything is
 * loaded, so an impossible combination is refused with the architecture and the precision named instead of
 * failing deep inside an expert cache or the graph builder.
 *
 * The fp16 expert path (half-experts.ts) and the int8/int4 path (quant-experts.ts, com.microsoft.QMoE) compute
 * down(silu(gate(x)) * up(x)) without biases. GPT-OSS's experts add biases to both projections and use a clamped
 * SwiGLU ((clamp(up) + 1) * gate * sigmoid(1.702 gate)); neither path expresses that here, and a model run with
 * the bias or the clamp dropped would be silently wrong, so those precisions are refused for it.
 */
import type { Precision } from '../precision.js';
import type { DecoderSpec, MoeSpec } from './types.js';

function unsupportedExperts(m: MoeSpec): string | null {
  const biased = m.experts.some((e) => e.down.bias || (e.kind === 'split' ? e.gate.bias || e.up.bias : e.gateUp.bias));
  if (m.expertActivation && biased) return `its experts have biases and a ${m.expertActivation.kind.replace('_', ' ')} activation`;
  if (m.expertActivation) return `its experts use a ${m.expertActivation.kind.replace('_', ' ')} activation`;
  if (biased) return 'its experts have biases';
  return null;
}

/** Why `precision` cannot run this model (a sentence naming architecture and precision), or null when it can. */
export function precisionRefusal(spec: DecoderSpec, precision: Precision): string | null {
  if (precision === 'fp32') return null;
  const moe = spec.layers.flatMap((l) => (l.mlp.kind === 'moe' ? [l.mlp.moe] : []));
  const why = moe.map(unsupportedExperts).find((w) => w !== null);
  if (!why) return null;
  const path =
    precision === 'fp16'
      ? 'the fp16 expert path computes SiLU-gated experts without biases'
      : `the ${precision} path (block-quantised experts through com.microsoft.QMoE) is built for SiLU-gated experts without biases`;
  return `${spec.architecture} cannot run at --precision ${precision}: ${why}, and ${path}; dropping either would give silently wrong output. Use --precision fp32 (or auto)`;
}

/** The precisions of `candidates` this model's experts can run at. */
export function runnablePrecisions(spec: DecoderSpec, candidates: readonly Precision[]): Precision[] {
  return candidates.filter((p) => precisionRefusal(spec, p) === null);
}
