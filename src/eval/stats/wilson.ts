/**
 * Wilson score interval for a proportion (Wilson 1927; Newcombe 1998, method 3, without continuity correction).
 * Unlike the Wald interval it stays inside [0, 1] and keeps its coverage near 0% and 100% accuracy.
 */
import { normalQuantile } from './special-functions.js';

/** successes may be fractional (an item's mean over several samples); n is the number of items. */
export function wilsonInterval(successes: number, n: number, confidence = 0.95): [number, number] {
  if (!(n > 0)) throw new RangeError(`Wilson interval needs at least one trial, got n = ${n}`);
  if (!(successes >= 0 && successes <= n)) throw new RangeError(`Wilson interval: successes ${successes} outside 0..${n}`);
  checkConfidence(confidence);
  const z = normalQuantile(1 - (1 - confidence) / 2);
  const p = successes / n;
  const z2n = (z * z) / n;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / n + z2n / (4 * n));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

export function checkConfidence(confidence: number): void {
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must lie strictly between 0 and 1, got ${confidence}`);
}
