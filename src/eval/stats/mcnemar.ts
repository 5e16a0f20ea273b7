/**
 * Exact McNemar test: under "the arm changes nothing", each discordant item (right under one arm, wrong under the
 * other) is equally likely to go either way, so the count b of baseline-only items is Binomial(b + c, 1/2).
 * The two-sided p is SciPy's binomtest definition (sum of the outcomes no more likely than the one observed),
 * which for p = 1/2 is min(1, 2 * P(X <= min(b, c))).
 */
import { binomialCdf } from './special-functions.js';

export interface McNemarResult {
  /** Items right under the baseline only. */
  b: number;
  /** Items right under the arm only. */
  c: number;
  p: number;
}

export function mcnemarExact(b: number, c: number): McNemarResult {
  for (const [name, v] of [['b', b], ['c', c]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`McNemar: discordant count ${name} must be a non-negative integer, got ${v}`);
  }
  const n = b + c;
  if (n === 0 || b === c) return { b, c, p: 1 };
  return { b, c, p: Math.min(1, 2 * binomialCdf(Math.min(b, c), n, 0.5)) };
}
