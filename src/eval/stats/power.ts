/**
 * Minimum detectable effect of a paired comparison (normal approximation):
 *   MDE = (z_{1-alpha/2} + z_{power}) * sd(d) / sqrt(n)
 * where d is the per-item difference arm - baseline. At alpha 0.05 two-sided and power 0.8 the factor is 2.8016.
 * For 0/1 outcomes sd(d)^2 is the discordance rate minus the squared mean difference, so the observed discordance
 * drives it; see docs/statistics.md for the fallback when no item differs.
 */
import { normalQuantile } from './special-functions.js';

export interface PowerOptions {
  alpha?: number;
  power?: number;
}

function factor({ alpha = 0.05, power = 0.8 }: PowerOptions): number {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must lie in (0, 1), got ${alpha}`);
  if (!(power > 0 && power < 1)) throw new RangeError(`power must lie in (0, 1), got ${power}`);
  return normalQuantile(1 - alpha / 2) + normalQuantile(power);
}

export function minimumDetectableEffect(n: number, sdDifference: number, opts: PowerOptions = {}): number {
  if (!(n > 0)) throw new RangeError(`minimum detectable effect needs n > 0, got ${n}`);
  if (!(sdDifference >= 0)) throw new RangeError(`standard deviation must be >= 0, got ${sdDifference}`);
  return (factor(opts) * sdDifference) / Math.sqrt(n);
}

/** Items needed to detect `effect` with the given spread of per-item differences (rounded up). */
export function itemsNeeded(effect: number, sdDifference: number, opts: PowerOptions = {}): number {
  if (!(effect > 0)) throw new RangeError(`effect must be > 0, got ${effect}`);
  return Math.ceil(((factor(opts) * sdDifference) / effect) ** 2);
}
