/**
 * Seeded paired bootstrap of a mean difference: items (not samples, not tokens) are drawn with replacement, so the
 * pairing of an item's two scores is kept. The interval is the percentile interval: the alpha/2 and 1 - alpha/2
 * quantiles of the resampled means, with linear interpolation between order statistics (NumPy's default, which
 * scipy.stats.bootstrap(method='percentile') uses).
 */
import { seededRandom } from '../../numeric/random.js';
import { checkConfidence } from './wilson.js';

export interface BootstrapOptions {
  seed: number;
  /** Default 10,000. */
  resamples?: number;
  /** Default 0.95. */
  confidence?: number;
}

export interface BootstrapResult {
  mean: number;
  ci: [number, number];
  resamples: number;
  method: 'percentile';
}

export const DEFAULT_RESAMPLES = 10_000;

export function pairedBootstrap(differences: ArrayLike<number>, opts: BootstrapOptions): BootstrapResult {
  const n = differences.length;
  if (n === 0) throw new RangeError('bootstrap needs at least one paired item');
  const resamples = opts.resamples ?? DEFAULT_RESAMPLES;
  if (!Number.isInteger(resamples) || resamples < 1) throw new RangeError(`resamples must be a positive integer, got ${resamples}`);
  const confidence = opts.confidence ?? 0.95;
  checkConfidence(confidence);
  const d = Float64Array.from(differences);
  let total = 0;
  for (let i = 0; i < n; i++) total += d[i];
  const rand = seededRandom(opts.seed);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += d[Math.floor(rand() * n)];
    means[r] = s / n;
  }
  means.sort();
  const alpha = 1 - confidence;
  return { mean: total / n, ci: [quantileSorted(means, alpha / 2), quantileSorted(means, 1 - alpha / 2)], resamples, method: 'percentile' };
}

/** Quantile q of ascending data, linear interpolation between order statistics (Hyndman-Fan type 7). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) throw new RangeError('quantile of an empty sample');
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}
