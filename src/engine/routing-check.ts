/**
 * The one check that a forward pass's routing is usable: a checkpoint with NaN/Inf weights (or activations that
 * overflow) makes router logits NaN, and top-k over NaN still returns experts, so without this check `forward`
 * printed NaN weights and exited 0 while `capture` only failed later, when the store refused a NaN gate weight.
 * Every engine consumer (forward, generate, score, capture, the app) goes through DecoderSession.forward, which
 * calls this once per pass; the first MoE layer in decoder order is named, since every later layer inherits the
 * NaN from it.
 */
import { EngineError } from './errors.js';

export interface RoutingArrays {
  routerLogits: Float32Array; // [B*T, E]
  weights: Float32Array; // [B*T, k]
}

function firstNonFinite(a: Float32Array, width: number, isReal: (row: number) => boolean): { row: number; value: number } | null {
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (!Number.isFinite(v) && isReal(Math.floor(i / width))) return { row: Math.floor(i / width), value: v };
  }
  return null;
}

/**
 * Throws an EngineError naming the decoder layer, batch row and position of the first non-finite router logit or
 * routing weight among real tokens (`isReal(b*T + t)`; padding rows are ignored: callers drop them).
 */
export function assertFiniteRouting(
  routing: RoutingArrays[],
  moeLayers: number[],
  shape: { seq: number; numExperts: number; topK: number },
  isReal: (row: number) => boolean = () => true,
): void {
  const where = (row: number) => `batch row ${Math.floor(row / shape.seq)}, position ${row % shape.seq}`;
  routing.forEach((l, i) => {
    const layer = `decoder layer ${moeLayers[i]} (MoE layer ${i + 1} of ${moeLayers.length})`;
    const logit = firstNonFinite(l.routerLogits, shape.numExperts, isReal);
    if (logit) {
      throw new EngineError(
        `router logits of ${layer} are not finite (${logit.value} at ${where(logit.row)}): the checkpoint's weights up to this layer ` +
          `contain NaN/Inf values or overflow in fp32; no routing was produced`,
      );
    }
    const weight = firstNonFinite(l.weights, shape.topK, isReal);
    if (weight) {
      throw new EngineError(
        `routing weights of ${layer} are not finite (${weight.value} at ${where(weight.row)}) although its router logits are: ` +
          `the steering values overflow fp32 on this layer`,
      );
    }
  });
}
